"""The trio shell of one node: timers, the peer transport, the persist thread, waiters.

Every protocol and request decision is the node core's (replicator/core/node.py);
this module only feeds it events and carries out what it asks for. One task (the
engine task) owns the core: everything else appends an input (a peer message, a
tick, a client batch) and sets the wake-up event, so there are no locks around
protocol state.

The engine task takes EVERY input that queued up, steps the core with all of
them, and only then carries out the resulting Readies: one append per follower,
one LMDB transaction with one fsync. While that fsync runs in a worker thread,
new requests queue up and become the next batch (group commit), and the core
applies the Ready's committed entries meanwhile (protocol/ready.py, step 4).

Between Ready cycles the engine task starts the core's background work in
worker threads: slow reads (while the core holds applies back), a snapshot's
capture and encoding, and stores an encoded snapshot. The worker threads share
the GIL with the event loop; process.GIL_SWITCH_INTERVAL_S hands it back to the
loop within a quarter of a millisecond whenever the loop has work.

Client batches are answered through a BatchWaiter each (the core's Answers): a
pipeline burst costs one waiter and one wake-up. Deadlines are kept here, on the
ticker, so callers get their TimedOut even while a slow disk holds the engine task.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial

import trio

from replicator.codec import Codec
from replicator.config import Config, ConfigError, address_of, peer_secret
from replicator.core.node import CaptureSnapshot, CoreConfig, NodeCore, SaveSnapshot, SlowReads
from replicator.core.observer import NodeObserver
from replicator.core.requests import ReadConsistency, RequestError, TimedOut
from replicator.incarnations import Incarnations
from replicator.node import NodeHost
from replicator.protocol import EngineConfig
from replicator.protocol.ready import Ready
from replicator.protocols import engine_factory, message_types
from replicator.runtime import messages as rt
from replicator.runtime.transport import TcpTransport
from replicator.storage.lmdb_store import LmdbStore
from replicator.tls import ReloadableContext, TlsError, peer_contexts
from replicator.types import ClusterMember, Membership, Role, Status
from statemachines import HOUSEKEEPING_MS, Result, StateMachine
from statemachines.acl import ACL, AclMachine
from statemachines.hooks import (
    allows_pipeline_entries,
    set_databases,
    set_key_changed,
    set_keyspace_events,
    set_script_permissions,
)

log = logging.getLogger(__name__)

_PENDING = object()  # a BatchWaiter slot not decided yet

# A Ready's durable write runs on the engine task itself (inline) when it is small and the
# disk has been fast: handing it to a worker thread and back costs two thread wake-ups and
# two GIL hand-overs, about 100-300 us, on the critical path of every write (the follower's
# write sits between the leader's append and the follower's ack). A large write, or any
# write while recent writes were slow (a slow or busy disk), goes to the worker thread, so
# that ticks, heartbeats and new requests keep flowing meanwhile. redis does its `appendfsync
# always` fsync in its event loop too; the bound here keeps a slow disk from doing the same.
INLINE_WRITE_BYTES = 64 << 10
INLINE_FSYNC_S = 0.002  # writes go inline while the recent writes took less than this
FSYNC_EWMA_WEIGHT = 0.2  # how fast the estimate of a write's duration follows new ones


class BatchWaiter:
    """The handle a frontend awaits for a batch of requests: a client's pipeline
    burst costs one waiter and one wake-up, not one per command. Each slot ends
    as the machine's Result or a RequestError (set by the node, or TimedOut at
    the deadline)."""

    __slots__ = ("results", "index", "started", "deadline", "on_done", "_left", "_event")

    def __init__(self, size: int, started: float, timeout_s: float) -> None:
        self.results: list = [_PENDING] * size
        self.index = 0  # the highest log index among the slots' answers
        self.started = started
        self.deadline = started + timeout_s
        self.on_done = None  # api.Waiter.on_done
        self._left = size
        self._event: trio.Event | None = None

    def set(self, slot: int, value: Result | RequestError, index: int = 0) -> None:
        """Decide one slot (later answers for a decided slot are ignored)."""
        if self.results[slot] is _PENDING:
            self.results[slot] = value
            if index > self.index:
                self.index = index
            self._left -= 1
            if not self._left:
                if self.on_done is not None:
                    self.on_done(self.results)
                if self._event is not None:
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


class Node:
    """A running node: implements runtime.api.NodeAPI for the frontends."""

    def __init__(
        self, config: Config, machines: Mapping[str, StateMachine], observer: NodeObserver | None = None
    ) -> None:
        self.config = config
        self.observer = observer or NodeObserver()
        self.node_id = config.node_id
        self.machines = dict(machines)
        self.acl = AclMachine()  # the node's ACL users (NodeHost serves it as ACL); the RESP frontend listens
        set_databases(self.machines.values(), config.databases)  # before the first apply
        self.core: NodeCore | None = None
        self._last_contact: dict[int, float] = {}  # peer -> when its last message arrived (trio clock)
        self.transport: TcpTransport | None = None
        self.peer_tls: ReloadableContext | None = None  # tls_cluster's contexts (SIGHUP reloads them)
        self.peer_port = 0
        self._wakeup = trio.Event()
        # The engine task waits for a wake-up with no Ready in flight: a task that just delivered
        # peer messages may carry out the turn itself (_delivered).
        self._parked = False
        self._handed_over: Ready | None = None  # a Ready an inline turn left for the engine task to write
        self._failed: BaseException | None = None  # what an inline turn raised, re-raised by the engine task
        self._open: deque[BatchWaiter] = deque()  # batches not answered yet, oldest first (_expire)
        self._timeout_s = config.request_timeout_ms / 1000
        self._nursery: trio.Nursery | None = None
        self.pipeline_machines: frozenset[str] = frozenset()
        self._write_s = 0.0  # recent durable writes' duration (EWMA): decides inline or threaded
        self._on_published = None  # subscribe_published's callback, handed to the NodeHost

    @property
    def host(self) -> NodeHost | None:
        return self.core.host if self.core is not None else None

    # --- NodeAPI ---------------------------------------------------------------
    def _waiter(self, size: int) -> BatchWaiter:
        return BatchWaiter(size, trio.current_time(), self._timeout_s)

    def _queued(self, waiter: BatchWaiter) -> BatchWaiter:
        if not waiter.done:
            self._open.append(waiter)
            self._wakeup.set()
        return waiter

    def submit_batch(self, writes: Sequence[tuple[str, bytes]]) -> BatchWaiter:
        waiter = self._waiter(len(writes))
        self.core.submit_batch(writes, waiter)
        return self._queued(waiter)

    def submit_pipeline(self, requests: Sequence[tuple[str, bytes, bool]]) -> BatchWaiter:
        """See NodeCore.submit_pipeline: a mixed burst as one proposal and one wait."""
        waiter = self._waiter(len(requests))
        self.core.submit_pipeline(requests, waiter)
        return self._queued(waiter)

    def subscribe_published(self, callback) -> None:
        """callback(payload) for every PUBLISH / SPUBLISH entry this node applies, in log order,
        on the node's task (frontends/resp/pubsub.py delivers it to the local subscribers)."""
        self._on_published = callback
        if self.core is not None:
            self.core.host.on_published = callback

    def subscribe_key_changes(self, callback) -> None:
        """callback(db, key) for every key a machine with hooks.KeyEvents changes as this node
        applies (blocking commands, client tracking); None stops it."""
        set_key_changed(self.machines.values(), callback)

    def subscribe_keyspace_events(self, callback) -> None:
        """callback(db, event class, event, key) for every keyspace event this node's machines
        emit at apply (keyspace notifications); None stops it."""
        set_keyspace_events(self.machines.values(), callback)

    def set_script_permissions(self, permissions) -> None:
        """The ACL check of scripts' redis.calls (statemachines.hooks.ScriptPermissions) for every
        machine running scripts; consulted at apply, so set it before the node runs."""
        set_script_permissions(self.machines.values(), permissions)

    def submit(self, machine: str, command: bytes) -> BatchWaiter:
        """A batch of one write (await its `wait_one()`)."""
        return self.submit_batch(((machine, command),))

    def read_batch(
        self,
        reads: Sequence[tuple[str, bytes]],
        consistency: ReadConsistency,
        min_index: int = 0,
        slow: bool = False,
    ) -> BatchWaiter:
        waiter = self._waiter(len(reads))
        self.core.read_batch(reads, consistency, waiter, min_index, slow)
        return self._queued(waiter)

    def read(
        self, machine: str, request: bytes, consistency: ReadConsistency, min_index: int = 0, slow: bool = False
    ) -> BatchWaiter:
        """A batch of one read (await its `wait_one()`)."""
        return self.read_batch(((machine, request),), consistency, min_index, slow)

    def status(self) -> Status:
        host = self.core.host
        status = host.engine.status()
        extra = {**status.extra, "snapshot_index": host.snapshot_index}
        return replace(status, applied=host.applied, extra=extra)

    def members(self) -> list[tuple[int, tuple[str, int], str]]:
        return [(m.id, self._resp_address(m), m.role) for m in self.membership().members]

    def membership(self) -> Membership:
        """The configuration in force here (the newest in this node's log), with addresses
        (taken from the config file where the store has none)."""
        live = self.core.membership if self.core else self.config.membership()
        return _with_file_addresses(live, self.config.membership())

    def last_contact_s(self, peer: int) -> float | None:
        """Seconds since a message from `peer` last arrived; None if none has."""
        at = self._last_contact.get(peer)
        return None if at is None else trio.current_time() - at

    def leader_address(self) -> tuple[str, int] | None:
        leader = self.core.host.leader if self.core else None
        if leader is None:
            return None
        member = self.membership().get(leader)
        return None if member is None or not member.resp else self._resp_address(member)

    @staticmethod
    def _resp_address(member: ClusterMember) -> tuple[str, int]:
        return address_of(member.resp) or ("", 0)

    @property
    def role(self) -> Role:
        return self.core.host.role

    # --- running -----------------------------------------------------------------
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.config
        secret = peer_secret(cfg)  # before anything else: a node that may not talk to peers does not start
        self.peer_tls = _peer_tls(cfg)  # and one whose TLS files are missing or wrong
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
                    membership=cfg.membership(),
                    election_ticks=cfg.election_ticks,
                    heartbeat_ticks=cfg.heartbeat_ticks,
                    lease_read=cfg.lease_reads,
                    applied=snapshot.index if snapshot else 0,
                ),
                store,
                random.Random(),
            )
            host = NodeHost(
                cfg.node_id,
                engine,
                store,
                {**self.machines, ACL: self.acl},
                voters=cfg.voters,
                observers=cfg.observers,
                snapshot_entries=cfg.snapshot_entries,
                keep_entries=cfg.keep_entries,
            )
            host.on_published = self._on_published
            _report_membership(host.membership_in_force(), cfg)
            live = _with_file_addresses(host.membership_in_force(), cfg.membership())
            codec = Codec({**message_types(cfg.protocol), **rt.MESSAGE_TYPES})
            self.transport = TcpTransport(
                node_id=cfg.node_id,
                cluster_id=cfg.cluster_id,
                protocol=cfg.protocol,
                codec=codec,
                peers=_peer_addresses(live, cfg),
                deliver=self._deliver,
                delivered=self._delivered,
                secret=secret,
                on_unreachable=self._on_unreachable,
                on_link_up=self._greeting,
                tls=self.peer_tls,
            )
            core_config = CoreConfig(
                node_id=cfg.node_id,
                members=tuple(sorted(live.ids() | {m.id for m in cfg.members})),
                resp={m.id: self._resp_address(m) for m in live.members},
                write_mode=cfg.write_mode,
                max_entry_bytes=cfg.max_entry_bytes,
            )
            pipelined = (name for name, m in self.machines.items() if allows_pipeline_entries(m))
            self.core = NodeCore(
                core_config,
                host,
                Incarnations(cfg.node_id, store, engine),
                send=self.transport.send,
                clock=trio.current_time,
                wall_ms=_now_ms,
                observer=self.observer,
                pipeline_machines=pipelined,
                first_id=random.getrandbits(62),
            )
            self.core.on_members_changed = self._members_changed
            self.pipeline_machines = self.core.pipeline_machines
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self.peer_port = await nursery.start(self.transport.run, cfg.peer)
                nursery.start_soon(self._ticker)
                nursery.start_soon(self._engine_loop)
                nursery.start_soon(self._housekeeping)
                task_status.started()
        finally:
            store.close()

    def _members_changed(self, membership: Membership) -> None:
        """Links to members that joined; those that left keep theirs until the next change
        (the leader goes on telling a removed member until it knows: raft/engine.py)."""
        peers = _peer_addresses(_with_file_addresses(membership, self.config.membership()), self.config)
        self.transport.add_peers(peers)

    def _deliver(self, msg) -> None:
        self._last_contact[msg.src] = trio.current_time()
        self.core.receive(msg)

    def _delivered(self) -> None:
        """One read's messages from a peer are in the core: step it for them. If the engine task
        is parked, the turn runs here, on the receiving task, when its writes are small and the
        disk fast (what the engine task would write inline anyway): a follower's ack then leaves,
        and a leader's client is answered, without a hop through the scheduler to the engine task
        (about 60 us each on this machine; a write has one on the follower and one on the leader).
        A Ready that needs a worker thread, background work and errors go to the engine task."""
        if not self._parked:
            self._wakeup.set()
            return
        self._parked = False
        core = self.core
        try:
            core.step()
            self._handed_over = self._carry_out_inline()
        except BaseException as exc:  # the engine task raises it, as if its own turn had
            self._failed = exc
        if self._handed_over is None and self._failed is None and not core.more_work and not core.background_due:
            self._parked = True
        else:
            self._wakeup.set()

    def _greeting(self, peer: int):
        return self.core.greeting(peer)

    def _on_unreachable(self, peer: int) -> None:
        self.core.peer_unreachable(peer)

    async def _ticker(self) -> None:
        interval = self.config.tick_ms / 1000
        while True:
            await trio.sleep(interval)
            self.core.tick()
            self._wakeup.set()
            self._expire()

    def _expire(self) -> None:
        """Time out the batches whose deadline passed. Every batch has the same timeout,
        so creation order is deadline order. Runs on the ticker, not the engine task,
        so callers get their TimedOut even while a slow disk holds the engine."""
        open_, now = self._open, trio.current_time()
        while open_ and (open_[0].done or open_[0].deadline <= now):
            open_.popleft().expire()

    async def _housekeeping(self) -> None:
        while True:
            await trio.sleep(HOUSEKEEPING_MS / 1000)
            self.core.housekeeping()
            self._wakeup.set()

    async def _engine_loop(self) -> None:
        core = self.core
        while True:
            self._parked = True
            await self._wakeup.wait()
            self._parked = False
            self._wakeup = trio.Event()
            if self._failed is not None:
                raise self._failed
            rd, self._handed_over = self._handed_over, None
            if rd is None:
                core.step()
                rd = self._carry_out_inline()
            while rd is not None:
                await self._write(rd, _payload_bytes(rd))
                core.written(rd)
                core.finish(rd)
                rd = self._carry_out_inline()
            for work in core.background_work():
                if work.__class__ is SaveSnapshot:
                    await trio.to_thread.run_sync(core.host.save_snapshot, work.snapshot)
                    core.snapshot_saved(work)
                elif work.__class__ is SlowReads:
                    self._nursery.start_soon(self._read_slowly, work)
                else:
                    self._nursery.start_soon(self._take_snapshot, work)
            if core.more_work:
                self._wakeup.set()  # held-back applies go on after other tasks had their turn

    def _carry_out_inline(self) -> Ready | None:
        """Carry out the core's Readies while their durable writes may run on this task (small,
        and the disk has been fast); the first Ready that must be written in a worker thread."""
        core = self.core
        while (rd := core.next_write()) is not None:
            size = _payload_bytes(rd)
            if rd.snapshot is not None or size > INLINE_WRITE_BYTES or self._write_s >= INLINE_FSYNC_S:
                return rd
            self._write_inline(rd, size)
            core.written(rd)
            core.finish(rd)
        return None

    def _write_inline(self, rd: Ready, size: int) -> None:
        """The Ready's durable write on the engine task (INLINE_WRITE_BYTES)."""
        started = time.perf_counter()
        self.core.host.persist(rd)
        self._wrote(rd, size, time.perf_counter() - started)

    def _wrote(self, rd: Ready, size: int, seconds: float) -> None:
        self._write_s += (seconds - self._write_s) * FSYNC_EWMA_WEIGHT
        self.observer.persisted(seconds, len(rd.entries), size)

    async def _write(self, rd: Ready, size: int) -> None:
        """The Ready's durable write in a worker thread; meanwhile the core applies its
        committed entries and answers their clients (ready.py, step 4): the event loop
        would otherwise sit idle through the fsync, and a busy leader has no idle time."""
        token = trio.lowlevel.current_trio_token()
        written = trio.Event()
        wrote: list = []

        def deliver(outcome) -> None:  # in the worker thread
            wrote.append(outcome)
            token.run_sync_soon(written.set)

        started = trio.current_time()
        trio.lowlevel.start_thread_soon(partial(self.core.host.persist, rd), deliver)
        self.core.apply_during_write(rd)
        with trio.CancelScope(shield=True):  # the store must not close under a running write
            await written.wait()
        wrote[0].unwrap()  # a storage error surfaces here, as from to_thread
        self._wrote(rd, size, trio.current_time() - started)

    async def _read_slowly(self, job: SlowReads) -> None:
        answers = None
        try:
            answers = await trio.to_thread.run_sync(job.run)
        finally:
            self.core.slow_reads_done(job, answers)
            self._wakeup.set()  # the engine task applies what waited, then starts the next slow reads

    async def _take_snapshot(self, job: CaptureSnapshot) -> None:
        """Capture the machines' state in a worker thread while applies wait (copying a
        large keyspace takes the better part of a second), then encode it there while
        the engine goes on; the engine task stores it once it is ready."""
        core = self.core
        try:
            encode = await trio.to_thread.run_sync(core.host.capture_snapshot)
        except Exception:  # e.g. a snapshot from the leader replaced the log meanwhile
            log.exception("taking a snapshot failed; trying again later")
            core.snapshot_captured(ok=False)
            self._wakeup.set()
            return
        core.snapshot_captured()
        self._wakeup.set()  # the engine task applies what waited
        snapshot = await trio.to_thread.run_sync(encode)
        core.snapshot_encoded(snapshot, job.started)
        self._wakeup.set()


