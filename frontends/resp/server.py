"""The RESP server: one trio task per connection around RespConnection, the gate and the node.

A connection's task receives bytes, parses every complete command in them (a
burst), routes each through the gate, hands the burst's writes to the node as
ONE batch (node.submit_batch) and its reads as one batch (node.read_batch, at
the session's consistency), awaits the batch's single waiter, encodes every
reply with the protocol version in force when its command ran, and sends the
burst's replies with one send. Then it receives again.

So a pipeline of N writes goes to the node in the same engine step (one log
append, one fsync; for kv, one entry), is answered with one wake-up of this
task, and the replies come back in order. Many connections' bursts share the
engine step.

A burst whose commands went to the node as one group, each with a plain reply
(not a container, not pushed, not computed later), is answered sooner: the
node's task encodes and sends the replies itself as the answers come in
(Waiter.on_done, _answer_now), and this task only wakes to read again. The hop
from the node's task to this one cost about 100 us of a 1.3 ms single write
here, and with 50 clients it was 50 task switches per engine turn before any
reply left. A TLS connection's bytes go through its SSLStream, which only its
own task may use, so it always takes the task's path.

Order inside a connection is Redis' order. A read is submitted only once
every earlier write of the connection is answered, and a write once every
earlier read is: a pipelined `SET k 1; GET k; SET k 2` reads 1, never the
state before the first SET nor after the second. Runs of writes, or of reads,
still go out as one batch. Except where the node can keep that order itself:
writes and fast reads of its pipeline_machines (kv) that follow each other go
out as ONE pipeline (NodeAPI.submit_pipeline), the reads placed between the
writes in one log entry, so a burst of `SET k v; GET k` pairs costs one round
trip, not one per pair. A slow read, another machine's command, WATCH or EXEC
ends such a run (and a burst of reads alone still takes the read barrier). A
read in such an entry is linearizable whatever the session's level, which is at
least as strong as any level asks. Each other read carries the highest log index
this connection has observed (Session.seen_index), so a SEQUENTIAL read never
goes back in time. Commands the frontend answers itself (PING, CLIENT ...) take
effect when they are parsed, and their replies keep their place.

Bounds, per connection, in bytes where it matters:
- replies: encoded replies are sent whenever FLUSH_BYTES of them are ready, and
  the task goes on only once the socket took them, so a client that does not
  read holds at most FLUSH_BYTES plus one reply here (and stops this task, which
  then reads nothing more from it: TCP pushes back on the client). Redis'
  client-output-buffer-limit for normal clients, on the unsent bytes: above the
  hard limit (one reply bigger than it), or above the soft limit for longer
  than its seconds, the connection is closed and counted in INFO stats'
  client_output_buffer_limit_disconnections (the limits: frontends/resp/limits.py).
- requests: the socket is read only between bursts, never while a burst's
  replies are pending; at most `inflight_max` commands of a burst wait unanswered
  (then the task answers and sends what it has before it parses on); the parser's
  input limits (and, before AUTH, Redis' unauthenticated ones); no command above
  max_entry_bytes (the parser skips its bytes instead of keeping them: a client
  cannot make this task hold more than about that much of a request), a MULTI
  queue within max_entry_bytes too (gate.py).
- `max_clients` connections.

Errors: a RequestError from the node becomes `-<str(err)>`; a protocol error
is answered, then the connection closes (after earlier replies); an
unexpected exception closes that connection only and is logged.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

import trio

from frontends.resp import aclfile
from frontends.resp.blocking import Blocked, blocked_reply
from frontends.resp.commands.client import leave_modes
from frontends.resp.commands.entry import IMMEDIATE, NO_REPLY, WRITE, Close, CommandTable, Later
from frontends.resp.commands.pubsub import leave_all
from frontends.resp.commands.table import build_routed_table, build_table
from frontends.resp.gate import Gate
from frontends.resp.limits import format_output_buffer_limits
from frontends.resp.protected import DENIED, is_loopback, refuses
from frontends.resp.protocol import (
    BULK_BYTES_MAX,
    INLINE_BYTES_MAX,
    NEED_DATA,
    QUERY_BUFFER_BYTES_MAX,
    CommandTooLarge,
    ProtocolError,
    RespConnection,
)
from frontends.resp.replies import ENCODERS, RawReply, RespSet
from frontends.resp.script_acl import ScriptAcl
from frontends.resp.session import Session
from frontends.resp.tls import tls_config_params
from replicator.config import MAX_ENTRY_BYTES
from replicator.hoptrace import TRACING, stamp
from replicator.runtime.api import EntryTooLarge, NodeAPI, ReadConsistency, RequestError
from replicator.runtime.listen import serve_tcp
from replicator.runtime.log_limit import RateLimitedLog
from replicator.tls import ReloadableContext, handshake_failure
from statemachines import CommandSpec, ReplyError

log = logging.getLogger(__name__)

_CONTAINERS = frozenset((list, tuple, dict, set, RespSet))  # the reply types that can be big

RECEIVE_BYTES = 64 * 1024
INFLIGHT_MAX = 1024
FLUSH_BYTES = 256 * 1024  # encoded replies sent once this much is ready, even mid-burst
MAX_CLIENTS = 10000
LINGER_S = 0.5  # after the last reply of a closing connection: drain input so the reply is not reset away
# A reply with this many elements or more (SMEMBERS, KEYS, SPOP with a count...) is encoded in
# a worker thread: a million bulk strings take half a second of Python, which on the event loop
# would silence the node's heartbeats (a leader could be deposed by its own client).
THREAD_ENCODE_ITEMS = 4096
ENCODE_THREADS = 2  # at once, for all connections: the GIL allows no more, and trio's default
# thread limiter (40) stays free for the node's own storage writes
# A read request this large is slow whatever its command's flags (MGET of a million keys).
SLOW_READ_REQUEST_BYTES = 64 * 1024
TLS_HANDSHAKE_S = 10.0  # a TLS client that has not finished its handshake by then is dropped
# TLS clients in their handshake at once (beyond: closed at once, counted as rejected): a flood of
# connections that never finish holds this many descriptors and handshakes for TLS_HANDSHAKE_S, no more.
TLS_HANDSHAKES_MAX = 256


def machine_commands(machine: str) -> list[CommandSpec]:
    """The CommandSpecs of an installed machine (a fresh instance is asked)."""
    from statemachines.registry import load_machine

    return list(load_machine(machine).commands())


def served_table(machine: str, machines: Sequence[str] = ()) -> CommandTable:
    """The commands of every machine the node runs, each routed to the one that declares it."""
    served = dict.fromkeys([machine, *machines])
    return build_routed_table({name: machine_commands(name) for name in served})


def install_script_acl(
    node: NodeAPI, machine: str = "kv", machines: Sequence[str] = (), requirepass: str | bytes | None = None
) -> ScriptAcl:
    """The node's ACL users and the check of scripts' redis.calls, installed on the node: call it
    before the node runs (script_acl.py says why), then give it to serve_resp (script_acl=)."""
    password = (requirepass.encode() if isinstance(requirepass, str) else requirepass) or None
    script_acl = ScriptAcl(served_table(machine, machines), getattr(node, "acl", None), password)
    node.set_script_permissions(script_acl)
    return script_acl


class RespServer:
    """Serves one NodeAPI over RESP; `serve` listens until cancelled."""

    def __init__(
        self,
        node: NodeAPI,
        *,
        machine: str = "kv",
        machines: Sequence[str] = (),
        commands: Iterable[CommandSpec] | None = None,
        read_consistency: ReadConsistency = ReadConsistency.LINEARIZABLE,
        inflight_max: int = INFLIGHT_MAX,
        max_clients: int = MAX_CLIENTS,
        receive_bytes: int = RECEIVE_BYTES,
        bulk_bytes_max: int = BULK_BYTES_MAX,
        inline_bytes_max: int = INLINE_BYTES_MAX,
        query_buffer_bytes_max: int = QUERY_BUFFER_BYTES_MAX,
        requirepass: str | bytes | None = None,
        protected_mode: bool = True,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
        databases: int = 16,
        tls: ReloadableContext | None = None,
        tls_port: int | None = None,
        hooks=None,
        script_acl: ScriptAcl | None = None,
    ) -> None:
        assert inflight_max >= 1 and receive_bytes >= 1
        self.node = node
        # e.g. frontends.metrics.RespMetrics: connection_*(), output_limit_disconnection(), command(name, reply)
        self.hooks = hooks
        self.machine = machine  # the default: WATCH and INFO keyspace go to it
        if script_acl is not None:  # made before the node ran (script_acl.py), over this server's table
            self.table: CommandTable = script_acl.table
        elif commands is not None:
            self.table = build_table(commands)
        else:
            self.table = served_table(machine, machines)
        self.inflight_max = inflight_max
        # Reads whose command lacks Redis' `fast` flag (not O(1)/O(log N): KEYS, SMEMBERS, LRANGE...)
        # go to the node as slow batches, served off its event loop (NodeAPI.read_batch).
        self.fast_reads = frozenset(cmd.name for cmd in self.table.commands if "fast" in cmd.flags)
        # Machines whose writes and fast reads the node takes in one pipeline entry (kv): a burst
        # mixing them costs one round trip instead of one per change between writes and reads.
        self.pipeline_machines: frozenset[str] = node.pipeline_machines
        self.encode_threads = trio.CapacityLimiter(ENCODE_THREADS)
        self.receive_bytes = receive_bytes
        self.parser_limits = dict(
            bulk_bytes_max=bulk_bytes_max,
            inline_bytes_max=inline_bytes_max,
            query_buffer_bytes_max=query_buffer_bytes_max,
        )
        self.sessions: dict[int, Session] = {}
        self._next_client_id = 1
        self.host = ""
        self.port = 0
        # TLS (replicator/tls.py): the context new TLS connections get, and the port that speaks it
        # (0: any free one; the plain port's number: that port speaks TLS only)
        self.tls = tls
        self.tls_port = tls_port
        self.tls_handshakes = 0  # TLS clients in their handshake now
        self.tls_refusals = RateLimitedLog(log)  # one line per remote host per window: a scanner cannot flood the log
        self.tls_handshakes_max = TLS_HANDSHAKES_MAX
        self.gate = Gate(
            node,
            self.table,
            machine=machine,
            default_consistency=read_consistency,
            max_clients=max_clients,
            clock=trio.current_time,
            sessions=self.sessions.values,
            config_params=self._config_params,
            max_entry_bytes=max_entry_bytes,
            databases=databases,
            requirepass=(requirepass.encode() if isinstance(requirepass, str) else requirepass) or None,
            script_acl=script_acl,
        )
        self.gate.config.values["protected-mode"] = b"yes" if protected_mode else b"no"  # CONFIG SET changes it
        self.gate.tls = tls  # CONFIG SET tls-cert-file & co reload it (commands/config.py)
        subscribe_published = getattr(node, "subscribe_published", None)
        if subscribe_published is not None:  # messages applied on this node reach its subscribers
            subscribe_published(self.gate.pubsub.deliver)

    def _config_params(self) -> dict[str, str]:
        """The CONFIG parameters this server owns, as CONFIG GET shows them (the others: Gate.config)."""
        return {
            "databases": str(self.gate.databases),
            "aclfile": str(self.gate.aclfile or ""),
            "maxclients": str(self.gate.max_clients),
            # Redis shows the password (binary safe); CONFIG GET encodes it back with surrogateescape
            "requirepass": (self.gate.requirepass or b"").decode("utf-8", "surrogateescape"),
            "port": str(self.port),
            "bind": self.host,
            "proto-max-bulk-len": str(self.parser_limits["bulk_bytes_max"]),
            "client-query-buffer-limit": str(self.parser_limits["query_buffer_bytes_max"]),
            "client-output-buffer-limit": format_output_buffer_limits(self.gate.output_buffer_limits),
            **tls_config_params(self.tls, self.tls_port),
        }

    async def serve(self, host: str, port: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen on host:port (0: any free port), and with TLS on host:tls_port too, or only there when
        tls_port is port; task_status.started(bound plain port, or the TLS port when it is the only one)."""
        self.gate.started_s = trio.current_time()
        tls_only = self.tls is not None and self.tls_port == port and port != 0
        async with trio.open_nursery() as nursery:
            if not tls_only:
                listeners = await serve_tcp(nursery, self._handle, host, port, "clients")
                self.host, self.port = listeners[0].socket.getsockname()[:2]
                log.info("RESP server for machine %r on %s:%d", self.machine, self.host, self.port)
            if self.tls is not None:
                listeners = await serve_tcp(nursery, self._handle_tls, host, self.tls_port, "clients (TLS)")
                self.host, self.tls_port = listeners[0].socket.getsockname()[:2]
                if tls_only:
                    self.port = self.tls_port
                log.info("RESP server for machine %r on %s:%d (TLS)", self.machine, self.host, self.tls_port)
            self.gate.port = self.port
            if self.gate.config.values["protected-mode"] == b"yes" and self._default_user_nopass():
                if not is_loopback(self.host):
                    log.warning(
                        "protected mode: no password is set, so clients from other hosts than this one are "
                        "refused (DENIED) until requirepass is set or protected_mode = false"
                    )
            task_status.started(self.port)

    async def _handle_tls(self, tcp: trio.SocketStream) -> None:
        """A TLS client: the handshake (bounded in time), then as a plain one, through the SSLStream."""
        if self.tls_handshakes >= self.tls_handshakes_max:
            self.gate.stats["rejected_connections"] += 1
            log.debug("TLS client %s refused: %d handshakes in progress", _peer_of(tcp), self.tls_handshakes)
            await trio.aclose_forcefully(tcp)
            return
        stream = trio.SSLStream(tcp, self.tls.context, server_side=True)
        self.tls_handshakes += 1
        try:
            with trio.fail_after(TLS_HANDSHAKE_S):
                await stream.do_handshake()
        except (trio.BrokenResourceError, trio.TooSlowError, trio.ClosedResourceError) as exc:
            peer = _peer_of(tcp)
            self.tls_refusals.info(peer.rpartition(":")[0], "TLS client %s refused: %s", peer, handshake_failure(exc))
            await trio.aclose_forcefully(stream)
            return
        finally:
            self.tls_handshakes -= 1
        await self._handle(stream, _TlsConnection)

    async def _handle(self, stream: trio.abc.Stream, connection: type[_Connection] | None = None) -> None:
        try:
            self.gate.stats["total_connections_received"] += 1
            if len(self.sessions) >= self.gate.max_clients:
                self.gate.stats["rejected_connections"] += 1
                if self.hooks is not None:
                    self.hooks.connection_rejected()
                await stream.send_all(b"-ERR max number of clients reached\r\n")
                return
            if self._protected_refuses(stream):
                self.gate.stats["rejected_connections"] += 1  # Redis: stat_rejected_conn
                if self.hooks is not None:
                    self.hooks.connection_rejected()
                await stream.send_all(DENIED)
                await _linger(stream)
                return
            session = self._open_session(stream)
            if self.hooks is not None:
                self.hooks.connection_opened()
            try:
                await (connection or _Connection)(self, stream, session).run()
            finally:
                leave_all(self.gate, session)
                leave_modes(self.gate, session)
                del self.sessions[session.id]
                if self.hooks is not None:
                    self.hooks.connection_closed()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            log.exception("RESP connection failed; closing it")
        finally:
            await trio.aclose_forcefully(stream)

    def _default_user_nopass(self) -> bool:
        """Redis' DefaultUser->flags & USER_FLAG_NOPASS (protected mode's condition): no requirepass
        and no password given to `default` by ACL SETUSER."""
        return self.gate.acl.default_nopass()

    def _protected_refuses(self, stream: trio.abc.Stream) -> bool:
        """Protected mode (frontends/resp/protected.py): a client from another host, while this node
        has no password, protected-mode is on, and it listens beyond loopback."""
        tcp = getattr(stream, "transport_stream", stream)  # a TLS client's socket is under its SSLStream
        try:
            peer = tcp.socket.getpeername()
        except OSError:
            return False  # gone already: nothing to answer
        return refuses(
            protected_mode=self.gate.config.values["protected-mode"] == b"yes",
            password_set=not self._default_user_nopass(),
            bound_host=self.host,
            client_host=peer[0] if isinstance(peer, tuple) else None,
        )

    def _open_session(self, stream: trio.abc.Stream) -> Session:
        client_id = self._next_client_id
        self._next_client_id += 1
        tcp = getattr(stream, "transport_stream", stream)  # a TLS client's socket is under its SSLStream
        try:
            host, port = tcp.socket.getsockname()[:2]
            local = f"{host}:{port}"
        except (OSError, TypeError):
            local = "?"
        peer = _peer_of(tcp)
        now = trio.current_time()
        session = Session(
            fd=tcp.socket.fileno(),
            id=client_id,
            addr=peer,
            laddr=local,
            consistency=self.gate.default_consistency,
            created_s=now,
            last_command_s=now,
            authenticated=self.gate.acl.default_nopass(),
        )
        self.sessions[client_id] = session
        return session


