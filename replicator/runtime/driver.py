"""The trio driver of one node: the engine task, the ticker, the transport.

One task owns the NodeHost (and through it the engine, the store and the state
machines). Everything else talks to it by appending to its input queues and
setting its wake-up event; there are no locks around protocol state.

The engine task's loop is where batching comes from. It takes EVERY input
that queued up (peer messages, ticks, client writes and reads), steps the
engine with all of them, and only then carries out the resulting Ready: one
append per follower, one LMDB transaction with one fsync. While that fsync
runs in a worker thread (trio.to_thread), new requests queue up and become the
next batch (group commit).

Client writes arrive through `submit()`: on the leader they are proposed; on a
follower they are forwarded to the leader (or answered with -MOVED in
redirect mode); with no leader known they wait, up to their deadline, for one
to be elected. When leadership is lost, every write whose fate is open fails
with OutcomeUnknown - never a false OK.

Linearizable reads that arrive together share one read barrier.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace

import trio

from replicator.codec import Codec, CodecError, decode_result, encode_result
from replicator.config import Config
from replicator.node import NodeHost
from replicator.protocol import EngineConfig
from replicator.protocols import engine_factory, message_types
from replicator.runtime import messages as rt
from replicator.runtime.api import OutcomeUnknown, ReadConsistency, RequestError, TimedOut
from replicator.runtime.observer import NodeObserver
from replicator.runtime.transport import TcpTransport
from replicator.storage.lmdb_store import LmdbStore
from replicator.types import NotLeader, Role, Status
from statemachines import HOUSEKEEPING_MS, ReplyError, Result, StateMachine

log = logging.getLogger(__name__)

BARRIER_RETRY_TICKS = 10  # re-issue a read barrier that got no answer (its messages may be lost)


class Moved(RequestError):
    """Redirect mode: the client should send its write to the leader itself."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"MOVED 0 {host}:{port}")


class RequestWaiter:
    """The handle a frontend awaits for one request."""

    __slots__ = ("_done", "_result", "_error", "index", "started", "deadline")

    def __init__(self, started: float, timeout_s: float) -> None:
        self._done = trio.Event()
        self._result: Result = None
        self._error: RequestError | None = None
        self.index = 0
        self.started = started
        self.deadline = started + timeout_s

    @property
    def done(self) -> bool:
        """Answered, or abandoned by its caller because the deadline passed."""
        return self._done.is_set() or trio.current_time() >= self.deadline

    def resolve(self, result: Result, index: int = 0) -> None:
        if not self._done.is_set():
            self._result, self.index = result, index
            self._done.set()

    def fail(self, error: RequestError) -> None:
        if not self._done.is_set():
            self._error = error
            self._done.set()

    async def wait(self) -> Result:
        if not self._done.is_set():
            with trio.move_on_at(self.deadline):
                await self._done.wait()
            if not self._done.is_set():
                raise TimedOut("request")
        return self.result_nowait()

    def result_nowait(self) -> Result:
        if not self._done.is_set():
            raise trio.WouldBlock
        if self._error is not None:
            raise self._error
        return self._result


@dataclass(slots=True)
class _Write:
    machine: str
    command: bytes
    waiter: RequestWaiter


@dataclass(slots=True)
class _Read:
    machine: str
    request: bytes
    min_index: int
    waiter: RequestWaiter
    consistency: ReadConsistency


@dataclass(slots=True)
class _ForwardOrigin:
    """A write this leader proposes on behalf of a follower."""

    node: int
    req_id: int


