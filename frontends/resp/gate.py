"""The gate: every request passes here once, before anything touches the node.

    lookup -> arity -> auth (NOAUTH) -> MULTI queue (QUEUED)
           -> (frontend handler | machine syntax check) -> WRITE | READ

Inside MULTI only lookup, arity and a container's subcommand are checked
before QUEUED, as in Redis 7.0 (a refusal there makes EXEC answer EXECABORT);
a machine command's syntax error shows in EXEC's array, from apply. Any
machine's commands queue: EXEC's one entry names each command's machine. A
frontend handler may return commands.entry.Submit to reach the node (WATCH reads
versions, EXEC proposes the transaction's one entry, both to the node's
TRANSACTIONS executor; INFO keyspace reads the default machine).

Like Redis' processCommand, the cross-cutting checks live in one place and
handlers check none of them. Unknown commands, wrong arity and syntax errors
are answered here, so an invalid command never enters the log. A valid
machine command leaves as the payload the machine will execute: the argument
list exactly as sent, msgpack-encoded (statemachines.encode_args); one the
default machine serves in a database other than 0 (SELECT) goes wrapped as
[IN_DB, db, *args], frontend handlers' Submits to it too. Whether a
READ is linearizable, leased or local is the session's choice; the server
submits it with that level.

`route` never blocks and never awaits: the server calls it for each parsed
command in order, so session changes (HELLO 3, CLIENT SETNAME) take effect
exactly between the commands that surround them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import trio

from frontends.resp.acl import DENIED_COMMAND, DENIED_KEY
from frontends.resp.acl import check as acl_check
from frontends.resp.blocking import BLOCKING, Blocked, BlockedClients
from frontends.resp.commands.acl import STAT_OF_REASON, deny_log
from frontends.resp.commands.entry import IMMEDIATE, READ, WRITE, CommandTable, Later, Submit
from frontends.resp.commands.errors import NOAUTH, arity_error, unknown_command, unknown_subcommand
from frontends.resp.commands.pubsub import SUBSCRIBER_COMMANDS, subscriber_mode_error
from frontends.resp.commands.transactions import NOT_QUEUED, queue_check
from frontends.resp.config_params import ConfigStore
from frontends.resp.key_changes import KeyChangeListeners
from frontends.resp.limits import OUTPUT_BUFFER_LIMITS
from frontends.resp.monitor import Monitors
from frontends.resp.notifications import KeyspaceNotifications
from frontends.resp.pause import ClientPause, may_replicate
from frontends.resp.pubsub import Subscribers
from frontends.resp.script_acl import ScriptAcl, acl_target, unrestricted
from frontends.resp.session import Session
from frontends.resp.tracking import SCRIPT_CALLS, command_keys
from frontends.resp.tracking import Tracking as KeyTracking
from replicator.config import MAX_ENTRY_BYTES
from replicator.runtime.api import NodeAPI, ReadConsistency
from replicator.types import Role
from statemachines import AS_USER, IN_DB, ReplyError, Result, decode_args, encode_args
from statemachines.acl import ACL

log = logging.getLogger(__name__)

REPLICA_KEYSPACE = ReplyError("ERR Replica can't interact with the keyspace")
QUEUED_ARG_OVERHEAD = 5  # msgpack's header of one argument in the EXEC entry (at most)


def _full_name(cmd, args: list[bytes]) -> str | None:
    """Redis' fullname of what was sent ("container|sub" for a subcommand); None for an unknown
    subcommand or a subcommand's wrong arity, which Redis refuses before subscriber mode."""
    if not cmd.subcommands:
        return cmd.name
    sub = cmd.subcommands.get(f"{cmd.name}|{args[1].decode('utf-8', 'replace').lower()}") if len(args) > 1 else None
    n = len(args)
    if sub is None or (n != sub.arity and (sub.arity > 0 or n < -sub.arity)):
        return None
    return sub.name


def in_db(db: int, args: list[bytes]) -> bytes:
    """A default-machine command sent in database db > 0, as the machine takes it (statemachines.IN_DB)."""
    return encode_args([IN_DB, b"%d" % db, *args])


def as_user(user: bytes, db: int, args: list[bytes]) -> bytes:
    """A script or function call by a user other than default, as the machine takes it
    (statemachines.AS_USER): its redis.calls are checked against that user's rules at apply."""
    return encode_args([AS_USER, user, IN_DB, b"%d" % db, *args] if db else [AS_USER, user, *args])


