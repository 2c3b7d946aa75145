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

Slow reads (a frontend flags a batch that may touch much data: KEYS, SMEMBERS
of a million members) run in a worker thread, so the engine task never stops
for them: ticks, heartbeats, votes, acks and appends go on, and a leader is not
deposed by its own client. Their atomicity comes from holding back APPLY while
the thread reads: the engine keeps committing (consensus needs no apply), the
committed Readies wait in `_deferred`, and the engine task applies them the
moment the thread is done, before it starts the next slow reads (so neither
side starves the other: applies wait at most one round of slow reads, and slow
reads at most one round of applies). Only apply-dependent answers wait meanwhile:
write results and reads whose barrier index is not applied yet. Fast reads are
still served inline, on the state as applied so far. A snapshot's capture (a
copy of every machine's state) takes the same path, then is encoded in the
thread with applies running again. The worker thread shares
the GIL with the event loop; service.GIL_SWITCH_INTERVAL_S hands it back to the
loop within a quarter of a millisecond whenever the loop has work.

Why not the alternatives: a machine's query is one synchronous call (the
StateMachine contract), so cooperative chunking would need every machine's
reads rewritten as resumable walks; copying the state before reading costs what
the read costs. RedisRaft runs Redis' own single thread and has no answer here
(a long command there delays its raft timer too); etcd serves range reads from
a copy-on-write MVCC snapshot (bbolt read transaction) concurrent with apply,
which is the effect this hold gives without a versioned store.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

import trio

from replicator.codec import Codec, CodecError, decode_result, encode_result
from replicator.config import Config, peer_secret
from replicator.incarnations import CaughtUp, Incarnations
from replicator.node import NodeHost, Outcome
from replicator.protocol import EngineConfig
from replicator.protocol.ready import Ready
from replicator.protocols import engine_factory, message_types
from replicator.runtime import messages as rt
from replicator.runtime.api import EntryTooLarge, OutcomeUnknown, ReadConsistency, RequestError, TimedOut
from replicator.runtime.observer import NodeObserver
from replicator.runtime.transport import TcpTransport
from replicator.storage.lmdb_store import LmdbStore
from replicator.transactions import encode_transaction
from replicator.types import NotLeader, Role, Status
from statemachines import HOUSEKEEPING_MS, TRANSACTIONS, ReplyError, Result, StateMachine

log = logging.getLogger(__name__)

# What one step adds to a pipeline entry beyond its command and machine name (msgpack array,
# string and binary headers, the write flag): counted, so 1 MiB of tiny commands stays ~1 MiB.
PIPELINE_STEP_OVERHEAD = 12
FORWARD_BYTES = 1 << 20  # a follower's ForwardRequest carries about this much (one command more at most)
# The results of one ForwardReply: half the peer frame limit (codec.MAX_FRAME_BYTES, 256 MiB),
# which a reply larger than that would break, losing the link to the leader.
FORWARD_REPLY_BYTES_MAX = 128 << 20
BARRIER_RETRY_TICKS = 10  # re-issue a read barrier that got no answer (its messages may be lost)
VOUCH_EVERY_TICKS = 200  # a leader repeats CaughtUp this often (a member may learn of a loss late)
PIPELINE_ENTRY_BYTES = 1 << 20  # a pipeline entry stops growing here (replication frames stay small)
APPLY_SLICE_S = 0.02  # applies held back by a slow read are caught up in slices of about this long


class Moved(RequestError):
    """Redirect mode: the client should send its write to the leader itself."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"MOVED 0 {host}:{port}")


_PENDING = object()  # a BatchWaiter slot not decided yet


class BatchWaiter:
    """The handle a frontend awaits for a batch of requests: a client's pipeline
    burst costs one waiter and one wake-up, not one per command. Each slot ends
    as the machine's Result or a RequestError (set by the node, or TimedOut at
    the deadline)."""

    __slots__ = ("results", "index", "started", "deadline", "_left", "_event")

    def __init__(self, size: int, started: float, timeout_s: float) -> None:
        self.results: list = [_PENDING] * size
        self.index = 0  # the highest log index among the slots' answers
        self.started = started
        self.deadline = started + timeout_s
        self._left = size
        self._event: trio.Event | None = None

    def set(self, slot: int, value: Result | RequestError, index: int = 0) -> None:
        """Decide one slot (later answers for a decided slot are ignored)."""
        if self.results[slot] is _PENDING:
            self.results[slot] = value
            if index > self.index:
                self.index = index
            self._left -= 1
            if not self._left and self._event is not None:
                self._event.set()

    @property
    def done(self) -> bool:
        return not self._left

    async def wait(self) -> list:
        """Every slot's answer; no trip through the scheduler if all are in already.
        The node decides every slot by the deadline (Node._expire: TimedOut), so
        this needs no cancel scope of its own, which would cost more than the rest
        of a pipeline burst's wait."""
        if self._left:
            self._event = trio.Event()
            await self._event.wait()
        return self.results

    def expire(self) -> None:
        """The deadline passed: the slots still open become TimedOut."""
        for slot, value in enumerate(self.results):
            if value is _PENDING:
                self.set(slot, TimedOut("request"))

    async def wait_one(self) -> Result:
        """The single slot's Result (raises its RequestError): for one-request batches."""
        (value,) = await self.wait()
        if isinstance(value, RequestError):
            raise value
        return value


