"""ZAB's messages: frozen, slotted dataclasses of msgspec-encodable fields.

Every message has `src` and `dst`; every message between a leader and its
learners carries `epoch`, the leader's epoch (its newEpoch), so a message from
another leadership is recognised and dropped. `MESSAGE_TYPES` maps a stable
wire tag (32..63: ZAB's range, see replicator/codec.py) to each class: never
renumber a tag.

Names follow ZooKeeper's quorum packets (Leader.java): FOLLOWERINFO (and
OBSERVERINFO, here a flag), LEADERINFO, ACKEPOCH, DIFF, TRUNC, SNAP,
NEWLEADER, ACK, UPTODATE, PROPOSAL, COMMIT, INFORM, PING, SYNC; plus the
notification of Fast Leader Election.

Two additions that ZooKeeper gets from TCP: `session` names one registration
of a learner with a leader (FOLLOWERINFO): a nonce per learner incarnation in
the high 32 bits, a counter in the low ones. The leader echoes it in that
registration's sync markers, so a DIFF/TRUNC/NEWLEADER delayed from an
earlier registration is recognised. And positions carry the log index beside
the zxid (the log is keyed by index, see zxid.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from replicator.types import Entry, SnapshotMeta


# --- Fast Leader Election ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Notification:
    """A vote (FastLeaderElection.Notification): `src` proposes `leader`, whose
    last logged entry is (`index`, `zxid`) and whose currentEpoch is
    `peer_epoch`, in election round `election_epoch` (the logical clock).
    `state` is the sender's PeerState (election.py): a FOLLOWING or LEADING
    sender reports the vote that elected its leader.

    (`commit_index`, `config_digest`): the sender's commit index and a digest
    of the configuration committed there (ensemble.config_digest; 0: not
    said). A node whose own newest configuration is still pending, at or below
    that index, with that digest, learns from it that the change committed, as
    ZooKeeper's notifications carry the sender's configuration: else a node
    that missed the commit of a change would wait forever for a quorum of an
    ensemble whose removed members are gone."""

    src: int
    dst: int
    election_epoch: int
    leader: int
    zxid: int
    index: int
    peer_epoch: int
    state: int
    commit_index: int = 0
    config_digest: int = 0


# --- Discovery ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FollowerInfo:
    """Learner -> prospective leader: register, with the learner's acceptedEpoch
    (FOLLOWERINFO; OBSERVERINFO when `observer`)."""

    src: int
    dst: int
    accepted_epoch: int
    session: int
    observer: bool = False


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    """Leader -> learner: the new epoch, max(acceptedEpoch of a quorum) + 1."""

    src: int
    dst: int
    epoch: int
    session: int


@dataclass(frozen=True, slots=True)
class AckEpoch:
    """Learner -> leader, sent once acceptedEpoch = epoch is durable: the
    learner's currentEpoch, last logged position and commit index (which
    tells the leader a point the learner surely shares with it, sync.py).
    `repeat` says the learner had already accepted this epoch from another
    leader: the leader syncs it but does not count it toward the quorum that
    establishes the epoch (ZooKeeper sends currentEpoch -1 for that)."""

    src: int
    dst: int
    epoch: int
    session: int
    current_epoch: int
    last_index: int
    last_epoch: int
    last_zxid: int
    commit: int = 0
    repeat: bool = False


# --- Synchronization -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Diff:
    """Leader -> learner (DIFF): your log up to (`index`, `log_epoch`) is on my
    history; the entries after it follow as Proposals."""

    src: int
    dst: int
    epoch: int
    session: int
    index: int
    log_epoch: int
    zxid: int = 0


@dataclass(frozen=True, slots=True)
class Trunc:
    """Leader -> learner (TRUNC): keep your log up to (`index`, `log_epoch`) and
    drop everything after it; my entries after it follow as Proposals."""

    src: int
    dst: int
    epoch: int
    session: int
    index: int
    log_epoch: int
    zxid: int = 0


@dataclass(frozen=True, slots=True)
class Snap:
    """Leader -> learner (SNAP): chunk `chunk_index` of the snapshot `meta`
    (meta.chunk_count chunks; a snapshot of zero chunks travels as one empty
    message with chunk_index 0). Proposals after meta.index follow once the
    learner holds every chunk."""

    src: int
    dst: int
    epoch: int
    session: int
    meta: SnapshotMeta
    chunk_index: int = 0
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class SnapAck:
    """Learner -> leader, per chunk: the learner holds chunks 0..next_chunk-1 of
    the snapshot at `index`; `reject` says `chunk_index` arrived out of order and
    was dropped. next_chunk == chunk_count means the snapshot is complete."""

    src: int
    dst: int
    epoch: int
    session: int
    index: int
    next_chunk: int = 0
    chunk_index: int = 0
    reject: bool = False


@dataclass(frozen=True, slots=True)
class NewLeader:
    """Leader -> learner (NEWLEADER): once your log holds mine through `index`
    (this epoch's NOOP, zxid epoch << 32), adopt currentEpoch = epoch durably
    and ACK."""

    src: int
    dst: int
    epoch: int
    session: int
    index: int
    zxid: int


@dataclass(frozen=True, slots=True)
class UpToDate:
    """Leader -> learner (UPTODATE): a quorum acked NEWLEADER; serve clients."""

    src: int
    dst: int
    epoch: int
    session: int
    commit: int = 0


# --- Broadcast -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Proposal:
    """Leader -> follower (PROPOSAL): the next entries of the leader's log, in
    zxid order. Many proposals made before one Ready travel as one message."""

    src: int
    dst: int
    epoch: int
    entries: tuple[Entry, ...] = ()


@dataclass(frozen=True, slots=True)
class Ack:
    """Learner -> leader (ACK), sent after the write is durable and only once
    the learner's currentEpoch = epoch is durable (NEWLEADER done): the
    learner holds the leader's log up to `index`. Cumulative: one ACK covers
    every zxid up to it. The first ACK of a registration acks NEWLEADER."""

    src: int
    dst: int
    epoch: int
    session: int
    index: int
    zxid: int = 0


@dataclass(frozen=True, slots=True)
class Commit:
    """Leader -> follower (COMMIT): everything up to `index` is committed."""

    src: int
    dst: int
    epoch: int
    index: int
    zxid: int = 0


@dataclass(frozen=True, slots=True)
class Inform:
    """Leader -> observer (INFORM): committed entries only, with the commit."""

    src: int
    dst: int
    epoch: int
    entries: tuple[Entry, ...] = ()
    commit: int = 0


@dataclass(frozen=True, slots=True)
class Ping:
    """Leader -> learner, every heartbeat_ticks: "I still lead". `round` is the
    heartbeat round, echoed back (read barriers); `commit` the leader's."""

    src: int
    dst: int
    epoch: int
    commit: int = 0
    round: int = 0


@dataclass(frozen=True, slots=True)
class PingAck:
    """Learner -> leader: the round echoed, and `index`, the learner's durable
    position on the leader's log when NEWLEADER is durable (else 0): a lost
    ACK is made good by the next PING."""

    src: int
    dst: int
    epoch: int
    session: int
    round: int = 0
    index: int = 0


# --- Read barrier (ZooKeeper's sync) --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SyncReq:
    """Learner -> leader: a read barrier on behalf of `ctx`."""

    src: int
    dst: int
    epoch: int
    ctx: int


@dataclass(frozen=True, slots=True)
class SyncResp:
    """Leader -> learner: the barrier `ctx` is served once applied >= index."""

    src: int
    dst: int
    epoch: int
    ctx: int
    index: int


# --- Leadership transfer ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Handover:
    """Leader -> every learner, ending a leadership transfer (leader.py,
    Leader.transfer): stop following me and look for a leader now, voting for
    `leader`, which holds our whole log: last entry (`index`, `zxid`), and our
    currentEpoch `epoch`. ZooKeeper has none (its reconfig designates a leader
    instead); this plays Raft's TimeoutNow, sent to every learner so that they
    all vote at once."""

    src: int
    dst: int
    epoch: int
    leader: int
    zxid: int
    index: int


MESSAGE_TYPES: dict[int, type] = {
    32: Notification,
    33: FollowerInfo,
    34: LeaderInfo,
    35: AckEpoch,
    36: Diff,
    37: Trunc,
    38: Snap,
    39: SnapAck,
    40: NewLeader,
    41: Ack,
    42: UpToDate,
    43: Proposal,
    44: Commit,
    45: Inform,
    46: Ping,
    47: PingAck,
    48: SyncReq,
    49: SyncResp,
    50: Handover,
}

Message = (
    Notification
    | FollowerInfo
    | LeaderInfo
    | AckEpoch
    | Diff
    | Trunc
    | Snap
    | SnapAck
    | NewLeader
    | Ack
    | UpToDate
    | Proposal
    | Commit
    | Inform
    | Ping
    | PingAck
    | SyncReq
    | SyncResp
    | Handover
)

__all__ = [
    "MESSAGE_TYPES",
    "Ack",
    "AckEpoch",
    "Commit",
    "Diff",
    "FollowerInfo",
    "Handover",
    "Inform",
    "LeaderInfo",
    "Message",
    "NewLeader",
    "Notification",
    "Ping",
    "PingAck",
    "Proposal",
    "Snap",
    "SnapAck",
    "SyncReq",
    "SyncResp",
    "Trunc",
    "UpToDate",
]
