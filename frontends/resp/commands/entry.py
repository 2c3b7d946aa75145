"""One entry of the command table, what a handler returns, and what a handler sees.

An entry (Redis' commands/*.json in miniature) has a name, arity, flags, key
positions, docs, and either a `handler` (a frontend-owned command: PING, HELLO,
CLIENT, INFO, COMMAND, ...) or none (a machine command, which the gate proposes
or reads).

Handlers are `handler(gate, session, args) -> reply value`; they run on the
connection's task, never block, and never touch the log. Besides a reply value
they may return `Close(value)` (send it, then close the connection: QUIT) or
`Submit(...)` (ask the node: WATCH's version read, EXEC's entry, INFO keyspace).
What they may see of the server is `ServerView`, which the gate (gate.py)
implements: handlers depend on this module, the gate on the handlers, never
the other way round.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from frontends.resp import acl_categories
from frontends.resp.acl import Users
from frontends.resp.blocking import BlockedClients
from frontends.resp.commands.errors import arity_error, unknown_subcommand
from frontends.resp.config_params import ConfigStore
from frontends.resp.monitor import Monitors
from frontends.resp.notifications import KeyspaceNotifications
from frontends.resp.pause import ClientPause
from frontends.resp.protocol import string2ll
from frontends.resp.pubsub import Subscribers
from frontends.resp.session import Session
from frontends.resp.tracking import Tracking
from replicator.runtime.api import NodeAPI, ReadConsistency
from replicator.tls import ReloadableContext
from statemachines import ReplyError, Result

REDIS_VERSION = "7.0.0"  # the Redis whose commands and replies we follow (reported by HELLO and INFO)
REPLICATOR_VERSION = "0.1.0"

# What the gate does with a command (Gate.route's first value; Submit.kind).
IMMEDIATE, WRITE, READ = 0, 1, 2

OK = "OK"


@dataclass(frozen=True, slots=True)
class Close:
    """A handler result: send `value` (unless NO_REPLY), then close the connection."""

    value: Result


NO_REPLY = object()


@dataclass(frozen=True, slots=True)
class Submit:
    """A handler result: send a request to the node (WATCH's version read, EXEC's entry).

    kind: READ or WRITE. payload: the bytes, or for a write a
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
class Later:
    """A Submit's reply hook may return this: the reply is `await compute()`, for work that must
    not run on the event loop (REPLICATOR.BACKUP encodes a snapshot in a worker thread). The
    connection awaits it in the reply's place, as it awaits any reply; compute never raises."""

    compute: Callable[[], Awaitable[Result]]


Handler = Callable[["ServerView", Session, list[bytes]], Result]


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
    categories: int = 0  # its ACL categories, a mask of acl_categories.BIT
    machine: str = ""  # the state machine serving it ("": the server's default machine)
    # A frontend command whose handler changes nothing and at most reads the node (a Submit of a
    # READ: OBJECT, MEMORY, INFO): inside MULTI, EXEC makes its read a step of the transaction.
    node_read: bool = False

    @property
    def is_write(self) -> bool:
        return "write" in self.flags


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


class ServerView(Protocol):
    """What a handler may read and change of the server (frontends/resp/gate.py's Gate)."""

    node: NodeAPI
    table: CommandTable
    machine: str  # the server's default state machine
    default_consistency: ReadConsistency
    max_clients: int  # CONFIG SET maxclients
    databases: int  # how many SELECT may choose from (1: the default machine has no databases)
    requirepass: bytes | None  # CONFIG SET requirepass; None: no password
    output_buffer_limits: dict[str, tuple[int, int, int]]  # client class -> (hard, soft, soft seconds)
    stats: dict[str, int]  # INFO stats' counters
    acl: Users  # this node's ACL users and ACL LOG (frontends/resp/acl.py)
    acl_machine: object  # the node's replicated users (statemachines/acl.py), which `acl` follows
    aclfile: Path | None  # ACL LOAD / SAVE's file; None: Redis' "not configured to use an ACL file"
    config: ConfigStore  # CONFIG SET's values (frontends/resp/config_params.py)
    pubsub: Subscribers  # this node's pub/sub subscribers (frontends/resp/pubsub.py)
    blocked: BlockedClients  # this node's clients waiting in BLPOP & co (frontends/resp/blocking.py)
    notifications: KeyspaceNotifications  # notify-keyspace-events (frontends/resp/notifications.py)
    tracking: Tracking  # CLIENT TRACKING's table (frontends/resp/tracking.py)
    monitors: Monitors  # MONITOR connections (frontends/resp/monitor.py)
    pause: ClientPause | None  # CLIENT PAUSE in force (frontends/resp/pause.py)
    route_name: str  # the command table's name of what the gate routes now
    reply_hook: Callable[[list[bytes], Result, int], Result] | None  # the reply hook of what it routes now
    tls: ReloadableContext | None  # the TLS port's context (CONFIG SET tls-cert-file reloads it); None: no TLS
    port: int
    started_s: float
    log: logging.Logger

    def now_s(self) -> float: ...

    def sessions(self) -> Iterable[Session]: ...

    def connected_clients(self) -> int: ...

    def config_params(self) -> dict[str, str]: ...

    def is_leader(self) -> bool: ...

    def payload(self, machine: str | None, db: int, args: list[bytes]) -> bytes: ...

    def command_payload(self, session: Session, cmd: Command, args: list[bytes]) -> bytes: ...

    def in_session_db(self, db: int, machine: str | None, payload: bytes) -> bytes: ...

    def acl_denied(self, session: Session, cmd: Command, args: list[bytes], context: str) -> tuple[str, str] | None: ...

    def acl_change(self, session: Session, command: bytes) -> Result: ...

    def applied_here(self, session: Session, compute: Callable[[], Result]) -> Later: ...


def select_db(databases: int, raw: bytes) -> int | ReplyError:
    """SELECT's number, checked as Redis checks it: an int, then within `databases`."""
    db = string2ll(raw)
    if db is None:
        return ReplyError("ERR value is not an integer or out of range")
    if not -(1 << 31) <= db < (1 << 31):  # getIntFromObjectOrReply
        return ReplyError("ERR value is out of range, value must between -2147483648 and 2147483647")
    if not 0 <= db < databases:
        return ReplyError("ERR DB index is out of range")
    return db


# --- building the frontend's own entries ------------------------------------------------
def frontend_command(
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
    node_read: bool = False,
) -> Command:
    """An entry for a command the frontend answers itself; flags and acl as space-separated words
    (acl: its explicit categories where Redis does not have the command; acl_categories.py)."""
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
        categories=acl_categories.categories(name, flags.split(), acl_categories.mask(acl.split())),
        node_read=node_read,
    )


def container(subs: list[Command]) -> Handler:
    """The handler of a container (CLIENT, CONFIG, COMMAND): finds the subcommand, checks its arity."""
    table = {sub.name.split("|", 1)[1].encode(): sub for sub in subs}

    def dispatch(gate: ServerView, session: Session, args: list[bytes]) -> Result:
        sub = table.get(args[1].lower())
        if sub is None:
            return unknown_subcommand(args)
        n = len(args)
        if n != sub.arity and (sub.arity > 0 or n < -sub.arity):
            return arity_error(sub.name)
        return sub.handler(gate, session, args)

    return dispatch


def help_handler(name: str, lines: list[str]) -> Handler:
    """The handler of a container's HELP subcommand: Redis' header line, then `lines`."""

    def cmd_help(gate: ServerView, session: Session, args: list[bytes]) -> Result:
        return [f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", *lines]

    return cmd_help
