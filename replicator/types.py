"""Plain data shared by every layer: log entries, snapshots, read states, status.

Nothing here knows which protocol produced it. Both Raft and ZAB key the log by
one contiguous index (1, 2, 3, ...) and stamp every entry with its epoch: the
Raft term, or the ZAB epoch (with the zxid beside it). Storage, the apply path
and the state machines therefore never learn which protocol they serve.

Every type is a frozen, slotted dataclass of msgspec-encodable fields so the
wire codec can carry it without pickle - except Entry, a msgspec Struct: it is
made, stored, sent and decoded once per command, and a Struct is several times
cheaper at each step (built without the frozen dataclass' __setattr__ calls,
sent as a compact array, and untracked by the cyclic GC).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import msgspec

NodeId = int


class EntryKind(enum.IntEnum):
    """What an entry is for; only NORMAL entries reach a state machine."""

    NORMAL = 0  # a client command, applied by the state machine
    NOOP = 1  # written by a new leader to commit earlier terms (Raft §5.4.2)
    CONFIG = 2  # a membership change: a Payload whose command is the new Membership (membership.py)


class Entry(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One log slot. `epoch` is the Raft term or the ZAB epoch.

    gc=False is safe: an Entry holds only ints and bytes, never a container."""

    index: int
    epoch: int
    data: bytes = b""
    kind: EntryKind = EntryKind.NORMAL
    zxid: int = 0  # ZAB only: epoch << 32 | counter; 0 under Raft


