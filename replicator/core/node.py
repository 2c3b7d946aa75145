"""NodeCore: one node's request path, sans-I/O - everything between a client's
batch and the disk that can be deterministic.

The core owns the NodeHost (engine + log store + state machines) and the
request policy around it: proposing on the leader, forwarding to it from a
follower (or -MOVED in redirect mode), waiting for a leader when none is
known, pipeline entries, read barriers shared by the reads that arrive
together (and re-issued when unanswered), lease, sequential and stale reads,
"outcome unknown" when leadership is lost, holding applies back while slow
reads run elsewhere, snapshots, and the lost-disk bookkeeping (incarnations).
It owns no thread, socket, timer or event loop: the trio runtime
(runtime/driver.py) and the simulator (sim/cluster.py) both drive it, so the
simulator's clients exercise exactly the path real clients take.

Inputs are queued and stepped together, which is where batching comes from:

    core.receive(msg) / core.tick() / core.submit_*(..., answers) / core.read_batch(...)
    core.step()                              # every queued input, into the engine
    while (rd := core.next_write()) is not None:
        start writing rd                     # host.persist(rd): one LMDB transaction + fsync
        core.apply_during_write(rd)          # the documented overlap (protocol/ready.py step 4)
        ... the write finishes ...
        core.written(rd)                     # step 3: acks and votes go out
        core.finish(rd)                      # steps 4-7: apply (if not yet), release, advance
    for job in core.background_work(): ...   # SlowReads, CaptureSnapshot, SaveSnapshot

`next_write` carries out, whole, every Ready that needs no durable write and
returns the first that does: that order (send -> persist -> send after persist ->
apply -> advance, with apply allowed to overlap the write unless a snapshot is
installed) is written here once, for the runtime, the simulator, the engine
harnesses and `convert` (`run_ready` is the synchronous form).

Answers go straight to each batch's `Answers.set` (core/requests.py); messages
go out through the `send` callable given at construction (the runtime's
transport queues them, the simulator's network routes them). Time comes from
two injected clocks: `clock()` (monotonic seconds: deadlines, metrics) and
`wall_ms()` (the leader's wall clock stamped into entries, which gives TTLs one
meaning on every replica).

Received peer messages are stepped before the ticks that accumulated with
them: after a pause (a loaded machine, a long fsync) the acks and heartbeats
that waited in the inbox are counted before the ticks that would time their
senders out (tests/core: a pause shorter than the election timeout deposes nobody).

Why slow reads hold applies: a machine's query is one synchronous call (the
StateMachine contract), so the only way to run a long one (KEYS, SMEMBERS of a
million members) without stopping ticks, heartbeats and votes is elsewhere - a
worker thread in the runtime - while nothing changes the machines. The engine
keeps committing (consensus needs no apply); committed Readies wait in
`_deferred`, and are applied the moment the slow reads are done, before the next
ones start (neither side starves the other). Only apply-dependent answers wait
meanwhile. etcd gets the same effect from bbolt's copy-on-write read
transactions; RedisRaft has no answer (a long command delays its raft timer).
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from replicator.codec import CodecError, decode_result
from replicator.config import address_of
from replicator.core import pipeline
from replicator.core.forwarding import ForwardedBatch, forward_parts
from replicator.core.messages import ForwardReply, ForwardRequest, Incarnation
from replicator.core.observer import NodeObserver
from replicator.core.pipeline import Proposal, group_mixed, group_writes, step_bytes
from replicator.core.requests import (
    Answers,
    EntryTooLarge,
    Moved,
    OutcomeUnknown,
    ReadConsistency,
    Removed,
    RequestError,
)
from replicator.incarnations import CaughtUp, Incarnations, is_incarnation
from replicator.members import PROMOTE, REMOVE, MemberChange, decode_change, promotable
from replicator.node import NodeHost, Outcome
from replicator.protocol.membership import MembershipChangeRefused
from replicator.protocol.ready import Ready
from replicator.types import MEMBERSHIP, MemberRole, Membership, NotLeader, Role, Snapshot
from statemachines import HOUSEKEEPING_MS, ReplyError, Result
from statemachines.hooks import Housekeeping

log = logging.getLogger(__name__)

FORWARDS_REMEMBERED = 4096  # per follower: request ids a leader remembers, to drop a duplicate
BARRIER_RETRY_TICKS = 10  # re-issue a read barrier that got no answer (its messages may be lost)
VOUCH_EVERY_TICKS = 200  # a leader repeats CaughtUp this often (a member may learn of a loss late)
APPLY_SLICE_S = 0.02  # applies held back by slow reads are caught up in slices of about this long
HOUSEKEEPING_ROUNDS_KEPT = 10  # housekeeping writes wait this many rounds for a leader at most
_BARRIER_LEVELS = (ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE)


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """What the core needs of a node's configuration (replicator/config.py has the rest)."""

    node_id: int
    members: tuple[int, ...]  # every member, this node included
    resp: Mapping[int, tuple[str, int]]  # member -> client address, for -MOVED
    write_mode: str = "forward"  # or "redirect"
    # One entry travels whole in one append message, which must stay under the peer frame
    # limit; and copying, encoding and fsyncing it holds the event loop. So a command above
    # this is refused on arrival (config.py: max_entry_bytes).
    max_entry_bytes: int = 16 << 20


