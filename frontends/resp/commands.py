"""The command table: the machine's CommandSpecs plus the commands the frontend owns.

One declarative entry per command (Redis' commands/*.json in miniature): name,
arity, flags, key positions, docs, and either a `handler` (frontend-owned:
PING, HELLO, CLIENT, INFO, COMMAND, ...) or nothing (a machine command, which
gate.py proposes or reads). The same entries answer COMMAND, COMMAND INFO and
COMMAND DOCS, so redis-cli's help and hints cover every command served,
plugins' included.

Handlers are `handler(gate, session, args) -> reply value`; they run on the
connection's task, never block, and never touch the log. Returning
`Close(value)` sends the value, then closes the connection (QUIT).
"""

from __future__ import annotations

import hmac
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from frontends.resp.limits import parse_output_buffer_limits
from frontends.resp.protocol import string2ll
from frontends.resp.replies import RespSet, Verbatim
from frontends.resp.session import Session, valid_client_name
from replicator.runtime.api import ReadConsistency
from replicator.transactions import encode_transaction, encode_watch_read
from replicator.types import Role
from statemachines import KEYSPACE_INFO, NULL_ARRAY, TRANSACTIONS, CommandSpec, ReplyError, Result, encode_args
from statemachines.glob import compile_glob

if TYPE_CHECKING:
    from frontends.resp.gate import Gate

REDIS_VERSION = "7.0.0"  # the Redis whose commands and replies we follow (reported by HELLO and INFO)
REPLICATOR_VERSION = "0.1.0"

Handler = Callable[["Gate", Session, list[bytes]], Result]

OK = "OK"
SYNTAX = ReplyError("ERR syntax error")
NOT_INTEGER = ReplyError("ERR value is not an integer or out of range")
WRONGPASS = ReplyError("WRONGPASS invalid username-password pair or user is disabled.")
BAD_NAME = ReplyError("ERR Client names cannot contain spaces, newlines or special characters.")


@dataclass(frozen=True, slots=True)
class Close:
    """A handler result: send `value` (unless NO_REPLY), then close the connection."""

    value: Result


NO_REPLY = object()

SUBMIT_READ, SUBMIT_WRITE = 2, 1  # gate.READ, gate.WRITE


@dataclass(frozen=True, slots=True)
class Submit:
    """A handler result: send a request to the node (WATCH's version read, EXEC's entry).

    kind: SUBMIT_READ or SUBMIT_WRITE. payload: the bytes, or for a write a
    zero-argument callable that builds them; the server calls it only once every
    earlier read of the connection is answered (EXEC needs WATCH's versions).
    reply(args, result, protocol): turns the node's result into the reply.
    """

    kind: int
    payload: object
    reply: Callable[[list[bytes], Result, int], Result]
    consistency: ReadConsistency | None = None  # a read's level; None: the session's
    machine: str = ""  # who serves it: TRANSACTIONS (WATCH, EXEC); "": the server's default machine


@dataclass(frozen=True, slots=True)
class Command:
    """One entry of the table. `name` is lower case; subcommands are "container|sub"."""

    name: str
    arity: int
    flags: frozenset[str]
    first_key: int = 0
    last_key: int = 0
    key_step: int = 0
    group: str = "generic"
    summary: str = ""
    since: str = ""
    complexity: str = ""
    syntax: str = ""
    handler: Handler | None = None
    check: Callable[[list[bytes]], ReplyError | None] | None = None
    reply: Callable[[list[bytes], Result, int], Result] | None = None  # CommandSpec.reply
    subcommands: dict[str, Command] = field(default_factory=dict)
    acl: tuple[str, ...] = ()
    machine: str = ""  # the state machine serving it ("": the server's default machine)

    @property
    def is_write(self) -> bool:
        return "write" in self.flags


def text(raw: bytes) -> str:
    """Client bytes for an error text: kept byte for byte (see replies.error_bytes)."""
    return raw.decode("utf-8", "surrogateescape")


def _c_text(raw: bytes, limit: int) -> str:
    """As Redis' "%.*s" of an sds: cut at the first NUL and at `limit` bytes."""
    return text(raw.split(b"\0", 1)[0][:limit])


def unknown_command(args: list[bytes]) -> ReplyError:
    """Redis 7.0's text, quirks included: at most ~128 bytes of arguments are shown."""
    shown = ""
    for arg in args[1:]:
        if len(shown.encode("utf-8", "surrogateescape")) >= 128:
            break
        room = 128 - len(shown.encode("utf-8", "surrogateescape"))
        shown += f"'{_c_text(arg, room)}' "
    return ReplyError(f"ERR unknown command '{_c_text(args[0], 128)}', with args beginning with: {shown}")


def arity_error(name: str) -> ReplyError:
    return ReplyError(f"ERR wrong number of arguments for '{name}' command")


def unknown_subcommand(args: list[bytes]) -> ReplyError:
    return ReplyError(
        f"ERR unknown subcommand '{_c_text(args[1], 128)}'. Try {_c_text(args[0].upper(), 1 << 16)} HELP."
    )


# --- the table ----------------------------------------------------------------------
class CommandTable:
    """Lookup by the name as sent (any case), and the ordered list for COMMAND."""

    def __init__(self, commands: Iterable[Command]) -> None:
        self.commands: list[Command] = []
        self._by_name: dict[bytes, Command] = {}
        for cmd in commands:
            key = cmd.name.encode()
            if key in self._by_name:
                continue  # the first wins: frontend-owned commands are added before the machine's
            self.commands.append(cmd)
            self._by_name[key] = cmd
            self._by_name[key.upper()] = cmd

    def get(self, name: bytes) -> Command | None:
        return self._by_name.get(name) or self._by_name.get(name.lower())

    def __len__(self) -> int:
        return len(self.commands)


_CATEGORY_OF_GROUP = {
    "transactions": "transaction",
    "string": "string",
    "generic": "keyspace",
    "server": "keyspace",
    "hash": "hash",
    "list": "list",
    "set": "set",
    "sorted-set": "sortedset",
}


