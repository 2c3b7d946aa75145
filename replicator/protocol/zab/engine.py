"""ZabEngine: ZooKeeper Atomic Broadcast as a pure state machine.

Theory of operation
-------------------
Same contract as RaftEngine (replicator/protocol/__init__.py): inputs are
tick(), step(msg), propose(), read_index(), transfer_leadership() and
report_unreachable(); the one output is ready(), acknowledged by advance().
No I/O, no clock; randomness (registration sessions) comes from the injected
`random.Random`. The log is a LogView over the LogStore, keyed by the same
contiguous index as Raft; every entry carries its epoch and its zxid
(epoch << 32 | counter), and TRUNC is "replace the entries from index i on",
so storage never learns the protocol.

A node is LOOKING, FOLLOWING, LEADING or OBSERVING (election.PeerState) and
moves through four phases (ZabPhase):

ELECTION       Fast Leader Election (election.py): votes ordered by
               (currentEpoch, last zxid, server id), a finalize wait, and
               joining a leader that a quorum already follows.
DISCOVERY      Each learner sends FOLLOWERINFO(acceptedEpoch). Once a quorum
               of voters (itself included) reported, the prospective leader
               picks newEpoch = max(acceptedEpoch) + 1 and sends LEADERINFO.
               A learner makes acceptedEpoch = newEpoch durable, then answers
               ACKEPOCH(currentEpoch, last position). A quorum of ACKEPOCHs,
               none of them ahead of the leader, *establishes* the epoch: the
               leader makes currentEpoch durable and appends its NOOP, the
               first entry of the epoch (zxid newEpoch << 32), which plays
               ZooKeeper's NEWLEADER zxid and commits every older entry.
SYNCHRONIZATION  Per learner, choose_sync (sync.py) picks DIFF, TRUNC,
               TRUNC+DIFF or SNAP from its last position; the entries follow
               as PROPOSALs, then NEWLEADER. The learner makes its log and
               currentEpoch = newEpoch durable, then ACKs. When a quorum
               (leader included) ACKed NEWLEADER, the NOOP commits, the
               leader sends UPTODATE and enters
BROADCAST      PROPOSAL -> learner's durable write -> ACK (cumulative) ->
               COMMIT on a quorum, in zxid order through one FIFO stream per
               learner (`_Learner.next`). Observers get INFORM: committed
               entries only.

The soft state reports LEADER only once the epoch is established: at most one
node ever establishes an epoch (each voter acks an epoch to one leader, and
that choice, `accepted_leader`, is durable). Status epochs are acceptedEpoch:
monotonic, and equal on a leader and its synced learners.

Rule 1 - durability before acknowledgement. ACKEPOCH, ACK and the leader's
LEADERINFO and NEWLEADER go to `messages_after_persist`: ACKEPOCH promises
acceptedEpoch, ACK promises the entries and currentEpoch. A learner ACKs
nothing before its NEWLEADER is processed (an ACK counted before currentEpoch
is durable could commit an entry that a node with a higher currentEpoch but
without the entry would later truncate).

Rule 2 - the leader writes in parallel: PROPOSALs go out in `messages` of the
Ready carrying the entries to its own disk; it counts itself in the ACKEPOCH,
NEWLEADER and commit quorums only after advance() of the Ready that made its
own part durable.

Rule 3 - committed entries are never truncated. A learner tracks `synced_to`,
the index through which its log is known to equal the leader's (set by a sync
marker, extended by proposals); it only ever replaces entries after it, and
its commit never passes it.

Rule 4 - batching. propose() only appends; messages are built when the Ready
is taken (`_flush`): many proposals before one ready() go out as one PROPOSAL
per learner (up to max_batch_bytes each, max_inflight_msgs unacknowledged per
learner in BROADCAST) and one COMMIT per batch.

Where ZooKeeper relies on TCP (FIFO, no loss), the network here may lose,
duplicate and reorder. Choices:
* Registration sessions: each FOLLOWERINFO carries a new session (a nonce
  per incarnation, a counter per registration); sync markers
  (DIFF/TRUNC/SNAP/NEWLEADER/UPTODATE) carry it, so a delayed marker of an
  earlier registration is ignored, and so is a delayed FOLLOWERINFO. The
  leader resends a sync that got no NEWLEADER ack for half election_ticks
  (learners keep what they hold: markers count once, entries they have are
  skipped); the learner resends FOLLOWERINFO/ACKEPOCH until the sync starts,
  and registers again as a last resort after election_ticks without progress.
* Proposals are idempotent: entries at or below `synced_to` are skipped,
  entries past synced_to + 1 are a gap and dropped; the leader goes back to
  the last ACKed index when a learner's ACKs stall (TCP's retransmission).
  PINGs are answered with the durable position, so a lost ACK costs nothing.
* A learner refuses LEADERINFO with an epoch below its acceptedEpoch (ZAB);
  a leader that hears FOLLOWERINFO with an acceptedEpoch above its own epoch
  steps down, since that learner can never join it, so that a new election
  picks a higher epoch (ZooKeeper leaves such a learner LOOKING forever).
* Heartbeats: the leader PINGs every heartbeat_ticks. A learner that hears
  nothing valid from its leader for election_ticks goes LOOKING. A leader
  that is not in BROADCAST within 2 * election_ticks (ZooKeeper's initLimit),
  or that in BROADCAST has not heard from a quorum of synced voters within
  election_ticks (syncLimit), goes LOOKING: no leader without a quorum.
* Read barrier (ZooKeeper's sync): read_index on a learner asks the leader
  (SyncReq); the leader takes its commit index once in BROADCAST (so it covers
  every earlier epoch), confirms it still leads with a PING round answered by
  a quorum, and answers. Lease reads are not offered: config.lease_read is
  ignored.
* transfer_leadership is accepted and dropped: ZAB (and ZooKeeper) has no
  leadership transfer; a leader's zxid makes FLE elect it again anyway.
* EngineConfig knobs that are Raft's: pre_vote has no meaning here (FLE
  never bumps a durable epoch by itself: only an established quorum does);
  check_quorum is always on (the syncLimit rule above); lease_read is ignored.
* A learner that registers with the same node again and meets a LEADERINFO
  of another epoch (that node lost and regained leadership meanwhile) goes
  LOOKING: the vote it reports to LOOKING nodes must be that leadership's.
"""

from __future__ import annotations

import enum
import random
import struct
from collections import deque

from replicator.protocol import EngineConfig, drops
from replicator.protocol.drops import DropCounter, valid_number
from replicator.protocol.log import LogView
from replicator.protocol.log_store import Compacted, LogStore, Unavailable
from replicator.protocol.lost_data import LostData
from replicator.protocol.quorum import majority, quorum_index
from replicator.protocol.ready import Ready
from replicator.protocol.zab import sync as zsync
from replicator.protocol.zab.election import Decision, Election, PeerState, Vote
from replicator.protocol.zab.messages import (
    Ack,
    AckEpoch,
    Commit,
    Diff,
    FollowerInfo,
    Inform,
    LeaderInfo,
    NewLeader,
    Notification,
    Ping,
    PingAck,
    Proposal,
    Snap,
    SnapAck,
    SyncReq,
    SyncResp,
    Trunc,
    UpToDate,
)
from replicator.protocol.zab.zxid import (
    EPOCH_SHIFT,
    MAX_COUNTER,
    MAX_EPOCH,
    LogPos,
    make_zxid,
    zxid_counter,
    zxid_epoch,
)
from replicator.types import (
    Entry,
    EntryKind,
    NodeId,
    NotLeader,
    PeerProgress,
    ProposalDropped,
    ReadState,
    Role,
    Snapshot,
    SnapshotMeta,
    SoftState,
    Status,
)

# Hard state: marker 'Z', acceptedEpoch, the leader it was accepted from,
# currentEpoch, commit. The marker keeps a Raft engine from reading it.
_HARD_STATE = struct.Struct(">BQQQQ")
_HARD_STATE_VERSION = 0x5A

SNAPSHOT_WINDOW_CHUNKS = 4  # unacknowledged SNAP chunks per learner
FINALIZE_TICKS = 2  # FLE finalize wait: ticks a quorum's vote waits for a better one


class ZabPhase(enum.Enum):
    ELECTION = "election"
    DISCOVERY = "discovery"
    SYNCHRONIZATION = "synchronization"
    BROADCAST = "broadcast"


_LOOKING = PeerState.LOOKING
_FOLLOWING = PeerState.FOLLOWING
_LEADING = PeerState.LEADING
_OBSERVING = PeerState.OBSERVING
_ELECTION = ZabPhase.ELECTION
_DISCOVERY = ZabPhase.DISCOVERY
_SYNC = ZabPhase.SYNCHRONIZATION
_BROADCAST = ZabPhase.BROADCAST

# Promises of durable state: sent only after the Ready's write (Rule 1).
_AFTER_PERSIST = frozenset({AckEpoch, Ack, LeaderInfo, NewLeader})


# --- messages that cannot be true whatever our state (drops.MALFORMED) ----------------
_SESSION_MAX = (1 << 64) - 1
_PEER_STATES = frozenset(int(state) for state in PeerState)


def _epoch_ok(epoch: int) -> bool:
    return 0 <= epoch <= MAX_EPOCH


