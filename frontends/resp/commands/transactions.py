"""MULTI, EXEC, DISCARD, WATCH and UNWATCH, with Redis 7.0's semantics.

Inside MULTI the gate queues every command but NOT_QUEUED and answers QUEUED;
an unknown command or a wrong arity is answered at once and makes EXEC answer
EXECABORT. EXEC proposes ONE entry to the node's TRANSACTIONS executor
(replicator/transactions.py): the machine commands of the queue, each with the
machine that serves it and whether it writes, and the watched keys with the
versions WATCH read. The node checks the versions and runs the queue at that
one log position (reads included), or returns None: EXEC's null array. So the
commands of every machine the server routes, several machines in one EXEC too,
work inside MULTI. WATCH watches keys of the server's default machine, if it
supports WATCH. Frontend-owned commands in the queue (PING, ECHO, CLIENT ...)
run when EXEC's reply comes back, in their place in the array; those that only
read the node (Command.node_read: OBJECT, MEMORY, INFO) have their read made a
step of the transaction, answered at its place; SELECT runs when EXEC is
routed, so the commands after it go to its database.
"""

from __future__ import annotations

from frontends.resp.commands.entry import (
    OK,
    READ,
    WRITE,
    Close,
    Command,
    ServerView,
    Submit,
    frontend_command,
    select_db,
)
from frontends.resp.commands.errors import arity_error, text, unknown_subcommand
from frontends.resp.commands.pubsub import PUBLISHING
from frontends.resp.session import Session
from replicator.transactions import encode_transaction, encode_watch_read
from statemachines import NULL_ARRAY, TRANSACTIONS, ReplyError, Result

EXECABORT = ReplyError("EXECABORT Transaction discarded because of previous errors.")
NOT_QUEUED = frozenset(
    {"exec", "discard", "multi", "watch", "quit", "reset", "post", "host:"}
)  # security: close at once