def from_spec(spec: CommandSpec, machine: str = "") -> Command:
    """A machine's CommandSpec as a table entry (no handler: gate.py routes it)."""
    flags = set(spec.flags)
    acl = ["write" if spec.is_write else "read"]
    if spec.group in _CATEGORY_OF_GROUP:
        acl.append(_CATEGORY_OF_GROUP[spec.group])
    acl.append("fast" if "fast" in flags else "slow")
    if "admin" in flags:
        acl.append("admin")
    return Command(
        name=spec.name.lower(),
        arity=spec.arity,
        flags=frozenset(flags),
        first_key=spec.first_key,
        last_key=spec.last_key,
        key_step=spec.key_step,
        group=spec.group,
        summary=spec.summary,
        since="",
        syntax=spec.syntax,
        check=spec.check,
        reply=spec.reply,
        acl=tuple(acl),
        machine=machine,
    )


def build_table(machine_specs: Iterable[CommandSpec]) -> CommandTable:
    """Frontend-owned commands first (they win a name clash), then the machine's."""
    return CommandTable([*FRONTEND_COMMANDS, *(from_spec(spec) for spec in machine_specs)])


def build_routed_table(machines: Mapping[str, Iterable[CommandSpec]]) -> CommandTable:
    """One table for a node running several machines: every machine command routes to
    the machine that declared it. Two machines declaring one name is a configuration
    error, refused at start rather than resolved by order."""
    owner: dict[str, str] = {}
    entries = []
    for machine, specs in machines.items():
        for spec in specs:
            name = spec.name.lower()
            if name in owner:
                raise ValueError(
                    f"command {name!r} is declared by both state machine {owner[name]!r} and "
                    f"{machine!r}: a node cannot serve both"
                )
            owner[name] = machine
            entries.append(from_spec(spec, machine))
    return CommandTable([*FRONTEND_COMMANDS, *entries])


# --- frontend-owned commands ----------------------------------------------------------
def cmd_ping(gate: Gate, session: Session, args: list[bytes]) -> Result:
    if len(args) > 2:
        return arity_error("ping")
    return "PONG" if len(args) == 1 else args[1]


def cmd_echo(gate: Gate, session: Session, args: list[bytes]) -> Result:
    return args[1]


def cmd_quit(gate: Gate, session: Session, args: list[bytes]) -> Result:
    return Close(OK)


def cmd_security_warning(gate: Gate, session: Session, args: list[bytes]) -> Result:
    """`POST` / `Host:` mean an HTTP client (cross-protocol scripting): close without a reply, as Redis does."""
    gate.log.warning("possible security attack: %r from %s, connection closed", text(args[0]), session.addr)
    return Close(NO_REPLY)


def cmd_select(gate: Gate, session: Session, args: list[bytes]) -> Result:
    db = string2ll(args[1])
    if db is None:
        return NOT_INTEGER
    if not -(1 << 31) <= db < (1 << 31):  # getIntFromObjectOrReply
        return ReplyError("ERR value is out of range, value must between -2147483648 and 2147483647")
    if db != 0:
        return ReplyError("ERR DB index is out of range")
    return OK


NOAUTH = ReplyError("NOAUTH Authentication required.")
NOAUTH_HELLO = ReplyError(
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
    "HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
    "the RESP protocol version at the same time"
)


def _authenticate(gate: Gate, session: Session, username: bytes, password: bytes) -> ReplyError | None:
    """Redis' one `default` user: `nopass` without a requirepass (any password), else that password."""
    if username != b"default":
        return WRONGPASS
    expected = gate.requirepass
    if expected is not None and not hmac.compare_digest(password, expected):
        return WRONGPASS
    session.authenticated = True
    return None


def cmd_auth(gate: Gate, session: Session, args: list[bytes]) -> Result:
    if len(args) > 3:
        return SYNTAX
    if len(args) == 2:
        if gate.requirepass is None:
            return ReplyError(
                "ERR AUTH <password> called without any password configured for the default user. "
                "Are you sure your configuration is correct?"
            )
        return _authenticate(gate, session, b"default", args[1]) or OK
    return _authenticate(gate, session, args[1], args[2]) or OK


def cmd_hello(gate: Gate, session: Session, args: list[bytes]) -> Result:
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
            return ReplyError(f"ERR Syntax error in HELLO option '{_c_text(args[j], 1 << 16)}'")
    if username is not None:
        error = _authenticate(gate, session, username, password)
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


def cmd_readconsistency(gate: Gate, session: Session, args: list[bytes]) -> Result:
    """READCONSISTENCY [level]: this connection's read level (replicator's own command)."""
    if len(args) == 1:
        return session.consistency.value
    try:
        session.consistency = ReadConsistency(text(args[1]).lower())
    except ValueError:
        levels = ", ".join(level.value for level in ReadConsistency)
        return ReplyError(f"ERR unknown read consistency '{_c_text(args[1], 128)}' (one of: {levels})")
    return OK


# CLIENT -------------------------------------------------------------------------------
def cmd_client_id(gate: Gate, session: Session, args: list[bytes]) -> Result:
    return session.id


def cmd_client_setname(gate: Gate, session: Session, args: list[bytes]) -> Result:
    if not valid_client_name(args[2]):
        return BAD_NAME
    session.name = args[2] or None
    return OK


def cmd_client_getname(gate: Gate, session: Session, args: list[bytes]) -> Result:
    return session.name