class Payload(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """What a NORMAL or CONFIG log entry carries: who proposed it, when, and for which
    machine (TRANSACTIONS: the node's transaction executor; MEMBERSHIP: a CONFIG entry,
    whose command is the encoded new Membership)."""

    ts_ms: int  # the leader's clock when it proposed: the only time apply() may see
    origin: NodeId  # node that proposed it (the leader at the time)
    seq: int  # origin's request sequence number
    machine: str
    command: bytes


MEMBERSHIP = "__membership__"  # the machine name of a CONFIG entry's payload


class MemberRole(enum.StrEnum):
    """VOTER: counts in elections and commits. LEARNER: receives the log, never counts,
    and is promoted to voter once it has caught up. OBSERVER: a learner that stays one."""

    VOTER = "voter"
    LEARNER = "learner"
    OBSERVER = "observer"


class ClusterMember(msgspec.Struct, frozen=True, array_like=True):
    """One member of a configuration, with the addresses its peers and clients use
    ("host:port"; empty in a configuration recovered from a store that predates them,
    where the node's config file supplies them)."""

    id: NodeId
    role: str  # a MemberRole value
    peer: str = ""
    resp: str = ""


class Membership(msgspec.Struct, frozen=True, array_like=True):
    """A cluster configuration: every member, sorted by id. Replicated state: it changes
    only through CONFIG entries, is saved in snapshots, and is recovered from a node's
    own store (protocol/membership.py)."""

    members: tuple[ClusterMember, ...]

    @classmethod
    def of(cls, voters: tuple[NodeId, ...], observers: tuple[NodeId, ...] = ()) -> Membership:
        """A membership without addresses (engine tests, stores that predate addresses)."""
        members = [ClusterMember(v, MemberRole.VOTER) for v in voters]
        members += [ClusterMember(o, MemberRole.OBSERVER) for o in observers]
        return cls(tuple(sorted(members, key=lambda m: m.id)))

    def ids(self) -> frozenset[NodeId]:
        return frozenset(m.id for m in self.members)

    def with_role(self, role: str) -> tuple[NodeId, ...]:
        return tuple(m.id for m in self.members if m.role == role)

    @property
    def voters(self) -> tuple[NodeId, ...]:
        return self.with_role(MemberRole.VOTER)

    @property
    def non_voters(self) -> tuple[NodeId, ...]:
        """Learners and observers: they receive the log and never count."""
        return tuple(m.id for m in self.members if m.role != MemberRole.VOTER)

    def get(self, node_id: NodeId) -> ClusterMember | None:
        for m in self.members:
            if m.id == node_id:
                return m
        return None

    def replace(self, member: ClusterMember) -> Membership:
        """This membership with `member` added, or replacing the one of its id."""
        rest = [m for m in self.members if m.id != member.id]
        return Membership(tuple(sorted([*rest, member], key=lambda m: m.id)))

    def without(self, node_id: NodeId) -> Membership:
        return Membership(tuple(m for m in self.members if m.id != node_id))

    def encode(self) -> bytes:
        return _membership_encoder.encode(self)

    @staticmethod
    def decode(data: bytes) -> Membership:
        """Raises msgspec.DecodeError (a ValueError) on bytes that are not one."""
        return _membership_decoder.decode(data)


_membership_encoder = msgspec.msgpack.Encoder()
_membership_decoder = msgspec.msgpack.Decoder(Membership)
_payload_decoder = msgspec.msgpack.Decoder(Payload)


def config_entry_membership(data: bytes) -> Membership | None:
    """The Membership a CONFIG entry's data carries, or None if it carries none (a
    forged or damaged entry: the engines then keep their configuration)."""
    try:
        payload = _payload_decoder.decode(data)
        if payload.machine != MEMBERSHIP:
            return None
        membership = Membership.decode(payload.command)
    except (msgspec.DecodeError, TypeError, ValueError):
        return None
    return membership if membership.voters else None


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """Where a snapshot sits in the log and who the members were then."""

    index: int  # last log index the snapshot covers
    epoch: int  # epoch (term) of the entry at `index`
    voters: tuple[NodeId, ...] = ()
    observers: tuple[NodeId, ...] = ()
    zxid: int = 0  # ZAB only: zxid of the entry at `index`
    chunk_count: int = 0
    size_bytes: int = 0
    # The configuration in force at `index`, with addresses; None in snapshots taken
    # before configurations were replicated (voters/observers then say who the members were).
    membership: Membership | None = None

    def members(self) -> Membership:
        return self.membership if self.membership is not None else Membership.of(self.voters, self.observers)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A whole snapshot: its position and the state machine's chunks.

    Chunks are kept separate (never joined into one bytes object) so that a
    large state streams through storage and the wire piece by piece.
    """

    meta: SnapshotMeta
    chunks: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadState:
    """A read barrier that became servable: serve `ctx` once applied >= index."""

    ctx: int
    index: int


class Role(enum.Enum):
    """Roles of both protocols; each engine uses its own subset.

    Raft: FOLLOWER, PRE_CANDIDATE, CANDIDATE, LEADER.
    ZAB: LOOKING, FOLLOWER (FOLLOWING), LEADER (LEADING), OBSERVER (OBSERVING).
    """

    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"
    LOOKING = "looking"
    OBSERVER = "observer"


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile role information; a change is reported in Ready.soft_state."""

    role: Role
    leader: NodeId | None
    epoch: int


@dataclass(frozen=True, slots=True)
class PeerProgress:
    """What the leader knows of one peer's log."""

    match: int
    next: int
    state: str  # "probe" | "replicate" | "snapshot" (Raft); ZAB: "sync" | "broadcast"
    recent_active: bool = True


@dataclass(frozen=True, slots=True)
class Status:
    """A snapshot of an engine's state for INFO, metrics and `replicator status`."""

    node_id: NodeId
    role: Role
    leader: NodeId | None
    epoch: int
    commit: int
    applied: int
    first_index: int
    last_index: int
    progress: dict[NodeId, PeerProgress] = field(default_factory=dict)
    extra: dict[str, int | str] = field(default_factory=dict)  # protocol details (zxid, vote...)


class NotLeader(Exception):
    """Raised by Engine.propose / read_index on a node that cannot serve it.

    `leader` is the node this engine believes leads, or None if it knows none.
    """

    def __init__(self, leader: NodeId | None) -> None:
        super().__init__(f"not the leader (leader: {leader})")
        self.leader = leader


class ProposalDropped(NotLeader):
    """Raised by Engine.propose when the leader refuses a command for now: its
    uncommitted entries exceed EngineConfig.max_uncommitted_bytes (etcd's
    ErrProposalDropped). A NotLeader whose `leader` is this node, so a driver
    that retries on NotLeader retries this too, once the followers catch up."""

    def __init__(self, leader: NodeId | None) -> None:
        super().__init__(leader)
        self.args = (f"proposal dropped: too many uncommitted bytes (leader: {leader})",)