def _entries_ok(entries: tuple[Entry, ...], epoch_max: int) -> bool:
    """A leader's entries: contiguous, epochs never decreasing and at most its
    own, each zxid of its entry's epoch and growing within it (primary order)."""
    if not entries:
        return True
    index = entries[0].index - 1
    if index < 0:
        return False
    epoch = 0
    last = -1
    for entry in entries:  # one pass: this runs for every proposal a learner takes
        index += 1
        e = entry.epoch
        zxid = entry.zxid
        if entry.index != index or e < epoch or e > epoch_max or zxid >> EPOCH_SHIFT != e or zxid <= last:
            return False
        epoch = e
        last = zxid
    return True


def _bad_notification(m: Notification) -> bool:
    return not (
        m.state in _PEER_STATES
        and valid_number(m.election_epoch)
        and valid_number(m.leader)
        and valid_number(m.zxid)
        and valid_number(m.index)
        and _epoch_ok(m.peer_epoch)
    )


def _bad_follower_info(m: FollowerInfo) -> bool:
    # An acceptedEpoch of MAX_EPOCH leaves no epoch for any leader to choose.
    return not (0 <= m.accepted_epoch < MAX_EPOCH and 0 <= m.session <= _SESSION_MAX)


def _bad_leader_info(m: LeaderInfo) -> bool:
    return not (1 <= m.epoch <= MAX_EPOCH and 0 <= m.session <= _SESSION_MAX)


def _bad_ack_epoch(m: AckEpoch) -> bool:
    # The learner accepted m.epoch: every epoch it knows is at most that.
    return not (
        _epoch_ok(m.epoch)
        and 0 <= m.session <= _SESSION_MAX
        and 0 <= m.current_epoch <= m.epoch
        and 0 <= m.last_epoch <= m.epoch
        and valid_number(m.last_index)
        and valid_number(m.last_zxid)
        and 0 <= m.commit <= m.last_index
        and (m.last_index > 0 or m.last_epoch == 0)
    )


def _bad_marker(m: Diff | Trunc) -> bool:
    return not (
        _epoch_ok(m.epoch)
        and 0 <= m.session <= _SESSION_MAX
        and valid_number(m.index)
        and 0 <= m.log_epoch <= m.epoch
        and valid_number(m.zxid)
        and (m.index > 0 or m.log_epoch == 0)
    )


def _bad_snap(m: Snap) -> bool:
    meta = m.meta
    count = meta.chunk_count
    return not (
        _epoch_ok(m.epoch)
        and 0 <= m.session <= _SESSION_MAX
        and valid_number(meta.index)
        and 0 <= meta.epoch <= m.epoch
        and valid_number(meta.zxid)
        and valid_number(count)
        and valid_number(meta.size_bytes)
        and (meta.index > 0 or meta.epoch == 0)
        and 0 <= m.chunk_index < max(count, 1)
        and (count > 0 or not m.data)
    )


def _bad_snap_ack(m: SnapAck) -> bool:
    return not (
        _epoch_ok(m.epoch)
        and 0 <= m.session <= _SESSION_MAX
        and valid_number(m.index)
        and valid_number(m.next_chunk)
        and valid_number(m.chunk_index)
    )


def _bad_new_leader(m: NewLeader) -> bool:
    # NEWLEADER names the epoch's NOOP: zxid epoch << 32, at an index >= 1.
    return not (
        1 <= m.epoch <= MAX_EPOCH
        and 0 <= m.session <= _SESSION_MAX
        and 1 <= m.index <= drops.FIELD_MAX
        and m.zxid == make_zxid(m.epoch, 0)
    )


def _bad_ack(m: Ack) -> bool:
    return not (
        _epoch_ok(m.epoch) and 0 <= m.session <= _SESSION_MAX and valid_number(m.index) and valid_number(m.zxid)
    )


def _bad_up_to_date(m: UpToDate) -> bool:
    return not (_epoch_ok(m.epoch) and 0 <= m.session <= _SESSION_MAX and valid_number(m.commit))


def _bad_proposal(m: Proposal) -> bool:
    return not (_epoch_ok(m.epoch) and _entries_ok(m.entries, m.epoch))


def _bad_inform(m: Inform) -> bool:
    return not (_epoch_ok(m.epoch) and valid_number(m.commit) and _entries_ok(m.entries, m.epoch))


def _bad_commit(m: Commit) -> bool:
    return not (_epoch_ok(m.epoch) and valid_number(m.index) and 0 <= m.zxid and zxid_epoch(m.zxid) <= m.epoch)


def _bad_ping(m: Ping) -> bool:
    return not (_epoch_ok(m.epoch) and valid_number(m.commit) and valid_number(m.round))


def _bad_ping_ack(m: PingAck) -> bool:
    return not (
        _epoch_ok(m.epoch) and 0 <= m.session <= _SESSION_MAX and valid_number(m.round) and valid_number(m.index)
    )


def _bad_sync_req(m: SyncReq) -> bool:
    return not _epoch_ok(m.epoch)


def _bad_sync_resp(m: SyncResp) -> bool:
    return not (_epoch_ok(m.epoch) and valid_number(m.index))


_MALFORMED = {
    Notification: _bad_notification,
    FollowerInfo: _bad_follower_info,
    LeaderInfo: _bad_leader_info,
    AckEpoch: _bad_ack_epoch,
    Diff: _bad_marker,
    Trunc: _bad_marker,
    Snap: _bad_snap,
    SnapAck: _bad_snap_ack,
    NewLeader: _bad_new_leader,
    Ack: _bad_ack,
    UpToDate: _bad_up_to_date,
    Proposal: _bad_proposal,
    Inform: _bad_inform,
    Commit: _bad_commit,
    Ping: _bad_ping,
    PingAck: _bad_ping_ack,
    SyncReq: _bad_sync_req,
    SyncResp: _bad_sync_resp,
}


def encode_hard_state(accepted_epoch: int, accepted_leader: int, current_epoch: int, commit: int) -> bytes:
    return _HARD_STATE.pack(_HARD_STATE_VERSION, accepted_epoch, accepted_leader, current_epoch, commit)


def decode_hard_state(data: bytes) -> tuple[int, int, int, int]:
    """(accepted_epoch, accepted_leader, current_epoch, commit) from encode_hard_state."""
    if len(data) != _HARD_STATE.size or data[0] != _HARD_STATE_VERSION:
        raise ValueError(f"not a ZAB hard state: {data!r}")
    _, accepted_epoch, accepted_leader, current_epoch, commit = _HARD_STATE.unpack(data)
    return accepted_epoch, accepted_leader, current_epoch, commit


def committed_index(hard_state: bytes) -> int:
    """The commit index recorded in a ZAB hard state (as written by encode_hard_state)."""
    return decode_hard_state(hard_state)[3]


class _Stage(enum.Enum):
    """Where the leader stands with one learner (ZooKeeper's LearnerHandler)."""

    INFO = "info"  # FOLLOWERINFO received; LEADERINFO sent once the epoch is chosen
    ACKED = "acked"  # ACKEPOCH received; waits for the epoch to be established
    SYNC = "sync"  # sync marker and entries streaming, NEWLEADER sent after them
    BROADCAST = "broadcast"  # NEWLEADER acked: windowed proposals, UPTODATE


class _Learner:
    """The leader's view of one learner (follower or observer)."""

    __slots__ = (
        "id",
        "observer",
        "session",
        "stage",
        "accepted_epoch",
        "info",
        "synced",
        "match",
        "next",
        "marker",
        "sync_marker",
        "sync_from",
        "newleader_sent",
        "uptodate_sent",
        "sent_commit",
        "inflight",
        "stall_ticks",
        "recent_active",
        "acked_round",
        "dirty",
        "snap_meta",
        "snap_store_meta",
        "snap_next",
        "snap_acked",
        "snap_rewind_end",
        "snap_stall_ticks",
    )

    def __init__(self, node: NodeId, observer: bool, session: int, accepted_epoch: int) -> None:
        self.id = node
        self.observer = observer
        self.session = session
        self.stage = _Stage.INFO
        self.accepted_epoch = accepted_epoch
        self.info: AckEpoch | None = None
        self.synced = False  # its currentEpoch = ours is durable (it ACKed): counts in quorums
        self.match = 0  # highest index it holds durably (cumulative ACK)
        self.next = 0  # next index to send (the FIFO stream's head)
        self.marker: Diff | Trunc | None = None  # sync marker to send first
        self.sync_marker: Diff | Trunc | None = None  # ... kept to resend a stalled sync
        self.sync_from = 0  # where the sync stream starts (after the marker or snapshot)
        self.newleader_sent = False
        self.uptodate_sent = False
        self.sent_commit = 0
        self.inflight: deque[int] = deque()  # last index of each unacked PROPOSAL (BROADCAST)
        self.stall_ticks = 0  # ticks without ACK progress (BROADCAST) or since the sync (re)started
        self.recent_active = True
        self.acked_round = 0
        self.dirty = True
        self.snap_meta: SnapshotMeta | None = None  # snapshot being streamed (as sent)
        self.snap_store_meta: SnapshotMeta | None = None  # ... as the store has it
        self.snap_next = 0
        self.snap_acked = 0
        self.snap_rewind_end = 0
        self.snap_stall_ticks = 0

    def __repr__(self) -> str:
        return (
            f"_Learner({self.id}, {self.stage.value}, session={self.session}, match={self.match}, "
            f"next={self.next}, synced={self.synced})"
        )


class _SnapshotReceive:
    """A learner's partly received snapshot: chunks in order, in memory."""

    __slots__ = ("key", "meta", "chunks")

    def __init__(self, key: tuple, meta: SnapshotMeta) -> None:
        self.key = key
        self.meta = meta
        self.chunks: list[bytes] = []