class Node:
    """A running node: implements runtime.api.NodeAPI for the frontends."""

    def __init__(self, config: Config, machines: Mapping[str, StateMachine],
                 observer: NodeObserver | None = None) -> None:  # fmt: skip
        self.config = config
        self.observer = observer or NodeObserver()
        self.node_id = config.node_id
        self.machines = dict(machines)
        self.host: NodeHost | None = None
        self.transport: TcpTransport | None = None
        self.peer_port = 0
        self._wakeup = trio.Event()
        self._inbox: deque = deque()  # peer messages
        self._ticks = 0
        self._writes: deque[_Write] = deque()  # new, or waiting for a leader
        self._reads: deque[_Read] = deque()  # linearizable reads waiting for a barrier
        self._applied_waits: list[_Read] = []  # sequential reads waiting for min_index
        self._barriers: dict[int, tuple[int, list[_Read]]] = {}  # ctx -> (tick issued, reads)
        self._proposed: dict[int, _Write | _ForwardOrigin] = {}  # seq -> who waits for it
        self._forwarded: dict[int, tuple[int, _Write]] = {}  # req_id -> (leader, write)
        self._ids = itertools.count(1)
        self._tick_count = 0
        self._timeout_s = config.request_timeout_ms / 1000
        self._nursery: trio.Nursery | None = None
        self._snapshotting = False  # a snapshot is being encoded or stored
        self._encoded_snapshot: tuple | None = None  # (Snapshot, start time) waiting to be stored

    # --- NodeAPI ---------------------------------------------------------------
    def submit(self, machine: str, command: bytes) -> RequestWaiter:
        waiter = RequestWaiter(trio.current_time(), self._timeout_s)
        self._writes.append(_Write(machine, command, waiter))
        self._wakeup.set()
        return waiter

    def read(self, machine: str, request: bytes, consistency: ReadConsistency, min_index: int = 0) -> RequestWaiter:
        waiter = RequestWaiter(trio.current_time(), self._timeout_s)
        read = _Read(machine, request, min_index, waiter, consistency)
        if consistency in (ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE):
            # LEASE is served through the barrier too until the engine offers lease reads.
            self._reads.append(read)
            self._wakeup.set()
        elif consistency is ReadConsistency.SEQUENTIAL and min_index > self.host.applied:
            self._applied_waits.append(read)
        else:
            self._serve(read)
        return waiter

    def status(self) -> Status:
        status = self.host.engine.status()
        extra = {**status.extra, "snapshot_index": self.host.snapshot_index}
        return replace(status, applied=self.host.applied, extra=extra)

    def members(self) -> list[tuple[int, tuple[str, int], str]]:
        return [(m.id, m.resp, m.role) for m in self.config.members]

    def leader_address(self) -> tuple[str, int] | None:
        leader = self.host.leader if self.host else None
        return None if leader is None else self.config.member(leader).resp

    @property
    def role(self) -> Role:
        return self.host.role

    # --- running -----------------------------------------------------------------
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.config
        store = LmdbStore.open(cfg.data_dir, cluster_id=cfg.cluster_id, node_id=cfg.node_id,
                               protocol=cfg.protocol, fsync=cfg.fsync)  # fmt: skip
        try:
            snapshot = store.snapshot_meta()
            engine = engine_factory(cfg.protocol)(
                EngineConfig(
                    node_id=cfg.node_id,
                    voters=cfg.voters,
                    observers=cfg.observers,
                    election_ticks=cfg.election_ticks,
                    heartbeat_ticks=cfg.heartbeat_ticks,
                    applied=snapshot.index if snapshot else 0,
                ),
                store,
                random.Random(),
            )
            self.host = NodeHost(cfg.node_id, engine, store, self.machines, voters=cfg.voters,
                                 observers=cfg.observers, snapshot_entries=cfg.snapshot_entries,
                                 keep_entries=cfg.keep_entries)  # fmt: skip
            codec = Codec({**message_types(cfg.protocol), **rt.MESSAGE_TYPES})
            self.transport = TcpTransport(
                node_id=cfg.node_id, cluster_id=cfg.cluster_id, protocol=cfg.protocol, codec=codec,
                peers={m.id: m.peer for m in cfg.members}, deliver=self._deliver,
                on_unreachable=self._on_unreachable,
            )  # fmt: skip
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.peer_port = await nursery.start(self.transport.run, cfg.peer)
                nursery.start_soon(self._ticker)
                nursery.start_soon(self._engine_loop)
                nursery.start_soon(self._housekeeping)
                task_status.started()
        finally:
            store.close()

    def _deliver(self, msg) -> None:
        self.observer.message_received(msg.src)
        self._inbox.append(msg)
        self._wakeup.set()

    def _on_unreachable(self, peer: int) -> None:
        report = getattr(self.host.engine, "report_unreachable", None)
        if report is not None:
            report(peer)

    async def _ticker(self) -> None:
        interval = self.config.tick_ms / 1000
        while True:
            await trio.sleep(interval)
            self._ticks += 1
            self._wakeup.set()

    async def _encode_snapshot(self, encode) -> None:
        """Encode a captured snapshot in a worker thread while the engine goes on;
        the engine loop stores it (a short write) once it is ready."""
        started = trio.current_time()
        snapshot = await trio.to_thread.run_sync(encode)
        self._encoded_snapshot = (snapshot, started)
        self._wakeup.set()

    async def _housekeeping(self) -> None:
        """On the leader, propose what machines ask for (expiry decided through the log)."""
        keepers = {name: m.housekeeping for name, m in self.machines.items() if hasattr(m, "housekeeping")}
        while keepers:
            await trio.sleep(HOUSEKEEPING_MS / 1000)
            if self.host.role != Role.LEADER:
                continue
            now_ms = _now_ms()
            for name, housekeeping in keepers.items():
                for command in housekeeping(now_ms):
                    self.submit(name, command)  # the answer is of no interest: nobody waits

    async def _engine_loop(self) -> None:
        host = self.host
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            self._step_inputs()
            while (rd := host.take_ready()) is not None:
                self._send(rd.messages)
                if rd.must_sync:
                    started = trio.current_time()
                    await trio.to_thread.run_sync(host.persist, rd)
                    self.observer.persisted(trio.current_time() - started, len(rd.entries),
                                            sum(len(e.data) for e in rd.entries))  # fmt: skip
                if rd.snapshot is not None:
                    self.observer.snapshot_installed(rd.snapshot.meta.index, rd.snapshot.meta.size_bytes)
                self._send(rd.messages_after_persist)
                self._finish(host.finish(rd))
            if self._encoded_snapshot is not None:
                snapshot, started = self._encoded_snapshot
                await trio.to_thread.run_sync(host.save_snapshot, snapshot)
                self._encoded_snapshot = None
                self._snapshotting = False
                log.info("snapshot taken at index %d (%d bytes)", snapshot.meta.index, snapshot.meta.size_bytes)
                self.observer.snapshot_taken(snapshot.meta.index, snapshot.meta.size_bytes,
                                             trio.current_time() - started)  # fmt: skip
            elif host.snapshot_due() and not self._snapshotting:
                self._snapshotting = True
                self._nursery.start_soon(self._encode_snapshot, host.capture_snapshot())

    def _send(self, msgs) -> None:
        send = self.transport.send
        for msg in msgs:
            send(msg)

    # --- one batch of inputs -------------------------------------------------------
    def _step_inputs(self) -> None:
        engine = self.host.engine
        ticks, self._ticks = self._ticks, 0
        for _ in range(ticks):
            engine.tick()
        self._tick_count += ticks
        inbox, self._inbox = self._inbox, deque()
        for msg in inbox:
            if isinstance(msg, rt.ForwardRequest):
                self._on_forward_request(msg)
            elif isinstance(msg, rt.ForwardReply):
                self._on_forward_reply(msg)
            else:
                engine.step(msg)
        if self._writes:
            writes, self._writes = self._writes, deque()
            for write in writes:
                self._dispatch_write(write)
        self._start_barrier()
        if ticks:
            self._retry_barriers()

    def _dispatch_write(self, write: _Write) -> None:
        if write.waiter.done:
            return
        host = self.host
        if not host.serves(write.machine):
            write.waiter.fail(RequestError(f"ERR no state machine named '{write.machine}'"))
            return
        if host.role == Role.LEADER:
            try:
                seq, _ = host.propose(write.machine, write.command, _now_ms())
            except NotLeader:
                self._writes.append(write)  # e.g. a transfer is under way: wait for the next leader
            else:
                self._proposed[seq] = write
            return
        leader = host.leader
        if leader is None or leader == self.node_id:
            self._writes.append(write)  # retried once a leader is known
        elif self.config.write_mode == "redirect":
            write.waiter.fail(Moved(*self.config.member(leader).resp))
        else:
            req_id = next(self._ids)
            self._forwarded[req_id] = (leader, write)
            self.observer.forwarded()
            self.transport.send(rt.ForwardRequest(self.node_id, leader, req_id, write.machine, write.command))

    def _on_forward_request(self, msg: rt.ForwardRequest) -> None:
        host = self.host
        if not host.serves(msg.machine):
            error = f"ERR no state machine named '{msg.machine}'"
            self.transport.send(rt.ForwardReply(self.node_id, msg.src, msg.req_id, error=error))
            return
        try:
            seq, _ = host.propose(msg.machine, msg.command, _now_ms())
        except NotLeader:
            self.transport.send(rt.ForwardReply(self.node_id, msg.src, msg.req_id, error="TRYAGAIN not the leader"))
        else:
            self._proposed[seq] = _ForwardOrigin(msg.src, msg.req_id)

    def _on_forward_reply(self, msg: rt.ForwardReply) -> None:
        entry = self._forwarded.pop(msg.req_id, None)
        if entry is None:
            return  # already failed (leader change) or timed out
        _, write = entry
        if not msg.error:
            try:
                result = decode_result(msg.result)
            except CodecError as exc:
                self._fail_forwarded(write, f"leader sent an unreadable result ({exc})")
            else:
                write.waiter.resolve(result)
                self.observer.write_done(trio.current_time() - write.waiter.started,
                                         "error" if isinstance(result, ReplyError) else "ok")  # fmt: skip
        elif msg.unknown:
            self._fail_forwarded(write, msg.error)
        else:
            self._writes.append(write)  # not proposed there: try again once we know the leader

    def _fail_forwarded(self, write: _Write, why: str) -> None:
        write.waiter.fail(OutcomeUnknown(why))
        self.observer.write_done(trio.current_time() - write.waiter.started, "unknown")

    # --- reads ---------------------------------------------------------------------
    def _start_barrier(self) -> None:
        if not self._reads:
            return
        ctx = next(self._ids)
        try:
            self.host.read_index(ctx)
        except NotLeader:
            return  # no leader yet: the reads wait in the queue (their deadline bounds it)
        reads = [r for r in self._reads if not r.waiter.done]
        self._reads.clear()
        self._barriers[ctx] = (self._tick_count, reads)
        if reads:
            self.observer.read_barrier(reads[0].consistency.value, len(reads))

    def _retry_barriers(self) -> None:
        """Barriers unanswered for a while (lost messages, leader change) start again."""
        stale = [ctx for ctx, (issued, _) in self._barriers.items()
                 if self._tick_count - issued >= BARRIER_RETRY_TICKS]  # fmt: skip
        for ctx in stale:
            _, reads = self._barriers.pop(ctx)
            self._reads.extend(r for r in reads if not r.waiter.done)
        if stale:
            self._start_barrier()

    def _serve(self, read: _Read) -> None:
        host = self.host
        read.waiter.resolve(host.query(read.machine, read.request, _now_ms()), host.applied)

    # --- what a finished Ready released ------------------------------------------------
    def _finish(self, out) -> None:
        for seq, index, result in out.results:
            target = self._proposed.pop(seq, None)
            if isinstance(target, _Write):
                target.waiter.resolve(result, index)
                self.observer.write_done(trio.current_time() - target.waiter.started,
                                         "error" if isinstance(result, ReplyError) else "ok")  # fmt: skip
            elif isinstance(target, _ForwardOrigin):
                self.transport.send(rt.ForwardReply(self.node_id, target.node, target.req_id, encode_result(result)))
        for seq in out.lost:
            self._lose(self._proposed.pop(seq, None), "leadership was lost before the write committed")
        for ctx in out.reads:
            _, reads = self._barriers.pop(ctx, (0, ()))
            for read in reads:
                self._serve(read)
        if self._applied_waits:
            ready = [r for r in self._applied_waits if r.min_index <= out.applied]
            self._applied_waits = [r for r in self._applied_waits if r.min_index > out.applied]
            for read in ready:
                self._serve(read)
        if out.soft_state is not None:
            soft = out.soft_state
            log.info("role %s, leader %s, epoch %d", soft.role.value, soft.leader, soft.epoch)
            self.observer.role_changed(soft.role, soft.leader, soft.epoch)
            self._on_leader_change(soft.leader)

    def _lose(self, target, why: str) -> None:
        if isinstance(target, _Write):
            target.waiter.fail(OutcomeUnknown(why))
            self.observer.write_done(trio.current_time() - target.waiter.started, "unknown")
        elif isinstance(target, _ForwardOrigin):
            reply = rt.ForwardReply(self.node_id, target.node, target.req_id, error=str(OutcomeUnknown(why)),
                                    unknown=True)  # fmt: skip
            self.transport.send(reply)

    def _on_leader_change(self, leader: int | None) -> None:
        # Writes forwarded to a node that no longer leads may have been lost with it.
        for req_id, (target, write) in list(self._forwarded.items()):
            if target != leader:
                del self._forwarded[req_id]
                self._fail_forwarded(write, f"leader {target} changed before answering")
        if leader is not None:
            self._wakeup.set()  # parked writes and reads go out on the next loop
        for ctx in list(self._barriers):  # barriers of the old leader will not be answered
            self._reads.extend(r for r in self._barriers.pop(ctx)[1] if not r.waiter.done)


def _now_ms() -> int:
    return int(time.time() * 1000)