@dataclass(slots=True)
class _Writes:
    """Writes of one batch that are not proposed (or forwarded) yet."""

    waiter: BatchWaiter
    # (slot in the waiter, machine, command); the slot is a tuple of slots for a
    # pipeline entry built by submit_pipeline (a TRANSACTIONS command, one result per slot)
    items: list[tuple[int | tuple[int, ...], str, bytes]]


@dataclass(slots=True)
class _Reads:
    """Reads of one batch, served together."""

    waiter: BatchWaiter
    items: list[tuple[str, bytes]]  # slot i: (machine, request)
    min_index: int
    consistency: ReadConsistency
    slow: bool = False  # served in a worker thread while applies wait (module docstring)


class _ForwardedBatch:
    """A follower's forwarded batch on the leader: answered in one ForwardReply once
    every slot is decided. Has BatchWaiter's `set`, so proposals treat both alike."""

    __slots__ = ("node", "req_id", "results", "errors", "indexes", "retry", "_left", "_send")

    def __init__(self, msg: rt.ForwardRequest, send) -> None:
        size = len(msg.commands)
        self.node, self.req_id = msg.src, msg.req_id
        self.results = [b""] * size
        self.errors = [""] * size
        self.indexes = [0] * size
        self.retry: list[int] = []
        self._left = size
        self._send = send

    def set(self, slot: int, value: Result | RequestError, index: int = 0) -> None:
        if isinstance(value, RequestError):
            self.errors[slot] = str(value)
        else:
            self.results[slot] = encode_result(value)
            self.indexes[slot] = index
        self._done_one()

    def not_proposed(self, slot: int) -> None:
        self.retry.append(slot)
        self._done_one()

    def _done_one(self) -> None:
        self._left -= 1
        if not self._left:
            self._send(self)