@dataclass(slots=True)
class _Writes:
    """Writes of one batch that are not proposed (or forwarded) yet."""

    answers: Answers
    items: list[Proposal]


@dataclass(slots=True)
class _Reads:
    """Reads of one batch, served together."""

    answers: Answers
    items: list[tuple[str, bytes]]  # slot i: (machine, request)
    min_index: int
    consistency: ReadConsistency
    slow: bool = False  # served elsewhere while applies wait (module docstring)


@dataclass(slots=True)
class SlowReads:
    """Background work: run `query()` off the event loop, then core.slow_reads_done(self, answers).
    Applies wait meanwhile, so the machines do not change under it."""

    batches: list[_Reads]
    applied: int
    now_ms: int
    query: Callable[[list[tuple[str, bytes]], int], list] = field(repr=False)

    def run(self) -> list[list]:
        return [self.query(batch.items, self.now_ms) for batch in self.batches]


@dataclass(slots=True)
class CaptureSnapshot:
    """Background work: `host.capture_snapshot()` off the event loop (applies wait), then
    core.snapshot_captured(); run the function it returned (encoding, applies go on),
    then core.snapshot_encoded(snapshot)."""

    started: float


@dataclass(slots=True)
class SaveSnapshot:
    """Background work: `host.save_snapshot(snapshot)` between Ready cycles (a store
    write: never concurrent with one), then core.snapshot_saved(self)."""

    snapshot: Snapshot
    started: float