def cmd_client_setinfo(gate: Gate, session: Session, args: list[bytes]) -> Result:
    attr = args[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        return ReplyError(f"ERR Unrecognized option '{_c_text(args[2], 128)}'")
    if not valid_client_name(args[3]):
        return ReplyError(f"ERR {text(attr)} cannot contain spaces, newlines or special characters.")
    if attr == b"lib-name":
        session.lib_name = args[3]
    else:
        session.lib_ver = args[3]
    return OK


def _client_line(gate: Gate, session: Session) -> str:
    now = gate.now_s()
    return (
        f"id={session.id} addr={session.addr} laddr={session.laddr} name={text(session.name or b'')} "
        f"age={int(now - session.created_s)} idle={int(now - session.last_command_s)} db={session.db} "
        f"resp={session.protocol} cmd={session.last_command or 'NULL'} "
        f"read-consistency={session.consistency.value} seen-index={session.seen_index} "
        f"lib-name={text(session.lib_name)} lib-ver={text(session.lib_ver)}"
    )


def cmd_client_info(gate: Gate, session: Session, args: list[bytes]) -> Result:
    return Verbatim((_client_line(gate, session) + "\n").encode("utf-8", "surrogateescape"))


def cmd_client_list(gate: Gate, session: Session, args: list[bytes]) -> Result:
    lines = "".join(_client_line(gate, other) + "\n" for other in gate.sessions())
    return Verbatim(lines.encode("utf-8", "surrogateescape"))


_CLIENT_TYPES = {b"normal", b"master", b"slave", b"replica", b"pubsub"}


def cmd_client_kill(gate: Gate, session: Session, args: list[bytes]) -> Result:
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
                    return ReplyError(f"ERR Unknown client type '{_c_text(value, 1 << 16)}'")
            elif opt == b"addr" and more:
                addr = value
            elif opt == b"laddr" and more:
                laddr = value
            elif opt == b"user" and more:
                if value != b"default":
                    return ReplyError(f"ERR No such user '{_c_text(value, 1 << 16)}'")
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
        if ctype is not None and ctype != b"normal":
            continue  # every connection here is a normal client
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


def _help(name: str, lines: list[str]) -> Callable[..., Result]:
    def cmd_help(gate: Gate, session: Session, args: list[bytes]) -> Result:
        return [f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", *lines]

    return cmd_help


def cmd_reset(gate: Gate, session: Session, args: list[bytes]) -> Result:
    """RESET: as a new connection (Redis' resetCommand): no MULTI, no WATCH, RESP2, no name,
    the server's read consistency, and not authenticated if the server has a password."""
    _end_transaction(session)
    session.protocol = 2
    session.name = None
    session.db = 0
    session.consistency = gate.default_consistency
    session.authenticated = gate.requirepass is None
    return "RESET"


def cmd_time(gate: Gate, session: Session, args: list[bytes]) -> Result:
    now_us = time.time_ns() // 1000
    return [b"%d" % (now_us // 1_000_000), b"%d" % (now_us % 1_000_000)]


def cmd_role(gate: Gate, session: Session, args: list[bytes]) -> Result:
    """ROLE: the leader answers as a master listing its followers (host, port, matched index);
    any other node as a replica of the leader (state "connected" while it knows one)."""
    status = _status(gate)
    if status is not None and status.role is Role.LEADER:
        members = getattr(gate.node, "members", None)
        addresses = {node_id: addr for node_id, addr, _ in (members() if members is not None else ())}
        replicas = []
        for peer, progress in sorted(status.progress.items()):
            host, port = addresses.get(peer, ("", 0))
            replicas.append([host.encode(), b"%d" % port, b"%d" % progress.match])
        return [b"master", status.commit, replicas]
    leader = gate.node.leader_address() if status is not None else None
    host, port = leader if leader else ("", 0)
    applied = status.applied if status is not None else 0
    return [b"slave", host.encode(), port, b"connected" if leader else b"connect", applied]


# MULTI / EXEC / DISCARD / WATCH / UNWATCH -------------------------------------------------
# Redis 7.0 semantics. Inside MULTI the gate queues every command but these (and
# QUIT, RESET) and answers QUEUED; an unknown command or a wrong arity is
# answered at once and makes EXEC answer EXECABORT. EXEC proposes ONE entry to
# the node's TRANSACTIONS executor (replicator/transactions.py): the machine
# commands of the queue, each with the machine that serves it and whether it
# writes, and the watched keys with the versions WATCH read. The node checks
# the versions and runs the queue at that one log position (reads included),
# or returns None: EXEC's null array. So the commands of every machine the
# server routes, several machines in one EXEC too, work inside MULTI.
# WATCH watches keys of the server's default machine, if it supports WATCH.
# Frontend-owned commands in the queue (PING, ECHO, CLIENT ...) run when
# EXEC's reply comes back, in their place in the array.
EXECABORT = ReplyError("EXECABORT Transaction discarded because of previous errors.")
NOT_QUEUED = frozenset(
    {"exec", "discard", "multi", "watch", "quit", "reset", "post", "host:"}
)  # security: close at once


def cmd_multi(gate: Gate, session: Session, args: list[bytes]) -> Result:
    if session.multi is not None:
        return ReplyError("ERR MULTI calls can not be nested")
    session.multi = []
    session.multi_error = False
    return OK


def _end_transaction(session: Session) -> None:
    session.multi = None
    session.multi_error = False
    session.watched = {}


def cmd_discard(gate: Gate, session: Session, args: list[bytes]) -> Result:
    if session.multi is None:
        return ReplyError("ERR DISCARD without MULTI")
    _end_transaction(session)
    return OK


def cmd_unwatch(gate: Gate, session: Session, args: list[bytes]) -> Result:
    session.watched = {}
    return OK


def cmd_watch(gate: Gate, session: Session, args: list[bytes]) -> Result:
    if session.multi is not None:
        return ReplyError("ERR WATCH inside MULTI is not allowed")
    watched = session.watched
    new = [key for key in dict.fromkeys(args[1:]) if key not in watched]  # a key watched twice keeps its first version
    if not new:
        return OK
    for key in new:
        watched[key] = None

    def record(_args: list[bytes], result: Result, protocol: int) -> Result:
        if isinstance(result, list) and len(result) == 2 * len(new):
            for i, key in enumerate(new):
                watched[key] = (result[2 * i], bool(result[2 * i + 1]))
            return OK
        for key in new:
            watched[key] = (-1, False)  # no version: an EXEC watching it aborts
        return result if isinstance(result, ReplyError) else ReplyError("ERR WATCH failed: unexpected reply")

    return Submit(SUBMIT_READ, encode_watch_read(gate.machine, new), record, machine=TRANSACTIONS)


def cmd_exec(gate: Gate, session: Session, args: list[bytes]) -> Result:
    queue, failed, watched = session.multi, session.multi_error, session.watched
    if queue is None:
        return ReplyError("ERR EXEC without MULTI")
    _end_transaction(session)
    if failed:
        return EXECABORT
    machine_cmds = [queued for queued in queue if queued[0].handler is None]
    if not machine_cmds and not watched:
        return [_run_queued(gate, session, cmd, cmd_args, session.protocol) for cmd, cmd_args in queue]

    def build() -> bytes:
        watches = [(gate.machine, key, *(seen or (-1, False))) for key, seen in watched.items()]
        steps = [(cmd.machine or gate.machine, encode_args(cmd_args), cmd.is_write) for cmd, cmd_args in machine_cmds]
        return encode_transaction(steps, watches)

    def finish(_args: list[bytes], result: Result, protocol: int) -> Result:
        if result is None:
            return NULL_ARRAY  # a watched key changed: nothing was applied
        if not isinstance(result, list) or len(result) != len(machine_cmds):
            return result  # the request failed (CLUSTERDOWN, TRYAGAIN, ...): its error
        results = iter(result)
        out = []
        for cmd, cmd_args in queue:
            if cmd.handler is None:
                value = next(results)
                if cmd.reply is not None:
                    value = cmd.reply(cmd_args, value, protocol)
            else:
                value = _run_queued(gate, session, cmd, cmd_args, protocol)
            out.append(value)
        return out

    return Submit(SUBMIT_WRITE, build, finish, machine=TRANSACTIONS)


def _run_queued(gate: Gate, session: Session, cmd: Command, args: list[bytes], protocol: int) -> Result:
    """A frontend-owned command inside EXEC. One that would ask the node (INFO keyspace) answers
    without that part; one that would close the connection (CLIENT KILL of itself) does not."""
    value = cmd.handler(gate, session, args)
    if value.__class__ is Submit:
        value = value.reply(args, None, protocol)
    elif value.__class__ is Close:
        value = value.value
    return value


def queue_check(cmd: Command, args: list[bytes]) -> ReplyError | None:
    """What Redis checks before QUEUED beyond lookup and arity: a container's subcommand."""
    if cmd.subcommands and len(args) > 1:
        sub = cmd.subcommands.get(f"{cmd.name}|{text(args[1]).lower()}")
        if sub is None:
            return unknown_subcommand(args)
        n = len(args)
        if n != sub.arity and (sub.arity > 0 or n < -sub.arity):
            return arity_error(sub.name)
    return None


# COMMAND ------------------------------------------------------------------------------
def cmd_command(gate: Gate, session: Session, args: list[bytes]) -> Result:
    return [command_info(cmd) for cmd in gate.table.commands]


def cmd_command_count(gate: Gate, session: Session, args: list[bytes]) -> Result:
    return len(gate.table)


def cmd_command_list(gate: Gate, session: Session, args: list[bytes]) -> Result:
    return [cmd.name.encode() for cmd in gate.table.commands]


def _lookup_full(gate: Gate, name: bytes) -> Command | None:
    container, _, sub = name.lower().partition(b"|")
    cmd = gate.table.get(container)
    if cmd is not None and sub:
        return cmd.subcommands.get(f"{text(container)}|{text(sub)}")
    return cmd


def cmd_command_info(gate: Gate, session: Session, args: list[bytes]) -> Result:
    if len(args) == 2:
        return cmd_command(gate, session, args)
    out = []
    for name in args[2:]:
        cmd = _lookup_full(gate, name)
        out.append(None if cmd is None else command_info(cmd))
    return out


def cmd_command_docs(gate: Gate, session: Session, args: list[bytes]) -> Result:
    if len(args) == 2:
        return {cmd.name.encode(): command_docs(cmd) for cmd in gate.table.commands}
    out = {}
    for name in args[2:]:
        cmd = _lookup_full(gate, name)
        if cmd is not None:
            out[cmd.name.encode()] = command_docs(cmd)
    return out


# CONFIG -------------------------------------------------------------------------------
def cmd_config_get(gate: Gate, session: Session, args: list[bytes]) -> Result:
    """CONFIG GET pattern ...: the few parameters clients ask for (redis-benchmark: save, appendonly)."""
    params = gate.config_params()
    out: dict[bytes, bytes] = {}
    for pattern in args[2:]:
        if not any(c in pattern for c in b"[*?"):  # a plain name: answered under the name as given
            value = params.get(text(pattern).lower())
            if value is not None:
                out[pattern] = value.encode()
            continue
        match = compile_glob(pattern, nocase=True)  # Redis: stringmatch(pattern, name, nocase=1)
        for key, value in params.items():
            if match(key.encode()):
                out[key.encode()] = value.encode()
    return out


def cmd_config_set(gate: Gate, session: Session, args: list[bytes]) -> Result:
    """CONFIG SET parameter value [parameter value ...]: maxclients and requirepass change
    on this node at once (like Redis, per server: set them on every node); the others
    CONFIG GET shows are fixed for the node's life. All or nothing, as in Redis."""
    if len(args) % 2:
        return ReplyError(f"ERR Unknown option or number of arguments for CONFIG SET - '{text(args[-1])}'")
    params = gate.config_params()
    changes: dict[str, bytes] = {}
    for name, value in zip(args[2::2], args[3::2]):
        key = text(name).lower()
        if key not in params:
            return ReplyError(f"ERR Unknown option or number of arguments for CONFIG SET - '{text(name)}'")
        failed = f"ERR CONFIG SET failed (possibly related to argument '{key}') - "
        if key == "client-output-buffer-limit":  # settable: parsed into its classes' limits
            value = parse_output_buffer_limits(value)
            if isinstance(value, str):
                return ReplyError(failed + value)
        if key in changes:
            return ReplyError(failed + "duplicate parameter")
        if key not in _SETTABLE and key != "client-output-buffer-limit":
            return ReplyError(failed + "can't set immutable config")
        if key == "maxclients":
            error = _check_maxclients(value)
            if error:
                return ReplyError(failed + error)
        changes[key] = value
    if "client-output-buffer-limit" in changes:
        gate.output_buffer_limits.update(changes.pop("client-output-buffer-limit"))
    for key, value in changes.items():
        if key == "maxclients":
            gate.max_clients = string2ll(value)
        else:
            gate.requirepass = value or None
    return OK


MAXCLIENTS_MAX = (1 << 32) - 1  # Redis: createUIntConfig("maxclients", ..., 1, UINT_MAX, ...)


def _check_maxclients(value: bytes) -> str | None:
    """Redis' numeric config checks, in its words: an int64 (string2ll: no int() on client
    digits, whose length is the client's to choose), then the range."""
    number = string2ll(value)
    if number is None:
        return "argument couldn't be parsed into an integer"
    if not 1 <= number <= MAXCLIENTS_MAX:
        return f"argument must be between 1 and {MAXCLIENTS_MAX} inclusive"
    return None


_SETTABLE = ("maxclients", "requirepass")


# INFO ---------------------------------------------------------------------------------
INFO_SECTIONS = ("server", "clients", "memory", "stats", "replication", "consensus", "keyspace")


def cmd_info(gate: Gate, session: Session, args: list[bytes]) -> Result:
    """INFO [section ...]. The keyspace section asks the machine (KEYSPACE_INFO, a local read at
    STALE level: INFO must answer without a leader too), so INFO with it is a READ."""
    wanted = {text(arg).lower() for arg in args[1:]}
    if not wanted or wanted & {"all", "default", "everything"}:
        wanted = set(INFO_SECTIONS)

    def render(keyspace: Result) -> Verbatim:
        sections = []
        for name in INFO_SECTIONS:
            if name in wanted:
                lines = _info_keyspace(keyspace) if name == "keyspace" else _INFO_BUILDERS[name](gate)
                sections.append(f"# {name.capitalize()}\r\n" + "".join(f"{key}:{value}\r\n" for key, value in lines))
        return Verbatim("\r\n".join(sections).encode("utf-8", "surrogateescape"))

    if "keyspace" not in wanted:
        return render(None)
    return Submit(
        SUBMIT_READ,
        encode_args([KEYSPACE_INFO]),
        lambda _args, result, _protocol: render(result),
        ReadConsistency.STALE,
    )


def _info_keyspace(result: Result) -> list[tuple[str, object]]:
    if isinstance(result, list) and len(result) == 2 and result[0]:
        return [("db0", f"keys={result[0]},expires={result[1]},avg_ttl=0")]
    return []  # empty (Redis shows no db line), or a machine without KEYSPACE_INFO


def _memory_bytes() -> tuple[int, int]:
    """(resident set size, peak resident set size) of this process, in bytes."""
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = 0
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    except (ImportError, OSError):
        peak = rss
    return rss, max(peak, rss)


def _human(size: int) -> str:
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.2f}{unit}"
    return f"{size}B"


def _info_memory(gate: Gate) -> list[tuple[str, object]]:
    rss, peak = _memory_bytes()
    return [
        ("used_memory", rss),  # Python has no allocator counter as cheap as Redis': the process' RSS
        ("used_memory_human", _human(rss)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", _human(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", _human(peak)),
        ("maxmemory", 0),
        ("maxmemory_human", "0B"),
        ("maxmemory_policy", "noeviction"),
        ("mem_allocator", "pymalloc"),
    ]


def _info_stats(gate: Gate) -> list[tuple[str, object]]:
    stats = gate.stats
    return [
        ("total_connections_received", stats["total_connections_received"]),
        ("total_commands_processed", stats["total_commands_processed"]),
        ("rejected_connections", stats["rejected_connections"]),
        ("client_output_buffer_limit_disconnections", stats["client_output_buffer_limit_disconnections"]),
    ]


def _info_server(gate: Gate) -> list[tuple[str, object]]:
    uptime = int(gate.now_s() - gate.started_s)
    return [
        ("redis_version", REDIS_VERSION),
        ("redis_mode", "standalone"),
        ("replicator_version", REPLICATOR_VERSION),
        ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
        ("python_version", platform.python_version()),
        ("process_id", os.getpid()),
        ("tcp_port", gate.port),
        ("server_time_usec", int(time.time() * 1_000_000)),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("state_machine", gate.machine),
        ("read_consistency_default", gate.default_consistency.value),
    ]


def _info_clients(gate: Gate) -> list[tuple[str, object]]:
    return [("connected_clients", gate.connected_clients()), ("maxclients", gate.max_clients), ("blocked_clients", 0)]


def _status(gate: Gate):
    try:
        return gate.node.status()
    except Exception:  # the node may still be starting
        return None


def _info_replication(gate: Gate) -> list[tuple[str, object]]:
    status = _status(gate)
    if status is None:
        return [("role", "unknown")]
    lines: list[tuple[str, object]] = []
    if status.role is Role.LEADER:
        lines.append(("role", "master"))
        lines.append(("connected_slaves", sum(1 for p in status.progress.values() if p.recent_active)))
        for i, (peer, progress) in enumerate(sorted(status.progress.items())):
            lag = max(status.last_index - progress.match, 0)
            lines.append(
                (
                    f"slave{i}",
                    f"node_id={peer},state={progress.state},offset={progress.match},"
                    f"next={progress.next},lag={lag},active={int(progress.recent_active)}",
                )
            )
    else:
        lines.append(("role", "slave"))
        leader = gate.node.leader_address()
        lines.append(("master_host", leader[0] if leader else ""))
        lines.append(("master_port", leader[1] if leader else 0))
        lines.append(("master_link_status", "up" if status.leader is not None else "down"))
        lines.append(("connected_slaves", 0))
    lines.append(("master_repl_offset", status.commit))
    # the consensus view of the same thing (also in the Consensus section)
    lines.append(("leader_id", "" if status.leader is None else status.leader))
    lines.append(("term", status.epoch))
    lines.append(("commit_index", status.commit))
    lines.append(("applied_index", status.applied))
    return lines


def _info_consensus(gate: Gate) -> list[tuple[str, object]]:
    status = _status(gate)
    if status is None:
        return [("node_id", gate.node.node_id), ("consensus_role", "starting")]
    leader = gate.node.leader_address()
    lines: list[tuple[str, object]] = [
        ("node_id", status.node_id),
        ("consensus_role", status.role.value),  # not "role": INFO's sections share one namespace
        ("leader_id", "" if status.leader is None else status.leader),
        ("leader_address", f"{leader[0]}:{leader[1]}" if leader else ""),
        ("term", status.epoch),
        ("epoch", status.epoch),
        ("commit_index", status.commit),
        ("applied_index", status.applied),
        ("first_index", status.first_index),
        ("last_index", status.last_index),
    ]
    for peer, progress in sorted(status.progress.items()):
        lines.append(
            (
                f"peer_{peer}",
                f"match={progress.match},next={progress.next},state={progress.state},"
                f"active={int(progress.recent_active)}",
            )
        )
    members = getattr(gate.node, "members", None)
    for node_id, (host, port), kind in members() if members is not None else ():
        lines.append((f"member_{node_id}", f"address={host}:{port},kind={kind}"))
    for key, value in sorted(status.extra.items()):
        lines.append((re.sub(r"[^A-Za-z0-9_]", "_", str(key)), value))
    return lines


_INFO_BUILDERS = {
    "server": _info_server,
    "clients": _info_clients,
    "memory": _info_memory,
    "stats": _info_stats,
    "replication": _info_replication,
    "consensus": _info_consensus,
}


# --- COMMAND INFO / DOCS rendering ----------------------------------------------------------
_FLAG_ORDER = [
    "write",
    "readonly",
    "denyoom",
    "module",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_monitor",
    "skip_slowlog",
    "asking",
    "fast",
    "no_auth",
    "may_replicate",
    "allow_busy",
]


def _ordered_flags(flags: frozenset[str]) -> RespSet:
    known = [flag for flag in _FLAG_ORDER if flag in flags]
    return RespSet(known + sorted(flags - set(_FLAG_ORDER)))


def _key_specs(cmd: Command) -> list[dict]:
    if cmd.first_key <= 0:
        return []
    last = cmd.last_key - cmd.first_key if cmd.last_key >= 0 else cmd.last_key
    flags = RespSet(["RW", "update"] if cmd.is_write else ["RO", "access"])
    return [
        {
            b"flags": flags,
            b"begin_search": {b"type": b"index", b"spec": {b"index": cmd.first_key}},
            b"find_keys": {b"type": b"range", b"spec": {b"lastkey": last, b"keystep": cmd.key_step, b"limit": 0}},
        }
    ]


def command_info(cmd: Command) -> list:
    """One COMMAND INFO entry (Redis 7: ten fields)."""
    return [
        cmd.name.encode(),
        cmd.arity,
        _ordered_flags(cmd.flags),
        cmd.first_key,
        cmd.last_key,
        cmd.key_step,
        RespSet(f"@{category}" for category in cmd.acl),
        RespSet(),
        _key_specs(cmd),
        [command_info(sub) for sub in cmd.subcommands.values()],
    ]


def command_docs(cmd: Command) -> dict:
    """One COMMAND DOCS entry: what redis-cli reads for HELP and for its hints."""
    docs: dict = {
        b"summary": cmd.summary.encode(),
        b"since": (cmd.since or REPLICATOR_VERSION).encode(),
        b"group": cmd.group.encode(),
    }
    if cmd.complexity:
        docs[b"complexity"] = cmd.complexity.encode()
    arguments = syntax_arguments(cmd.syntax)
    if arguments:
        docs[b"arguments"] = arguments
    if cmd.subcommands:
        docs[b"subcommands"] = {sub.name.encode(): command_docs(sub) for sub in cmd.subcommands.values()}
    return docs


# Redis help notation -> COMMAND DOCS argument maps.
#   UPPER            pure token           UPPER name     token with a value
#   name             value (type guessed) [ ... ]        optional
#   a | b            one of               x [x ...]      multiple
_SYNTAX_TOKEN = re.compile(r"\[|\]|\||\.\.\.|[^\s\[\]|]+")
_INTEGER_NAMES = {
    "seconds",
    "milliseconds",
    "increment",
    "decrement",
    "count",
    "numkeys",
    "index",
    "offset",
    "timeout",
    "db",
    "protover",
    "start",
    "end",
    "client-id",
    "port",
}


def _is_token(word: str) -> bool:
    return any(c.isalpha() for c in word) and word == word.upper()


def _value_type(name: str) -> str:
    if name == "key" or name.endswith("-key"):
        return "key"
    if name.startswith("unix-time"):
        return "unix-time"
    if name in _INTEGER_NAMES:
        return "integer"
    if name == "pattern":
        return "pattern"
    return "string"


def _parse_syntax(tokens: list[str], i: int) -> tuple[list[list], int]:
    """Alternatives (each a list of nodes) up to a closing ']' or the end."""
    alternatives: list[list] = [[]]
    while i < len(tokens):
        tok = tokens[i]
        if tok == "]":
            return alternatives, i + 1
        if tok == "[":
            inner, i = _parse_syntax(tokens, i + 1)
            alternatives[-1].append(("opt", inner))
            continue
        if tok == "|":
            alternatives.append([])
        elif tok == "...":
            alternatives[-1].append(("more",))
        else:
            alternatives[-1].append(("word", tok))
        i += 1
    return alternatives, i


def _words(nodes: list) -> list[str]:
    return [node[1] for node in nodes if node[0] == "word"]


def _build(nodes: list) -> list[dict]:
    out: list[tuple[list[str], dict]] = []  # (source words, argument)
    k = 0
    while k < len(nodes):
        node = nodes[k]
        if node[0] == "word":
            word = node[1]
            following = nodes[k + 1] if k + 1 < len(nodes) else None
            if _is_token(word) and following and following[0] == "word" and not _is_token(following[1]):
                arg = {
                    b"name": following[1].encode(),
                    b"type": _value_type(following[1]).encode(),
                    b"token": word.encode(),
                }
                out.append(([word, following[1]], arg))
                k += 2
                continue
            if _is_token(word):
                arg = {b"name": word.lower().encode(), b"type": b"pure-token", b"token": word.encode()}
            else:
                arg = {b"name": word.encode(), b"type": _value_type(word).encode()}
            out.append(([word], arg))
        elif node[0] == "opt":
            alternatives = node[1]
            inner = alternatives[0]
            if len(alternatives) == 1 and inner and inner[-1] == ("more",):
                repeated = _words(inner)
                taken: list[str] = []
                count = 0
                for src, _ in reversed(out):
                    if len(taken) >= len(repeated):
                        break
                    taken[:0] = src
                    count += 1
                if repeated and taken == repeated:  # "x [x ...]": x repeats
                    group = [arg for _, arg in out[len(out) - count :]]
                    del out[len(out) - count :]
                    arg = (
                        dict(group[0])
                        if len(group) == 1
                        else {b"name": b"data", b"type": b"block", b"arguments": group}
                    )
                    arg[b"flags"] = RespSet([*arg.get(b"flags", ()), "multiple"])
                    out.append((repeated, arg))
                    k += 1
                    continue
            if len(alternatives) > 1:
                choices = [_single(alt) for alt in alternatives]
                name = "-".join(c[b"name"].decode() for c in choices)[:40]
                arg = {b"name": name.encode(), b"type": b"oneof", b"arguments": choices}
            else:
                arg = _single(inner)
            arg[b"flags"] = RespSet(["optional", *arg.get(b"flags", ())])
            out.append(([], arg))
        k += 1
    return [arg for _, arg in out]


def _single(nodes: list) -> dict:
    args = _build(nodes)
    if len(args) == 1:
        return dict(args[0])
    return {b"name": b"-".join(a[b"name"] for a in args)[:40], b"type": b"block", b"arguments": args}


def syntax_arguments(syntax: str) -> list[dict]:
    if not syntax.strip():
        return []
    alternatives, _ = _parse_syntax(_SYNTAX_TOKEN.findall(syntax), 0)
    if len(alternatives) > 1:
        return [{b"name": b"arg", b"type": b"oneof", b"arguments": [_single(alt) for alt in alternatives]}]
    return _build(alternatives[0])


# --- the frontend's own entries ----------------------------------------------------------
def _cmd(
    name: str,
    arity: int,
    flags: str,
    handler: Handler | None,
    *,
    group: str = "connection",
    summary: str,
    since: str = "1.0.0",
    complexity: str = "O(1)",
    syntax: str = "",
    acl: str = "fast connection",
    subcommands: Iterable[Command] = (),
    keys: tuple[int, int, int] = (0, 0, 0),
) -> Command:
    return Command(
        name=name,
        arity=arity,
        flags=frozenset(flags.split()),
        group=group,
        summary=summary,
        first_key=keys[0],
        last_key=keys[1],
        key_step=keys[2],
        since=since,
        complexity=complexity,
        syntax=syntax,
        handler=handler,
        subcommands={sub.name: sub for sub in subcommands},
        acl=tuple(acl.split()),
    )


def _container(name: str, subs: list[Command]) -> Handler:
    table = {sub.name.split("|", 1)[1].encode(): sub for sub in subs}

    def dispatch(gate: Gate, session: Session, args: list[bytes]) -> Result:
        sub = table.get(args[1].lower())
        if sub is None:
            return unknown_subcommand(args)
        n = len(args)
        if n != sub.arity and (sub.arity > 0 or n < -sub.arity):
            return arity_error(sub.name)
        return sub.handler(gate, session, args)

    return dispatch


_CLIENT_SUBS = [
    _cmd(
        "client|id",
        2,
        "noscript loading stale",
        cmd_client_id,
        summary="Returns the client ID for the current connection",
        since="5.0.0",
        acl="slow connection",
    ),
    _cmd(
        "client|setname",
        3,
        "noscript loading stale",
        cmd_client_setname,
        summary="Set the current connection name",
        since="2.6.9",
        syntax="connection-name",
        acl="slow connection",
    ),
    _cmd(
        "client|getname",
        2,
        "noscript loading stale",
        cmd_client_getname,
        summary="Get the current connection name",
        since="2.6.9",
        acl="slow connection",
    ),
    _cmd(
        "client|setinfo",
        4,
        "noscript loading stale",
        cmd_client_setinfo,
        summary="Set client or connection specific info",
        since="7.2.0",
        syntax="LIB-NAME libname | LIB-VER libver",
        acl="slow connection",
    ),
    _cmd(
        "client|info",
        2,
        "noscript loading stale",
        cmd_client_info,
        summary="Returns information about the current client connection.",
        since="6.2.0",
        acl="slow connection",
    ),
    _cmd(
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
    _cmd(
        "client|list",
        -2,
        "admin noscript loading stale",
        cmd_client_list,
        summary="Get the list of client connections",
        since="2.4.0",
        complexity="O(N) where N is the number of client connections",
        acl="admin slow dangerous connection",
    ),
    _cmd(
        "client|help",
        2,
        "loading stale",
        _help(
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
                "HELP",
            ],
        ),
        summary="Show helpful text about the different subcommands",
        since="5.0.0",
        acl="slow connection",
    ),
]

_COMMAND_SUBS = [
    _cmd(
        "command|count",
        2,
        "loading stale",
        cmd_command_count,
        group="server",
        summary="Get total number of Redis commands",
        since="2.8.13",
        acl="slow connection",
    ),
    _cmd(
        "command|info",
        -2,
        "loading stale",
        cmd_command_info,
        group="server",
        summary="Get array of specific Redis command details, or all when no argument is given.",
        since="2.8.13",
        complexity="O(N) where N is the number of commands to look up",
        syntax="[command-name [command-name ...]]",
        acl="slow connection",
    ),
    _cmd(
        "command|docs",
        -2,
        "loading stale",
        cmd_command_docs,
        group="server",
        summary="Get array of specific Redis command documentation",
        since="7.0.0",
        complexity="O(N) where N is the number of commands to look up",
        syntax="[command-name [command-name ...]]",
        acl="slow connection",
    ),
    _cmd(
        "command|list",
        -2,
        "loading stale",
        cmd_command_list,
        group="server",
        summary="Get an array of Redis command names",
        since="7.0.0",
        complexity="O(N) where N is the total number of Redis commands",
        acl="slow connection",
    ),
    _cmd(
        "command|help",
        2,
        "loading stale",
        _help(
            "COMMAND",
            ["(no subcommand)", "COUNT", "INFO [<command-name> ...]", "DOCS [<command-name> ...]", "LIST", "HELP"],
        ),
        group="server",
        summary="Show helpful text about the different subcommands",
        since="5.0.0",
        acl="slow connection",
    ),
]

_CONFIG_SUBS = [
    _cmd(
        "config|get",
        -3,
        "admin noscript loading stale",
        cmd_config_get,
        group="server",
        summary="Get the values of configuration parameters",
        since="2.0.0",
        complexity="O(N) when N is the number of configuration parameters provided",
        syntax="parameter [parameter ...]",
        acl="admin slow dangerous",
    ),
    _cmd(
        "config|set",
        -4,
        "admin noscript loading stale",
        cmd_config_set,
        group="server",
        summary="Set configuration parameters to the given values",
        since="2.0.0",
        complexity="O(N) when N is the number of configuration parameters provided",
        syntax="parameter value [parameter value ...]",
        acl="admin slow dangerous",
    ),
    _cmd(
        "config|help",
        2,
        "loading stale",
        _help("CONFIG", ["GET <pattern>", "SET <parameter> <value> [<parameter> <value> ...]", "HELP"]),
        group="server",
        summary="Show helpful text about the different subcommands",
        since="5.0.0",
        acl="slow",
    ),
]


def _cmd_command_dispatch(gate: Gate, session: Session, args: list[bytes]) -> Result:
    if len(args) == 1:
        return cmd_command(gate, session, args)
    return _COMMAND_DISPATCH(gate, session, args)


_COMMAND_DISPATCH = _container("command", _COMMAND_SUBS)

FRONTEND_COMMANDS: list[Command] = [
    _cmd("ping", -1, "fast", cmd_ping, summary="Ping the server", syntax="[message]"),
    _cmd("echo", 2, "loading stale fast", cmd_echo, summary="Echo the given string", syntax="message"),
    _cmd("quit", -1, "noscript loading stale fast no_auth allow_busy", cmd_quit, summary="Close the connection"),
    _cmd(
        "hello",
        -1,
        "noscript loading stale fast no_auth allow_busy",
        cmd_hello,
        summary="Handshake with Redis",
        since="6.0.0",
        syntax="[protover [AUTH username password] [SETNAME clientname]]",
    ),
    _cmd(
        "auth",
        -2,
        "noscript loading stale fast no_auth allow_busy",
        cmd_auth,
        summary="Authenticate to the server",
        syntax="[username] password",
    ),
    _cmd(
        "select",
        2,
        "loading stale fast",
        cmd_select,
        summary="Change the selected database for the current connection",
        syntax="index",
    ),
    _cmd(
        "client",
        -2,
        "",
        _container("client", _CLIENT_SUBS),
        summary="A container for client connection commands",
        since="2.4.0",
        complexity="Depends on subcommand.",
        acl="slow",
        subcommands=_CLIENT_SUBS,
    ),
    _cmd(
        "command",
        -1,
        "loading stale",
        _cmd_command_dispatch,
        group="server",
        summary="Get array of Redis command details",
        since="2.8.13",
        complexity="O(N) where N is the total number of Redis commands",
        acl="slow connection",
        subcommands=_COMMAND_SUBS,
    ),
    _cmd(
        "config",
        -2,
        "",
        _container("config", _CONFIG_SUBS),
        group="server",
        summary="A container for server configuration commands",
        since="2.0.0",
        complexity="Depends on subcommand.",
        acl="slow",
        subcommands=_CONFIG_SUBS,
    ),
    _cmd(
        "info",
        -1,
        "loading stale",
        cmd_info,
        group="server",
        summary="Get information and statistics about the server",
        syntax="[section [section ...]]",
        acl="slow dangerous",
    ),
    _cmd(
        "multi",
        1,
        "noscript loading stale fast allow_busy",
        cmd_multi,
        group="transactions",
        summary="Start a transaction block",
        since="1.2.0",
        acl="fast transaction",
    ),
    _cmd(
        "exec",
        1,
        "noscript loading stale skip_slowlog",
        cmd_exec,
        group="transactions",
        summary="Execute all commands issued after MULTI",
        since="1.2.0",
        complexity="Depends on commands in the transaction",
        acl="slow transaction",
    ),
    _cmd(
        "discard",
        1,
        "noscript loading stale fast allow_busy",
        cmd_discard,
        group="transactions",
        summary="Discard all commands issued after MULTI",
        since="2.0.0",
        complexity="O(N), when N is the number of queued commands",
        acl="fast transaction",
    ),
    _cmd(
        "watch",
        -2,
        "noscript loading stale fast allow_busy",
        cmd_watch,
        group="transactions",
        summary="Watch the given keys to determine execution of the MULTI/EXEC block",
        since="2.2.0",
        complexity="O(1) for every key.",
        syntax="key [key ...]",
        acl="fast transaction",
        keys=(1, -1, 1),
    ),
    _cmd(
        "unwatch",
        1,
        "noscript loading stale fast allow_busy",
        cmd_unwatch,
        group="transactions",
        summary="Forget about all watched keys",
        since="2.2.0",
        acl="fast transaction",
    ),
    _cmd(
        "reset",
        1,
        "noscript loading stale fast no_auth allow_busy",
        cmd_reset,
        summary="Reset the connection",
        since="6.2.0",
    ),
    _cmd(
        "time",
        1,
        "loading stale fast",
        cmd_time,
        group="server",
        summary="Return the current server time",
        since="2.6.0",
        acl="fast",
    ),
    _cmd(
        "role",
        1,
        "noscript loading stale fast",
        cmd_role,
        group="server",
        summary="Return the role of the instance in the context of replication",
        since="2.8.12",
        acl="admin fast dangerous",
    ),
    _cmd(
        "readconsistency",
        -1,
        "loading stale fast",
        cmd_readconsistency,
        summary="Get or set this connection's read consistency (replicator)",
        since=REPLICATOR_VERSION,
        syntax="[LINEARIZABLE | LEASE | SEQUENTIAL | STALE]",
    ),
    _cmd(
        "post",
        -1,
        "loading stale",
        cmd_security_warning,
        group="server",
        summary="HTTP requests are refused (security)",
        since="3.2.0",
        acl="slow",
    ),
    _cmd(
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


# --- docs/commands.md --------------------------------------------------------------------
def markdown(table: CommandTable, machine: str = "kv") -> str:
    """The command reference as Markdown, from the table itself (docs/commands.md is this output)."""

    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    def row(cmd: Command) -> str:
        if cmd.group == "transactions":
            kind = "transaction"
        else:
            kind = "write" if cmd.is_write else "read" if "readonly" in cmd.flags else "connection/server"
        syntax = f"`{cell(cmd.name.replace('|', ' ').upper())}{' ' + cell(cmd.syntax) if cmd.syntax else ''}`"
        return f"| {syntax} | {cmd.arity} | {kind} | {cell(cmd.summary)} |"

    groups: dict[str, list[Command]] = {}
    for cmd in table.commands:
        groups.setdefault(cmd.group, []).append(cmd)
    out = [
        "# Commands",
        "",
        f"Every command the RESP frontend serves with the `{machine}` machine: {len(table)} commands.",
        "Generated from the command table by `python -m frontends.resp.commands --markdown`;",
        "do not edit by hand (a test checks that this file is current).",
        "",
        "Arity follows Redis: N means exactly N words counting the command name, -N at least N.",
        "Writes go through the log as one entry each (MULTI/EXEC: one entry for the whole",
        "transaction); reads are served at the connection's read consistency; connection and",
        "server commands are answered by the node the client is connected to.",
    ]
    for group in sorted(groups):
        out += ["", f"## {group}", "", "| Command | Arity | Kind | Summary |", "| --- | --- | --- | --- |"]
        for cmd in sorted(groups[group], key=lambda c: c.name):
            out.append(row(cmd))
            out.extend(row(sub) for sub in sorted(cmd.subcommands.values(), key=lambda c: c.name))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m frontends.resp.commands", description=main.__doc__)
    parser.add_argument("--markdown", action="store_true", help="print the command reference as Markdown")
    parser.add_argument("--machine", default="kv", help="the state machine whose commands to list (default kv)")
    args = parser.parse_args(argv)
    if not args.markdown:
        parser.print_help()
        return 2
    from statemachines.registry import load_machine

    sys.stdout.write(markdown(build_table(load_machine(args.machine).commands()), args.machine))
    return 0


if __name__ == "__main__":
    from frontends.resp.commands import main as _main  # the imported module's classes, not __main__'s

    raise SystemExit(_main())
