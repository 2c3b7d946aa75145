"""CLIENT and its subcommands (ID, SETNAME, GETNAME, SETINFO, INFO, LIST, KILL, HELP):
this connection's name and library, and the list of every connection of the server."""

from __future__ import annotations

from frontends.resp.commands.entry import OK, Close, ServerView, container, frontend_command, help_handler
from frontends.resp.commands.errors import BAD_NAME, SYNTAX, c_text, text
from frontends.resp.protocol import string2ll
from frontends.resp.replies import Verbatim
from frontends.resp.session import Session, valid_client_name
from statemachines import ReplyError, Result


def cmd_client_id(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return session.id


def cmd_client_setname(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if not valid_client_name(args[2]):
        return BAD_NAME
    session.name = args[2] or None
    return OK


def cmd_client_getname(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return session.name


def cmd_client_setinfo(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    attr = args[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        return ReplyError(f"ERR Unrecognized option '{c_text(args[2], 128)}'")
    if not valid_client_name(args[3]):
        return ReplyError(f"ERR {text(attr)} cannot contain spaces, newlines or special characters.")
    if attr == b"lib-name":
        session.lib_name = args[3]
    else:
        session.lib_ver = args[3]
    return OK


def _client_line(gate: ServerView, session: Session) -> str:
    now = gate.now_s()
    return (
        f"id={session.id} addr={session.addr} laddr={session.laddr} name={text(session.name or b'')} "
        f"age={int(now - session.created_s)} idle={int(now - session.last_command_s)} db={session.db} "
        f"resp={session.protocol} cmd={session.last_command or 'NULL'} "
        f"read-consistency={session.consistency.value} seen-index={session.seen_index} "
        f"lib-name={text(session.lib_name)} lib-ver={text(session.lib_ver)}"
    )


def cmd_client_info(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return Verbatim((_client_line(gate, session) + "\n").encode("utf-8", "surrogateescape"))


def cmd_client_list(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    lines = "".join(_client_line(gate, other) + "\n" for other in gate.sessions())
    return Verbatim(lines.encode("utf-8", "surrogateescape"))


_CLIENT_TYPES = {b"normal", b"master", b"slave", b"replica", b"pubsub"}


def cmd_client_unblock(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 if that client was waiting in a blocking command
    (frontends/resp/blocking.py; it then gets its command's nil, or -UNBLOCKED), else 0."""
    if len(args) > 4:
        return ReplyError(
            f"ERR unknown subcommand or wrong number of arguments for '{text(args[1])}'. Try CLIENT HELP."
        )
    error = False
    if len(args) == 4:
        reason = args[3].lower()
        if reason not in (b"timeout", b"error"):
            return ReplyError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        error = reason == b"error"
    client_id = string2ll(args[2])
    if client_id is None:
        return ReplyError("ERR value is not an integer or out of range")
    return 1 if gate.blocked.unblock(client_id, error) else 0


def cmd_client_kill(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """CLIENT KILL ip:port (old form: OK or "No such client", may kill the caller), or
    CLIENT KILL <ID id | ADDR ip:port | LADDR ip:port | TYPE type | USER name | SKIPME yes/no> ...
    (the number killed; the caller is skipped unless SKIPME no). Redis 7.0's parser and errors."""
    old_form = len(args) == 3
    client_id = addr = laddr = ctype = None
    skipme = not old_form
    if old_form:
        addr = args[2]
    else:
        i = 2
        while i < len(args):
            opt = args[i].lower()
            more = i + 1 < len(args)
            value = args[i + 1] if more else b""
            if opt == b"id" and more:
                client_id = string2ll(value)
                if client_id is None or client_id < 1:
                    return ReplyError("ERR client-id should be greater than 0")
            elif opt == b"type" and more:
                ctype = value.lower()
                if ctype not in _CLIENT_TYPES:
                    return ReplyError(f"ERR Unknown client type '{c_text(value, 1 << 16)}'")
            elif opt == b"addr" and more:
                addr = value
            elif opt == b"laddr" and more:
                laddr = value
            elif opt == b"user" and more:
                if value != b"default":
                    return ReplyError(f"ERR No such user '{c_text(value, 1 << 16)}'")
            elif opt == b"skipme" and more:
                if value.lower() == b"yes":
                    skipme = True
                elif value.lower() == b"no":
                    skipme = False
                else:
                    return SYNTAX
            else:
                return SYNTAX
            i += 2
    killed = 0
    kill_self = False
    for other in list(gate.sessions()):
        if addr is not None and other.addr.encode() != addr:
            continue
        if laddr is not None and other.laddr.encode() != laddr:
            continue
        if client_id is not None and other.id != client_id:
            continue
        if ctype is not None and ctype != (b"normal" if other.pubsub is None else b"pubsub"):
            continue  # a connection here is a normal client, or a pubsub one while subscribed
        if other is session:
            if skipme:
                continue
            kill_self = True
        elif other.kill is not None:
            other.kill()
        killed += 1
    if old_form:
        reply: Result = OK if killed else ReplyError("ERR No such client")
    else:
        reply = killed
    return Close(reply) if kill_self else reply


_CLIENT_SUBS = [
    frontend_command(
        "client|id",
        2,
        "noscript loading stale",
        cmd_client_id,
        summary="Returns the client ID for the current connection",
        since="5.0.0",
        acl="slow connection",
    ),
    frontend_command(
        "client|setname",
        3,
        "noscript loading stale",
        cmd_client_setname,
        summary="Set the current connection name",
        since="2.6.9",
        syntax="connection-name",
        acl="slow connection",
    ),
    frontend_command(
        "client|getname",
        2,
        "noscript loading stale",
        cmd_client_getname,
        summary="Get the current connection name",
        since="2.6.9",
        acl="slow connection",
    ),
    frontend_command(
        "client|setinfo",
        4,
        "noscript loading stale",
        cmd_client_setinfo,
        summary="Set client or connection specific info",
        since="7.2.0",
        syntax="LIB-NAME libname | LIB-VER libver",
        acl="slow connection",
    ),
    frontend_command(
        "client|info",
        2,
        "noscript loading stale",
        cmd_client_info,
        summary="Returns information about the current client connection.",
        since="6.2.0",
        acl="slow connection",
    ),
    frontend_command(
        "client|kill",
        -3,
        "admin noscript loading stale",
        cmd_client_kill,
        summary="Kill the connection of a client",
        since="2.4.0",
        complexity="O(N) where N is the number of client connections",
        syntax="ip:port | [ID client-id] [TYPE NORMAL | MASTER | SLAVE | REPLICA | PUBSUB] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME YES | NO]",
        acl="admin slow dangerous connection",
    ),
    frontend_command(
        "client|unblock",
        -3,
        "admin noscript loading stale",
        cmd_client_unblock,
        summary="Unblock a client blocked in a blocking command from a different connection",
        since="5.0.0",
        complexity="O(log N) where N is the number of client connections",
        syntax="client-id [TIMEOUT | ERROR]",
        acl="admin slow dangerous connection",
    ),
    frontend_command(
        "client|list",
        -2,
        "admin noscript loading stale",
        cmd_client_list,
        summary="Get the list of client connections",
        since="2.4.0",
        complexity="O(N) where N is the number of client connections",
        acl="admin slow dangerous connection",
    ),
    frontend_command(
        "client|help",
        2,
        "loading stale",
        help_handler(
            "CLIENT",
            [
                "ID",
                "SETNAME <name>",
                "GETNAME",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "INFO",
                "KILL <ip:port>",
                "KILL <option> <value> [<option> <value> [...]]",
                "LIST",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "HELP",
            ],
        ),
        summary="Show helpful text about the different subcommands",
        since="5.0.0",
        acl="slow connection",
    ),
]


COMMANDS = [
    frontend_command(
        "client",
        -2,
        "",
        container(_CLIENT_SUBS),
        summary="A container for client connection commands",
        since="2.4.0",
        complexity="Depends on subcommand.",
        acl="slow",
        subcommands=_CLIENT_SUBS,
    ),
]
