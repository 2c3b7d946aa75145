"""The RESP server: trio tasks around RespConnection, the gate and the node.

Per connection, two tasks share one ordered stream of items:

- the reader receives bytes, parses every complete command, routes each
  through the gate and submits it at once: writes with node.submit, reads
  with node.read at the session's consistency (both non-blocking: each gives
  a Waiter). All commands parsed from one receive form a burst.
- the writer awaits the items in order, encodes each reply with the protocol
  version in force when its command ran, and sends each burst's replies in
  one send_all.

So a pipeline of N writes becomes N proposals in the same engine step (one
log append, one fsync), and the replies still come back in order.

Order inside a connection is Redis' order. A read waits until every earlier
write on the connection is answered, and a write waits until every earlier
read is answered, before it is submitted: a pipelined `SET k 1; GET k; SET k 2`
reads 1, never the state before the first SET nor after the second. Runs of
writes, or of reads, still go out together. Each read also carries the
highest log index this connection has observed (Session.seen_index), so a
SEQUENTIAL read never goes back in time.

Bounds: at most `inflight_max` unanswered commands per connection (the reader
stops parsing, and so stops reading the socket, until replies catch up: TCP
pushes back on the client), the parser's input limits, and `max_clients`.

Errors: a RequestError from a waiter becomes `-<str(err)>`; a protocol error
is answered, then the connection closes (after earlier replies); an
unexpected exception closes that connection only and is logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from functools import partial

import trio

from frontends.resp.commands import NO_REPLY, Close, CommandTable, build_routed_table, build_table
from frontends.resp.gate import IMMEDIATE, READ, WRITE, Gate
from frontends.resp.protocol import (
    BULK_BYTES_MAX,
    INLINE_BYTES_MAX,
    NEED_DATA,
    QUERY_BUFFER_BYTES_MAX,
    ProtocolError,
    RespConnection,
)
from frontends.resp.replies import ENCODERS
from frontends.resp.session import Session
from replicator.runtime.api import NodeAPI, ReadConsistency, RequestError
from statemachines import CommandSpec, ReplyError

log = logging.getLogger(__name__)

RECEIVE_BYTES = 64 * 1024
INFLIGHT_MAX = 1024
MAX_CLIENTS = 10000
LINGER_S = 0.5  # after the last reply of a closing connection: drain input so the reply is not reset away

_CLOSE = 1  # item flag: close the connection after this reply


def machine_commands(machine: str) -> list[CommandSpec]:
    """The CommandSpecs of an installed machine (a fresh instance is asked)."""
    from statemachines.registry import load_machine

    return list(load_machine(machine).commands())


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
        hooks=None,
    ) -> None:
        assert inflight_max >= 1 and receive_bytes >= 1
        self.node = node
        self.hooks = hooks  # e.g. frontends.metrics.RespMetrics: connection_*() and command(name, reply)
        self.machine = machine  # the default: WATCH and INFO keyspace go to it
        if commands is not None:
            self.table: CommandTable = build_table(commands)
        else:  # every machine the node runs, each command routed to the one that declares it
            served = dict.fromkeys([machine, *machines])
            self.table = build_routed_table({name: machine_commands(name) for name in served})
        self.inflight_max = inflight_max
        self.receive_bytes = receive_bytes
        self.parser_limits = dict(bulk_bytes_max=bulk_bytes_max, inline_bytes_max=inline_bytes_max,
                                  query_buffer_bytes_max=query_buffer_bytes_max)  # fmt: skip
        self.sessions: dict[int, Session] = {}
        self._next_client_id = 1
        self.host = ""
        self.port = 0
        self.gate = Gate(node, self.table, machine=machine, default_consistency=read_consistency,
                         max_clients=max_clients, clock=trio.current_time, sessions=self.sessions.values,
                         config_params=self._config_params,
                         requirepass=(requirepass.encode() if isinstance(requirepass, str) else requirepass) or None)  # fmt: skip

    def _config_params(self) -> dict[str, str]:
        return {
            "save": "",
            "appendonly": "no",
            "databases": "1",
            "maxclients": str(self.gate.max_clients),
            "requirepass": (self.gate.requirepass or b"").decode(errors="replace"),
            "port": str(self.port),
            "bind": self.host,
            "proto-max-bulk-len": str(self.parser_limits["bulk_bytes_max"]),
            "client-query-buffer-limit": str(self.parser_limits["query_buffer_bytes_max"]),
        }

    async def serve(self, host: str, port: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen on host:port (0: any free port); task_status.started(bound port)."""
        self.gate.started_s = trio.current_time()
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, self._handle, port, host=host))
            self.host, self.port = listeners[0].socket.getsockname()[:2]
            self.gate.port = self.port
            log.info("RESP server for machine %r on %s:%d", self.machine, self.host, self.port)
            task_status.started(self.port)

    async def _handle(self, stream: trio.SocketStream) -> None:
        try:
            self.gate.stats["total_connections_received"] += 1
            if len(self.sessions) >= self.gate.max_clients:
                self.gate.stats["rejected_connections"] += 1
                if self.hooks is not None:
                    self.hooks.connection_rejected()
                await stream.send_all(b"-ERR max number of clients reached\r\n")
                return
            session = self._open_session(stream)
            if self.hooks is not None:
                self.hooks.connection_opened()
            try:
                await _Connection(self, stream, session).run()
            finally:
                del self.sessions[session.id]
                if self.hooks is not None:
                    self.hooks.connection_closed()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception:
            log.exception("RESP connection failed; closing it")
        finally:
            await trio.aclose_forcefully(stream)

    def _open_session(self, stream: trio.SocketStream) -> Session:
        client_id = self._next_client_id
        self._next_client_id += 1
        try:
            peer = "%s:%d" % stream.socket.getpeername()[:2]
            local = "%s:%d" % stream.socket.getsockname()[:2]
        except (OSError, TypeError):
            peer = local = "?"
        now = trio.current_time()
        session = Session(id=client_id, addr=peer, laddr=local, consistency=self.gate.default_consistency,
                          created_s=now, last_command_s=now, authenticated=self.gate.requirepass is None)  # fmt: skip
        self.sessions[client_id] = session
        return session