class NodeCore:
    def __init__(
        self,
        config: CoreConfig,
        host: NodeHost,
        incarnations: Incarnations,
        *,
        send: Callable[[object], None],
        clock: Callable[[], float],
        wall_ms: Callable[[], int],
        observer: NodeObserver | None = None,
        pipeline_machines: Iterable[str] = (),
        first_id: int = 1,
    ) -> None:
        self.config = config
        self.node_id = config.node_id
        self.host = host
        self.incarnations = incarnations
        self.observer = observer or NodeObserver()
        self._send_one = send
        self._clock = clock
        self._wall_ms = wall_ms
        self._pipeline_entries = frozenset(pipeline_machines)
        # Who may send us forwards, and where clients find each member: the configuration in
        # force (the engine's newest) and the one before it, so a member being removed is still
        # answered while it learns of its removal. Kept in step by _follow_membership.
        self._membership = host.membership_in_force()
        self._members = frozenset(config.members) | self._membership.ids()
        self._resp: dict[int, tuple[str, int]] = dict(config.resp)
        self.on_members_changed: Callable[[Membership], None] | None = None  # the runtime's transport
        # Not in the configuration in force: clients are refused (Removed).
        self.removed = bool(self._membership.voters) and self.node_id not in self._membership.ids()
        # In redirect mode a follower answers writes -MOVED and serves reads itself: a read
        # in a pipeline entry would be answered -MOVED with the writes, so none are offered.
        self.pipeline_machines = frozenset() if config.write_mode == "redirect" else self._pipeline_entries
        self._inbox: deque = deque()  # peer messages
        self._ticks = 0  # ticks not stepped yet
        self._tick_count = 0
        self._told: set[tuple[int, int]] = set()  # (peer, incarnation) vouched for since we lead (_vouch)
        self._writes: deque[_Writes] = deque()  # new, or waiting for a leader
        self._reads: dict[ReadConsistency, list[_Reads]] = {level: [] for level in _BARRIER_LEVELS}
        self._applied_waits: list[_Reads] = []  # sequential reads waiting for min_index
        self._barriers: dict[int, tuple[int, ReadConsistency, list[_Reads]]] = {}  # ctx -> (tick, level, reads)
        # seq -> (batch, slot, or the slots of a pipeline entry): who waits for the proposal
        self._proposed: dict[int, tuple[Answers, int | tuple[int, ...]]] = {}
        self._forwarded: dict[int, tuple[int, _Writes]] = {}  # req_id -> (leader, writes)
        # Request ids (forwarded batches, read barriers). A leader drops a forwarded batch
        # whose id it has seen from that follower (a duplicated message must not propose the
        # writes twice), so a restarted follower must not reuse its last run's ids: drivers
        # start the count at a random point of a 2^62 space.
        self._ids = itertools.count(first_id)
        self._forwards_seen: dict[int, tuple[deque[int], set[int]]] = {}  # follower -> recent req_ids
        self._early: dict[int, bool] = {}  # Ready number -> applied during its write
        self._snapshotting = False  # a snapshot is being captured, encoded or stored
        self._encoded: SaveSnapshot | None = None  # waiting to be stored
        self._slow_reads: list[_Reads] = []  # servable, waiting for background work
        self._reading = False  # background work reads the machines: no apply meanwhile
        self._deferred: deque[Ready] = deque()  # Readies carried out but for their apply step, in order
        self.more_work = False  # applies were left for the next turn (APPLY_SLICE_S): step again soon
        self.on_ready: Callable[[Ready], None] | None = None  # sees every Ready first (the simulator's checks)

    @classmethod
    def for_host(
        cls,
        host: NodeHost,
        *,
        send: Callable[[object], None] = lambda msg: None,
        wall_ms: Callable[[], int] = lambda: 0,
        pipeline_machines: Iterable[str] = (),
    ) -> NodeCore:
        """A core over a host whose peers have no client addresses (no -MOVED): for tools
        and tests that drive a node synchronously, with run_ready()."""
        members = tuple(sorted(host.membership.ids() | {host.node_id}))
        incarnations = Incarnations(host.node_id, host.store, host.engine)
        return cls(
            CoreConfig(host.node_id, members, {}),
            host,
            incarnations,
            send=send,
            clock=lambda: 0.0,
            wall_ms=wall_ms,
            pipeline_machines=pipeline_machines,
        )

    # --- inputs ------------------------------------------------------------------------
    def receive(self, msg) -> None:
        """A peer message (engine, forwarding, incarnations), stepped at the next step()."""
        self._inbox.append(msg)

    def tick(self, count: int = 1) -> None:
        self._ticks += count

    def submit_batch(self, writes: Sequence[tuple[str, bytes]], answers: Answers) -> bool:
        """Writes, each (machine, command), in order: proposed here on the leader, forwarded
        to it from a follower, or -MOVED in redirect mode. Returns whether any was queued
        (the others are answered already)."""
        if self.removed:
            return _refuse_all(answers, len(writes))
        serves, max_bytes = self.host.serves, self.config.max_entry_bytes
        items: list[Proposal] = []
        for slot, (machine, command) in enumerate(writes):
            if len(command) > max_bytes:
                answers.set(slot, EntryTooLarge(len(command), max_bytes))
            elif serves(machine):
                items.append((slot, machine, command))
            else:
                answers.set(slot, no_machine(machine))
        if items:
            self._writes.append(_Writes(answers, items))
        return bool(items)

    def submit_pipeline(self, requests: Sequence[tuple[str, bytes, bool]], answers: Answers) -> bool:
        """A burst of writes AND reads, each (machine, command, write), of pipeline_machines,
        as few pipeline entries as PIPELINE_ENTRY_BYTES allows (usually one): one proposal
        and one wait, on a follower too (the entries are forwarded like any write). Each read
        runs at apply right after the writes before it: Redis' order and read-your-writes, and
        linearizable, because the log orders it (which satisfies every weaker read level too).
        As in EXEC, reads past REPLY_BYTES_MAX of one entry's replies are not run
        (transactions.py). A read above PIPELINE_ENTRY_BYTES is refused (frontends send
        those through read_batch as slow)."""
        if self.removed:
            return _refuse_all(answers, len(requests))
        shared, max_bytes = self.pipeline_machines, self.config.max_entry_bytes
        items: list[Proposal] = []
        run: list[tuple[int, str, bytes, bool]] = []  # the entry being filled
        size = 0
        for slot, (machine, command, write) in enumerate(requests):
            limit = max_bytes if write else pipeline.PIPELINE_ENTRY_BYTES
            if len(command) > limit:
                answers.set(slot, EntryTooLarge(len(command), limit))
                continue
            if machine not in shared:
                answers.set(
                    slot,
                    no_machine(machine)
                    if not self.host.serves(machine)
                    else RequestError(f"ERR state machine '{machine}' does not take pipeline entries"),
                )
                continue
            step = step_bytes(machine, command)
            if run and size + step > pipeline.PIPELINE_ENTRY_BYTES:
                items.append(group_mixed(run))
                run, size = [], 0
            run.append((slot, machine, command, write))
            size += step
        if run:
            items.append(group_mixed(run))
        if items:
            self._writes.append(_Writes(answers, items))
        return bool(items)

    def read_batch(
        self,
        reads: Sequence[tuple[str, bytes]],
        consistency: ReadConsistency,
        answers: Answers,
        min_index: int = 0,
        slow: bool = False,
    ) -> None:
        """Reads, each (machine, request), at `consistency`, with at least min_index applied.
        Linearizable reads that arrive together share one read barrier; so do lease reads
        (the engine answers those from its lease when it holds one). Sequential and stale
        reads are served here, at once or once min_index is applied."""
        if self.removed and consistency is not ReadConsistency.STALE:
            _refuse_all(answers, len(reads))
            return
        batch = _Reads(answers, list(reads), min_index, consistency, slow)
        if consistency in _BARRIER_LEVELS:
            self._reads[consistency].append(batch)
        elif consistency is ReadConsistency.SEQUENTIAL and min_index > self.host.applied:
            self._applied_waits.append(batch)
        else:
            self._serve(batch)

    def housekeeping(self) -> None:
        """On the leader, propose what machines ask for (expiry decided through the log).
        The runtime calls this every HOUSEKEEPING_MS; nobody waits for the answers."""
        if self.host.role != Role.LEADER:
            return
        self._promote_learners()
        now_ms = self._wall_ms()
        for name, machine in self.host.machines.items():
            if not isinstance(machine, Housekeeping):
                continue
            commands = [(name, command) for command in machine.housekeeping(now_ms)]
            if commands:
                self.submit_batch(commands, _Unwatched(self._clock()))

    def greeting(self, peer: int) -> tuple[Incarnation]:
        """What a new outgoing link to `peer` carries first (replicator/incarnations.py)."""
        return (Incarnation(self.node_id, peer, self.host.store.incarnation),)

    def peer_unreachable(self, peer: int) -> None:
        self.host.engine.report_unreachable(peer)

    # --- one batch of inputs -------------------------------------------------------------
    def step(self) -> None:
        """Step every queued input into the engine: peer messages first, then the ticks
        that accumulated with them (module docstring), then writes and read barriers."""
        engine = self.host.engine
        inbox, self._inbox = self._inbox, deque()
        for msg in inbox:
            cls = msg.__class__
            if cls is ForwardRequest or cls is ForwardReply:
                if msg.dst != self.node_id or msg.src == self.node_id or msg.src not in self._members:
                    continue  # misrouted, or from a stranger or from ourselves: no member sends that
                if cls is ForwardRequest:
                    self._on_forward_request(msg)
                else:
                    self._on_forward_reply(msg)
            elif cls is Incarnation:  # recorded before the peer's next message is stepped
                if is_incarnation(msg.incarnation):  # else forged: the store keeps a u64
                    self._on_incarnation(msg)
            elif cls is CaughtUp:
                if msg.peer not in self._members or not is_incarnation(msg.incarnation):
                    continue  # forged: a stranger's disk, or an id no store holds
                # The node the engine follows, synced with it or not (the soft state names a
                # leader only from UPTODATE on, and this word may come just before that).
                if self.incarnations.caught_up(msg, self.host.engine.leader):
                    log.info(
                        "node %d has caught up after losing its data (says leader %d): its votes count again",
                        msg.peer,
                        msg.src,
                    )
            else:
                engine.step(msg)
        ticks, self._ticks = self._ticks, 0
        for _ in range(ticks):
            engine.tick()
        self._tick_count += ticks
        incarnations = self.incarnations
        # Cleared only by a node that reports itself leader, which can vouch at once: a ZAB
        # leader still synchronizing its quorum cannot (not LEADER yet), and would otherwise
        # leave the others to wait for the periodic vouch.
        if incarnations.suspecting and self.host.role == Role.LEADER:
            for peer in incarnations.sync_cleared():
                log.info("node %d has caught up after losing its data: its votes count again", peer)
                self._vouch()
        if ticks:
            self._vouch(only_new=self._tick_count % VOUCH_EVERY_TICKS >= ticks)
        if self._writes:
            writes, self._writes = self._writes, deque()
            now = self._clock()
            for batch in writes:
                if now < batch.answers.deadline:  # else its caller has stopped waiting
                    self._dispatch_writes(batch)
        self._start_barriers()
        if ticks:
            self._retry_barriers()
        self._follow_membership()

    # --- the Ready cycle (protocol/ready.py), written once ---------------------------------------
    def next_write(self) -> Ready | None:
        """Carry out every Ready that needs no durable write; return the first that does,
        with its messages sent (step 1). The caller writes it (host.persist), may call
        apply_during_write meanwhile, then written() and finish()."""
        host = self.host
        while (rd := host.take_ready()) is not None:
            if self.on_ready is not None:
                self.on_ready(rd)
            self._send_all(rd.messages)
            if rd.must_sync:
                return rd
            out = self._apply(rd)
            self._send_all(rd.messages_after_persist)
            self._finish(host.complete(rd, out))
        return None

    def apply_during_write(self, rd: Ready) -> None:
        """Apply the Ready's committed entries, and answer their clients, while its write is
        under way (ready.py, step 4): committed means durable on a quorum already. Not for a
        Ready that installs a snapshot, which must be durable first."""
        if rd.snapshot is not None:
            return
        out = self._apply(rd)
        self._resolve(out.results)
        self._early[rd.number] = True

    def written(self, rd: Ready) -> None:
        """The Ready's durable write is done: step 3, the messages that had to wait for it."""
        self._send_all(rd.messages_after_persist)

    def finish(self, rd: Ready) -> None:
        """Steps 4-7: apply (unless done during the write), release reads, advance."""
        if self._early.pop(rd.number, False):
            out = Outcome()
        else:
            out = self._apply(rd)
            if rd.snapshot is not None:
                self.observer.snapshot_installed(rd.snapshot.meta.index, rd.snapshot.meta.size_bytes)
        self._finish(self.host.complete(rd, out))

    def run_ready(self) -> bool:
        """One whole cycle for a synchronous driver (tests, convert): the write in line.
        Returns whether there was a Ready to carry out."""
        rd = self.next_write()
        if rd is None:
            return False
        self.host.persist(rd)
        self.written(rd)
        self.finish(rd)
        return True

    def crashed_mid_ready(self, rd: Ready) -> None:
        """The simulator's crash inside a cycle: forget what this Ready started."""
        self._early.pop(rd.number, None)

    # --- background work between Ready cycles ---------------------------------------------------
    @property
    def background_due(self) -> bool:
        """Whether background_work() would do or start something now (a cheap check that a
        driver makes after a turn it ran outside its engine task)."""
        if not self._reading and (self._deferred or self._slow_reads):
            return True
        if self._encoded is not None:
            return True
        return self._snapshot_startable()

    def _snapshot_startable(self) -> bool:
        """A snapshot is due and nothing it would race with is under way."""
        return not (self._snapshotting or self._reading or self._deferred) and self.host.snapshot_due()

    def background_work(self) -> list[SlowReads | CaptureSnapshot | SaveSnapshot]:
        """What to start now that no Ready is in flight: applies held back are caught up
        first (here, in slices), then queued slow reads go out, then snapshot work."""
        work: list[SlowReads | CaptureSnapshot | SaveSnapshot] = []
        if not self._reading:
            if self._deferred:
                self._apply_deferred()
            if self._slow_reads and not self._deferred:
                batches, self._slow_reads = self._slow_reads, []
                self._reading = True
                work.append(SlowReads(batches, self.host.applied, self._wall_ms(), self._query))
        if self._encoded is not None:
            work.append(self._encoded)
            self._encoded = None
        elif self._snapshot_startable():
            self._snapshotting = self._reading = True
            work.append(CaptureSnapshot(self._clock()))
        return work

    def slow_reads_done(self, job: SlowReads, answers: list[list] | None) -> None:
        """The slow reads' results (None: the work failed; every slot gets an error)."""
        self._reading = False
        for index, batch in enumerate(job.batches):
            results = answers[index] if answers is not None else None
            for slot in range(len(batch.items)):
                value = results[slot] if results is not None else ReplyError("ERR read failed on this node")
                batch.answers.set(slot, value, job.applied)

    def snapshot_captured(self, ok: bool = True) -> None:
        """The capture is done (applies may go on); not ok: it failed and is tried again later."""
        self._reading = False
        if not ok:
            self._snapshotting = False

    def snapshot_encoded(self, snapshot: Snapshot, started: float) -> None:
        self._encoded = SaveSnapshot(snapshot, started)

    def snapshot_saved(self, job: SaveSnapshot) -> None:
        self._snapshotting = False
        meta = job.snapshot.meta
        log.info("snapshot taken at index %d (%d bytes)", meta.index, meta.size_bytes)
        self.observer.snapshot_taken(meta.index, meta.size_bytes, self._clock() - job.started)

    # --- writes ---------------------------------------------------------------------------------
    def _dispatch_writes(self, batch: _Writes) -> None:
        host = self.host
        if host.role == Role.LEADER:
            rest = self._propose_all(batch.items, batch.answers)
            if rest:  # e.g. a transfer is under way: wait for the next leader
                self._writes.append(_Writes(batch.answers, rest))
            return
        leader = host.leader
        if leader is None or leader == self.node_id:
            self._writes.append(batch)  # retried once a leader is known
        elif self.config.write_mode == "redirect" and leader in self._resp:
            moved = Moved(leader, *self._resp[leader])
            for slot, _, _ in batch.items:
                answer(batch.answers, slot, moved)
        else:
            self.observer.forwarded(len(batch.items))
            for part in forward_parts(batch.items):
                req_id = next(self._ids)
                self._forwarded[req_id] = (leader, _Writes(batch.answers, part))
                machines = tuple(machine for _, machine, _ in part)
                commands = tuple(command for _, _, command in part)
                self._send_one(ForwardRequest(self.node_id, leader, req_id, machines, commands))

    def _propose_all(self, items: list[Proposal], batch: Answers) -> list[Proposal]:
        """Propose items in order (consecutive writes of pipeline machines share entries),
        answered to their slots of `batch`; the proposals the engine refused (NotLeader)."""
        propose, proposed, ts = self.host.propose, self._proposed, self._wall_ms()
        grouped = group_writes(items, self._pipeline_entries)
        for position, (slot, machine, command) in enumerate(grouped):
            try:
                if machine == MEMBERSHIP and self._hand_over_before(command):
                    return grouped[position:]  # the next leader takes it (forwarded)
                seq, _ = propose(machine, command, ts)
            except NotLeader:
                return grouped[position:]
            except MembershipChangeRefused as refused:
                answer(batch, slot, ReplyError(f"ERR {refused}"))
                continue
            proposed[seq] = (batch, slot)
        return []

    # --- membership -------------------------------------------------------------------------------
    def _hand_over_before(self, command: bytes) -> bool:
        """A leader asked to remove itself hands leadership to the most caught-up voter
        first (the change then goes to the new leader): leaving while leading would stall
        writes until an election. True while that transfer is under way."""
        try:
            change = decode_change(command)
        except MembershipChangeRefused:
            return False
        engine = self.host.engine
        if change.op != REMOVE or change.id != self.node_id or self.node_id not in engine.configs.latest.voters:
            return False
        progress = engine.status().progress
        others = [v for v in engine.configs.latest.voters if v != self.node_id and v in progress]
        if not others:
            return False  # the last voter: changed_membership refuses it
        engine.transfer_leadership(max(others, key=lambda v: progress[v].match))
        return True

    def _follow_membership(self) -> None:
        """The engine's configuration changed (an append, a truncation, a snapshot)."""
        latest = self.host.membership_in_force()
        if latest is self._membership:
            return
        before, self._membership = self._membership, latest
        self._members = before.ids() | latest.ids() | {self.node_id}
        removed = self.node_id not in latest.ids()
        if removed and not self.removed:
            log.warning("this node was removed from the cluster: it serves no clients now; stop it")
        self.removed = removed
        for member in latest.members:
            address = address_of(member.resp)
            if address is not None:
                self._resp[member.id] = address
        log.info("membership: %s", ", ".join(f"{m.id} {m.role}" for m in latest.members))
        self.observer.membership_changed(latest)
        if self.on_members_changed is not None:
            self.on_members_changed(latest)

    def _promote_learners(self) -> None:
        """Leader: propose learners that have caught up as voters (one at a time: the
        engine refuses a second change while one is pending; the next round retries)."""
        engine = self.host.engine
        latest = engine.configs.latest
        if not any(m.role == MemberRole.LEARNER for m in latest.members) or engine.configs.pending(
            engine.log.committed
        ):
            return
        status = engine.status()
        ready = promotable(latest, {p: pr.match for p, pr in status.progress.items()}, status.last_index)
        if ready:
            change = MemberChange(PROMOTE, ready[0]).encode()
            self.submit_batch([(MEMBERSHIP, change)], _Unwatched(self._clock()))

    @property
    def membership(self) -> Membership:
        """The configuration in force here (the newest in this node's log)."""
        return self._membership

    def _on_forward_request(self, msg: ForwardRequest) -> None:
        if len(msg.machines) != len(msg.commands) or not msg.commands:
            return  # malformed: nothing to answer
        if self._seen_before(msg):
            return  # a copy: the first one is (or was) answered
        batch = ForwardedBatch(msg, self._answer_forwarded, self._clock())
        items: list[Proposal] = []
        max_bytes = self.config.max_entry_bytes
        for slot, (machine, command) in enumerate(zip(msg.machines, msg.commands)):
            if len(command) > max_bytes:  # the follower's limit may be another (its config)
                batch.set(slot, EntryTooLarge(len(command), max_bytes))
            elif self.host.serves(machine):
                items.append((slot, machine, command))
            else:
                batch.set(slot, no_machine(machine))
        rest = items if self.host.role != Role.LEADER else self._propose_all(items, batch)
        for slot, _, _ in rest:
            for one in slot if slot.__class__ is tuple else (slot,):
                batch.not_proposed(one)

    def _seen_before(self, msg: ForwardRequest) -> bool:
        """Whether this follower sent this request id before (recording it if not). TCP
        neither duplicates nor reorders, but a reconnect may resend what was in flight, and
        the simulator's network does both: proposing a copy would apply a write twice."""
        seen = self._forwards_seen.get(msg.src)
        if seen is None:
            seen = self._forwards_seen[msg.src] = (deque(), set())
        order, ids = seen
        if msg.req_id in ids:
            return True
        order.append(msg.req_id)
        ids.add(msg.req_id)
        if len(order) > FORWARDS_REMEMBERED:
            ids.discard(order.popleft())
        return False

    def _answer_forwarded(self, batch: ForwardedBatch) -> None:
        self._send_one(
            ForwardReply(
                self.node_id,
                batch.node,
                batch.req_id,
                tuple(batch.results),
                tuple(batch.errors),
                tuple(batch.retry),
                tuple(batch.indexes),
            )
        )

    def _on_forward_reply(self, msg: ForwardReply) -> None:
        entry = self._forwarded.get(msg.req_id)
        if entry is None or entry[0] != msg.src:
            return  # already failed (leader change) or timed out; or not from whom we asked
        del self._forwarded[msg.req_id]
        _, batch = entry
        items, answers = batch.items, batch.answers
        if len(msg.results) != len(items) or len(msg.errors) != len(items):
            self._fail_forwarded(batch, "leader sent a malformed reply")
            return
        retry = set(msg.retry)
        again = []
        now = self._clock()
        for position, item in enumerate(items):
            slot = item[0]
            if position in retry:
                again.append(item)  # not proposed there: try again once we know the leader
            elif msg.errors[position]:
                answer(answers, slot, RequestError(msg.errors[position]))
                self.observer.write_done(now - answers.started, "unknown")
            else:
                try:
                    result = decode_result(msg.results[position])
                except CodecError as exc:
                    answer(answers, slot, OutcomeUnknown(f"leader sent an unreadable result ({exc})"))
                    continue
                answer(answers, slot, result, msg.indexes[position] if position < len(msg.indexes) else 0)
                self.observer.write_done(now - answers.started, "error" if isinstance(result, ReplyError) else "ok")
        if again:
            self._writes.append(_Writes(answers, again))

    def _fail_forwarded(self, batch: _Writes, why: str) -> None:
        error = OutcomeUnknown(why)
        for slot, _, _ in batch.items:
            answer(batch.answers, slot, error)
        self.observer.write_done(self._clock() - batch.answers.started, "unknown", len(batch.items))

    # --- reads ----------------------------------------------------------------------------------
    def _start_barriers(self) -> None:
        for level, waiting in self._reads.items():
            if waiting:
                self._start_barrier(level, waiting)

    def _start_barrier(self, level: ReadConsistency, waiting: list[_Reads]) -> None:
        ctx = next(self._ids)
        try:
            self.host.read_index(ctx, lease=level is ReadConsistency.LEASE)
        except NotLeader:
            return  # no leader yet: the reads wait in the queue (their deadline bounds it)
        now = self._clock()
        batches = [r for r in waiting if now < r.answers.deadline]
        waiting.clear()
        self._barriers[ctx] = (self._tick_count, level, batches)
        if batches:
            self.observer.read_barrier(level.value, sum(len(b.items) for b in batches))

    def _retry_barriers(self) -> None:
        """Barriers unanswered for a while (lost messages, leader change) start again."""
        stale = [
            ctx for ctx, (issued, _, _) in self._barriers.items() if self._tick_count - issued >= BARRIER_RETRY_TICKS
        ]
        for ctx in stale:
            _, level, batches = self._barriers.pop(ctx)
            self._reads[level].extend(batches)
        if stale:
            self._start_barriers()

    def _serve(self, batch: _Reads) -> None:
        """Answer a servable batch: here, or (slow) queued for background work."""
        if batch.slow:
            self._slow_reads.append(batch)
            return
        answers, applied = batch.answers, self.host.applied
        for slot, result in enumerate(self._query(batch.items, self._wall_ms())):
            answers.set(slot, result, applied)

    def _query(self, items: list[tuple[str, bytes]], now_ms: int) -> list[Result | RequestError]:
        """Each read's Result. Runs on the driver's task, or as background work while
        nothing is applied (`_reading`)."""
        host, results = self.host, []
        for machine, request in items:
            if not host.serves(machine):
                results.append(no_machine(machine))
                continue
            try:
                results.append(host.query(machine, request, now_ms))
            except Exception as exc:  # a machine bug must not take the node down
                log.exception("state machine %s raised in query", machine)
                results.append(ReplyError(f"ERR state machine error: {exc}"))
        return results

    # --- apply, or hold it back while background work reads --------------------------------------
    def _apply(self, rd: Ready) -> Outcome:
        """Step 4 of the Ready (ready.py), unless background work is reading or earlier
        Readies wait already: then the Ready joins `_deferred` (in order) and its results
        come from _apply_deferred. The engine has advanced past it meanwhile; only this
        node's machines (and host.applied, which read barriers and snapshots go by) lag."""
        if self._reading or self._deferred:
            if rd.committed or rd.snapshot is not None:
                self._deferred.append(rd)
            return Outcome()
        return self.host.apply(rd)

    def _apply_deferred(self) -> None:
        """Apply Readies held back during slow reads, then release what they made
        servable. A second of writes held back takes a while to apply: at most
        APPLY_SLICE_S of it per turn, so the catching up does not become a stall of its own."""
        host, out, deferred = self.host, Outcome(), self._deferred
        until = self._clock() + APPLY_SLICE_S
        self.more_work = False
        while deferred:
            out.results += host.apply(deferred.popleft()).results
            if deferred and self._clock() >= until:
                self.more_work = True  # the rest on the next turn, after other tasks had theirs
                break
        out.reads = host.servable_reads()
        out.applied = host.applied
        self._finish(out)

    # --- what a finished Ready released -----------------------------------------------------------
    def _finish(self, out: Outcome) -> None:
        self._follow_membership()
        if out.results:
            self._resolve(out.results)
        for seq in out.lost:
            self._lose(self._proposed.pop(seq, None), "leadership was lost before the write committed")
        for ctx in out.reads:
            _, _, batches = self._barriers.pop(ctx, (0, None, ()))
            for batch in batches:
                self._serve(batch)
        if self._applied_waits:
            ready = [r for r in self._applied_waits if r.min_index <= out.applied]
            if ready:
                self._applied_waits = [r for r in self._applied_waits if r.min_index > out.applied]
                for batch in ready:
                    self._serve(batch)
        if out.soft_state is not None:
            soft = out.soft_state
            log.info("role %s, leader %s, epoch %d", soft.role.value, soft.leader, soft.epoch)
            self.observer.role_changed(soft.role, soft.leader, soft.epoch)
            self._told.clear()
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
            for slot, value in slot_answers(slots, result):
                batch.set(slot, value, index)
                if batch.__class__ is not ForwardedBatch:
                    key = (batch, "error" if isinstance(value, ReplyError) else "ok")
                    done[key] = done.get(key, 0) + 1
        if done:
            now = self._clock()
            for (batch, outcome), writes in done.items():
                self.observer.write_done(now - batch.started, outcome, writes)

    def _lose(self, target, why: str) -> None:
        if target is None:
            return
        batch, slots = target
        error = OutcomeUnknown(why)
        writes = 0
        for slot, value in slot_answers(slots, error):
            batch.set(slot, value)
            writes += 1
        if batch.__class__ is not ForwardedBatch:
            self.observer.write_done(self._clock() - batch.started, "unknown", writes)

    def _on_leader_change(self, leader: int | None) -> None:
        # Writes forwarded to a node that another leader has replaced may have been lost
        # with it. Not when we merely lost sight of a leader (leader None: we went looking,
        # or are between elections): the old leader may still answer, and if it does not,
        # the client's deadline ends the wait.
        if leader is not None:
            for req_id, (target, batch) in list(self._forwarded.items()):
                if target != leader:
                    del self._forwarded[req_id]
                    self._fail_forwarded(batch, f"leader {target} changed before answering")
        for ctx in list(self._barriers):  # barriers of the old leader will not be answered
            _, level, batches = self._barriers.pop(ctx)
            self._reads[level].extend(batches)

    # --- lost disks -------------------------------------------------------------------------------
    def _vouch(self, only_new: bool = False) -> None:
        """As leader, tell every member which disks hold the log: ours, the peers we saw catch
        up after losing their data, and the peers we saw hold every entry committed before
        our term (replicator/incarnations.py). `only_new`: only what we have not told since
        we lead (each tick, so that members soon know every disk; the whole list goes again
        every VOUCH_EVERY_TICKS, in case a message was lost)."""
        if self.host.role != Role.LEADER:
            return
        vouches = self.incarnations.vouches(self.host.engine.caught_up_peers())
        if only_new:
            vouches = [vouch for vouch in vouches if vouch not in self._told]
        self._told.update(vouches)
        for peer, incarnation in vouches:
            for member in self._members:
                if member not in (self.node_id, peer):
                    self._send_one(CaughtUp(self.node_id, member, peer, incarnation))

    def _on_incarnation(self, msg: Incarnation) -> None:
        lost = self.incarnations.received(msg.src, msg.incarnation, self.host.engine.log.last_index())
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

    def _send_all(self, msgs) -> None:
        send = self._send_one
        for msg in msgs:
            send(msg)