def _payload_bytes(rd: Ready) -> int:
    return sum(len(entry.data) for entry in rd.entries)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _with_file_addresses(live: Membership, bootstrap: Membership) -> Membership:
    """`live` with the config file's addresses where it has none (a store that predates
    replicated addresses)."""
    if all(m.peer and m.resp for m in live.members):
        return live
    filled = []
    for m in live.members:
        known = bootstrap.get(m.id)
        if known is not None and not (m.peer and m.resp):
            m = ClusterMember(m.id, m.role, m.peer or known.peer, m.resp or known.resp)
        filled.append(m)
    return Membership(tuple(filled))


def _peer_tls(cfg: Config) -> ReloadableContext | None:
    """tls_cluster: mutual TLS between members, from the node's certificate, key and CA."""
    if not cfg.tls.cluster:
        return None
    try:
        return ReloadableContext(cfg.tls, peer_contexts)
    except TlsError as exc:
        raise ConfigError(f"node {cfg.node_id}: {exc}") from None


def _peer_addresses(membership: Membership, cfg: Config) -> dict[int, tuple[str, int]]:
    peers = {}
    for m in membership.members:
        address = address_of(m.peer)
        if address is not None and m.id != cfg.node_id:
            peers[m.id] = address
    return peers


def _report_membership(live: Membership, cfg: Config) -> None:
    """A node follows the configuration of its own store; its config file's member list
    only bootstraps a new cluster. Say so when they differ, rather than follow either silently."""
    stored = {(m.id, m.role) for m in live.members}
    written = {(m.id, m.role) for m in cfg.members}
    if live.voters and stored != written:
        log.warning(
            "the members in this node's store differ from its config file's; following the store "
            "(the file's list only bootstraps a new cluster): store %s, file %s",
            ", ".join(f"{i} {r}" for i, r in sorted(stored)),
            ", ".join(f"{i} {r}" for i, r in sorted(written)),
        )
