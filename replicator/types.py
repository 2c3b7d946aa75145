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
    CONFIG = 2  # membership change (reserved: membership is static for now)


class Entry(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One log slot. `epoch` is the Raft term or the ZAB epoch.

    gc=False is safe: an Entry holds only ints and bytes, never a container."""

    index: int
    epoch: int
    data: bytes = b""
    kind: EntryKind = EntryKind.NORMAL
    zxid: int = 0  # ZAB only: epoch << 32 | counter; 0 under Raft


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