def _refuse_all(answers: Answers, count: int) -> bool:
    for slot in range(count):
        answers.set(slot, Removed())
    return False


class _Unwatched:
    """Answers nobody waits for (housekeeping proposals). Dropped if no leader takes them
    within a few rounds: the next rounds propose the same again."""

    __slots__ = ("started", "deadline")

    def __init__(self, now: float) -> None:
        self.started = now
        self.deadline = now + HOUSEKEEPING_ROUNDS_KEPT * HOUSEKEEPING_MS / 1000

    def set(self, slot: int, value, index: int = 0) -> None:
        pass


def slot_answers(slot: int | tuple[int, ...], result) -> Iterable[tuple[int, object]]:
    """(slot, answer) for one proposal's result: a pipeline entry's (a tuple of slots) is
    its list of step results, one per slot, or an error or result that stands for all."""
    if slot.__class__ is not tuple:
        return ((slot, result),)
    if result.__class__ is not list or len(result) != len(slot):
        result = [result] * len(slot)  # the entry failed as a whole
    return zip(slot, result)


def answer(answers: Answers, slot: int | tuple[int, ...], result, index: int = 0) -> None:
    """Set one item's answer (slot_answers)."""
    for one, value in slot_answers(slot, result):
        answers.set(one, value, index)


def no_machine(name: str) -> RequestError:
    return RequestError(f"ERR no state machine named '{name}'")