class _Connection:
    """The reader and writer tasks of one client (see the module docstring)."""

    def __init__(self, server: RespServer, stream: trio.SocketStream, session: Session) -> None:
        self.server = server
        self.stream = stream
        self.session = session
        self.parser = RespConnection(**server.parser_limits)
        self.send_bursts, self.receive_bursts = trio.open_memory_channel(math.inf)  # bounded by inflight_max
        self.issued = 0  # items handed to the writer
        self.answered = 0  # items the writer has finished
        self.last_write = 0  # item number of the latest write / read
        self.last_read = 0
        self._wake: trio.Event | None = None
        self._wake_at = 0

    async def run(self) -> None:
        try:
            with trio.CancelScope() as scope:
                self.session.kill = scope.cancel  # CLIENT KILL from another connection
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer)
                    await self._reader()
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away

    # --- reader ---------------------------------------------------------------------
    async def _reader(self) -> None:
        server, session, parser, gate = self.server, self.session, self.parser, self.server.gate
        node, inflight_max = server.node, server.inflight_max
        hooks = server.hooks
        receive = self.stream.receive_some
        burst: list = []
        while True:
            data = await receive(server.receive_bytes)
            if not data:  # EOF: answer what is in flight, then close
                burst.append((2, None, NO_REPLY, _CLOSE, None, None))
                self._push(burst)
                return
            parser.receive_data(data)
            session.last_command_s = trio.current_time()
            while True:
                cmd = parser.next_command()
                if cmd is NEED_DATA:
                    break
                if cmd.__class__ is ProtocolError:
                    burst.append((session.protocol, None, ReplyError(cmd.message), _CLOSE, None, None))
                    self._push(burst)
                    return
                if self.issued - self.answered >= inflight_max:
                    burst = await self._flush_until(burst, self.issued - inflight_max + 1)
                try:
                    kind, value = gate.route(session, cmd)
                except Exception as err:  # a bug in a handler or a check: answer, keep the connection
                    log.exception("command %r failed in the frontend", cmd[0][:64])
                    kind, value = IMMEDIATE, ReplyError(f"ERR internal error: {type(err).__name__}")
                waiter = post = None
                hook = gate.reply_hook  # now: the gate is shared, and another connection routes while we await
                machine = gate.route_machine
                level = gate.read_consistency or session.consistency
                flags = 0
                if kind == IMMEDIATE:
                    if value.__class__ is Close:
                        value, flags = value.value, _CLOSE
                elif kind == WRITE:
                    if self.last_read > self.answered:
                        burst = await self._flush_until(burst, self.last_read)
                    post = hook
                    try:
                        if value.__class__ is not bytes:  # built once earlier reads are in (EXEC after WATCH)
                            value = value()
                        waiter = node.submit(machine, value)
                    except Exception as err:
                        value = _submit_error(err)
                    else:
                        self.last_write = self.issued + 1
                else:
                    assert kind == READ
                    if self.last_write > self.answered:
                        burst = await self._flush_until(burst, self.last_write)
                    post = hook
                    try:
                        waiter = node.read(machine, value, level, session.seen_index)
                    except Exception as err:
                        value = _submit_error(err)
                    else:
                        self.last_read = self.issued + 1
                label = None if hooks is None else _command_label(server.table, cmd[0])
                burst.append((session.protocol, waiter, value, flags, label, post and (post, cmd)))
                self.issued += 1
                if flags & _CLOSE:
                    self._push(burst)
                    return
            if burst:
                self._push(burst)
                burst = []

    def _push(self, burst: list) -> None:
        if burst:
            self.send_bursts.send_nowait(burst)

    async def _flush_until(self, burst: list, answered: int) -> list:
        """Hand the burst to the writer and wait until `answered` items are done."""
        self._push(burst)
        while self.answered < answered:
            self._wake, self._wake_at = trio.Event(), answered
            await self._wake.wait()
        return []

    # --- writer ---------------------------------------------------------------------
    async def _writer(self) -> None:
        session = self.session
        send_all = self.stream.send_all
        hooks = self.server.hooks
        async for burst in self.receive_bursts:
            out = bytearray()
            for protocol, waiter, value, flags, label, post in burst:
                if waiter is not None:
                    try:
                        try:  # an answered waiter costs no trip through the scheduler
                            value = waiter.result_nowait()
                        except trio.WouldBlock:
                            value = await waiter.wait()
                    except RequestError as err:
                        value = ReplyError(str(err))
                    else:
                        index = waiter.index
                        if index > session.seen_index:
                            session.seen_index = index
                if post is not None:  # the command's CommandSpec.reply: RESP3 pairs, null arrays
                    value = post[0](post[1], value, protocol)
                if label is not None:
                    hooks.command(label, value)
                if value is not NO_REPLY:
                    mark = len(out)
                    try:
                        ENCODERS[protocol](out, value)
                    except Exception as err:  # a machine returned something that is not a Result
                        del out[mark:]
                        log.exception("cannot encode a reply")
                        ENCODERS[protocol](out, ReplyError(f"ERR internal error: {type(err).__name__}"))
                self.answered += 1
                if self._wake is not None and self.answered >= self._wake_at:
                    self._wake.set()
                    self._wake = None
                if flags & _CLOSE:
                    if out:
                        await send_all(out)
                    await self._close_gracefully()
                    return
            if out:
                await send_all(out)

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


def _command_label(table: CommandTable, name: bytes) -> str:
    """The command's table name for metrics; "unknown" keeps the label set bounded."""
    cmd = table.get(name)
    return "unknown" if cmd is None else cmd.name


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
    hooks (connection_opened/closed/rejected() and command(name, reply) calls, for metrics).
    """
    server = RespServer(node, machine=machine, **options)
    await server.serve(host, port, task_status=task_status)