class _OutputBufferLimit(Exception):
    """The client's unsent replies passed client-output-buffer-limit: close it at once."""


class _Group:
    """A run of writes, or of reads at one consistency, that goes to the node as one batch;
    or a mixed run (writes and fast reads of the node's pipeline_machines) that goes as one
    pipeline (NodeAPI.submit_pipeline: one log entry, each read answered at its place)."""

    __slots__ = ("kind", "level", "requests", "writes", "mixable", "mixed", "waiter", "error", "slow")

    def __init__(self, kind: int, level: ReadConsistency | None) -> None:
        self.kind, self.level = kind, level
        self.slow = False  # a read without the `fast` flag is in it
        self.requests: list[tuple[str, bytes]] = []  # (machine, payload)
        self.writes: list[bool] = []  # per request: a write
        self.mixable = True  # every request so far could be a step of a pipeline entry
        self.mixed = False  # holds writes and reads: submitted with submit_pipeline
        self.waiter = None  # the node's Waiter once submitted
        self.error: ReplyError | None = None  # the node refused the whole batch


class _Connection:
    """One client's task (see the module docstring)."""

    answers_at_once = True  # the node's task may send a reply on the socket itself (_answer_now)

    def __init__(self, server: RespServer, stream: trio.SocketStream, session: Session) -> None:
        self.server = server
        self.stream = stream
        self.session = session
        self.parser = RespConnection(
            **server.parser_limits, command_bytes_max=server.gate.max_entry_bytes, authenticated=session.authenticated
        )
        # Commands routed and not answered yet, in order: (protocol, group or None,
        # slot in the group, value, metrics label or None, (reply hook, args) or None).
        self.pending: list[tuple] = []
        self.group: _Group | None = None  # the open group, not submitted yet
        # An earlier group (reads at another level) is submitted and not answered: the open
        # group must not take writes into its entry, which could commit before those reads.
        self.earlier_open = False
        self.out = bytearray()
        # Pub/Sub: messages are queued in `pending` in their place among the replies (push);
        # `pushed` counts their bytes until encoded, within the client-output-buffer-limit `pubsub`
        # class; `idle` is the cancel scope of a wait for input that a message must interrupt.
        self.pushed = 0
        self.pushed_over_soft_since: float | None = None
        self.idle: trio.CancelScope | None = None
        self.over_limit = False
        self.killed = False  # CLIENT KILL: a pop in flight for it gives its element back (blocking.py)
        self.read_while_blocked = False  # _hung_up fed the parser: run what it holds before reading again
        self.answered_now = False  # _answer_now sent the replies of the commands pending
        session.push = self.push

    async def run(self) -> None:
        # The client's socket as a plain non-blocking stdlib socket, sharing the trio
        # socket's descriptor (detached, never closed, at the end). trio's receive_some and
        # send_all yield to the scheduler on every call, even one that completes at once;
        # on a busy leader that was a sixth of the CPU. _receive and _flush call the socket
        # directly and wait through trio only when it would block. (A TLS client's is the
        # socket under its SSLStream: _TlsConnection reads and writes through the stream.)
        self.raw = socket.socket(fileno=getattr(self.stream, "transport_stream", self.stream).socket.fileno())
        self.raw.setblocking(False)
        try:
            with trio.CancelScope() as scope:
                self.session.kill = partial(self._kill, scope)  # CLIENT KILL from another connection
                if await self._serve():
                    await self._close_gracefully()
            if self.over_limit:
                raise _OutputBufferLimit
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the client went away
        except _OutputBufferLimit:
            self.server.gate.stats["client_output_buffer_limit_disconnections"] += 1
            if self.server.hooks is not None:
                self.server.hooks.output_limit_disconnection()
            log.debug("client %s closed: its replies passed client-output-buffer-limit", self.session.addr)
        finally:
            self.raw.detach()
            # No cycle session -> push (or kill) -> this connection -> session: a closed connection's
            # session is freed at once (REPLICATOR.BACKUP's held backups go with it).
            self.session.push = self.session.kill = None

    async def _serve(self) -> bool:
        """Answer bursts until the client leaves (False) or must be closed (True)."""
        server, session, parser = self.server, self.session, self.parser
        while True:
            data = await self._receive(server.receive_bytes)
            if data is None:  # published messages to send (push), nothing read
                await self._answer()
                await self._flush()
                continue
            if not data:
                return False
            if TRACING:
                stamp("resp:read")
            parser.receive_data(data)
            session.last_command_s = trio.current_time()
            close = await self._execute()
            await self._flush()
            if TRACING:
                stamp("resp:written")
            if close:
                return True

    async def _receive(self, max_bytes: int) -> bytes:
        """What the client sent; waits (a checkpoint) only when nothing is there yet.
        Data already waiting still passes a checkpoint, so a client that never stops
        sending cannot starve the other tasks. A subscribed client's wait ends (None) when
        published messages are queued for it (push); so does the wait of a client that may be
        sent other messages it did not ask for (Session.pushed_to: tracking invalidations, MONITOR)."""
        if self._waits_for_push():
            return await self._receive_or_push(max_bytes)
        try:
            data = self.raw.recv(max_bytes)
        except BlockingIOError:
            pass
        else:
            await trio.lowlevel.checkpoint()
            return data
        while True:
            await trio.lowlevel.wait_readable(self.raw)
            try:
                return self.raw.recv(max_bytes)
            except BlockingIOError:
                continue

    def _waits_for_push(self) -> bool:
        """Whether messages may be queued for this client while it sends nothing (see _receive)."""
        return self.session.pubsub is not None or self.session.pushed_to

    def _output_limits(self) -> tuple[int, int, int]:
        """client-output-buffer-limit's (hard, soft, soft seconds) for this client's class."""
        return self.server.gate.output_buffer_limits["normal" if self.session.pubsub is None else "pubsub"]

    async def _receive_or_push(self, max_bytes: int) -> bytes | None:
        """_receive for a subscribed client: its input, or None once messages are queued (push
        cancels the wait), so they go out while the client sends nothing."""
        while not self.pending:
            with trio.CancelScope() as self.idle:
                await trio.lowlevel.wait_readable(self.raw)
            self.idle = None
            if not self.pending:
                try:
                    return self.raw.recv(max_bytes)
                except BlockingIOError:
                    continue
        await trio.lowlevel.checkpoint()
        return None

    def push(self, message: RawReply) -> None:
        """Queue a published message in its place among the replies (called by
        frontends/resp/pubsub.py on the node's task); wake the connection if it waits for
        input. Past the `pubsub` class limits on messages not yet sent, the client is closed."""
        if self.over_limit:
            return
        self.pushed += len(message)
        hard, soft, soft_s = self.server.gate.output_buffer_limits["pubsub"]
        if soft and self.pushed > soft:
            now = trio.current_time()
            if self.pushed_over_soft_since is None:
                self.pushed_over_soft_since = now
            elif now - self.pushed_over_soft_since > soft_s:
                hard = 1  # over the soft limit for too long: as over the hard one
        else:
            self.pushed_over_soft_since = None
        if hard and self.pushed > hard:
            self.over_limit = True
            self.pending.clear()
            self.session.kill()
            return
        self.pending.append((self.session.protocol, None, 0, message, None, None))
        if self.idle is not None:
            self.idle.cancel()

    async def _flush(self) -> None:
        """Send the encoded replies: now what the socket takes, the rest (a slow client,
        a huge reply) as the socket makes room, within client-output-buffer-limit."""
        data = self.out
        if not data:
            return
        self.out = bytearray()
        hard, soft, soft_s = self._output_limits()
        if hard and len(data) > hard:
            raise _OutputBufferLimit
        try:
            sent = self.raw.send(data)
        except BlockingIOError:
            sent = 0
        if sent < len(data):
            await self._send_rest(memoryview(data)[sent:], soft, soft_s)

    async def _send_rest(self, rest: memoryview, soft: int, soft_s: int) -> None:
        """Wait for room and send `rest`; over the soft limit for soft_s seconds: close."""
        over_since = None
        while rest:
            deadline = float("inf")
            if soft and len(rest) > soft:
                over_since = trio.current_time() if over_since is None else over_since
                deadline = over_since + soft_s
            else:
                over_since = None
            with trio.move_on_at(deadline) as waiting:
                await trio.lowlevel.wait_writable(self.raw)
            if waiting.cancelled_caught:
                raise _OutputBufferLimit
            try:
                rest = rest[self.raw.send(rest) :]
            except BlockingIOError:
                pass

    async def _execute(self) -> bool:
        """Route, submit and answer every complete command parsed; True: close after."""
        server, session, parser, gate = self.server, self.session, self.parser, self.server.gate
        authenticated = parser.authenticated
        pending, inflight_max, hooks = self.pending, server.inflight_max, server.hooks
        while True:
            cmd = parser.next_command()
            if cmd is NEED_DATA:
                await self._answer()
                if self.read_while_blocked:  # commands sent behind a blocking one, read during its wait
                    self.read_while_blocked = False
                    continue
                return False
            if cmd.__class__ is ProtocolError:
                pending.append((session.protocol, None, 0, ReplyError(cmd.message), None, None))
                await self._answer()
                return True
            if cmd.__class__ is CommandTooLarge:  # skipped by the parser: refused, never routed
                if session.multi is not None:
                    session.multi_error = True  # as for any command refused inside MULTI
                refused = ReplyError(str(EntryTooLarge(cmd.size, gate.max_entry_bytes)))
                pending.append((session.protocol, None, 0, refused, None, None))
                continue
            if len(pending) >= inflight_max:
                await self._answer()
                await self._flush()
            if gate.pause is not None:  # CLIENT PAUSE: earlier replies go out, this command waits
                await self._paused(cmd)
            try:
                kind, value = gate.route(session, cmd)
            except Exception as err:  # a bug in a handler or a check: answer, keep the connection
                log.exception("command %r failed in the frontend", cmd[0][:64])
                kind, value = IMMEDIATE, ReplyError(f"ERR internal error: {type(err).__name__}")
            if session.authenticated is not authenticated:  # AUTH, HELLO AUTH, RESET: the parser's limits follow
                authenticated = session.authenticated
                parser.set_authenticated(authenticated)
            if session.after_command is not None:  # CLIENT REPLY OFF / SKIP, CLIENT CACHING (commands/client.py)
                kind, value = session.after_command(gate, session, kind, value)
            label = None if hooks is None else gate.route_name
            if kind == IMMEDIATE:
                close = value.__class__ is Close
                pending.append((session.protocol, None, 0, value.value if close else value, label, None))
                if close:
                    await self._answer()
                    return True
                continue
            hook, machine = gate.reply_hook, gate.route_machine  # read now: the gate is shared
            level = None if kind == WRITE else gate.read_consistency or session.consistency
            if value.__class__ is not bytes:  # built once earlier reads are in (EXEC after WATCH)
                await self._answer()
                try:
                    value = value()
                except Exception as err:
                    log.exception("building %r failed", cmd[0][:64])
                    pending.append((session.protocol, None, 0, _submit_error(err), label, None))
                    continue
            write = kind == WRITE
            slow = not write and (gate.route_name not in server.fast_reads or len(value) > SLOW_READ_REQUEST_BYTES)
            mixable = not slow and machine in server.pipeline_machines
            group = self.group
            if (
                group is not None
                and group.mixable
                and mixable
                and (group.mixed or group.kind != kind)
                and not self.earlier_open
            ):
                group.mixed = True  # reads join the writes' entry (and writes the reads'), in order
            elif group is None or group.mixed or group.kind != kind or group.level is not level:
                if group is not None and (group.mixed or group.kind != kind):
                    await self._answer()  # a write waits for earlier reads, a read for earlier writes
                elif group is not None:
                    self._submit()
                    self.earlier_open = True
                group = self.group = _Group(kind, level)
            pending.append((session.protocol, group, len(group.requests), value, label, hook and (hook, cmd)))
            group.requests.append((machine, value))
            group.writes.append(write)
            if not mixable:
                group.mixable = False
            if slow:
                group.slow = True

    async def _paused(self, cmd: list[bytes]) -> None:
        """Hold `cmd` while the node's CLIENT PAUSE holds its kind (frontends/resp/pause.py)."""
        gate = self.server.gate
        while (pause := gate.pause) is not None:
            if pause.ended.is_set() or trio.current_time() >= pause.until_s:
                gate.pause = None
                return
            spec = gate.table.get(cmd[0])
            if spec is None or not pause.holds(spec, self.session.multi):
                return
            await self._answer()
            await self._flush()
            await pause.wait()

    def _submit(self) -> None:
        """Hand the open group to the node as one batch."""
        group, self.group = self.group, None
        if group is None or not group.requests:
            return
        node = self.server.node
        if TRACING:
            stamp("resp:parsed")
        try:
            if group.mixed:
                steps = [(machine, value, write) for (machine, value), write in zip(group.requests, group.writes)]
                group.waiter = node.submit_pipeline(steps)
            elif group.kind == WRITE:
                group.waiter = node.submit_batch(group.requests)
            else:
                group.waiter = node.read_batch(group.requests, group.level, self.session.seen_index, group.slow)
        except Exception as err:
            group.error = _submit_error(err)
        if TRACING:
            stamp("resp:submitted")

    async def _answer(self) -> None:
        """Submit the open group, await every pending reply in order, encode them into `out`."""
        self._submit()
        self.earlier_open = False
        pending = self.pending
        if pending and not self.out and self.answers_at_once:
            group = pending[0][1]
            if group is not None and group.waiter is not None and all(p[1] is group and p[5] is None for p in pending):
                await self._answered_at_once(group.waiter, len(pending))
                if not pending:
                    return
        session, out, hooks = self.session, self.out, self.server.hooks
        answered, results = None, None  # the group whose results are at hand
        for protocol, group, slot, value, label, post in self.pending:
            if group is not None:
                if group.waiter is None:
                    value = group.error
                else:
                    if group is not answered:
                        answered, results = group, await group.waiter.wait()
                        if TRACING:
                            stamp("resp:woken")
                        if group.waiter.index > session.seen_index:
                            session.seen_index = group.waiter.index
                    value = results[slot]
                    if isinstance(value, RequestError):
                        value = ReplyError(str(value))
            if value.__class__ is RawReply:
                self.pushed -= len(value)
            if post is not None:  # the command's CommandSpec.reply: RESP3 pairs, null arrays
                value = post[0](post[1], value, protocol)
                if value.__class__ is Later:  # the reply is computed off the event loop (entry.Later)
                    value = await value.compute()
                elif value.__class__ is Blocked:  # BLPOP & co found nothing: wait (blocking.py)
                    await self._flush()  # the replies before it go out first
                    value = await self._wait_blocked(value, protocol)
                    out = self.out
            if label is not None:
                hooks.command(label, value)
            if value is not NO_REPLY:
                mark = len(out)
                try:
                    if value.__class__ in _CONTAINERS and len(value) >= THREAD_ENCODE_ITEMS:
                        await trio.to_thread.run_sync(
                            ENCODERS[protocol], out, value, limiter=self.server.encode_threads
                        )
                    else:
                        ENCODERS[protocol](out, value)
                except Exception as err:  # a machine returned something that is not a Result
                    del out[mark:]
                    log.exception("cannot encode a reply")
                    ENCODERS[protocol](out, ReplyError(f"ERR internal error: {type(err).__name__}"))
                if len(out) >= FLUSH_BYTES:  # large replies: send as they come, hold little here
                    await self._flush()
                    out = self.out
        self.pending.clear()
        if TRACING:
            stamp("resp:encoded")

    async def _answered_at_once(self, waiter, count: int) -> None:
        """Await the first `count` commands pending (one group), letting the node's task
        answer them (_answer_now)."""
        waiter.on_done = partial(self._answer_now, count)
        try:
            await waiter.wait()
        finally:
            waiter.on_done = None
        if self.answered_now:
            self.answered_now = False
            if waiter.index > self.session.seen_index:
                self.session.seen_index = waiter.index
            del self.pending[:count]  # what push() queued behind them goes the usual way

    def _answer_now(self, count: int, results: list) -> None:
        """The replies to the first `count` commands pending, all of one group, sent as their
        answers come in, on the node's task (api.Waiter.on_done): a client's burst then waits
        for no scheduler trip between the node's answer and the client (about 100 us here, a
        tenth of a single write). Only plain replies go this way, up to FLUSH_BYTES of them:
        if one is a container, a pushed message or no reply at all, or fails to encode, the
        connection's task answers the whole burst. Never raises: it runs inside the node's turn."""
        pending = self.pending
        out = bytearray()
        values = []
        try:
            for i in range(count):
                protocol, _, slot, _, _, _ = pending[i]
                value = results[slot]
                if isinstance(value, RequestError):
                    value = ReplyError(str(value))
                elif value.__class__ in _CONTAINERS or value.__class__ is RawReply or value is NO_REPLY:
                    return
                elif value.__class__ is bytes and len(out) + len(value) > FLUSH_BYTES:
                    return  # a large value is not copied here only to be encoded again by the task
                ENCODERS[protocol](out, value)
                if len(out) > FLUSH_BYTES:
                    return
                values.append(value)
        except Exception:  # the connection's task logs it and answers with an error
            return
        if TRACING:
            stamp("resp:woken")
            stamp("resp:encoded")
        try:
            sent = self.raw.send(out)
        except BlockingIOError:
            sent = 0
        except OSError:  # the client is gone: its task finds out on its next read
            sent = len(out)
        if sent < len(out):
            self.out = out[sent:]  # its task sends the rest (_flush, within the output limits)
        self.answered_now = True
        if TRACING:
            stamp("resp:written")
        hooks = self.server.hooks
        if hooks is not None:
            try:
                for i, value in enumerate(values):
                    label = pending[i][4]
                    if label is not None:
                        hooks.command(label, value)
            except Exception:
                log.exception("counting a command failed")

    def _kill(self, scope: trio.CancelScope) -> None:
        self.killed = True
        scope.cancel()

    async def _wait_blocked(self, blocked: Blocked, protocol: int):
        """A blocking command's wait, in its reply's place: later commands wait behind it."""
        session = self.session
        result = await self.server.gate.blocked.wait(blocked, session, session.consistency, self._hung_up, self._gone)
        return blocked_reply(blocked, result, protocol)

    def _gone(self) -> bool:
        """Whether the client has closed its connection (or was killed), without waiting."""
        if self.killed:
            return True
        try:
            return self.raw.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    async def _hung_up(self) -> None:
        """Return once the client closes its connection. What it sends meanwhile (commands
        pipelined behind the wait) is read into the parser, to run after the wait, up to
        RECEIVE_BYTES: beyond that it waits unread (TCP pushes back), and a hang-up behind it
        is seen when the wait ends."""
        buffered = 0
        while buffered < self.server.receive_bytes:
            await trio.lowlevel.wait_readable(self.raw)
            try:
                data = self.raw.recv(self.server.receive_bytes - buffered)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            buffered += len(data)
            self.parser.receive_data(data)
            self.read_while_blocked = True
        await trio.sleep_forever()

    async def _close_gracefully(self) -> None:
        """Half-close, then read and drop what the client still sends for a moment, so that
        our last reply is not destroyed by a reset (closing with unread input sends RST)."""
        try:
            await self.stream.send_eof()
            with trio.move_on_after(LINGER_S):
                while await self.stream.receive_some(RECEIVE_BYTES):
                    pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