def _on_event_loop(record: Callable[..., None], *args) -> None:
    """Run `record` on the trio event loop: a check at apply may run in the worker thread serving
    a slow read (EVAL_RO), and the ACL LOG, its stats and the trio clock belong to the loop."""
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        try:
            trio.from_thread.run_sync(record, *args)
            return
        except RuntimeError:  # no trio here at all (a machine applied by hand): record it here
            pass
    record(*args)


APPLIED = encode_args([b"APPLIED"])  # the ACL machine's read that only waits for an index (applied_here)


class _MayBlock:
    """The reply hook of a blocking command a client sent: nil makes the client wait (Blocked)."""

    __slots__ = ("name", "db", "machine", "write", "spec_reply")

    def __init__(self, name: str, db: int, machine: str, write: bool, spec_reply) -> None:
        self.name, self.db, self.machine, self.write, self.spec_reply = name, db, machine, write, spec_reply

    def reply(self, args: list[bytes], result: Result, protocol: int) -> Result:
        if result is None:
            return Blocked(self.name, args, self.db, self.machine, self.write, self.spec_reply)
        return result if self.spec_reply is None else self.spec_reply(args, result, protocol)


class Gate:
    """Routes commands; also what frontend handlers may see of the server (commands.entry.ServerView)."""

    def __init__(
        self,
        node: NodeAPI,
        table: CommandTable,
        *,
        machine: str,
        default_consistency: ReadConsistency = ReadConsistency.LINEARIZABLE,
        max_clients: int = 10000,
        clock: Callable[[], float],
        sessions: Callable[[], Iterable[Session]] = lambda: (),
        config_params: Callable[[], dict[str, str]] = dict,
        requirepass: bytes | None = None,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
        databases: int = 1,
        script_acl: ScriptAcl | None = None,
    ) -> None:
        self.node = node
        self.table = table
        self.machine = machine
        self.default_consistency = default_consistency
        self.max_clients = max_clients
        self.now_s = clock
        self.started_s = clock()
        self.port = 0
        self.log = log
        self._sessions = sessions
        self._config_params = config_params
        self.reply_hook = None  # the CommandSpec.reply of the machine command `route` last let through
        self.route_machine = machine  # the machine that serves what `route` last returned
        self.route_name = ""  # the command table's name of what `route` last saw ("unknown" if none)
        self.read_consistency: ReadConsistency | None = None  # a READ's own level (Submit), else the session's
        self.requirepass = requirepass  # None: no password (Redis' default user with nopass)
        self.max_entry_bytes = max_entry_bytes  # a MULTI queue beyond it is refused as it grows
        self.databases = databases  # SELECT's range; above 1, the default machine has databases
        # client-output-buffer-limit, per client class: (hard bytes, soft bytes, soft seconds);
        # the server enforces "normal" (every client here is one), CONFIG shows them all.
        self.output_buffer_limits = dict(OUTPUT_BUFFER_LIMITS)
        self.pubsub = Subscribers()  # this node's subscribers (frontends/resp/pubsub.py)
        self.key_changes = KeyChangeListeners(node)  # the keys apply changes here, for whoever listens
        self.blocked = BlockedClients(node, self.key_changes, self.payload)  # clients in BLPOP & co
        self.notifications = KeyspaceNotifications(node, self.pubsub)  # notify-keyspace-events
        self.tls = None  # the TLS port's ReloadableContext, set by the server that has one
        self.config = ConfigStore()  # CONFIG SET's values of the parameters the server does not own
        self.tracking = KeyTracking(self.key_changes)  # CLIENT TRACKING (frontends/resp/tracking.py)
        self.monitors = Monitors()  # MONITOR connections (frontends/resp/monitor.py)
        self.pause: ClientPause | None = None  # CLIENT PAUSE in force (frontends/resp/pause.py)
        self.stats = {
            "total_connections_received": 0,
            "total_commands_processed": 0,
            "rejected_connections": 0,
            "client_output_buffer_limit_disconnections": 0,
            "acl_access_denied_auth": 0,
            "acl_access_denied_cmd": 0,
            "acl_access_denied_key": 0,
            "acl_access_denied_channel": 0,
        }
        # ACL users (frontends/resp/acl.py), following the node's replicated users (statemachines/acl.py):
        # ACL SETUSER / DELUSER / LOAD propose to its machine and self.acl follows what it applies.
        # A NodeAPI without one gets a machine of this server's own, changed in place (its users
        # are then this node's only). script_acl.py says who makes them and why (scripts' checks).
        if script_acl is None:
            script_acl = ScriptAcl(table, getattr(node, "acl", None), requirepass)
            install = getattr(node, "set_script_permissions", None)  # optional in NodeAPI
            if install is not None:
                install(script_acl)
        self.script_acl = script_acl
        self.acl = script_acl.users
        self.acl_machine = script_acl.acl_machine
        self._acl_local = script_acl.local
        script_acl.on_deleted = self._user_deleted
        script_acl.on_denied = self._script_denied
        self.aclfile: Path | None = None  # ACL LOAD / SAVE's file (frontends/resp/aclfile.py)

    def route(self, session: Session, args: list[bytes]) -> tuple[int, Result]:
        """(IMMEDIATE, reply value) | (WRITE, payload) | (READ, payload).

        A WRITE's payload may be a zero-argument callable (EXEC): the server calls it
        once every earlier read of the connection is answered. `reply_hook` is the
        hook for this command's reply (None for IMMEDIATE); read it right after route.
        """
        self.reply_hook = self.read_consistency = None
        self.route_machine = self.machine
        if self.tracking.broadcast_due:  # BCAST invalidations gathered at apply go out before any later reply
            self.tracking.broadcast()
        cmd = self.table.get(args[0])
        self.route_name = "unknown" if cmd is None else cmd.name
        if cmd is None:
            if session.multi is not None:
                session.multi_error = True
            return IMMEDIATE, unknown_command(args)
        n = len(args)
        arity = cmd.arity
        if n != arity and (arity > 0 or n < -arity):
            if session.multi is not None:
                session.multi_error = True
            return IMMEDIATE, arity_error(cmd.name)
        if not session.authenticated and "no_auth" not in cmd.flags:
            if session.multi is not None:
                session.multi_error = True
            return IMMEDIATE, NOAUTH
        if session.pubsub is not None and session.protocol == 2 and cmd.name not in SUBSCRIBER_COMMANDS:
            name = _full_name(cmd, args)
            if name is not None:  # else the container answers Redis' earlier error (unknown subcommand)
                return IMMEDIATE, subscriber_mode_error(name)
        if session.user != b"default" or not self._default_all:
            error = self._acl_check(session, cmd, args)
            if error is not None:
                if session.multi is not None:
                    session.multi_error = True
                return IMMEDIATE, error
        session.commands += 1
        session.last_command = (cmd.subcommands and _full_name(cmd, args)) or cmd.name
        self.stats["total_commands_processed"] += 1
        shown = None  # MONITOR: what to show once the command has run (Redis feeds monitors after call())
        if self.monitors.sessions:
            if session.monitor and (cmd.handler is None or "readonly" in cmd.flags or may_replicate(cmd)):
                if session.multi is not None:
                    session.multi_error = True
                return IMMEDIATE, REPLICA_KEYSPACE  # Redis marks a MONITOR connection a replica
            if session.multi is None or cmd.name in NOT_QUEUED:
                shown = self._shown(session, cmd, args)
        if session.multi is not None and cmd.name not in NOT_QUEUED:
            error = queue_check(cmd, args) or self._queue_size_check(session, args)
            if error is not None:
                session.multi_error = True
                return IMMEDIATE, error
            if cmd.subcommands and cmd.handler is None:  # a machine's container: EXEC runs the subcommand
                cmd = cmd.subcommands[f"{cmd.name}|{args[1].decode('utf-8', 'replace').lower()}"]
            session.multi.append((cmd, args))
            if session.tracking is not None and cmd.handler is None:  # its reads are tracked from now
                self._track(session, cmd, args, WRITE if "write" in cmd.flags else READ)
            return IMMEDIATE, "QUEUED"
        if cmd.handler is not None:
            value = cmd.handler(self, session, args)
            if shown:  # after it ran: SELECT shows its new database, RESET no longer shows to itself
                self.monitors.feed(session, shown)
            if value.__class__ is Submit:
                self.reply_hook, self.read_consistency = value.reply, value.consistency
                self.route_machine = value.machine or self.machine
                payload = value.payload
                if payload.__class__ is bytes:
                    payload = self.in_session_db(session.db, value.machine, payload)
                return value.kind, payload
            return IMMEDIATE, value
        if cmd.subcommands:  # a machine's container: its subcommand decides how it is routed
            sub = cmd.subcommands.get(f"{cmd.name}|{args[1].decode('utf-8', 'replace').lower()}")
            if sub is None:
                return IMMEDIATE, unknown_subcommand(args)
            if n != sub.arity and (sub.arity > 0 or n < -sub.arity):
                return IMMEDIATE, arity_error(sub.name)
            cmd = sub
        if shown:
            self.monitors.feed(session, shown)
        if cmd.check is not None:
            error = cmd.check(args)
            if error is not None:
                return IMMEDIATE, error
        self.reply_hook = cmd.reply
        machine = self.route_machine = cmd.machine or self.machine
        kind = WRITE if "write" in cmd.flags else READ
        if "blocking" in cmd.flags and cmd.name in BLOCKING and self.blocked.available:
            if BLOCKING[cmd.name].timeout_ms(args) is not None:  # (XREAD without BLOCK does not wait)
                self.reply_hook = _MayBlock(cmd.name, session.db, machine, kind == WRITE, cmd.reply).reply
        if session.tracking is not None:
            self._track(session, cmd, args, kind)
        if session.user != b"default" and cmd.name in SCRIPT_CALLS and machine == self.machine:
            return kind, as_user(session.user, session.db, args)  # its redis.calls obey the user's rules
        if session.db and machine == self.machine:  # inline (the hot path): what payload() does
            return kind, in_db(session.db, args)
        return kind, encode_args(args)

    def acl_change(self, session: Session, command: bytes) -> Result:
        """An ACL change (the ACL machine's command): through the log, or applied here. Its reply
        waits until this node applied it too: the client's next command (here) obeys it."""
        if self._acl_local:
            return self.acl_machine.apply(0, command, 0)

        def reply(args: list[bytes], result: Result, protocol: int) -> Result:
            return result if result.__class__ is ReplyError else self.applied_here(session, lambda: result)

        return Submit(WRITE, command, reply, machine=ACL)

    def applied_here(self, session: Session, compute: Callable[[], Result]) -> Later:
        """A reply computed once this node has applied everything the session has seen (a write
        answered by the leader may not be applied here yet): a local read of the ACL machine
        waits for that index, as a SEQUENTIAL read does."""

        async def wait() -> Result:
            await self.node.read_batch([(ACL, APPLIED)], ReadConsistency.SEQUENTIAL, session.seen_index).wait()
            return compute()  # (a read refused, e.g. while no leader: the reply as known)

        return Later(wait)

    def _user_deleted(self, name: bytes) -> None:
        """A user deleted as this node applied it: close its connections here, as Redis does."""
        for session in list(self._sessions()):
            if session.user == name and session.kill is not None:
                session.kill()

    def _script_denied(self, reason: str, obj: bytes, username: bytes, name: str) -> None:
        """A script's redis.call refused at apply (script_acl.py): ACL LOG context "lua"."""
        info = b"user=" + username + b" cmd=" + name.encode() + b" (a script applied from the log)"
        _on_event_loop(self._log_denial, reason, "lua", obj, username, info)

    def _log_denial(self, reason: str, context: str, obj: bytes, username: bytes, info: bytes) -> None:
        self.acl.log_max = self.config.threshold("acllog-max-len")  # CONFIG SET acllog-max-len: from the next entry
        self.acl.add_log(reason, context, obj, username, int(self.now_s() * 1000), info)
        self.stats[STAT_OF_REASON[reason]] += 1

    @property
    def _default_all(self) -> bool:
        """The default user may do anything (Redis' default): the hot path skips the ACL check."""
        return unrestricted(self.acl.users[b"default"], self.acl.commands)

    def acl_denied(self, session: Session, cmd, args: list[bytes], context: str) -> tuple[str, str] | None:
        """Whether the session's user may not run this command now: None, or (reason, the full name
        of what was refused), logged in ACL LOG (context "toplevel" or "multi")."""
        if session.user == b"default" and self._default_all:
            return None
        user = self.acl.get(session.user)
        target = acl_target(cmd, args)
        denied = (DENIED_COMMAND, 0) if user is None else acl_check(user, target, args)  # None: deleted meanwhile
        if denied is None:
            return None
        reason, index = denied
        obj = target.name.encode() if reason == DENIED_COMMAND else args[index]
        deny_log(self, session, reason, context, obj, session.user)
        return reason, target.name

    def _acl_check(self, session: Session, cmd, args: list[bytes]) -> ReplyError | None:
        """Redis' processCommand ACL step: NOPERM for the command (its subcommand), a key, a channel."""
        denied = self.acl_denied(session, cmd, args, "multi" if session.multi is not None else "toplevel")
        if denied is None:
            return None
        reason, name = denied
        if reason == DENIED_COMMAND:
            return ReplyError(f"NOPERM this user has no permissions to run the '{name}' command")
        if reason == DENIED_KEY:
            return ReplyError("NOPERM this user has no permissions to access one of the keys used as arguments")
        return ReplyError("NOPERM this user has no permissions to access one of the channels used as arguments")

    def _track(self, session: Session, cmd, args: list[bytes], kind: int) -> None:
        """CLIENT TRACKING: a read's keys are remembered now, before it is served (tracking.py says
        why that is safe); a NOLOOP session's write marks its keys as its own until answered. A
        script's declared keys are remembered as a read's (what it reads runs at apply)."""
        tracking = session.tracking
        if (kind == READ or cmd.name in SCRIPT_CALLS) and tracking.remembers_reads():
            self.tracking.remember(session, command_keys(cmd, args))
        elif kind == WRITE and tracking.noloop and session.multi is None:
            keys = command_keys(cmd, args)
            if keys:
                done, hook = self.tracking.own_write(tracking, keys), self.reply_hook

                def answered(args: list[bytes], result: Result, protocol: int) -> Result:
                    done()
                    return result if hook is None else hook(args, result, protocol)

                self.reply_hook = answered

    def _shown(self, session: Session, cmd, args: list[bytes]) -> list[tuple[str, list[bytes]]]:
        """What MONITOR shows of a command: its name and arguments (EXEC: the transaction's commands
        first), unless it is an admin command or one Redis refuses before running it."""
        shown = []
        if cmd.name == "exec" and session.multi and not session.multi_error:
            for queued, queued_args in session.multi:
                shown += self._shown(session, queued, queued_args)
        if cmd.subcommands:  # an unknown subcommand, or its wrong arity, is refused before it runs
            cmd = cmd.subcommands.get(_full_name(cmd, args) or "")
        if cmd is not None and "admin" not in cmd.flags:
            shown.append((cmd.name, args))
        return shown

    def command_payload(self, session: Session, cmd, args: list[bytes]) -> bytes:
        """What the machine serving `cmd` executes for it, sent by `session` now (in its database,
        a script as its user): route's own rule, for EXEC's queued commands."""
        if session.user != b"default" and cmd.name in SCRIPT_CALLS and (cmd.machine or self.machine) == self.machine:
            return as_user(session.user, session.db, args)
        return self.payload(cmd.machine, session.db, args)

    def payload(self, machine: str | None, db: int, args: list[bytes]) -> bytes:
        """What `machine` (None: the default) executes for a command sent in database db."""
        if db and (machine is None or machine == self.machine):
            return in_db(db, args)
        return encode_args(args)

    def in_session_db(self, db: int, machine: str | None, payload: bytes) -> bytes:
        """A frontend handler's encoded request to `machine` (unset: the default), for database db."""
        if db and not machine:
            return in_db(db, decode_args(payload))
        return payload

    def _queue_size_check(self, session: Session, args: list[bytes]) -> ReplyError | None:
        """EXEC proposes the whole queue as ONE entry, so the queue may not outgrow
        max_entry_bytes; refused as it grows (as Redis refuses a queued command over
        maxmemory, and EXEC then answers EXECABORT), the memory it holds stays bounded."""
        if not session.multi:
            session.multi_bytes = 0  # a new MULTI's queue
        size = session.multi_bytes + sum(map(len, args)) + QUEUED_ARG_OVERHEAD * len(args)
        if size > self.max_entry_bytes:
            return ReplyError(f"ERR transaction of {size} bytes exceeds max_entry_bytes ({self.max_entry_bytes})")
        session.multi_bytes = size
        return None

    # --- what handlers may ask --------------------------------------------------------
    def sessions(self) -> Iterable[Session]:
        return self._sessions()

    def connected_clients(self) -> int:
        return sum(1 for _ in self._sessions())

    def config_params(self) -> dict[str, str]:
        return self._config_params()

    def is_leader(self) -> bool:
        try:
            return self.node.status().role is Role.LEADER
        except Exception:  # starting
            return False