class _LogHistory:
    """The leader's LogView as sync.History."""

    __slots__ = ("_log", "base", "last")

    def __init__(self, log: LogView) -> None:
        self._log = log
        first = log.first_index()
        self.base = LogPos(first - 1, log.term(first - 1))
        self.last = LogPos(log.last_index(), log.last_term())

    def epoch_at(self, index: int) -> int:
        return self._log.term(index)


class ZabEngine:
    """One ZAB node's protocol state. See the module docstring for the rules.

    Public read-only views for tests and status: `id`, `state`, `phase`,
    `leader`, `accepted_epoch`, `current_epoch`, `log` (a LogView).
    """

    def __init__(self, config: EngineConfig, store: LogStore, rng: random.Random) -> None:
        _validate(config)
        self.config = config
        self.id: NodeId = config.node_id
        self.store = store
        self._rng = rng
        self._voters: tuple[NodeId, ...] = tuple(config.voters)
        self._voter_set = frozenset(self._voters)
        self._observers = frozenset(config.observers)
        self._members = self._voter_set | self._observers
        self._peers: tuple[NodeId, ...] = tuple(sorted(self._members - {self.id}))
        self._other_voters: tuple[NodeId, ...] = tuple(v for v in self._voters if v != self.id)
        self._participant = self.id in self._voter_set
        self._quorum = majority(len(self._voters))
        ticks = config.election_ticks
        self._resend_ticks = max(2, ticks // 3)  # FLE notifications, FOLLOWERINFO
        self._stall_ticks = max(2, ticks // 2)  # a learner's ACKs stalled: go back and resend
        self._init_ticks = 2 * ticks  # a leader must reach BROADCAST within this (initLimit)

        # Durable state.
        raw = store.hard_state()
        accepted, accepted_leader, current, commit = decode_hard_state(raw) if raw is not None else (0, 0, 0, 0)
        meta = store.snapshot_meta()
        # The state machine's position proves its entries committed even if the
        # last commit-only hard state write was not synced.
        commit = max(commit, config.applied, meta.index if meta is not None else 0)
        self.log = LogView(store, committed=commit, applied=config.applied)
        self.accepted_epoch = accepted
        self.accepted_leader: NodeId = accepted_leader
        self.current_epoch = current
        hs = (accepted, accepted_leader, current, commit)
        self._hs_handed = hs  # what storage holds or will hold
        self._hs_durable = hs  # what storage holds (advance() of its Ready)

        # Outboxes and Ready bookkeeping.
        self._msgs: list = []
        self._msgs_after: list = []
        self._read_states: list[ReadState] = []
        self._ready_number = 0
        self._soft_handed: tuple | None = None  # the first Ready reports the role

        self._ticks = 0
        self.state = _LOOKING
        self.phase = _ELECTION
        self.leader: NodeId | None = None
        self._election = Election(self.id, self._voters, FINALIZE_TICKS)
        self.lost_data = LostData()  # peers that lost their disk (protocol/lost_data.py)
        self._vote: Vote | None = None  # the vote that decided our last election
        self._vote_round = 0
        self._resend_elapsed = 0
        # Registration sessions: a nonce per incarnation, a counter per registration.
        self._session_nonce = rng.getrandbits(32)
        self._session_seq = 0
        self._leader_handlers = {
            FollowerInfo: self._on_follower_info,
            AckEpoch: self._on_ack_epoch,
            Ack: self._on_ack,
            PingAck: self._on_ping_ack,
            SnapAck: self._on_snap_ack,
            SyncReq: self._on_sync_req,
        }
        self._learner_handlers = {
            LeaderInfo: self._on_leader_info,
            Diff: self._on_marker,
            Trunc: self._on_marker,
            Snap: self._on_snap,
            Proposal: self._on_proposal,
            Inform: self._on_proposal,
            NewLeader: self._on_new_leader,
            UpToDate: self._on_up_to_date,
            Commit: self._on_commit,
            Ping: self._on_ping,
            SyncResp: self._on_sync_resp,
        }
        # Peer messages that could not be true (drops.py), by reason; and how
        # often a learner turned out to have lost entries it had acknowledged.
        self.dropped_messages = DropCounter()
        self.progress_resets = 0
        self._reset_role()
        self._become_looking()

    def __repr__(self) -> str:
        return (
            f"ZabEngine(id={self.id}, {self.state.name}/{self.phase.value}, leader={self.leader}, "
            f"epochs={self.accepted_epoch}/{self.current_epoch}, {self.log!r})"
        )

    # ===================================================================
    # Inputs
    # ===================================================================
    def tick(self) -> None:
        """One logical clock tick."""
        self._ticks += 1
        state = self.state
        if state is _LOOKING:
            self._tick_looking()
        elif state is _LEADING:
            self._tick_leader()
        else:
            self._tick_learner()

    def step(self, msg) -> None:
        """Advance by one peer message. Effects appear in the next ready().

        A message that cannot be true (drops.py) is dropped and counted in
        `dropped_messages`; nothing a peer sends raises."""
        problem = drops.misaddressed(msg, self.id, self._members)
        if problem is not None:
            self._drop(problem)
            return
        kind = type(msg)
        malformed = _MALFORMED.get(kind)
        if malformed is not None and malformed(msg):
            self._drop(drops.MALFORMED)
            return
        if kind is Notification:
            self._on_notification(msg)
            return
        state = self.state
        if state is _LEADING:
            handler = self._leader_handlers.get(kind)
        elif state is _LOOKING:
            return  # nobody to listen to until the election is over
        else:
            handler = self._learner_handlers.get(kind)
        if handler is not None:
            handler(msg)
            if self.lost_data:
                self._lost_data_shown(msg)

    def _lost_data_shown(self, msg) -> None:
        if self.state is _LEADING:
            lr = self._learners.get(msg.src)
            if lr is not None and lr.synced:
                self.lost_data.showed(msg.src, lr.match)

    def peer_lost_data(self, peer: NodeId, until_index: int) -> None:
        """`peer` came back without its disk (a new incarnation): do not count its FLE
        votes until it has shown a leader that it holds the log up to `until_index`.
        A leader needs no reset: the peer's next FOLLOWERINFO (lastZxid 0) starts a
        new sync."""
        if peer != self.id and peer in self._members:
            self.lost_data.mark(peer, until_index)

    def propose(self, data: bytes) -> int:
        """Append a client command; return its log index.

        Only an established leader in BROADCAST accepts (ZooKeeper serves
        writes after UPTODATE). Raises NotLeader with the leader we know (this
        node itself while it is still synchronizing a quorum), and
        ProposalDropped when too much is uncommitted.
        """
        if self.state is not _LEADING or self.phase is not _BROADCAST:
            raise NotLeader(self._leader_hint())
        size = len(data)
        uncommitted = self._uncommitted_bytes
        if uncommitted and uncommitted + size > self.config.max_uncommitted_bytes:
            raise ProposalDropped(self.id)
        counter = self._counter + 1
        if counter > MAX_COUNTER:
            # ZooKeeper: the zxid counter would wrap; a new epoch starts it over.
            self._become_looking()
            raise NotLeader(None)
        self._uncommitted_bytes = uncommitted + size
        log = self.log
        index = log.last_index() + 1
        epoch = self.current_epoch
        log.append(Entry(index, epoch, data, EntryKind.NORMAL, make_zxid(epoch, counter)))
        self._counter = counter
        self._bcast = True
        return index

    def read_index(self, ctx: int) -> None:
        """Ask for a linearizable read point for `ctx` (ZooKeeper's sync).

        Answered by ReadState(ctx, index) in a later Ready. A learner asks its
        leader. Raises NotLeader when no leader is known. A barrier that
        cannot complete (leadership lost, message lost) is dropped: callers
        use deadlines.
        """
        state = self.state
        if state is _LEADING:
            self._leader_read(None, ctx)
            return
        if state is _LOOKING or self.leader is None:
            raise NotLeader(None)
        epoch = self._leader_epoch if self._leader_epoch is not None else self.accepted_epoch
        self._send(SyncReq(self.id, self.leader, epoch, ctx))

    def transfer_leadership(self, to: NodeId) -> None:
        """Not supported by ZAB: the request is accepted and dropped (ZooKeeper
        has no leadership transfer; FLE would re-elect the node with the
        highest zxid, usually the current leader). Callers watch
        Ready.soft_state with a deadline, as for a Raft transfer that does
        not finish. Raises ValueError if `to` is not a voter."""
        if to not in self._voter_set:
            raise ValueError(f"node {to} is not a voter: cannot lead")

    def report_unreachable(self, peer: NodeId) -> None:
        """The transport could not deliver to `peer`: it may have missed
        proposals, so its stream restarts from the last index it ACKed."""
        if self.state is _LEADING:
            lr = self._learners.get(peer)
            if lr is not None and lr.stage is _Stage.BROADCAST:
                self._rewind(lr)

    # ===================================================================
    # Output
    # ===================================================================
    def has_ready(self) -> bool:
        self._flush()
        log = self.log
        return bool(
            self._msgs
            or self._msgs_after
            or self._read_states
            or self._ack_due
            or log.has_entries_to_persist()
            or log.has_snapshot_to_persist()
            or log.has_next_committed()
            or self._hard_tuple() != self._hs_handed
            or self._soft_tuple() != self._soft_handed
        )

    def ready(self) -> Ready:
        """Everything to persist, send, apply and report, in the order of
        ready.py. Call advance() with it before asking for the next one."""
        self._flush()
        log = self.log
        if self._ack_due:
            self._ack_due = False
            if self.state is not _LEADING and self._newleader_done and self._synced_to is not None:
                # Rule 1: cumulative ACK of everything this Ready makes durable.
                index = min(self._synced_to, log.last_index())
                self._msgs_after.append(
                    Ack(self.id, self.leader, self._leader_epoch, self._session, index, self._zxid_at(index))
                )
        entries = log.take_entries_to_persist() if log.has_entries_to_persist() else ()
        snapshot = log.take_snapshot_to_persist()
        must_sync = bool(entries) or snapshot is not None
        hard_state = None
        hs = self._hard_tuple()
        handed = self._hs_handed
        if hs != handed:
            hard_state = encode_hard_state(*hs)
            # A commit-only change may be lost in a crash (it is recomputed);
            # the epochs and the accepted leader must never be lost.
            if hs[:3] != handed[:3]:
                must_sync = True
            self._hs_handed = hs
        committed = log.take_next_committed(self.config.max_apply_bytes) if log.has_next_committed() else ()
        if committed and self._uncommitted_bytes:
            self._uncommitted_bytes = max(0, self._uncommitted_bytes - sum(len(e.data) for e in committed))
        soft = self._soft_tuple()
        soft_state = None
        if soft != self._soft_handed:
            soft_state = SoftState(*soft)
            self._soft_handed = soft
        self._ready_number += 1
        msgs, self._msgs = self._msgs, []
        after, self._msgs_after = self._msgs_after, []
        reads, self._read_states = self._read_states, []
        return Ready(
            number=self._ready_number,
            hard_state=hard_state,
            entries=entries,
            snapshot=snapshot,
            must_sync=must_sync,
            messages=tuple(msgs),
            messages_after_persist=tuple(after),
            committed=committed,
            read_states=tuple(reads),
            soft_state=soft_state,
        )

    def advance(self, rd: Ready) -> None:
        """The driver carried `rd` out: its writes are durable, its committed
        entries applied."""
        assert rd.number == self._ready_number, f"advance({rd.number}) but the last Ready was {self._ready_number}"
        log = self.log
        if rd.snapshot is not None:
            log.stable_snapshot_to(rd.snapshot.meta.index)
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.epoch)
        if rd.hard_state is not None:
            self._hs_durable = decode_hard_state(rd.hard_state)
        if rd.committed:
            log.applied_to(rd.committed[-1].index)
        elif rd.snapshot is not None:
            log.applied_to(rd.snapshot.meta.index)
        if self.state is _LEADING:
            # Rule 2: the leader counts itself only for what its disk holds.
            if not self._established:
                if self._new_epoch is not None and self._hs_durable[:2] == (self._new_epoch, self.id):
                    self._epoch_acks.add(self.id)
                    self._maybe_establish()
            else:
                self._maybe_commit()

    def status(self) -> Status:
        log = self.log
        role, leader, epoch = self._soft_tuple()
        progress = {}
        extra: dict[str, int | str] = {
            "state": self.state.name.lower(),
            "phase": self.phase.value,
            "accepted_epoch": self.accepted_epoch,
            "current_epoch": self.current_epoch,
            "election_epoch": self._election.logical_clock,
        }
        last_zxid = self._zxid_at(log.last_index())
        extra["zxid_epoch"] = zxid_epoch(last_zxid)
        extra["zxid_counter"] = zxid_counter(last_zxid)
        extra["last_zxid"] = f"0x{last_zxid:x}"
        if self.state is _LEADING:
            for peer in self._peers:
                lr = self._learners.get(peer)
                if lr is None:
                    progress[peer] = PeerProgress(0, 0, "sync", False)
                else:
                    state = "broadcast" if lr.stage is _Stage.BROADCAST else "sync"
                    progress[peer] = PeerProgress(lr.match, lr.next, state, lr.recent_active)
            if self._established:
                extra["noop_index"] = self._noop_index
                extra["pending_reads"] = len(self._reads_unassigned) + len(self._read_queue) + len(self._reads_waiting)
        elif self.state is not _LOOKING:
            extra["session"] = self._session
        if not self._participant:
            extra["observer"] = 1
        return Status(
            node_id=self.id,
            role=role,
            leader=leader,
            epoch=epoch,
            commit=log.committed,
            applied=log.applied,
            first_index=log.first_index(),
            last_index=log.last_index(),
            progress=progress,
            extra=extra,
        )

    # ===================================================================
    # State and roles
    # ===================================================================
    def _hard_tuple(self) -> tuple[int, int, int, int]:
        return (self.accepted_epoch, self.accepted_leader, self.current_epoch, self.log.committed)

    def _soft_tuple(self) -> tuple[Role, NodeId | None, int]:
        state = self.state
        if state is _LEADING:
            if self._established:
                return (Role.LEADER, self.id, self.accepted_epoch)
            return (Role.LOOKING, None, self.accepted_epoch)  # not a leader of any epoch yet
        if state is _FOLLOWING:
            return (Role.FOLLOWER, self.leader, self.accepted_epoch)
        if state is _OBSERVING:
            return (Role.OBSERVER, self.leader, self.accepted_epoch)
        return (Role.LOOKING, None, self.accepted_epoch)

    def _leader_hint(self) -> NodeId | None:
        state = self.state
        if state is _LEADING:
            return self.id if self._established else None
        if state is _LOOKING:
            return None
        return self.leader

    def _reset_role(self) -> None:
        """Forget everything of the last role but the log and the durable state."""
        # learner side
        self._session = 0
        self._leader_epoch: int | None = None  # the epoch our leader told us (LEADERINFO)
        self._epoch_acked = False  # ACKEPOCH sent for this registration
        self._ack_epoch: AckEpoch | None = None  # ... resent until the first sync marker
        self._marker_seen = False
        self._synced_to: int | None = None  # our log equals the leader's through this index
        # Proposals that arrived ahead of a gap (the network reordered them), by first
        # index; taken once the gap fills. Within its epoch a leader only appends, so
        # an entry it sent is the entry at that index for as long as it leads.
        self._early: dict[int, tuple[Entry, ...]] = {}
        self._newleader: NewLeader | None = None
        self._newleader_done = False
        self._noop_index = 0
        self._leader_commit = 0
        self._silent_ticks = 0
        self._sync_idle_ticks = 0
        self._ack_due = False
        self._recv_snap: _SnapshotReceive | None = None
        # leader side
        self._learners: dict[NodeId, _Learner] = {}
        self._infos: dict[NodeId, int] = {}  # voters' acceptedEpoch (discovery)
        self._info_max = 0  # highest acceptedEpoch any learner reported
        self._new_epoch: int | None = None
        self._epoch_acks: set[NodeId] = set()
        self._established = False
        self._counter = 0
        self._lead_ticks = 0
        self._check_elapsed = 0
        self._heartbeat_elapsed = 0
        self._bcast = False
        self._uncommitted_bytes = 0
        self._read_round = 0
        self._reads_unassigned: list[tuple[int, NodeId | None, int]] = []
        self._read_queue: deque[tuple[int, int, NodeId | None, int]] = deque()
        self._reads_waiting: list[tuple[NodeId | None, int]] = []  # until BROADCAST

    def _become_looking(self) -> None:
        self._reset_role()
        self.state = _LOOKING
        self.phase = _ELECTION
        self.leader = None
        self._resend_elapsed = 0
        own = self._own_vote() if self._participant else None
        decision = self._election.start(own)
        self._flush_election()
        if decision is not None:
            self._decide(decision)

    def _decide(self, decision: Decision) -> None:
        self._vote = decision.vote
        self._vote_round = decision.election_epoch
        if decision.state is _LEADING:
            self._become_leader()
        else:
            self._become_learner(decision.vote.leader, decision.state)

    # ===================================================================
    # Election (election.py does the counting)
    # ===================================================================
    def _own_vote(self) -> Vote:
        pos = self._last_pos()
        return Vote(self.id, pos.zxid, pos.index, self.current_epoch)

    def _tick_looking(self) -> None:
        election = self._election
        decision = election.tick()
        if decision is not None:
            self._decide(decision)
            return
        self._resend_elapsed += 1
        if self._resend_elapsed >= self._resend_ticks:
            # Notifications may be lost: say it again (ZooKeeper resends after notTimeout).
            self._resend_elapsed = 0
            election.changed = True
            self._flush_election()

    def _flush_election(self) -> None:
        election = self._election
        if not election.changed:
            return
        election.changed = False
        for voter in self._other_voters:
            self._send(self._notification(voter))

    def _notification(self, dst: NodeId) -> Notification:
        if self.state is _LOOKING:
            vote = self._election.proposal
            rnd = self._election.logical_clock
        else:
            vote = self._vote
            rnd = self._vote_round
        if vote is None:  # an observer has no vote of its own
            return Notification(self.id, dst, rnd, 0, 0, 0, 0, int(self.state))
        return Notification(self.id, dst, rnd, vote.leader, vote.zxid, vote.index, vote.peer_epoch, int(self.state))

    def _on_notification(self, n: Notification) -> None:
        src = n.src
        if not self._participant:
            # Observers only listen: answering would echo between an observer
            # and a voter forever (each answers a non-voter's notification).
            if self.state is _LOOKING and src in self._voter_set:
                decision = self._election.receive(src, n)
                if decision is not None:
                    self._decide(decision)
            return
        if src not in self._voter_set:
            # An observer looking for the leader: tell it what we know.
            self._send(self._notification(src))
            return
        if n.leader not in self._voter_set:
            self._drop(drops.MALFORMED)  # a voter votes for voters only
            return
        if self.state is not _LOOKING:
            if n.state == _LOOKING:
                self._send(self._notification(src))  # WorkerReceiver: help it find our leader
            return
        election = self._election
        if n.state == _LOOKING and n.election_epoch < election.logical_clock:
            self._send(self._notification(src))  # it is behind: tell it the current round
        # A node that lost its disk and has not caught up: its vote proves nothing, nor
        # does its report that it follows us. Its report that it follows ANOTHER node
        # still counts: that leader counted its own votes, and without it a node could
        # not join a leader whose followers all lost their disks once.
        counted = self.lost_data.counts_vote(src) or (n.state != _LOOKING and n.leader != self.id)
        decision = election.receive(src, n, counted)
        self._flush_election()
        if decision is not None:
            self._decide(decision)

    # ===================================================================
    # Learner (FOLLOWING / OBSERVING)
    # ===================================================================
    def _become_learner(self, leader: NodeId, state: PeerState) -> None:
        self._reset_role()
        self.state = state
        self.leader = leader
        self._register()

    def _register(self) -> None:
        """(Re)register with our leader: FOLLOWERINFO with a fresh session."""
        self.phase = _DISCOVERY
        self._session_seq += 1
        self._session = self._session_nonce << 32 | (self._session_seq & 0xFFFFFFFF)
        self._epoch_acked = False
        self._ack_epoch = None
        self._marker_seen = False
        self._synced_to = None
        self._early = {}
        self._newleader = None
        self._newleader_done = False
        self._recv_snap = None
        self._sync_idle_ticks = 0
        self._resend_elapsed = 0
        self._ack_due = False
        self._send_follower_info()

    def _send_follower_info(self) -> None:
        observer = self.state is _OBSERVING
        self._send(FollowerInfo(self.id, self.leader, self.accepted_epoch, self._session, observer))

    def _tick_learner(self) -> None:
        ticks = self.config.election_ticks
        self._silent_ticks += 1
        if self._silent_ticks >= ticks:
            self._become_looking()  # the leader is gone (or cannot reach us)
            return
        if not self._newleader_done and not self._marker_seen:
            self._resend_elapsed += 1
            if self._resend_elapsed >= self._resend_ticks:
                self._resend_elapsed = 0
                if not self._epoch_acked:
                    self._send_follower_info()  # FOLLOWERINFO or LEADERINFO was lost
                elif self._ack_epoch is not None:
                    self._send(self._ack_epoch)  # ACKEPOCH was lost (or the leader waits for a quorum)
        if self._epoch_acked and not self._newleader_done:
            self._sync_idle_ticks += 1
            if self._sync_idle_ticks >= ticks:
                # Last resort: the leader forgot this registration (it took a
                # delayed FOLLOWERINFO of an older one for new). Start over.
                self._register()

    def _from_leader(self, m) -> bool:
        """A message of our leader's current epoch; it proves the leader alive."""
        if m.src != self.leader or self._leader_epoch is None or m.epoch != self._leader_epoch:
            return False
        self._silent_ticks = 0
        return True

    def _on_leader_info(self, m: LeaderInfo) -> None:
        if m.src != self.leader or m.session != self._session or self.phase is not _DISCOVERY:
            return
        epoch = m.epoch
        if epoch < self.accepted_epoch:
            # ZAB: we promised a newer leader not to follow older epochs.
            self._become_looking()
            return
        if self._leader_epoch is not None and epoch != self._leader_epoch:
            # A new leadership of the same node (we registered again meanwhile):
            # it comes from another election, whose vote we do not hold. Look
            # again, so that what we tell LOOKING nodes stays true.
            self._become_looking()
            return
        repeat = False
        if epoch > self.accepted_epoch:
            self.accepted_epoch = epoch  # made durable before the ACKEPOCH leaves (Rule 1)
            self.accepted_leader = m.src
        elif self.accepted_leader != m.src:
            repeat = True  # we accepted this epoch from another leader: do not count us
        self._leader_epoch = epoch
        self._epoch_acked = True
        self._silent_ticks = 0
        self._sync_idle_ticks = 0
        pos = self._last_pos()
        ack = AckEpoch(
            self.id,
            m.src,
            epoch,
            self._session,
            self.current_epoch,
            pos.index,
            pos.epoch,
            pos.zxid,
            self.log.committed,
            repeat,
        )
        self._ack_epoch = ack
        self._resend_elapsed = 0
        self._send(ack)

    def _on_marker(self, m: Diff | Trunc) -> None:
        if not self._from_leader(m) or m.session != self._session or self._marker_seen or self._newleader_done:
            return
        log = self.log
        if m.index < log.committed:
            # Rule 3: the leader holds every committed entry, and chose the
            # point from our ACKEPOCH, which reported our commit index.
            self._drop(drops.CONFLICTS_COMMIT)
            return
        if not log.match_term(m.index, m.log_epoch):
            # The leader's point is not on our log: no leader that heard our
            # ACKEPOCH picks it. Wait for a true marker (the leader resends a
            # stalled sync; we register again if it never comes).
            self._drop(drops.OUT_OF_PHASE)
            return
        self._marker_seen = True
        self.phase = _SYNC
        self._sync_idle_ticks = 0
        # TRUNC takes effect with the entries that follow it: each one that
        # differs from ours replaces our tail from there, in the same durable
        # write, so a crash in between never leaves us without entries we
        # acked (committed ones among them).
        self._synced_to = m.index
        self._maybe_newleader()

    def _on_snap(self, m: Snap) -> None:
        if not self._from_leader(m):
            return
        if m.session != self._session and not self._newleader_done:
            return
        if self.phase is _DISCOVERY:
            if not self._epoch_acked:
                return
            self.phase = _SYNC
        self._marker_seen = True
        self._sync_idle_ticks = 0
        log = self.log
        meta = m.meta
        count = max(meta.chunk_count, 1)
        synced = self._synced_to
        if meta.index <= log.committed and not log.may_hold(meta.index, meta.epoch):
            self._drop(drops.CONFLICTS_COMMIT)  # a committed entry of ours says otherwise
            return
        if meta.index <= log.committed or log.match_term(meta.index, meta.epoch):
            # We hold its last entry already, hence our log up to it equals the
            # leader's: keep the log (installing would drop entries after it
            # that we may have acked), or this is a resend after our answer
            # was lost.
            self._recv_snap = None
            shared = max(log.committed, meta.index)
            self._synced_to = shared if synced is None else max(synced, shared)
            log.commit_to(shared)  # a snapshot holds committed state only
            self._send(SnapAck(self.id, m.src, m.epoch, m.session, meta.index, count, m.chunk_index))
            self._maybe_newleader()
            return
        key = (m.src, m.epoch, m.session, meta)
        rs = self._recv_snap
        if rs is None or rs.key != key:
            if m.chunk_index != 0:
                self._send(SnapAck(self.id, m.src, m.epoch, m.session, meta.index, 0, m.chunk_index, True))
                return
            rs = self._recv_snap = _SnapshotReceive(key, meta)
        held = len(rs.chunks)
        if m.chunk_index != held:
            self._send(SnapAck(self.id, m.src, m.epoch, m.session, meta.index, held, m.chunk_index, True))
            return
        rs.chunks.append(m.data)
        held += 1
        if held < count:
            self._send(SnapAck(self.id, m.src, m.epoch, m.session, meta.index, held, m.chunk_index))
            return
        self._recv_snap = None
        if meta.size_bytes and sum(map(len, rs.chunks)) != meta.size_bytes:
            # The chunks do not add up to the snapshot the meta describes:
            # install nothing; the leader's stall timer streams it again.
            self._drop(drops.SNAPSHOT_MISMATCH)
            return
        # Our log after synced_to is not the leader's, and everything up to
        # meta.index is in the snapshot: nothing we acked is lost (Rule 3).
        log.restore(Snapshot(meta, tuple(rs.chunks) if meta.chunk_count else ()))
        self._synced_to = meta.index
        if self._newleader_done:
            self._ack_due = True
        self._send(SnapAck(self.id, m.src, m.epoch, m.session, meta.index, count, m.chunk_index))
        self._maybe_newleader()

    def _on_proposal(self, m: Proposal | Inform) -> None:
        if not self._from_leader(m):
            return
        if m.entries and self._accept_entries(m.entries):
            self._accept_early()
            self._sync_idle_ticks = 0
            if self._newleader_done:
                self._ack_due = True
            self._maybe_newleader()
        if type(m) is Inform:
            self._learn_commit(m.commit)
        else:
            self._follower_commit()

    def _accept_early(self) -> None:
        """Take the held-back proposals that the entries just accepted made contiguous."""
        early = self._early
        while early:
            synced = self._synced_to
            for first in sorted(early):
                if early[first][-1].index <= synced:
                    del early[first]  # we hold them all already
                elif first <= synced + 1:
                    self._accept_entries(early.pop(first))
                    break
            else:
                return

    def _accept_entries(self, entries: tuple[Entry, ...]) -> bool:
        """Take the leader's entries after synced_to (Rule 3). False on a gap
        (a proposal was lost or overtaken: the leader resends) or before any
        sync marker. An entry we hold already (same index and epoch: the same
        entry) is kept; the first that differs replaces our tail from there."""
        synced = self._synced_to
        if synced is None:
            return False
        first = entries[0].index
        if first > synced + 1:
            if self._newleader_done and len(self._early) < self.config.max_inflight_msgs:
                self._early[first] = entries  # ahead of a gap: hold it until the gap fills
            return False
        last_new = entries[-1].index
        if last_new <= synced:
            return True  # duplicates: we hold them all
        log = self.log
        last = log.last_index()
        for i in range(synced + 1 - first, len(entries)):
            entry = entries[i]
            if entry.index > last or not log.match_term(entry.index, entry.epoch):
                if entry.index <= log.committed:
                    # Never replace a committed entry (Rule 3): the leader holds
                    # every committed one, so its entry there equals ours.
                    self._drop(drops.CONFLICTS_COMMIT)
                    return False
                log.truncate_and_append(entries[i:])
                break
        self._synced_to = last_new
        return True

    def _on_new_leader(self, m: NewLeader) -> None:
        if not self._from_leader(m) or m.session != self._session:
            return
        if self._newleader_done:
            self._ack_due = True  # a duplicate: our ACK may have been lost
            return
        self._newleader = m
        self._maybe_newleader()

    def _maybe_newleader(self) -> None:
        nl = self._newleader
        synced = self._synced_to
        if nl is None or self._newleader_done or synced is None or synced < nl.index:
            return  # our log does not reach the leader's NOOP yet
        # Our log equals the leader's through synced_to, so it holds the NOOP
        # (which our own snapshot may have compacted away by now).
        self._truncate_after(synced)  # nothing past the leader's history stays
        # Durable with the synced log in this Ready, before the ACK leaves (Rule 1).
        self.current_epoch = nl.epoch
        self._newleader_done = True
        self._noop_index = nl.index
        self._ack_due = True
        self._sync_idle_ticks = 0
        self._follower_commit()

    def _on_up_to_date(self, m: UpToDate) -> None:
        if not self._from_leader(m) or m.session != self._session:
            return
        if not self._newleader_done:
            # UPTODATE follows our ACK of NEWLEADER in this registration.
            self._drop(drops.OUT_OF_PHASE)
            return
        self.phase = _BROADCAST
        self._learn_commit(m.commit)

    def _on_commit(self, m: Commit) -> None:
        if m.src != self.leader or m.epoch != self._leader_epoch:
            return  # another leadership's (stale)
        synced = self._synced_to
        log = self.log
        if m.zxid and synced is not None and m.index <= synced and not log.may_hold(m.index, zxid_epoch(m.zxid)):
            # A COMMIT of a zxid the leader never proposed: its entry there is
            # ours. Not a sign of the leader's life either.
            self._drop(drops.BEYOND_LOG)
            return
        if self._from_leader(m):
            self._learn_commit(m.index)

    def _on_ping(self, m: Ping) -> None:
        if not self._from_leader(m):
            return
        self._learn_commit(m.commit)
        index = 0
        synced = self._synced_to
        if synced is not None and self._newleader_done and self._hs_durable[2] == m.epoch:
            # Only what is durable, and only once this registration's
            # currentEpoch is (Rule 1): then it acks like an ACK.
            index = min(synced, self.log.stable_last_index())
        self._send(PingAck(self.id, m.src, m.epoch, self._session, m.round, index))

    def _on_sync_resp(self, m: SyncResp) -> None:
        if m.src == self.leader:
            self._read_states.append(ReadState(m.ctx, m.index))

    def _learn_commit(self, commit: int) -> None:
        if commit > self._leader_commit:
            self._leader_commit = commit
        self._follower_commit()

    def _follower_commit(self) -> None:
        synced = self._synced_to
        if synced is None:
            return
        # Rule 3: never past what we share with the leader.
        self.log.commit_to(min(self._leader_commit, synced))
        if self._newleader_done and self.phase is _SYNC and self._leader_commit >= self._noop_index:
            self.phase = _BROADCAST  # the NOOP committed: the leader is in BROADCAST (UPTODATE may be lost)

    def _truncate_after(self, index: int) -> None:
        """Drop our entries after `index` (TRUNC). Expressed as rewriting the
        entry at `index`, which replaces everything after it in storage."""
        log = self.log
        if log.last_index() <= index:
            return
        if index >= log.first_index():
            log.truncate_and_append(log.entries(index, index + 1))
        # else: `index` is our snapshot base; the leader's entries after it
        # replace our tail as they arrive (the leader always has some: its NOOP).

    # ===================================================================
    # Leader (LEADING)
    # ===================================================================
    def _become_leader(self) -> None:
        self._reset_role()
        self.state = _LEADING
        self.phase = _DISCOVERY
        self.leader = self.id
        if self._participant:
            self._infos[self.id] = self.accepted_epoch
        self._info_max = self.accepted_epoch
        self._maybe_choose_epoch()

    def _maybe_choose_epoch(self) -> None:
        """Discovery: a quorum of voters reported their acceptedEpoch."""
        if self._new_epoch is not None:
            return
        if sum(1 for v in self._voters if v in self._infos and v not in self.lost_data.until) < self._quorum:
            return  # (a node that lost its disk lost its acceptedEpoch too: its promise proves nothing)
        epoch = max(self._info_max, *self._infos.values()) + 1
        if epoch > MAX_EPOCH:
            raise AssertionError("epoch space exhausted")
        self._new_epoch = epoch
        # Durable before LEADERINFO leaves and before we count ourselves (Rules 1, 2).
        self.accepted_epoch = epoch
        self.accepted_leader = self.id
        for lr in self._learners.values():
            if lr.stage is _Stage.INFO:
                self._send(LeaderInfo(self.id, lr.id, epoch, lr.session))

    def _maybe_establish(self) -> None:
        if self._established or self.id not in self._epoch_acks:
            return
        if sum(1 for v in self._voters if v in self._epoch_acks and v not in self.lost_data.until) < self._quorum:
            return
        self._establish()

    def _establish(self) -> None:
        """A quorum acked our epoch: it is ours alone. Start synchronization."""
        epoch = self._new_epoch
        assert epoch is not None
        self._established = True
        self.current_epoch = epoch  # durable with the NOOP, before NEWLEADER leaves
        self.phase = _SYNC
        self._lead_ticks = 0
        log = self.log
        index = log.last_index() + 1
        # The epoch's first entry: NEWLEADER's zxid, and what commits older epochs.
        log.append(Entry(index, epoch, b"", EntryKind.NOOP, make_zxid(epoch, 0)))
        self._noop_index = index
        self._counter = 0
        for lr in self._learners.values():
            if lr.stage is _Stage.ACKED:
                self._start_sync(lr)

    def _tick_leader(self) -> None:
        config = self.config
        self._lead_ticks += 1
        if self.phase is not _BROADCAST:
            if self._lead_ticks >= self._init_ticks:
                self._become_looking()  # no quorum synchronized in time (initLimit)
                return
        else:
            self._check_elapsed += 1
            if self._check_elapsed >= config.election_ticks:
                self._check_elapsed = 0
                if not self._quorum_active():
                    self._become_looking()  # syncLimit: no false leaders
                    return
        for lr in self._learners.values():
            if lr.snap_meta is not None:
                lr.snap_stall_ticks += 1
                if lr.snap_stall_ticks >= self._resend_ticks:
                    # Chunks or their answers were lost: resend from what it holds.
                    lr.snap_rewind_end = lr.snap_next
                    lr.snap_next = lr.snap_acked
                    lr.snap_stall_ticks = 0
                    lr.dirty = True
            elif lr.stage is _Stage.BROADCAST and lr.next - 1 > lr.match:
                lr.stall_ticks += 1
                if lr.stall_ticks >= self._stall_ticks:
                    self._rewind(lr)
            elif lr.stage is _Stage.SYNC:
                lr.stall_ticks += 1
                if lr.stall_ticks >= self._stall_ticks:
                    # No NEWLEADER ack yet: the marker, an entry or NEWLEADER
                    # may be lost. Send the sync again; the learner skips what
                    # it holds (a marker counts once per registration).
                    lr.marker = lr.sync_marker
                    lr.next = lr.sync_from
                    lr.newleader_sent = False
                    lr.stall_ticks = 0
                    lr.dirty = True
        self._heartbeat_elapsed += 1
        if self._heartbeat_elapsed >= config.heartbeat_ticks:
            self._bcast_ping()

    def _quorum_active(self) -> bool:
        active = 1 if self._participant else 0
        for lr in self._learners.values():
            if lr.recent_active and lr.synced and not lr.observer:
                active += 1
            lr.recent_active = False
        return active >= self._quorum

    def _rewind(self, lr: _Learner) -> None:
        """Go back to the last ACKed index: what was sent after it may be lost."""
        lr.next = lr.match + 1
        lr.inflight.clear()
        lr.stall_ticks = 0
        lr.dirty = True

    def _learner(self, m) -> _Learner | None:
        """The learner that sent `m`, if `m` belongs to our epoch. The caller
        marks it active once the message proved possible: a message that
        cannot be true is no sign of its sender's life."""
        if self._new_epoch is None or m.epoch != self._new_epoch:
            return None
        return self._learners.get(m.src)

    def _on_follower_info(self, m: FollowerInfo) -> None:
        src = m.src
        observer = src not in self._voter_set  # the configuration decides, not the flag
        old = self._learners.get(src)
        epoch = self._new_epoch
        if old is not None and old.session == m.session:
            old.recent_active = True
            if old.stage is _Stage.INFO and epoch is not None:
                self._send(LeaderInfo(self.id, src, epoch, m.session))  # it may have been lost
            return
        if old is not None and not _newer_session(m.session, old.session):
            return  # a delayed FOLLOWERINFO of a registration it has since replaced
        if epoch is not None and m.accepted_epoch > epoch:
            # It promised a newer epoch and can never follow ours: give way, so
            # that the next election picks an epoch above its acceptedEpoch.
            self._become_looking()
            return
        lr = _Learner(src, observer, m.session, m.accepted_epoch)
        if old is not None:
            # A re-registration within our epoch: what it durably holds stays true.
            lr.synced = old.synced
            lr.match = old.match
            lr.acked_round = old.acked_round
        self._learners[src] = lr
        if m.accepted_epoch > self._info_max:
            self._info_max = m.accepted_epoch
        if epoch is None:
            if not observer:
                self._infos[src] = m.accepted_epoch
            self._maybe_choose_epoch()
        else:
            self._send(LeaderInfo(self.id, src, epoch, m.session))

    def _on_ack_epoch(self, m: AckEpoch) -> None:
        lr = self._learner(m)
        if lr is None:
            return
        lr.recent_active = True
        if m.session != lr.session or lr.stage is not _Stage.INFO:
            return
        if lr.synced and (m.last_index < lr.match or m.current_epoch < self.current_epoch):
            # It acked our log through lr.match under our epoch, and now
            # reports less: it lost what it had made durable (a wiped disk).
            self.reset_progress(lr.id)
        log = self.log
        theirs = (m.current_epoch, m.last_epoch, m.last_index)
        ours = (self.current_epoch, log.last_term(), log.last_index())
        if theirs > ours:
            # ZooKeeper waitForEpochAck: a learner ahead of us may hold committed
            # entries we lack. We must not lead; a new election will pick it.
            self._become_looking()
            return
        lr.info = m
        lr.stage = _Stage.ACKED
        if not self._established:
            if not lr.observer and not m.repeat:
                self._epoch_acks.add(lr.id)
                self._maybe_establish()
        else:
            self._start_sync(lr)

    def _start_sync(self, lr: _Learner) -> None:
        """Choose DIFF / TRUNC / TRUNC+DIFF / SNAP for this learner (sync.py)."""
        info = lr.info
        assert info is not None
        lr.stage = _Stage.SYNC
        lr.newleader_sent = lr.uptodate_sent = False
        lr.inflight.clear()
        lr.stall_ticks = 0
        lr.marker = None
        lr.snap_meta = lr.snap_store_meta = None
        lr.dirty = True
        peer = LogPos(info.last_index, info.last_epoch, info.last_zxid)
        plan = zsync.choose_sync(peer, _LogHistory(self.log), info.commit)
        epoch = self.current_epoch
        if isinstance(plan, zsync.Diff):
            prev = plan.prev
            lr.marker = Diff(self.id, lr.id, epoch, lr.session, prev.index, prev.epoch, self._zxid_at(prev.index))
            lr.next = prev.index + 1
        elif isinstance(plan, (zsync.Trunc, zsync.TruncDiff)):
            to = plan.to
            lr.marker = Trunc(self.id, lr.id, epoch, lr.session, to.index, to.epoch, self._zxid_at(to.index))
            lr.next = to.index + 1
        else:
            self._start_snapshot(lr)
        lr.sync_marker = lr.marker
        lr.sync_from = lr.next

    def _on_ack(self, m: Ack) -> None:
        lr = self._learner(m)
        if lr is None:
            return
        if m.zxid and m.index <= self.log.last_index() and not self.log.may_hold(m.index, zxid_epoch(m.zxid)):
            self._drop(drops.BEYOND_LOG)  # an ACK of a zxid we never proposed
            return
        if not self._established:
            lr.recent_active = True
            return
        self._acked(lr, m.session, m.index)

    def _acked(self, lr: _Learner, session: int, index: int) -> bool:
        """`lr` holds our log through `index` durably, and our currentEpoch.
        False if that cannot be true (the message is dropped)."""
        if index > self.log.last_index():
            # Past everything we proposed (our log does not shrink while we lead).
            self._drop(drops.BEYOND_LOG)
            return False
        if session == lr.session and lr.stage in (_Stage.INFO, _Stage.ACKED):
            # This registration has not been sent NEWLEADER: it cannot ACK yet.
            self._drop(drops.OUT_OF_PHASE)
            return False
        lr.recent_active = True
        lr.synced = True
        if session == lr.session:
            if lr.stage is _Stage.SYNC and lr.newleader_sent:
                lr.stage = _Stage.BROADCAST  # NEWLEADER acked
                lr.inflight.clear()
        elif _newer_session(session, lr.session):
            # It completed a registration whose FOLLOWERINFO we lost track of
            # (an older one reached us late): its log is ours through `index`.
            lr.session = session
            lr.stage = _Stage.BROADCAST
            lr.marker = lr.sync_marker = None
            lr.snap_meta = lr.snap_store_meta = None
            lr.uptodate_sent = False
            lr.inflight.clear()
            lr.next = index + 1
        if index > lr.match:
            lr.match = index
            lr.stall_ticks = 0
        inflight = lr.inflight
        while inflight and inflight[0] <= index:
            inflight.popleft()
        if lr.next <= index:
            lr.next = index + 1
        lr.dirty = True
        if not lr.observer:
            self._maybe_commit()
        return True

    def _on_ping_ack(self, m: PingAck) -> None:
        lr = self._learner(m)
        if lr is None:
            return
        if m.round > self._read_round:
            self._drop(drops.BEYOND_LOG)  # a round we never sent: it would confirm reads
            return
        if m.index > 0 and self._established:
            if not self._acked(lr, m.session, m.index):
                return
        lr.recent_active = True
        if not lr.observer and lr.synced and m.round > lr.acked_round:
            lr.acked_round = m.round
            self._maybe_release_reads()

    def _on_snap_ack(self, m: SnapAck) -> None:
        lr = self._learner(m)
        if lr is None:
            return
        if lr.snap_meta is None or lr.snap_meta.index != m.index or m.session != lr.session:
            lr.recent_active = True
            return
        count = max(lr.snap_meta.chunk_count, 1)
        held = m.next_chunk
        if held > count or m.chunk_index >= count:
            self._drop(drops.BEYOND_LOG)  # chunks this snapshot does not have
            return
        lr.recent_active = True
        if held >= count:
            # Installed (or held already): the entries after it follow.
            lr.snap_meta = lr.snap_store_meta = None
            lr.next = m.index + 1
            lr.inflight.clear()
            lr.stall_ticks = 0
            lr.dirty = True
            if lr.stage is _Stage.SYNC:
                lr.sync_marker = None  # the snapshot is the learner's sync point now
                lr.sync_from = lr.next
            return
        if held > lr.snap_acked:
            lr.snap_acked = held
            lr.snap_stall_ticks = 0
        elif m.reject and held < lr.snap_next and (m.chunk_index >= lr.snap_rewind_end or held < lr.snap_acked):
            # A chunk was lost (a gap) or the learner started over: go back to
            # where it is. Refusals of chunks sent before the last rewind say
            # nothing new (Raft's InstallSnapshot stream does the same).
            lr.snap_rewind_end = lr.snap_next
            lr.snap_next = held
            lr.snap_acked = held
            lr.snap_stall_ticks = 0
        lr.dirty = True

    def _on_sync_req(self, m: SyncReq) -> None:
        if self._new_epoch is not None and m.epoch == self._new_epoch:
            self._leader_read(m.src, m.ctx)

    def _maybe_commit(self) -> None:
        if not self._established:
            return
        epoch = self.current_epoch
        log = self.log
        own = log.stable_last_index() if self._hs_durable[2] == epoch else 0  # Rule 2
        learners = self._learners
        matches = []
        for v in self._voters:
            if v == self.id:
                matches.append(own)
            else:
                lr = learners.get(v)
                matches.append(lr.match if lr is not None and lr.synced else 0)
        index = quorum_index(matches)
        # Only a quorum that ACKed NEWLEADER commits, and the NOOP first: it
        # commits every older entry with it.
        if index >= self._noop_index and index > log.committed:
            log.commit_to(index)
            self._bcast = True
            if self.phase is _SYNC:
                self._enter_broadcast()

    def _enter_broadcast(self) -> None:
        self.phase = _BROADCAST
        self._check_elapsed = 0
        for lr in self._learners.values():
            lr.recent_active = True
        waiting, self._reads_waiting = self._reads_waiting, []
        for requester, ctx in waiting:
            self._leader_read(requester, ctx)

    # --- learners that lost their data -------------------------------------
    def reset_progress(self, peer: NodeId) -> None:
        """Leader: `peer` no longer holds entries it acknowledged (its disk was
        wiped or damaged). Forget what it matched and that it adopted our
        epoch: it counts toward no commit and no read quorum until it ACKs
        again, after the sync its ACKEPOCH chooses (DIFF, TRUNC or SNAP).

        The one place a learner's progress is reset; also for callers that
        learn of the loss otherwise (a new incarnation of its data directory).
        """
        if self.state is not _LEADING:
            return
        lr = self._learners.get(peer)
        if lr is None:
            return
        self.progress_resets += 1
        lr.synced = False
        lr.match = 0
        lr.acked_round = 0
        lr.inflight.clear()

    # --- sending ----------------------------------------------------------
    def _flush(self) -> None:
        """Turn pending work for learners into messages (Rule 4: batching)."""
        if self.state is not _LEADING or not self._established:
            return
        bcast = self._bcast
        self._bcast = False
        for lr in self._learners.values():
            if lr.stage is _Stage.SYNC or lr.stage is _Stage.BROADCAST:
                if bcast or lr.dirty:
                    lr.dirty = False
                    self._send_to(lr)
        if self._reads_unassigned:
            self._bcast_ping()  # a round sent after the reads confirms them

    def _send_to(self, lr: _Learner) -> None:
        msgs = self._msgs
        if lr.marker is not None:
            msgs.append(lr.marker)
            lr.marker = None
        if lr.snap_meta is not None:
            self._send_snapshot_chunks(lr)
            return
        log = self.log
        commit = log.committed
        epoch = self.current_epoch
        if lr.stage is _Stage.SYNC:
            # Synchronization: the whole log, then NEWLEADER (no window: the
            # learner ACKs nothing before NEWLEADER).
            if not self._send_entries(lr, log.last_index(), window=False):
                return
            if not lr.newleader_sent and lr.next > self._noop_index:
                noop = self._noop_index
                self._send(NewLeader(self.id, lr.id, epoch, lr.session, noop, make_zxid(epoch, 0)))
                lr.newleader_sent = True
            if commit > lr.sent_commit:
                msgs.append(Commit(self.id, lr.id, epoch, commit, self._zxid_at(commit)))
                lr.sent_commit = commit
            return
        if not lr.uptodate_sent and self.phase is _BROADCAST:
            msgs.append(UpToDate(self.id, lr.id, epoch, lr.session, commit))
            lr.uptodate_sent = True
            lr.sent_commit = max(lr.sent_commit, commit)
        if lr.observer:
            # INFORM: committed entries only, with the commit.
            sent = self._send_entries(lr, commit, window=True, inform=True)
            if sent and commit > lr.sent_commit:
                msgs.append(Inform(self.id, lr.id, epoch, (), commit))
                lr.sent_commit = commit
            return
        if not self._send_entries(lr, log.last_index(), window=True):
            return
        if commit > lr.sent_commit:
            msgs.append(Commit(self.id, lr.id, epoch, commit, self._zxid_at(commit)))
            lr.sent_commit = commit

    def _send_entries(self, lr: _Learner, upto: int, *, window: bool, inform: bool = False) -> bool:
        """Stream entries lr.next..upto; False if the stream switched to a snapshot."""
        log = self.log
        epoch = self.current_epoch
        cap = self.config.max_inflight_msgs
        max_bytes = self.config.max_batch_bytes
        while lr.next <= upto and not (window and len(lr.inflight) >= cap):
            try:
                ents = tuple(log.entries(lr.next, upto + 1, max_bytes))
            except Compacted:
                # The entries it needs are gone from our log: only the snapshot has them.
                self._start_snapshot(lr)
                self._send_snapshot_chunks(lr)
                return False
            if inform:
                commit = log.committed
                self._msgs.append(Inform(self.id, lr.id, epoch, ents, commit))
                lr.sent_commit = commit
            else:
                self._msgs.append(Proposal(self.id, lr.id, epoch, ents))
            last = ents[-1].index
            lr.next = last + 1
            if window:
                lr.inflight.append(last)
        return True

    def _start_snapshot(self, lr: _Learner) -> None:
        meta = self.store.snapshot_meta()
        assert meta is not None, "log compacted without a snapshot"
        lr.snap_store_meta = meta
        zxid = meta.zxid or self._zxid_at(meta.index)
        lr.snap_meta = SnapshotMeta(
            meta.index, meta.epoch, meta.voters, meta.observers, zxid, meta.chunk_count, meta.size_bytes
        )
        lr.snap_next = lr.snap_acked = lr.snap_rewind_end = lr.snap_stall_ticks = 0
        lr.inflight.clear()
        lr.dirty = True

    def _send_snapshot_chunks(self, lr: _Learner) -> None:
        store = self.store
        if store.snapshot_meta() != lr.snap_store_meta:
            self._start_snapshot(lr)  # the host took a newer snapshot: stream that one
        meta = lr.snap_meta
        assert meta is not None
        count = max(meta.chunk_count, 1)
        epoch = self.current_epoch
        while lr.snap_next < count and lr.snap_next - lr.snap_acked < SNAPSHOT_WINDOW_CHUNKS:
            i = lr.snap_next
            data = store.snapshot_chunk(i) if meta.chunk_count else b""
            self._msgs.append(Snap(self.id, lr.id, epoch, lr.session, meta, i, data))
            lr.snap_next = i + 1

    def _bcast_ping(self) -> None:
        self._heartbeat_elapsed = 0
        epoch = self._new_epoch
        if epoch is None:
            return  # nothing to tell before the epoch is chosen
        self._read_round += 1
        rnd = self._read_round
        if self._reads_unassigned:
            for index, requester, ctx in self._reads_unassigned:
                self._read_queue.append((rnd, index, requester, ctx))
            self._reads_unassigned = []
        commit = self.log.committed if self._established else 0
        for lr in self._learners.values():
            self._msgs.append(Ping(self.id, lr.id, epoch, commit, rnd))
        self._maybe_release_reads()

    # --- reads (ZooKeeper's sync) -------------------------------------------
    def _leader_read(self, requester: NodeId | None, ctx: int) -> None:
        if self.phase is not _BROADCAST:
            # Until our NOOP commits, our commit index may lag entries that
            # earlier leaders committed.
            self._reads_waiting.append((requester, ctx))
            return
        index = self.log.committed
        if len(self._voters) == 1 and self._participant:
            self._deliver_read(requester, ctx, index)
            return
        self._reads_unassigned.append((index, requester, ctx))

    def _maybe_release_reads(self) -> None:
        queue = self._read_queue
        if not queue:
            return
        rounds = []
        for v in self._voters:
            if v == self.id:
                rounds.append(self._read_round)
            else:
                lr = self._learners.get(v)
                rounds.append(lr.acked_round if lr is not None and lr.synced else 0)
        confirmed = quorum_index(rounds)
        while queue and queue[0][0] <= confirmed:
            _, index, requester, ctx = queue.popleft()
            self._deliver_read(requester, ctx, index)

    def _deliver_read(self, requester: NodeId | None, ctx: int, index: int) -> None:
        if requester is None or requester == self.id:
            self._read_states.append(ReadState(ctx, index))
        else:
            self._send(SyncResp(self.id, requester, self.current_epoch, ctx, index))

    # ===================================================================
    # Helpers
    # ===================================================================
    def _drop(self, reason: str) -> None:
        self.dropped_messages.count(reason)

    def _send(self, msg) -> None:
        if type(msg) in _AFTER_PERSIST:
            self._msgs_after.append(msg)  # Rule 1
        else:
            self._msgs.append(msg)

    def _last_pos(self) -> LogPos:
        log = self.log
        index = log.last_index()
        return LogPos(index, log.last_term(), self._zxid_at(index))

    def _zxid_at(self, index: int) -> int:
        """The zxid of the entry at `index`, as well as the log can tell: at a
        snapshot base it comes from the snapshot's meta if recorded there, or
        from the next entry of the same epoch; else its counter reads 0."""
        if index <= 0:
            return 0
        log = self.log
        try:
            if index >= log.first_index():
                return log.entries(index, index + 1)[0].zxid
            epoch = log.term(index)
        except (Compacted, Unavailable):
            return 0
        snap = log.pending_snapshot
        meta = snap.meta if snap is not None else self.store.snapshot_meta()
        if meta is not None and meta.index == index and meta.zxid:
            return meta.zxid
        try:
            nxt = log.entries(index + 1, index + 2)[0]
            if nxt.epoch == epoch and nxt.zxid:
                return nxt.zxid - 1
        except (Compacted, Unavailable):
            pass
        return make_zxid(epoch, 0)


def _newer_session(a: int, b: int) -> bool:
    """Whether registration `a` supersedes `b`: another incarnation of the
    learner (another nonce), or a later registration of the same one."""
    return (a >> 32) != (b >> 32) or (a & 0xFFFFFFFF) > (b & 0xFFFFFFFF)


def _validate(config: EngineConfig) -> None:
    ids = (*config.voters, *config.observers)
    if any(node < 1 for node in ids):
        raise ValueError(f"node ids must be >= 1: {ids}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"a node is listed twice in voters/observers: {ids}")
    if not config.voters:
        raise ValueError("a cluster needs at least one voter")
    if config.node_id not in ids:
        raise ValueError(f"node {config.node_id} is neither a voter nor an observer")
    if config.election_ticks < 2 or config.heartbeat_ticks < 1 or config.heartbeat_ticks >= config.election_ticks:
        raise ValueError(
            f"need election_ticks > heartbeat_ticks >= 1 (got {config.election_ticks}, {config.heartbeat_ticks})"
        )
    if config.max_inflight_msgs < 1 or config.max_batch_bytes < 1:
        raise ValueError("max_inflight_msgs and max_batch_bytes must be positive")


__all__ = [
    "FINALIZE_TICKS",
    "SNAPSHOT_WINDOW_CHUNKS",
    "ZabEngine",
    "ZabPhase",
    "committed_index",
    "decode_hard_state",
    "encode_hard_state",
]