class _TlsConnection(_Connection):
    """A TLS client's task: the plain one's, with every byte through the SSLStream (which decrypts
    into its own buffers, so the socket's readiness says nothing about what is there to read).
    `eof`: a hang-up seen while a blocking command waited (_hung_up)."""

    answers_at_once = False  # its bytes go through the SSLStream, which only its own task may use

    def __init__(self, server: RespServer, stream: trio.SSLStream, session: Session) -> None:
        super().__init__(server, stream, session)
        self.eof = False

    async def _receive(self, max_bytes: int) -> bytes | None:
        if self.eof:
            await trio.lowlevel.checkpoint()
            return b""
        if self._waits_for_push():
            return await self._receive_or_push(max_bytes)
        return await self.stream.receive_some(max_bytes)

    async def _receive_or_push(self, max_bytes: int) -> bytes | None:
        # after the handshake, a cancelled receive_some loses nothing (the bytes stay in the SSLStream)
        while not self.pending:
            with trio.CancelScope() as self.idle:
                data = await self.stream.receive_some(max_bytes)
                self.idle = None
                return data
            self.idle = None
        await trio.lowlevel.checkpoint()
        return None

    async def _flush(self) -> None:
        """Send the encoded replies through the SSLStream, within client-output-buffer-limit (the soft
        limit counts the bytes handed to one send: an SSLStream says nothing of what the socket took)."""
        data = self.out
        if not data:
            return
        self.out = bytearray()
        hard, soft, soft_s = self._output_limits()
        if hard and len(data) > hard:
            raise _OutputBufferLimit
        with trio.move_on_after(soft_s if soft and len(data) > soft else float("inf")) as waiting:
            await self.stream.send_all(data)
        if waiting.cancelled_caught:
            raise _OutputBufferLimit

    def _gone(self) -> bool:
        return self.eof or super()._gone()

    async def _hung_up(self) -> None:
        """As a plain client's: input sent during the wait goes to the parser (up to receive_bytes)."""
        buffered = 0
        while buffered < self.server.receive_bytes:
            try:
                data = await self.stream.receive_some(self.server.receive_bytes - buffered)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self.eof = True
                return
            buffered += len(data)
            self.parser.receive_data(data)
            self.read_while_blocked = True
        await trio.sleep_forever()

    async def _close_gracefully(self) -> None:
        """As a plain client's (so the last reply is not reset away), the half-close on the socket."""
        try:
            self.raw.shutdown(socket.SHUT_WR)
            with trio.move_on_after(LINGER_S):
                while await self.stream.receive_some(RECEIVE_BYTES):
                    pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass


async def _linger(stream: trio.abc.Stream) -> None:
    """After a refusal: half-close and drop what the client sends for a moment (at most LINGER_S and
    RECEIVE_BYTES), so the refusal is read rather than destroyed by a reset (a client's first command,
    sent before it saw the refusal, is unread input, and closing on unread input sends RST)."""
    tcp = getattr(stream, "transport_stream", stream)
    try:
        tcp.socket.shutdown(socket.SHUT_WR)
        with trio.move_on_after(LINGER_S):
            await stream.receive_some(RECEIVE_BYTES)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass


def _peer_of(tcp: trio.SocketStream) -> str:
    try:
        host, port = tcp.socket.getpeername()[:2]
    except (OSError, TypeError):
        return "?"
    return f"{host}:{port}"


def _submit_error(err: Exception) -> ReplyError:
    if isinstance(err, RequestError):
        return ReplyError(str(err))
    log.exception("the node refused a request")
    return ReplyError(f"ERR internal error: {type(err).__name__}")


async def serve_resp(
    node: NodeAPI,
    host: str,
    port: int,
    *,
    machine: str = "kv",
    task_status=trio.TASK_STATUS_IGNORED,
    **options,
) -> None:
    """Serve `machine` of `node` over RESP on host:port until cancelled.

    task_status.started(port) reports the bound port (useful with port 0).
    Options (keyword): machines (further installed machines whose commands this
    server also routes, inside MULTI/EXEC too; `machine` stays the default, serving
    WATCH and INFO keyspace), commands (CommandSpecs to serve instead of the installed
    machine's), read_consistency (server default, LINEARIZABLE), inflight_max
    (per connection, 1024), max_clients (10000), receive_bytes (65536),
    bulk_bytes_max (512 MiB), inline_bytes_max (64 KiB), query_buffer_bytes_max (1 GiB),
    requirepass (str or bytes: clients must AUTH with it first; None, the default: no password),
    protected_mode (Redis' protected-mode, True by default: frontends/resp/protected.py),
    max_entry_bytes (the largest command, and MULTI/EXEC queue; config.py's default),
    tls (a replicator.tls.ReloadableContext) and tls_port (where clients speak TLS; 0: any free port;
    equal to `port`: TLS only),
    hooks (connection_opened/closed/rejected(), output_limit_disconnection() and command(name, reply)
    calls, for metrics), script_acl (install_script_acl's, made before the node ran), aclfile (a path: ACL LOAD / SAVE's file, and the users of a cluster whose
    ACL state was never set: frontends/resp/aclfile.py).
    """
    acl_path = options.pop("aclfile", None)
    server = RespServer(node, machine=machine, **options)
    server.gate.aclfile = Path(acl_path) if acl_path else None
    async with trio.open_nursery() as nursery:
        if server.gate.aclfile is not None:
            nursery.start_soon(aclfile.bootstrap, server.gate, server.gate.aclfile)
        await server.serve(host, port, task_status=task_status)
