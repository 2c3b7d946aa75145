"""The connection's own commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET,
READCONSISTENCY, and POST / Host: (an HTTP client, refused). They read and change
the session (session.py), never the node. CLIENT is in client.py."""

from __future__ import annotations

from frontends.resp.commands.acl import deny_log
from frontends.resp.commands.client import leave_modes
from frontends.resp.commands.entry import (
    NO_REPLY,
    OK,
    REDIS_VERSION,
    REPLICATOR_VERSION,
    Close,
    ServerView,
    frontend_command,
    select_db,
)
from frontends.resp.commands.errors import BAD_NAME, SYNTAX, arity_error, c_text, text
from frontends.resp.commands.pubsub import leave_all
from frontends.resp.commands.transactions import end_transaction
from frontends.resp.protocol import string2ll
from frontends.resp.session import Session, valid_client_name
from replicator.runtime.api import ReadConsistency
from statemachines import ReplyError, Result

WRONGPASS = ReplyError("WRONGPASS invalid username-password pair or user is disabled.")


def cmd_ping(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if len(args) > 2:
        return arity_error("ping")
    if session.pubsub is not None and session.protocol == 2:  # subscriber mode: Redis' ["pong", message]
        return [b"pong", args[1] if len(args) == 2 else b""]
    return "PONG" if len(args) == 1 else args[1]


def cmd_echo(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return args[1]


def cmd_quit(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return Close(OK)


def cmd_security_warning(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """`POST` / `Host:` mean an HTTP client (cross-protocol scripting): close without a reply, as Redis does."""
    gate.log.warning("possible security attack: %r from %s, connection closed", text(args[0]), session.addr)
    return Close(NO_REPLY)


def cmd_select(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    db = select_db(gate.databases, args[1])
    if type(db) is ReplyError:
        return db
    session.db = db
    return OK


NOAUTH_HELLO = ReplyError(
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
    "HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
    "the RESP protocol version at the same time"
)


def _authenticate(
    gate: ServerView, session: Session, username: bytes, password: bytes, command: bytes
) -> ReplyError | None:
    """As Redis' ACLAuthenticateUser: an enabled user whose password matches (the `default` user's
    is requirepass); a failure is counted (INFO stats) and logged (ACL LOG, reason auth)."""
    if gate.acl.authenticate(username, password) is None:
        context = "multi" if session.multi is not None else "toplevel"
        deny_log(gate, session, "auth", context, command, username)
        return WRONGPASS
    session.user = username
    session.authenticated = True
    return None


def cmd_auth(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if len(args) > 3:
        return SYNTAX
    if len(args) == 2:
        if gate.acl.users[b"default"].nopass:
            return ReplyError(
                "ERR AUTH <password> called without any password configured for the default user. "
                "Are you sure your configuration is correct?"
            )
        return _authenticate(gate, session, b"default", args[1], args[0]) or OK
    return _authenticate(gate, session, args[1], args[2], args[0]) or OK


def cmd_hello(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    version = 0
    j = 1
    if len(args) >= 2:
        version = string2ll(args[1])
        if version is None:
            return ReplyError("ERR Protocol version is not an integer or out of range")
        if version < 2 or version > 3:
            return ReplyError("NOPROTO unsupported protocol version")
        j = 2
    username = name = password = None
    while j < len(args):
        opt = args[j].lower()
        more = len(args) - 1 - j
        if opt == b"auth" and more >= 2:
            username, password = args[j + 1], args[j + 2]
            j += 3
        elif opt == b"setname" and more:
            name = args[j + 1]
            j += 2
        else:
            return ReplyError(f"ERR Syntax error in HELLO option '{c_text(args[j], 1 << 16)}'")
    if username is not None:
        error = _authenticate(gate, session, username, password, args[0])
        if error is not None:
            return error
    if not session.authenticated:
        return NOAUTH_HELLO
    if name is not None:
        if not valid_client_name(name):
            return BAD_NAME
        session.name = name or None
    if version:
        session.protocol = version
    return {
        b"server": b"redis",
        b"version": REDIS_VERSION.encode(),
        b"proto": session.protocol,
        b"id": session.id,
        b"mode": b"standalone",
        b"role": b"master" if gate.is_leader() else b"replica",
        b"modules": [],
    }


def cmd_readconsistency(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """READCONSISTENCY [level]: this connection's read level (replicator's own command)."""
    if len(args) == 1:
        return session.consistency.value
    try:
        session.consistency = ReadConsistency(text(args[1]).lower())
    except ValueError:
        levels = ", ".join(level.value for level in ReadConsistency)
        return ReplyError(f"ERR unknown read consistency '{c_text(args[1], 128)}' (one of: {levels})")
    return OK


def cmd_reset(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """RESET: as a new connection (Redis' resetCommand): no MULTI, no WATCH, RESP2, no name,
    the server's read consistency, not tracking, monitoring nor silenced, and not authenticated if
    the server has a password."""
    end_transaction(session)
    leave_all(gate, session)
    leave_modes(gate, session)  # tracking, MONITOR, CLIENT REPLY
    session.protocol = 2
    session.name = None
    session.db = 0
    session.consistency = gate.default_consistency
    session.user = b"default"
    session.authenticated = gate.acl.default_nopass()
    return "RESET"


COMMANDS = [
    frontend_command("ping", -1, "fast", cmd_ping, summary="Ping the server", syntax="[message]"),
    frontend_command("echo", 2, "loading stale fast", cmd_echo, summary="Echo the given string", syntax="message"),
    frontend_command(
        "quit", -1, "noscript loading stale fast no_auth allow_busy", cmd_quit, summary="Close the connection"
    ),
    frontend_command(
        "hello",
        -1,
        "noscript loading stale fast no_auth allow_busy",
        cmd_hello,
        summary="Handshake with Redis",
        since="6.0.0",
        syntax="[protover [AUTH username password] [SETNAME clientname]]",
    ),
    frontend_command(
        "auth",
        -2,
        "noscript loading stale fast no_auth allow_busy",
        cmd_auth,
        summary="Authenticate to the server",
        syntax="[username] password",
    ),
    frontend_command(
        "select",
        2,
        "loading stale fast",
        cmd_select,
        summary="Change the selected database for the current connection",
        syntax="index",
    ),
    frontend_command(
        "reset",
        1,
        "noscript loading stale fast no_auth allow_busy",
        cmd_reset,
        summary="Reset the connection",
        since="6.2.0",
    ),
    frontend_command(
        "readconsistency",
        -1,
        "loading stale fast",
        cmd_readconsistency,
        summary="Get or set this connection's read consistency (replicator)",
        since=REPLICATOR_VERSION,
        syntax="[LINEARIZABLE | LEASE | SEQUENTIAL | STALE]",
    ),
    frontend_command(
        "post",
        -1,
        "loading stale",
        cmd_security_warning,
        group="server",
        summary="HTTP requests are refused (security)",
        since="3.2.0",
        acl="slow",
    ),
    frontend_command(
        "host:",
        -1,
        "loading stale",
        cmd_security_warning,
        group="server",
        summary="HTTP requests are refused (security)",
        since="3.2.0",
        acl="slow",
    ),
]