class Node:
    """A running node: implements runtime.api.NodeAPI for the frontends."""

    def __init__(
        self, config: Config, machines: Mapping[str, StateMachine], observer: NodeObserver | None = None
    ) -> None:
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
        self._writes: deque[_Writes] = deque()  # new, or waiting for a leader
        self._reads: deque[_Reads] = deque()  # linearizable reads waiting for a barrier
        self._applied_waits: list[_Reads] = []  # sequential reads waiting for min_index
        self._barriers: dict[int, tuple[int, list[_Reads]]] = {}  # ctx -> (tick issued, reads)
        # seq -> (batch, slot, or the slots of a pipeline entry): the BatchWaiter or
        # _ForwardedBatch that waits for the proposal
        self._proposed: dict[int, tuple[BatchWaiter | _ForwardedBatch, int | tuple[int, ...]]] = {}
        self._pipeline_entries = frozenset(
            name for name, m in self.machines.items() if getattr(m, "pipeline_entries", False)
        )
        # In redirect mode a follower answers writes -MOVED and serves reads itself: a read
        # in a pipeline entry would be answered -MOVED with the writes, so none are offered.
        self._pipeline_reads = frozenset() if config.write_mode == "redirect" else self._pipeline_entries
        self._forwarded: dict[int, tuple[int, _Writes]] = {}  # req_id -> (leader, writes)
        self._open: deque[BatchWaiter] = deque()  # batches not answered yet, oldest first (_expire)
        self._ids = itertools.count(1)
        self._tick_count = 0
        self._timeout_s = config.request_timeout_ms / 1000
        # One entry travels whole in one append message, which must stay under the peer
        # frame limit; and copying, encoding and fsyncing it holds the event loop. So a
        # command above this is refused on arrival (config.py: max_entry_bytes).
        self._max_entry_bytes = config.max_entry_bytes
        self._nursery: trio.Nursery | None = None
        self._snapshotting = False  # a snapshot is being encoded or stored
        self._encoded_snapshot: tuple | None = None  # (Snapshot, start time) waiting to be stored
        self._slow_reads: list[_Reads] = []  # servable, waiting for the worker thread
        self._reading = False  # a worker thread reads the machines (slow reads, snapshot capture): no apply
        self._deferred: deque[Ready] = deque()  # Readies carried out but for their apply step, in order

    # --- NodeAPI ---------------------------------------------------------------
    def submit_batch(self, writes: Sequence[tuple[str, bytes]]) -> BatchWaiter:
        waiter = BatchWaiter(len(writes), trio.current_time(), self._timeout_s)
        serves, max_bytes = self.host.serves, self._max_entry_bytes
        items = []
        for slot, (machine, command) in enumerate(writes):
            if len(command) > max_bytes:
                waiter.set(slot, EntryTooLarge(len(command), max_bytes))
            elif serves(machine):
                items.append((slot, machine, command))
            else:
                waiter.set(slot, _no_machine(machine))
        if items:
            self._writes.append(_Writes(waiter, items))
            self._open.append(waiter)
            self._wakeup.set()
        return waiter

    @property
    def pipeline_machines(self) -> frozenset[str]:
        """The machines whose reads and writes may share a pipeline entry (submit_pipeline)."""
        return self._pipeline_reads

    def submit_pipeline(self, requests: Sequence[tuple[str, bytes, bool]]) -> BatchWaiter:
        """A burst of writes AND reads, each (machine, command, write), of pipeline_machines,
        as few TRANSACTIONS entries without watches as PIPELINE_ENTRY_BYTES allows (usually
        one): the whole burst costs one proposal and one wait, on a follower too (the
        entries are forwarded like any write). Each read is a step of its entry, run by
        Transactions at apply right after the writes before it: Redis' order and
        read-your-writes, and linearizable, because the log orders it (which also satisfies
        every weaker read level). As in EXEC, reads past REPLY_BYTES_MAX of one entry's
        replies are not run (transactions.py). A lone write stays an ordinary proposal (it may
        be up to max_entry_bytes, which the entry's encoding would push over); a read above
        PIPELINE_ENTRY_BYTES is refused (frontends send those through read_batch as slow)."""
        waiter = BatchWaiter(len(requests), trio.current_time(), self._timeout_s)
        shared, max_bytes = self._pipeline_reads, self._max_entry_bytes
        items: list = []
        run: list[tuple[int, str, bytes, bool]] = []  # the entry being filled
        size = 0

        def close_run() -> None:
            if len(run) == 1 and run[0][3]:
                slot, machine, command, _ = run[0]
                items.append((slot, machine, command))
            elif run:
                steps = encode_transaction((m, c, w) for _, m, c, w in run)
                items.append((tuple(step[0] for step in run), TRANSACTIONS, steps))
            run.clear()

        for slot, (machine, command, write) in enumerate(requests):
            limit = max_bytes if write else PIPELINE_ENTRY_BYTES
            if len(command) > limit:
                waiter.set(slot, EntryTooLarge(len(command), limit))
                continue
            if machine not in shared:
                waiter.set(
                    slot,
                    _no_machine(machine)
                    if not self.host.serves(machine)
                    else RequestError(f"ERR state machine '{machine}' does not take pipeline entries"),
                )
                continue
            step = len(command) + len(machine) + PIPELINE_STEP_OVERHEAD
            if run and size + step > PIPELINE_ENTRY_BYTES:
                close_run()
                size = 0
            run.append((slot, machine, command, write))
            size += step
        close_run()
        if items:
            self._writes.append(_Writes(waiter, items))
            self._open.append(waiter)
            self._wakeup.set()
        return waiter

    def submit(self, machine: str, command: bytes) -> BatchWaiter:
        """A batch of one write (await its `wait_one()`)."""
        return self.submit_batch(((machine, command),))

    def read_batch(
        self, reads: Sequence[tuple[str, bytes]], consistency: ReadConsistency, min_index: int = 0, slow: bool = False
    ) -> BatchWaiter:
        waiter = BatchWaiter(len(reads), trio.current_time(), self._timeout_s)
        batch = _Reads(waiter, list(reads), min_index, consistency, slow)
        if consistency in (ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE):
            # LEASE is served through the barrier too until the engine offers lease reads.
            self._reads.append(batch)
            self._wakeup.set()
        elif consistency is ReadConsistency.SEQUENTIAL and min_index > self.host.applied:
            self._applied_waits.append(batch)
        else:
            self._serve(batch)
        if not waiter.done:
            self._open.append(waiter)
        return waiter

    def read(
        self, machine: str, request: bytes, consistency: ReadConsistency, min_index: int = 0, slow: bool = False
    ) -> BatchWaiter:
        """A batch of one read (await its `wait_one()`)."""
        return self.read_batch(((machine, request),), consistency, min_index, slow)

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
        secret = peer_secret(cfg)  # before anything else: a node that may not talk to peers does not start
        store = LmdbStore.open(
            cfg.data_dir,
            cluster_id=cfg.cluster_id,
            node_id=cfg.node_id,
            protocol=cfg.protocol,
            fsync=cfg.fsync,
            walk_pages=True,
        )
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
            self.host = NodeHost(
                cfg.node_id,
                engine,
                store,
                self.machines,
                voters=cfg.voters,
                observers=cfg.observers,
                snapshot_entries=cfg.snapshot_entries,
                keep_entries=cfg.keep_entries,
            )
            self._incarnations = Incarnations(cfg.node_id, store, engine)
            codec = Codec({**message_types(cfg.protocol), **rt.MESSAGE_TYPES})
            self.transport = TcpTransport(
                node_id=cfg.node_id,
                cluster_id=cfg.cluster_id,
                protocol=cfg.protocol,
                codec=codec,
                peers={m.id: m.peer for m in cfg.members},
                deliver=self._deliver,
                secret=secret,
                on_unreachable=self._on_unreachable,
                on_link_up=self._greeting,
            )
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

    def _greeting(self, peer: int) -> tuple[rt.Incarnation]:
        """What a new outgoing link to `peer` carries first (replicator/incarnations.py)."""
        return (rt.Incarnation(self.node_id, peer, self.host.store.incarnation),)

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
            self._expire()

    def _expire(self) -> None:
        """Time out the batches whose deadline passed. Every batch has the same timeout,
        so creation order is deadline order. Runs on the ticker, not the engine loop,
        so callers get their TimedOut even while a slow disk holds the engine."""
        open_, now = self._open, trio.current_time()
        while open_ and (open_[0].done or open_[0].deadline <= now):
            open_.popleft().expire()

    async def _take_snapshot(self) -> None:
        """Capture the machines' state in a worker thread while applies wait (as for a
        slow read: copying a large keyspace takes the better part of a second), then
        encode it there while the engine goes on; the engine loop stores it (a short
        write) once it is ready."""
        started = trio.current_time()
        try:
            encode = await trio.to_thread.run_sync(self.host.capture_snapshot)
        except Exception:  # e.g. a snapshot from the leader replaced the log meanwhile
            log.exception("taking a snapshot failed; trying again later")
            self._snapshotting = False
            return
        finally:
            self._reading = False
            self._wakeup.set()  # the engine task applies what waited
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
                commands = [(name, command) for command in housekeeping(now_ms)]
                if commands:
                    self.submit_batch(commands)  # the answer is of no interest: nobody waits

    async def _engine_loop(self) -> None:
        host = self.host
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            self._step_inputs()
            while (rd := host.take_ready()) is not None:
                self._send(rd.messages)
                if not rd.must_sync:
                    out = self._apply(rd)
                elif rd.snapshot is None:
                    out = await self._persist_while_applying(rd)
                else:
                    await self._persist(rd)
                    out = self._apply(rd)
                    self.observer.snapshot_installed(rd.snapshot.meta.index, rd.snapshot.meta.size_bytes)
                self._send(rd.messages_after_persist)
                self._finish(host.complete(rd, out))
            if not self._reading:
                if self._deferred:
                    self._apply_deferred()
                if self._slow_reads and not self._deferred:
                    self._start_slow_reads()
            if self._encoded_snapshot is not None:
                snapshot, started = self._encoded_snapshot
                await trio.to_thread.run_sync(host.save_snapshot, snapshot)
                self._encoded_snapshot = None
                self._snapshotting = False
                log.info("snapshot taken at index %d (%d bytes)", snapshot.meta.index, snapshot.meta.size_bytes)
                self.observer.snapshot_taken(
                    snapshot.meta.index, snapshot.meta.size_bytes, trio.current_time() - started
                )
            elif host.snapshot_due() and not self._snapshotting and not self._reading and not self._deferred:
                self._snapshotting = self._reading = True
                self._nursery.start_soon(self._take_snapshot)

    async def _persist(self, rd: Ready) -> None:
        started = trio.current_time()
        await trio.to_thread.run_sync(self.host.persist, rd)
        self._persisted(rd, started)

    async def _persist_while_applying(self, rd: Ready) -> Outcome:
        """Write the Ready in a worker thread and, meanwhile, apply its committed entries
        and answer their clients (ready.py, step 4): the event loop would otherwise
        sit idle through the fsync, and a busy leader has no idle time to spare."""
        token = trio.lowlevel.current_trio_token()
        written = trio.Event()
        wrote: list = []

        def deliver(outcome) -> None:  # in the worker thread
            wrote.append(outcome)
            token.run_sync_soon(written.set)

        started = trio.current_time()
        trio.lowlevel.start_thread_soon(partial(self.host.persist, rd), deliver)
        out = self._apply(rd)
        self._resolve(out.results)
        out.results = []
        with trio.CancelScope(shield=True):  # the store must not close under a running write
            await written.wait()
        wrote[0].unwrap()  # a storage error surfaces here, as from to_thread
        self._persisted(rd, started)
        return out

    def _persisted(self, rd: Ready, started: float) -> None:
        self.observer.persisted(trio.current_time() - started, len(rd.entries), sum(len(e.data) for e in rd.entries))

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
            elif isinstance(msg, rt.Incarnation):  # written before the peer's next message is stepped
                self._on_incarnation(msg)
            elif isinstance(msg, CaughtUp):
                # The node the engine follows, synced with it or not (the soft state names a
                # leader only from UPTODATE on, and this word may come just before that).
                if self._incarnations.caught_up(msg, self.host.engine.leader):
                    log.info(
                        "node %d has caught up after losing its data (says leader %d): its votes count again",
                        msg.peer,
                        msg.src,
                    )
            else:
                engine.step(msg)
        incarnations = self._incarnations
        # Cleared only by a node that reports itself leader, which can vouch at once: a
        # ZAB leader still synchronizing its quorum cannot (not LEADER yet), and would
        # otherwise leave the others to wait for the periodic vouch.
        if incarnations.suspecting and self.host.role == Role.LEADER:
            for peer in incarnations.sync_cleared():
                log.info("node %d has caught up after losing its data: its votes count again", peer)
                self._vouch()
        if ticks and self._tick_count % VOUCH_EVERY_TICKS < ticks:
            self._vouch()
        if self._writes:
            writes, self._writes = self._writes, deque()
            now = trio.current_time()
            for batch in writes:
                if now < batch.waiter.deadline:  # else its caller has stopped waiting
                    self._dispatch_writes(batch)
        self._start_barrier()
        if ticks:
            self._retry_barriers()

    def _vouch(self) -> None:
        """As leader, tell every member that we and the peers we saw catch up after
        losing their data hold the log (replicator/incarnations.py)."""
        if self.host.role == Role.LEADER:
            for peer, incarnation in self._incarnations.vouches():
                for member in self.config.members:
                    if member.id not in (self.node_id, peer):
                        self.transport.send(CaughtUp(self.node_id, member.id, peer, incarnation))

    def _on_incarnation(self, msg: rt.Incarnation) -> None:
        lost = self._incarnations.received(msg.src, msg.incarnation, self.host.engine.log.last_index())
        if lost is not None:
            was, until = lost
            log.warning(
                "node %d lost its data (its data directory is new: incarnation %x, was %x): its votes do "
                "not count until it holds the log up to index %d",
                msg.src,
                msg.incarnation,
                was,
                until,
            )

    def _dispatch_writes(self, batch: _Writes) -> None:
        host = self.host
        if host.role == Role.LEADER:
            waiter, items = batch.waiter, batch.items
            rest = self._propose_all(items, waiter)
            if rest is not None:  # e.g. a transfer is under way: wait for the next leader
                self._writes.append(_Writes(waiter, items[rest:]))
            return
        leader = host.leader
        if leader is None or leader == self.node_id:
            self._writes.append(batch)  # retried once a leader is known
        elif self.config.write_mode == "redirect":
            moved = Moved(*self.config.member(leader).resp)
            for slot, _, _ in batch.items:
                _answer(batch.waiter, slot, moved)
        else:
            self.observer.forwarded(len(batch.items))
            for part in _forward_parts(batch.items):
                # In parts of about FORWARD_BYTES: a burst of large writes in one frame could
                # exceed the peer frame limit. The parts travel in order on one link.
                req_id = next(self._ids)
                self._forwarded[req_id] = (leader, _Writes(batch.waiter, part))
                machines = tuple(machine for _, machine, _ in part)
                commands = tuple(command for _, _, command in part)
                self.transport.send(rt.ForwardRequest(self.node_id, leader, req_id, machines, commands))

    def _propose_all(self, items: list[tuple[int, str, bytes]], batch: BatchWaiter | _ForwardedBatch) -> int | None:
        """Propose items in order, answered to their slots of `batch`; the position of
        the first one the engine refused (NotLeader), or None if it took them all.

        Consecutive writes for machines with `pipeline_entries` share one entry (a
        TRANSACTIONS entry without watches, so each still gets its own result): a
        client's pipelined SETs cost one proposal, one stored entry and one apply
        step on every replica instead of one each."""
        propose, proposed, ts, shared = self.host.propose, self._proposed, _now_ms(), self._pipeline_entries
        position, count = 0, len(items)
        while position < count:
            slot, machine, command = items[position]
            end = position + 1
            if machine in shared:
                size = len(command) + len(machine) + PIPELINE_STEP_OVERHEAD
                while end < count and items[end][1] in shared:
                    step = len(items[end][2]) + len(items[end][1]) + PIPELINE_STEP_OVERHEAD
                    if size + step > PIPELINE_ENTRY_BYTES:
                        break
                    size += step
                    end += 1
            try:
                if end == position + 1:
                    seq, _ = propose(machine, command, ts)
                    proposed[seq] = (batch, slot)
                else:
                    group = items[position:end]
                    seq, _ = propose(TRANSACTIONS, encode_transaction((m, c, True) for _, m, c in group), ts)
                    proposed[seq] = (batch, tuple(item[0] for item in group))
            except NotLeader:
                return position
            position = end
        return None

    def _on_forward_request(self, msg: rt.ForwardRequest) -> None:
        if len(msg.machines) != len(msg.commands) or not msg.commands:
            return  # malformed: nothing to answer
        batch = _ForwardedBatch(msg, self._answer_forwarded)
        items, max_bytes = [], self._max_entry_bytes
        for slot, (machine, command) in enumerate(zip(msg.machines, msg.commands)):
            if len(command) > max_bytes:  # the follower's limit may be another (its config)
                batch.set(slot, EntryTooLarge(len(command), max_bytes))
            elif self.host.serves(machine):
                items.append((slot, machine, command))
            else:
                batch.set(slot, _no_machine(machine))
        if self.host.role != Role.LEADER:
            rest = 0
        else:
            rest = self._propose_all(items, batch)
        if rest is not None:
            for slot, _, _ in items[rest:]:
                batch.not_proposed(slot)

    def _answer_forwarded(self, batch: _ForwardedBatch) -> None:
        _fit_forward_reply(batch)
        self.transport.send(
            rt.ForwardReply(
                self.node_id,
                batch.node,
                batch.req_id,
                tuple(batch.results),
                tuple(batch.errors),
                tuple(batch.retry),
                tuple(batch.indexes),
            )
        )

    def _on_forward_reply(self, msg: rt.ForwardReply) -> None:
        entry = self._forwarded.pop(msg.req_id, None)
        if entry is None:
            return  # already failed (leader change) or timed out
        _, batch = entry
        items, waiter = batch.items, batch.waiter
        if len(msg.results) != len(items) or len(msg.errors) != len(items):
            self._fail_forwarded(batch, "leader sent a malformed reply")
            return
        retry = set(msg.retry)
        again = []
        started = waiter.started
        for position, item in enumerate(items):
            slot = item[0]
            if position in retry:
                again.append(item)  # not proposed there: try again once we know the leader
            elif msg.errors[position]:
                _answer(waiter, slot, RequestError(msg.errors[position]))
                self.observer.write_done(trio.current_time() - started, "unknown")
            else:
                try:
                    result = decode_result(msg.results[position])
                except CodecError as exc:
                    _answer(waiter, slot, OutcomeUnknown(f"leader sent an unreadable result ({exc})"))
                    continue
                _answer(waiter, slot, result, msg.indexes[position] if position < len(msg.indexes) else 0)
                self.observer.write_done(
                    trio.current_time() - started, "error" if isinstance(result, ReplyError) else "ok"
                )
        if again:
            self._writes.append(_Writes(waiter, again))

    def _fail_forwarded(self, batch: _Writes, why: str) -> None:
        error = OutcomeUnknown(why)
        for slot, _, _ in batch.items:
            _answer(batch.waiter, slot, error)
        self.observer.write_done(trio.current_time() - batch.waiter.started, "unknown", len(batch.items))

    # --- reads ---------------------------------------------------------------------
    def _start_barrier(self) -> None:
        if not self._reads:
            return
        ctx = next(self._ids)
        try:
            self.host.read_index(ctx)
        except NotLeader:
            return  # no leader yet: the reads wait in the queue (their deadline bounds it)
        now = trio.current_time()
        batches = [r for r in self._reads if now < r.waiter.deadline]
        self._reads.clear()
        self._barriers[ctx] = (self._tick_count, batches)
        if batches:
            self.observer.read_barrier(batches[0].consistency.value, sum(len(b.items) for b in batches))

    def _retry_barriers(self) -> None:
        """Barriers unanswered for a while (lost messages, leader change) start again."""
        stale = [ctx for ctx, (issued, _) in self._barriers.items() if self._tick_count - issued >= BARRIER_RETRY_TICKS]
        for ctx in stale:
            _, batches = self._barriers.pop(ctx)
            self._reads.extend(batches)
        if stale:
            self._start_barrier()

    def _serve(self, batch: _Reads) -> None:
        """Answer a servable batch: inline, or (slow) queued for the worker thread,
        which the engine task starts at its next safe point (_engine_loop)."""
        if batch.slow:
            self._slow_reads.append(batch)
            self._wakeup.set()
            return
        waiter, applied = batch.waiter, self.host.applied
        for slot, result in enumerate(self._query(batch.items, _now_ms())):
            waiter.set(slot, result, applied)

    def _query(self, items: list[tuple[str, bytes]], now_ms: int) -> list[Result | RequestError]:
        """Each read's Result. Runs on the engine task, or in the worker thread while
        nothing is applied (`_reading`)."""
        host, results = self.host, []
        for machine, request in items:
            if not host.serves(machine):
                results.append(_no_machine(machine))
                continue
            try:
                results.append(host.query(machine, request, now_ms))
            except Exception as exc:  # a machine bug must not take the node down
                log.exception("state machine %s raised in query", machine)
                results.append(ReplyError(f"ERR state machine error: {exc}"))
        return results

    def _start_slow_reads(self) -> None:
        """Hand every queued slow read to one worker thread; applies wait until it is done."""
        batches, self._slow_reads = self._slow_reads, []
        self._reading = True
        self._nursery.start_soon(self._serve_slow_reads, batches)

    async def _serve_slow_reads(self, batches: list[_Reads]) -> None:
        applied, now = self.host.applied, _now_ms()

        def query_all() -> list[list]:  # in the worker thread
            return [self._query(batch.items, now) for batch in batches]

        try:
            answers = await trio.to_thread.run_sync(query_all)
        finally:
            self._reading = False
            self._wakeup.set()  # the engine task applies what waited, then starts the next slow reads
        for batch, results in zip(batches, answers):
            waiter = batch.waiter
            for slot, result in enumerate(results):
                waiter.set(slot, result, applied)

    # --- apply, or hold it back while the worker thread reads ---------------------------
    def _apply(self, rd: Ready) -> Outcome:
        """Step 4 of the Ready (ready.py), unless the worker thread is reading or earlier
        Readies wait already: then the Ready joins `_deferred` (in order) and its results
        come from _apply_deferred. The engine has advanced past it meanwhile; only this
        node's machines (and host.applied, which read barriers and snapshots go by) lag."""
        if self._reading or self._deferred:
            if rd.committed or rd.snapshot is not None:
                self._deferred.append(rd)
            return Outcome()
        return self.host.apply(rd)

    def _apply_deferred(self) -> None:
        """Apply Readies held back during a slow read, then release what they made
        servable: their writes' results, read barriers, sequential reads. A second of
        writes held back takes a while to apply: at most APPLY_SLICE_S of it per turn
        of the engine loop, so the catching up does not become a stall of its own."""
        host, out, deferred = self.host, Outcome(), self._deferred
        until = time.perf_counter() + APPLY_SLICE_S
        while deferred:
            out.results += host.apply(deferred.popleft()).results
            if deferred and time.perf_counter() >= until:
                self._wakeup.set()  # the rest on the next turn, after other tasks had theirs
                break
        out.reads = host.servable_reads()
        out.applied = host.applied
        self._finish(out)

    # --- what a finished Ready released ------------------------------------------------
    def _finish(self, out) -> None:
        if out.results:
            self._resolve(out.results)
        for seq in out.lost:
            self._lose(self._proposed.pop(seq, None), "leadership was lost before the write committed")
        for ctx in out.reads:
            _, batches = self._barriers.pop(ctx, (0, ()))
            for batch in batches:
                self._serve(batch)
        if self._applied_waits:
            ready = [r for r in self._applied_waits if r.min_index <= out.applied]
            self._applied_waits = [r for r in self._applied_waits if r.min_index > out.applied]
            for batch in ready:
                self._serve(batch)
        if out.soft_state is not None:
            soft = out.soft_state
            log.info("role %s, leader %s, epoch %d", soft.role.value, soft.leader, soft.epoch)
            self.observer.role_changed(soft.role, soft.leader, soft.epoch)
            if soft.role == Role.LEADER:
                self._vouch()
            self._on_leader_change(soft.leader)

    def _resolve(self, results: list[tuple[int, int, Result]]) -> None:
        """Answer applied proposals. A batch's writes are applied together, so the
        metrics get one call per batch and outcome, not one per write."""
        proposed, done = self._proposed, {}
        for seq, index, result in results:
            target = proposed.pop(seq, None)
            if target is None:
                continue
            batch, slots = target
            if slots.__class__ is tuple:  # a pipeline entry: one result per write
                if result.__class__ is not list or len(result) != len(slots):
                    result = [result] * len(slots)  # the entry failed as a whole
                answers = zip(slots, result)
            else:
                answers = ((slots, result),)
            for slot, answer in answers:
                batch.set(slot, answer, index)
                if batch.__class__ is BatchWaiter:
                    key = (batch, "error" if isinstance(answer, ReplyError) else "ok")
                    done[key] = done.get(key, 0) + 1
        now = trio.current_time()
        for (batch, outcome), writes in done.items():
            self.observer.write_done(now - batch.started, outcome, writes)

    def _lose(self, target, why: str) -> None:
        if target is None:
            return
        batch, slots = target
        slots = slots if slots.__class__ is tuple else (slots,)
        error = OutcomeUnknown(why)
        for slot in slots:
            batch.set(slot, error)
        if batch.__class__ is BatchWaiter:
            self.observer.write_done(trio.current_time() - batch.started, "unknown", len(slots))

    def _on_leader_change(self, leader: int | None) -> None:
        # Writes forwarded to a node that no longer leads may have been lost with it.
        for req_id, (target, batch) in list(self._forwarded.items()):
            if target != leader:
                del self._forwarded[req_id]
                self._fail_forwarded(batch, f"leader {target} changed before answering")
        if leader is not None:
            self._wakeup.set()  # parked writes and reads go out on the next loop
        for ctx in list(self._barriers):  # barriers of the old leader will not be answered
            self._reads.extend(self._barriers.pop(ctx)[1])