def cmd_multi(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if session.multi is not None:
        return ReplyError("ERR MULTI calls can not be nested")
    session.multi = []
    session.multi_error = False
    return OK


def end_transaction(session: Session) -> None:
    session.multi = None
    session.multi_error = False
    session.watched = {}


def cmd_discard(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if session.multi is None:
        return ReplyError("ERR DISCARD without MULTI")
    end_transaction(session)
    return OK


def cmd_unwatch(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    session.watched = {}
    return OK


def cmd_watch(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if session.multi is not None:
        return ReplyError("ERR WATCH inside MULTI is not allowed")
    watched, db = session.watched, session.db
    # a key watched twice (in one database) keeps its first version
    new = [key for key in dict.fromkeys(args[1:]) if (db, key) not in watched]
    if not new:
        return OK
    for key in new:
        watched[db, key] = None

    def record(_args: list[bytes], result: Result, protocol: int) -> Result:
        if isinstance(result, list) and len(result) == 2 * len(new):
            for i, key in enumerate(new):
                watched[db, key] = (result[2 * i], bool(result[2 * i + 1]))
            return OK
        for key in new:
            watched[db, key] = (-1, False)  # no version: an EXEC watching it aborts
        return result if isinstance(result, ReplyError) else ReplyError("ERR WATCH failed: unexpected reply")

    return Submit(READ, encode_watch_read(gate.machine, new, db), record, machine=TRANSACTIONS)


def cmd_exec(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    queue, failed, watched = session.multi, session.multi_error, session.watched
    if queue is None:
        return ReplyError("ERR EXEC without MULTI")
    end_transaction(session)
    if failed:
        return EXECABORT
    before = session.db
    steps: list[tuple[str, bytes, bool]] = []
    places: list = []  # per queued command: a _Step the node answers, or None (run at finish)
    for cmd, cmd_args in queue:  # in the database the queue's SELECTs chose, as each is reached
        denied = gate.acl_denied(session, cmd, cmd_args, "multi")  # Redis checks again at EXEC
        if denied is not None:
            places.append(_Step(-1, None, ReplyError(ACL_CHANGED + ACL_CHANGED_REASONS[denied[0]])))
        elif cmd.handler is None:
            steps.append((cmd.machine or gate.machine, gate.command_payload(session, cmd, cmd_args), cmd.is_write))
            places.append(_Step(len(steps) - 1, cmd.reply))
        elif cmd.name == "select":
            run_queued(gate, session, cmd, cmd_args, session.protocol)  # takes effect now, for what follows
            places.append(None)
        elif cmd.node_read or cmd.name in PUBLISHING or _acl_change(cmd, cmd_args):  # a step, at its place
            value = cmd.handler(gate, session, cmd_args)
            if value.__class__ is Submit and value.payload.__class__ is bytes:
                payload = gate.in_session_db(session.db, value.machine, value.payload)
                steps.append((value.machine or gate.machine, payload, value.kind == WRITE))
                # (an ACL change's own hook waits for this node's apply: EXEC's whole reply does)
                places.append(_Step(len(steps) - 1, None if _acl_change(cmd, cmd_args) else value.reply))
            else:
                places.append(_Step(-1, None, value))
        else:
            places.append(None)
    if not steps and not watched:
        return [
            _answer(gate, session, place, cmd, cmd_args, (), session.protocol)
            for place, (cmd, cmd_args) in zip(places, queue)
        ]
    after = session.db

    def build() -> bytes:
        watches = [(gate.machine, key, *(seen or (-1, False)), db) for (db, key), seen in watched.items()]
        return encode_transaction(steps, watches)

    def finish(_args: list[bytes], result: Result, protocol: int) -> Result:
        if result is None:
            if session.db == after:
                session.db = before  # nothing ran, the queue's SELECTs neither (unless SELECTed since)
            return NULL_ARRAY  # a watched key changed: nothing was applied
        if not isinstance(result, list) or len(result) != len(steps):
            return result  # the request failed (CLUSTERDOWN, TRYAGAIN, ...): its error
        return [
            _answer(gate, session, place, cmd, cmd_args, result, protocol)
            for place, (cmd, cmd_args) in zip(places, queue)
        ]

    if any(_acl_change(cmd, cmd_args) for cmd, cmd_args in queue):  # the ACL reads after them see them here
        return Submit(WRITE, build, _after_local_apply(gate, session, finish), machine=TRANSACTIONS)
    return Submit(WRITE, build, finish, machine=TRANSACTIONS)


def _after_local_apply(gate: ServerView, session: Session, finish):
    """EXEC's reply hook once this node has applied the transaction: its ACL changes then hold
    here, for its ACL reads (run at finish) and the client's next commands."""

    def reply(args: list[bytes], result: Result, protocol: int) -> Result:
        return gate.applied_here(session, lambda: finish(args, result, protocol))

    return reply


ACL_CHANGED = (
    "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. "
    "This command is no longer allowed for the following reason: "
)
ACL_CHANGED_REASONS = {
    "command": "no permission to execute the command or subcommand",
    "key": "no permission to touch the specified keys",
    "channel": "no permission to access one of the channels used as arguments",
}


def _acl_change(cmd: Command, args: list[bytes]) -> bool:
    """ACL SETUSER / DELUSER: an entry for the node's ACL machine, so a step of the transaction."""
    return cmd.name == "acl" and args[1].lower() in (b"setuser", b"deluser")


class _Step:
    """A queued command's place in EXEC's array that the node answers: its step's result, shaped by
    `reply`; index -1 holds a `value` already known (a node read that answered without the node)."""

    __slots__ = ("index", "reply", "value")

    def __init__(self, index: int, reply, value: Result = None) -> None:
        self.index, self.reply, self.value = index, reply, value


def _answer(
    gate: ServerView, session: Session, place, cmd: Command, args: list[bytes], results, protocol: int
) -> Result:
    """One queued command's entry in EXEC's array. A frontend command without a step runs now, in
    its place; SELECT ran when EXEC was routed (the commands after it needed its database): only
    its reply is made here, so a SELECT the client sent after EXEC is not undone."""
    if place is None:
        if cmd.name == "select":
            db = select_db(gate.databases, args[1])
            return db if type(db) is ReplyError else OK
        return run_queued(gate, session, cmd, args, protocol)
    if place.index < 0:
        value = place.value
        if value.__class__ is Close:
            return value.value
        return value.reply(args, None, protocol) if value.__class__ is Submit else value
    value = results[place.index]
    return place.reply(args, value, protocol) if place.reply is not None else value


def run_queued(gate: ServerView, session: Session, cmd: Command, args: list[bytes], protocol: int) -> Result:
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


COMMANDS = [
    frontend_command(
        "multi",
        1,
        "noscript loading stale fast allow_busy",
        cmd_multi,
        group="transactions",
        summary="Start a transaction block",
        since="1.2.0",
        acl="fast transaction",
    ),
    frontend_command(
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
    frontend_command(
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
    frontend_command(
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
    frontend_command(
        "unwatch",
        1,
        "noscript loading stale fast allow_busy",
        cmd_unwatch,
        group="transactions",
        summary="Forget about all watched keys",
        since="2.2.0",
        acl="fast transaction",
    ),
]
