"""NodeHost: the synchronous glue of one node (engine + log store + state machines).

It owns the steps of a Ready that touch the store and the machines - take_ready,
persist, apply, complete (release reads, take the soft state, advance) - and
the proposals' request ids; the ORDER of those steps, and everything about
clients, is the node core's (replicator/core/node.py), which the trio runtime,
the simulator, the engine harnesses and the tests all drive.

Each NORMAL entry names the machine that applies it. The reserved name
TRANSACTIONS names the node itself: such an entry is a transaction over the
other machines (replicator/transactions.py), proposed, forwarded and answered
like any write.

Proposals carry a request id (origin node, sequence number) inside the entry,
so a node recognises its own proposals when they are applied, whatever index
they landed at. When this node stops leading, every proposal still pending is
reported lost: its outcome is unknown (it may yet commit under the new leader),
and callers must say so rather than claim success or failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

import msgspec

from replicator.members import MemberChange, changed_membership, decode_change
from replicator.protocol import Engine
from replicator.protocol.log_store import LogStore, snapshot_chunks
from replicator.protocol.ready import Ready
from replicator.transactions import Transactions, run_command
from replicator.types import (
    MEMBERSHIP,
    Entry,
    EntryKind,
    Membership,
    NodeId,
    NotLeader,
    Payload,
    ReadState,
    Role,
    Snapshot,
    SnapshotMeta,
    SoftState,
)
from statemachines import PUBSUB, TRANSACTIONS, ReplyError, Result, StateMachine, reserved_name
from statemachines.acl import ACL, AclMachine
from statemachines.hooks import has_point_in_time_snapshot

log = logging.getLogger(__name__)
_payload_encoder = msgspec.msgpack.Encoder()
_payload_decoder = msgspec.msgpack.Decoder(Payload)
_NORMAL = EntryKind.NORMAL
_CONFIG = EntryKind.CONFIG
_header_decoder = msgspec.msgpack.Decoder(tuple[str, list[int]])
SNAPSHOT_PART_BYTES = 8 << 20  # a stored snapshot chunk at most: far below the peer frame limit
# A read of TRANSACTIONS (the node itself) with this request returns capture_snapshot()'s
# encoder instead of WATCH's versions: how a backup (frontends/resp/commands/backup.py) takes
# its capture through the read path - after a linearizable barrier, off the event loop while
# applies wait, like any slow read and like the node's own snapshots. 0xc1 is a byte msgpack
# never uses, so no WatchRead is this request.
CAPTURE_SNAPSHOT = b"\xc1capture-snapshot"


@dataclass(slots=True)
class Outcome:
    """What finishing one Ready released, for the driver to hand to its waiters."""

    results: list[tuple[int, int, Result]] = field(default_factory=list)  # (seq, index, result)
    reads: list[int] = field(default_factory=list)  # read contexts that may be served now
    lost: list[int] = field(default_factory=list)  # seqs whose outcome is unknown
    soft_state: SoftState | None = None
    applied: int = 0


class NodeHost:
    def __init__(
        self,
        node_id: NodeId,
        engine: Engine,
        store: LogStore,
        machines: Mapping[str, StateMachine],
        *,
        voters: tuple[NodeId, ...],
        observers: tuple[NodeId, ...] = (),
        snapshot_entries: int = 10_000,
        keep_entries: int = 1_000,
    ) -> None:
        self.node_id = node_id
        self.engine = engine
        self.store = store
        for name in machines:
            if reserved_name(name) and name != ACL:
                raise ValueError(f"state machine name {name!r} is reserved for the node")
        self.machines = dict(machines)
        self.machines.setdefault(ACL, AclMachine())  # the node's ACL users (statemachines/acl.py), on every node
        self.transactions = Transactions(self.machines, published=self._published)
        # Called with the payload of every PUBSUB entry (PUBLISH, SPUBLISH) as it is applied, on
        # the task that applies: the frontend pushes the message to this node's subscribers.
        self.on_published: Callable[[bytes], None] | None = None
        # The configuration as of `applied` (CONFIG entries applied, or the snapshot's): what
        # snapshots record. The one in force is the engine's newest (engine.configs.latest).
        self.membership = engine.configs.committed_config(self._applied_at_start(store))
        if not self.membership.voters:  # an engine that keeps none in its log
            self.membership = Membership.of(voters, observers)
        self.snapshot_entries = snapshot_entries  # take a snapshot after this many applies
        self.keep_entries = keep_entries  # log kept behind a snapshot for slow followers
        self.role = Role.FOLLOWER
        self.leader: NodeId | None = None
        self.epoch = 0
        self._seq = 0
        # seq -> index of proposals made here and not applied yet. A seq alone is not
        # enough: seqs restart with the process, and an entry proposed by an earlier
        # incarnation may commit after a restart. Only (origin, seq, index) all
        # matching makes an applied entry ours.
        self._pending: dict[int, int] = {}
        self._read_states: list[ReadState] = []  # barriers waiting for applied >= index
        meta = store.snapshot_meta()
        self.applied = 0
        self.snapshot_index = 0
        if meta is not None:
            self._restore(meta, snapshot_chunks(store))

    # --- inputs -----------------------------------------------------------
    def propose(self, machine: str, command: bytes, ts_ms: int) -> tuple[int, int]:
        """Propose a command; returns (seq, index). Raises NotLeader, KeyError for a
        machine this node does not serve, or (MEMBERSHIP: `command` is a MemberChange)
        MembershipChangeRefused."""
        if not self.serves(machine):
            raise KeyError(machine)
        seq = self._seq + 1
        if machine == MEMBERSHIP:
            new = self._changed_membership(decode_change(command))
            data = _payload_encoder.encode(Payload(ts_ms, self.node_id, seq, machine, new.encode()))
            index = self.engine.propose_config(data)
        else:
            data = _payload_encoder.encode(Payload(ts_ms, self.node_id, seq, machine, command))
            index = self.engine.propose(data)
        self._seq = seq
        self._pending[seq] = index
        return seq, index

    def serves(self, machine: str) -> bool:
        """Whether proposals and reads may name `machine`: one of ours, TRANSACTIONS, or
        (proposals only) MEMBERSHIP."""
        return machine in self.machines or machine == TRANSACTIONS or machine == PUBSUB or machine == MEMBERSHIP

    @staticmethod
    def _applied_at_start(store: LogStore) -> int:
        meta = store.snapshot_meta()
        return meta.index if meta is not None else 0

    def membership_in_force(self) -> Membership:
        """The newest configuration in the engine's log (in force from its append on); the
        one of this node's start where the engine keeps none in its log."""
        latest = self.engine.configs.latest
        return latest if latest.members else self.membership  # on every step: no tuple built

    def _changed_membership(self, change: MemberChange) -> Membership:
        if self.role != Role.LEADER:
            raise NotLeader(self.leader)
        status = self.engine.status()
        match = {peer: progress.match for peer, progress in status.progress.items()}
        return changed_membership(self.engine.configs.latest, change, match=match, last_index=status.last_index)

    def read_index(self, ctx: int, lease: bool = False) -> None:
        """Start a read barrier (or, lease=True, a lease read where the engine holds a
        lease); its ctx comes back in Outcome.reads. Raises NotLeader."""
        self.engine.read_index(ctx, lease)

    # --- the Ready cycle ----------------------------------------------------
    def take_ready(self) -> Ready | None:
        return self.engine.ready() if self.engine.has_ready() else None

    def persist(self, rd: Ready) -> None:
        """The durable write of step 2 (ready.py); a driver calls it only if rd.must_sync."""
        assert rd.must_sync or not (rd.entries or rd.snapshot), "entries and snapshots must be synced"
        self.store.save(rd)

    def apply(self, rd: Ready) -> Outcome:
        """Step 4 (ready.py): install the snapshot, apply the committed entries. A driver
        may run this while the Ready's write is under way unless the Ready holds a
        snapshot: committed entries are durable on a quorum already."""
        out = Outcome()
        if rd.snapshot is not None and rd.snapshot.meta.index > self.applied:
            self._restore(rd.snapshot.meta, iter(rd.snapshot.chunks))
        if rd.committed:
            self._apply_committed(rd.committed, out.results)
        return out

    def complete(self, rd: Ready, out: Outcome) -> Outcome:
        """Steps 5-7 (ready.py), once the write is done and `apply` has run: release
        reads, take the soft state, advance the engine."""
        self._read_states.extend(rd.read_states)
        out.reads = self.servable_reads()
        if rd.soft_state is not None:
            out.soft_state = rd.soft_state
            if self.role == Role.LEADER and rd.soft_state.role != Role.LEADER:
                out.lost = sorted(self._pending)
                self._pending.clear()
            self.role, self.leader, self.epoch = rd.soft_state.role, rd.soft_state.leader, rd.soft_state.epoch
        self.engine.advance(rd)
        out.applied = self.applied
        return out

    def servable_reads(self) -> list[int]:
        """The read barriers (ctx) whose index is applied now, each returned once. complete()
        calls it; so does a driver that applied committed entries later than complete()."""
        if not self._read_states:
            return []
        applied = self.applied
        ready = [rs.ctx for rs in self._read_states if rs.index <= applied]
        if ready:
            self._read_states = [rs for rs in self._read_states if rs.index > applied]
        return ready

    # --- reads ----------------------------------------------------------------
    def query(self, machine: str, request: bytes, now_ms: int) -> Result:
        if machine == TRANSACTIONS:
            if request == CAPTURE_SNAPSHOT:
                return self.capture_snapshot()  # a backup's capture (see CAPTURE_SNAPSHOT), not a reply
            return self.transactions.query(request, now_ms)  # WATCH's version read
        if machine == PUBSUB:
            return ReplyError("ERR published messages cannot be read")
        return self.machines[machine].query(request, now_ms)

    # --- snapshots ------------------------------------------------------------
    def snapshot_due(self) -> bool:
        return self.applied - self.snapshot_index >= self.snapshot_entries

    def take_snapshot(self) -> Snapshot:
        """Every machine's state at `applied`, encoded (must run on the owning task)."""
        return self.capture_snapshot()()

    def capture_snapshot(self) -> Callable[[], Snapshot]:
        """Capture every machine's state at `applied` now; return the function that
        encodes it into a Snapshot.

        Machines that declare `snapshot_is_point_in_time` copy their state cheaply
        when snapshot() is called and encode it lazily, so the returned function
        may run in a worker thread while this node goes on applying (a large
        keyspace takes seconds to encode). The others are encoded right here.
        """
        members = self.membership
        meta = SnapshotMeta(
            index=self.applied,
            epoch=self.store.term(self.applied),
            voters=members.voters,
            observers=members.non_voters,
            membership=members,
        )
        parts = []
        for name in sorted(self.machines):
            machine = self.machines[name]
            if name == ACL and not machine.holds_state():
                continue  # no ACL user was ever set: snapshots stay as they were without ACL
            chunks = machine.snapshot()
            parts.append((name, chunks if has_point_in_time_snapshot(machine) else list(chunks)))

        def encode() -> Snapshot:
            # Framing: for each machine, a header chunk (name, parts of each of its chunks)
            # then its chunks, each cut into parts of at most SNAPSHOT_PART_BYTES. A machine
            # may make a chunk of any size (kv: one 300 MB string is one chunk), but every
            # stored chunk travels as one peer message, which the frame limit bounds.
            framed = []
            for name, chunks in parts:
                counts, cut = [], []
                for chunk in chunks:
                    pieces = _cut(chunk)
                    counts.append(len(pieces))
                    cut += pieces
                framed.append(_payload_encoder.encode((name, counts)))
                framed += cut
            return Snapshot(replace(meta, chunk_count=len(framed), size_bytes=sum(map(len, framed))), tuple(framed))

        return encode

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store it durably and compact the log, keeping `keep_entries` behind it.
        A snapshot overtaken meanwhile (one received from the leader is newer) is dropped."""
        if snapshot.meta.index <= self.snapshot_index:
            return
        self.store.save_snapshot(snapshot)
        self.snapshot_index = snapshot.meta.index
        compact_to = snapshot.meta.index - self.keep_entries
        if compact_to >= self.store.first_index():
            self.store.compact(compact_to)

    def _restore(self, meta: SnapshotMeta, chunks: Iterator[bytes]) -> None:
        chunks = iter(chunks)
        restored = set()
        for header in chunks:
            name, counts = _header_decoder.decode(header)
            if name not in self.machines:
                raise ValueError(f"snapshot holds state machine {name!r}, which this node does not run")
            own = _joined(chunks, counts)
            self.machines[name].restore(own)
            for _ in own:  # a machine that stopped reading early must not shift the framing
                pass
            restored.add(name)
        for name in self.machines.keys() - restored:
            self.machines[name].restore(())  # a machine absent from the snapshot starts empty
        self.applied = meta.index
        self.snapshot_index = meta.index
        if meta.members().voters:
            self.membership = meta.members()

    def _apply_committed(self, entries: Iterable[Entry], results: list[tuple[int, int, Result]]) -> None:
        """Apply entries in order; the results of this node's own proposals go to `results`.
        The loop every write passes through on every replica: kept to local names."""
        applied, pending, me = self.applied, self._pending, self.node_id
        decode, apply = _payload_decoder.decode, self._apply
        for entry in entries:
            index = entry.index
            if index <= applied:
                continue  # covered by a snapshot installed above
            assert index == applied + 1, (index, applied)
            self.applied = applied = index
            if entry.kind != _NORMAL:
                if entry.kind != _CONFIG:
                    continue
                payload = decode(entry.data)
                result = self._apply_config(payload)
            else:
                payload = decode(entry.data)
                result = apply(index, payload)
            if payload.origin == me and pending.get(payload.seq) == index:
                del pending[payload.seq]
                results.append((payload.seq, index, result))

    def _published(self, payload: bytes) -> None:
        """A PUBLISH applied (an entry, or a step of a transaction): tell the subscriber."""
        if self.on_published is not None:
            try:
                self.on_published(payload)
            except Exception:  # a subscriber's bug must not stop the apply loop
                log.exception("delivering a published message failed")

    def _apply_config(self, payload: Payload) -> Result:
        """A committed configuration: the one snapshots record from now on. Its answer is
        the members, as REPLICATOR.MEMBER LIST shows them."""
        try:
            self.membership = Membership.decode(payload.command)
        except ValueError:
            return ReplyError("ERR not a membership")  # a forged entry: the engines ignored it too
        return [[m.id, m.role, m.peer, m.resp] for m in self.membership.members]

    def _apply(self, index: int, payload: Payload) -> Result:
        if payload.machine == TRANSACTIONS:
            return self.transactions.apply(index, payload.command, payload.ts_ms)
        if payload.machine == PUBSUB:  # a published message: no state, only delivery (on_published)
            self._published(payload.command)
            return None
        return run_command(self.machines, payload.machine, payload.command, True, index, payload.ts_ms)  # a write


def _cut(chunk: bytes) -> list[bytes]:
    if len(chunk) <= SNAPSHOT_PART_BYTES:
        return [chunk]
    view = memoryview(chunk)
    return [bytes(view[at : at + SNAPSHOT_PART_BYTES]) for at in range(0, len(chunk), SNAPSHOT_PART_BYTES)]


def snapshot_machines(chunks: Iterable[bytes]) -> list[str]:
    """The names of the machines whose state a Snapshot's chunks hold, in order (the framing
    of capture_snapshot's encode). Raises ValueError on chunks that are not so framed."""
    names, chunks = [], iter(chunks)
    for header in chunks:
        try:
            name, counts = _header_decoder.decode(header)
        except msgspec.DecodeError as e:
            raise ValueError(f"not a machine's header: {e}") from None
        names.append(name)
        for _ in range(sum(counts)):
            if next(chunks, None) is None:
                raise ValueError(f"the state of machine {name!r} is cut short")
    return names


def _joined(chunks: Iterator[bytes], counts: list[int]) -> Iterable[bytes]:
    """A machine's chunks again, from the parts `encode` cut them into."""
    for count in counts:
        yield next(chunks) if count == 1 else b"".join([next(chunks) for _ in range(count)])