def _answer(waiter: BatchWaiter, slot: int | tuple[int, ...], result, index: int = 0) -> None:
    """Set one item's answer: a pipeline entry's (a tuple of slots) is its list of step
    results, one per slot, or an error or result that stands for all of them."""
    if slot.__class__ is not tuple:
        waiter.set(slot, result, index)
        return
    if result.__class__ is not list or len(result) != len(slot):
        result = [result] * len(slot)  # the entry failed as a whole
    for one, answer in zip(slot, result):
        waiter.set(one, answer, index)


def _forward_parts(items: list[tuple[int, str, bytes]]) -> list[list[tuple[int, str, bytes]]]:
    """Consecutive runs of items of about FORWARD_BYTES of commands each (at least one item)."""
    parts, part, size = [], [], 0
    for item in items:
        if part and size + len(item[2]) > FORWARD_BYTES:
            parts.append(part)
            part, size = [], 0
        part.append(item)
        size += len(item[2])
    parts.append(part)
    return parts


def _fit_forward_reply(batch: _ForwardedBatch) -> None:
    """Keep a ForwardReply under FORWARD_REPLY_BYTES_MAX: the largest results (a GETDEL of a
    huge value, an LPOP of a long list) become errors until it fits. Their writes were
    applied; only the reply cannot travel, and the error says so."""
    results = batch.results
    total = sum(map(len, results))
    if total <= FORWARD_REPLY_BYTES_MAX:
        return
    for slot in sorted(range(len(results)), key=lambda i: len(results[i]), reverse=True):
        size = len(results[slot])
        results[slot] = b""
        batch.errors[slot] = (
            f"ERR the reply of {size} bytes is too large to forward from the leader "
            "(the write was applied); send it to the leader"
        )
        total -= size
        if total <= FORWARD_REPLY_BYTES_MAX:
            return


def _no_machine(name: str) -> RequestError:
    return RequestError(f"ERR no state machine named '{name}'")


def _now_ms() -> int:
    return int(time.time() * 1000)
