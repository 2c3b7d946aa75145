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

The soft state names a leader only while it can serve (`_soft_tuple`): a
leader reports LEADER once in BROADCAST (a quorum ACKed NEWLEADER, so
propose() accepts), a learner names its leader once it is in BROADCAST with it
(UPTODATE or the NOOP's commit). At most one node ever establishes an epoch
(each voter acks an epoch to one leader, and that choice, `accepted_leader`,
is durable). Status epochs are acceptedEpoch: monotonic, and equal on a leader
and its synced learners.

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
  a quorum, and answers. read_index(ctx, lease=True) on a leader holding a
  lease answers at once (config.lease_read allows leases; the argument is
  Leader.lease_valid's).
* transfer_leadership (ZooKeeper has none outside reconfig) works like Raft's
  TimeoutNow, sent to every learner: Leader.transfer has the design.
* EngineConfig knobs that are Raft's: pre_vote has no meaning here (FLE
  never bumps a durable epoch by itself: only an established quorum does);
  check_quorum is always on (the syncLimit rule above).
* A learner that registers with the same node again and meets a LEADERINFO
  of another epoch (that node lost and regained leadership meanwhile) goes
  LOOKING: the vote it reports to LOOKING nodes must be that leadership's.

Membership changes (ZooKeeper 3.5's reconfig; propose_config)
----------------------------------------------------------------
The configurations are replicated data: CONFIG entries in the log, the
membership in snapshots, recovered from the node's own store
(protocol/membership.py). The newest configuration of a node's log is in
force there from its entry on, committed or not; until the node knows it
committed, the committed one counts too, and every quorum - a commit of an
entry at or after the change, an election, the ACKEPOCH and NEWLEADER
quorums, check-quorum, a read round - needs a majority of both
(ensemble.py, ZooKeeper's hasAllQuorums). So one change may replace any
number of voters; a leader accepts one only when none is pending and its
own NOOP committed. Learners and observers are members that count in no
quorum. A learner promoted or demoted changes part in place; a leader that
is no voter of a committed configuration hands over to the voter holding
most of its log (Leader.leave); a removed node falls silent once its leader
stops streaming to it.
Since nodes learn of a change at different times, they may count different
ensembles; the election copes (each rule says why): a notification carries
its sender's commit index and a digest of its committed configuration (a
node still counting a change pending learns it committed); a node holding
a change not known committed, or one whose log the leader's commit passed
(a new member, a node back from a long absence), joins a leader on its own
word, and leaders call the members that have not registered; learners pass
on the best vote they hear, since a change pending elsewhere may count
them; a looking node holding a pending change answers a worse vote of its
round at once, and a node whose leader turns out to be looking joins its
round; a node a member follows becomes known, so a node back from a long
absence may join that leader when it calls. A new member must
start with a bootstrap configuration in which it is no voter (a learner):
new voters that could form a quorum of their own bootstrap could elect one
of themselves.

Layout (ZooKeeper's split of QuorumPeer, Leader, Learner, FastLeaderElection)
------
engine.py    this node: the durable state (log, epochs, accepted leader),
             the outboxes, the Ready and advance(), status, message
             validation at the door, and the LOOKING role (driving FLE).
election.py  Fast Leader Election's counting: votes, vote boxes, finalize wait.
leader.py    `Leader`: the state of one leadership, alive only while LEADING.
learner.py   `Learner`: the state of following (or observing) one leader.
validate.py  messages that cannot be true whatever our state.
Roles never outlive their leadership: a new election makes a new object, so
nothing one role owned can be seen by the next.
"""

from __future__ import annotations

import random
import struct

from replicator.protocol import EngineConfig, drops
from replicator.protocol.drops import DropCounter
from replicator.protocol.log import LogView
from replicator.protocol.log_store import Compacted, LogStore, Unavailable
from replicator.protocol.lost_data import LostData
from replicator.protocol.membership import ConfigHistory, MembershipChangeRefused
from replicator.protocol.ready import Ready
from replicator.protocol.ready_builder import ReadyBuilder
from replicator.protocol.zab.election import Decision, Election, PeerState, Vote, total_order
from replicator.protocol.zab.ensemble import Ensemble, config_digest
from replicator.protocol.zab.leader import SNAPSHOT_WINDOW_CHUNKS, Leader
from replicator.protocol.zab.learner import Learner
from replicator.protocol.zab.messages import Ack, AckEpoch, LeaderInfo, NewLeader, Notification
from replicator.protocol.zab.phase import ZabPhase
from replicator.protocol.zab.validate import MALFORMED
from replicator.protocol.zab.zxid import LogPos, make_zxid, zxid_counter, zxid_epoch
from replicator.types import EntryKind, Membership, NodeId, NotLeader, Role, Status, config_entry_membership

# Hard state: marker 'Z', acceptedEpoch, the leader it was accepted from,
# currentEpoch, commit. The marker keeps a Raft engine from reading it.
_HARD_STATE = struct.Struct(">BQQQQ")
_HARD_STATE_VERSION = 0x5A

FINALIZE_TICKS = 2  # FLE finalize wait: ticks a quorum's vote waits for a better one

_LOOKING = PeerState.LOOKING
_FOLLOWING = PeerState.FOLLOWING
_LEADING = PeerState.LEADING
_OBSERVING = PeerState.OBSERVING
_ELECTION = ZabPhase.ELECTION
_BROADCAST = ZabPhase.BROADCAST

# Promises of durable state: sent only after the Ready's write (Rule 1).
_AFTER_PERSIST = frozenset({AckEpoch, Ack, LeaderInfo, NewLeader})


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


class ZabEngine:
    """One ZAB node's protocol state. See the module docstring for the rules.

    Public read-only views for tests and status: `id`, `state`, `phase`,
    `leader`, `accepted_epoch`, `current_epoch`, `log` (a LogView). The role
    in play is `role`: a Leader while LEADING, a Learner while FOLLOWING or
    OBSERVING, None while LOOKING.
    """

    def __init__(self, config: EngineConfig, store: LogStore, rng: random.Random) -> None:
        _validate(config)
        self.config = config
        self.id: NodeId = config.node_id
        self.store = store
        self._rng = rng
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
        # The configurations of our own store; the config file's members only
        # where it holds none (membership.py).
        configs = ConfigHistory.recover(store, config.bootstrap_membership())
        self.log = LogView(store, committed=commit, applied=config.applied, configs=configs)
        self.accepted_epoch = accepted
        self.accepted_leader: NodeId = accepted_leader
        self.current_epoch = current

        # The Ready: outboxes, state diffs, the uncommitted budget (ready_builder.py).
        # The roles append to the same lists: ready() empties them in place.
        self._ready = ReadyBuilder(
            self.log,
            node_id=self.id,
            hard_state=(accepted, accepted_leader, current, commit),
            encode_hard_state=encode_hard_state,
            soft_state=None,  # the first Ready reports the role
            max_apply_bytes=config.max_apply_bytes,
            max_uncommitted_bytes=config.max_uncommitted_bytes,
        )
        self._msgs = self._ready.msgs
        self._msgs_after = self._ready.msgs_after
        self._read_states = self._ready.read_states
        self._hs_durable = self._ready.hard_durable  # what storage holds: the roles' Rule 2

        self._ticks = 0
        self.state = _LOOKING
        self.phase = _ELECTION
        self.leader: NodeId | None = None
        self.role: Leader | Learner | None = None
        self._election = Election(self.id, (), FINALIZE_TICKS)
        # Whom we count (ensemble.py), from the configurations of our log: set by
        # _apply_membership whenever the newest one changes or commits.
        self.ensemble: Ensemble
        self._voters: tuple[NodeId, ...] = ()  # everyone who counts in some quorum in play
        self._voter_set: frozenset[NodeId] = frozenset()
        self._members: frozenset[NodeId] = frozenset()  # every member of a configuration in play
        self._peers: tuple[NodeId, ...] = ()
        self._other_voters: tuple[NodeId, ...] = ()
        self._participant = False  # we vote, may lead, and our ACKs count
        # A configuration entry a peer told us is committed (Notification.config_digest)
        # before our own commit index reached it; digests of our committed and our
        # pending configuration (0: none pending).
        self._config_known_committed = 0
        self._recount = False
        self._hinted: dict[NodeId, int] = {}  # removed: when we last answered each node
        # Every node of a configuration we held, or that a member follows.
        self._known: frozenset[NodeId] = frozenset()
        self._committed_digest = 0
        self._pending_digest = 0
        self._apply_membership()
        configs.on_change = self._on_config_change
        self.lost_data = LostData()  # peers that lost their disk (protocol/lost_data.py)
        self._vote: Vote | None = None  # the vote that decided our last election
        self._vote_round = 0
        self._resend_elapsed = 0
        # Registration sessions: a nonce per incarnation, a counter per registration
        # (kept across roles: a leader tells a learner's registrations apart by it).
        self._session_nonce = rng.getrandbits(32)
        self._session_seq = 0
        # Peer messages that could not be true (drops.py), by reason; and how
        # often a learner turned out to have lost entries it had acknowledged.
        self.dropped_messages = DropCounter()
        self.progress_resets = 0
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
        role = self.role
        if role is None:
            self._tick_looking()
        else:
            role.tick()
        self._settle_membership()

    def step(self, msg) -> None:
        """Advance by one peer message. Effects appear in the next ready().

        A message that cannot be true (drops.py) is dropped and counted in
        `dropped_messages`; nothing a peer sends raises."""
        problem = drops.misaddressed(msg, self.id, self._members)
        if problem is not None and not (problem == drops.NOT_MEMBER and msg.src == self.leader != self.id):
            # (The leader we follow is heard while it hands over: a change that
            # removed it committed here first, Leader.leave.)
            self._drop(problem)
            if problem == drops.NOT_MEMBER and type(msg) is Notification and not MALFORMED[Notification](msg):
                self._on_stranger(msg)
            return
        kind = type(msg)
        malformed = MALFORMED.get(kind)
        if malformed is not None and malformed(msg):
            self._drop(drops.MALFORMED)
            return
        if kind is Notification:
            self._on_notification(msg)
            self._settle_membership()
            return
        role = self.role
        if role is None:
            return  # LOOKING: nobody to listen to until the election is over
        handler = role.handlers.get(kind)
        if handler is not None:
            handler(msg)
            if self.lost_data and self.role is not None and self.state is _LEADING:
                self.role.lost_data_shown(msg.src)
            self._settle_membership()

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
        return self.role.propose(data)

    def propose_config(self, data: bytes) -> int:
        """Append a CONFIG entry (types.config_entry_membership) and return its
        index: ZooKeeper's reconfig. It is in force here at once (the voters of
        both the committed and the new configuration count from its entry on,
        ensemble.py) and on each learner once it holds the entry; it commits with a
        quorum of both; a leader that is no voter of it then hands over (Leader.leave).

        Refused (MembershipChangeRefused) while another change is pending, before
        this leader committed an entry of its epoch (its NOOP: until then its
        commit index may lag a change an earlier leader committed), or for data
        that carries no membership with a voter. Raises NotLeader elsewhere."""
        if self.state is not _LEADING:
            raise NotLeader(self._leader_hint())
        if self.phase is not _BROADCAST:
            raise MembershipChangeRefused(
                f"the leader of epoch {self.accepted_epoch} has not committed an entry of its epoch yet: try again"
            )
        log = self.log
        if log.configs.pending(log.committed):
            raise MembershipChangeRefused(
                f"another membership change (log index {log.configs.latest_index}) is not committed yet"
            )
        membership = config_entry_membership(data)
        if membership is None:
            raise MembershipChangeRefused("not a membership with at least one voter")
        problem = _membership_problem(membership)
        if problem is not None:
            raise MembershipChangeRefused(problem)
        return self.role.propose(data, EntryKind.CONFIG)

    @property
    def configs(self) -> ConfigHistory:
        """The configurations of this node's log; `configs.latest` is in force."""
        return self.log.configs

    @property
    def members(self) -> frozenset[NodeId]:
        """Every node of a configuration in play (the committed one and, while a
        change is pending, the new one): the peers this engine talks to and hears.
        It also hears strangers' notifications (a removed node, a leader of a
        configuration it has not seen yet) and may answer them."""
        return self._members

    def read_index(self, ctx: int, lease: bool = False) -> None:
        """Ask for a linearizable read point for `ctx` (ZooKeeper's sync).

        Answered by ReadState(ctx, index) in a later Ready. A learner asks its
        leader. Raises NotLeader when no leader is known. A barrier that
        cannot complete (leadership lost, message lost) is dropped: callers
        use deadlines.

        lease=True: a leader holding a valid lease (config.lease_read; the
        argument is Leader.lease_valid's) answers at once from its commit
        index; otherwise, and on a learner, the barrier.
        """
        role = self.role
        if role is None:
            raise NotLeader(None)
        role.read(ctx, lease)

    def transfer_leadership(self, to: NodeId) -> None:
        """Hand leadership to voter `to`, best effort (Leader.transfer: catch it
        up, then Handover makes every learner look at once, voting for it).
        Only a leader in BROADCAST transfers: elsewhere NotLeader names the
        leader to ask. Callers watch Ready.soft_state with a deadline, as for
        Raft. Raises ValueError if `to` is not a voter."""
        if to not in self.log.configs.latest.voters:
            raise ValueError(f"node {to} is not a voter: cannot lead")
        if self.state is not _LEADING or self.phase is not _BROADCAST:
            raise NotLeader(self._leader_hint())
        self.role.transfer(to)

    def caught_up_peers(self) -> list[NodeId]:
        return self.role.caught_up_peers() if self.state is _LEADING else []

    def report_unreachable(self, peer: NodeId) -> None:
        """The transport could not deliver to `peer`: it may have missed
        proposals, so its stream restarts from the last index it ACKed."""
        if self.state is _LEADING:
            self.role.report_unreachable(peer)

    def reset_progress(self, peer: NodeId) -> None:
        """Leader: `peer` no longer holds entries it acknowledged (Leader.reset_progress)."""
        if self.state is _LEADING:
            self.role.reset_progress(peer)

    # ===================================================================
    # Output
    # ===================================================================
    def has_ready(self) -> bool:
        role = self.role
        if role is not None:
            role.flush()
            if role.ack_due:
                return True
        return self._ready.has_ready(self._hard_tuple(), self._soft_tuple())

    def ready(self) -> Ready:
        """Everything to persist, send, apply and report, in the order of
        ready.py. Call advance() with it before asking for the next one."""
        role = self.role
        if role is not None:
            role.flush()
            if role.ack_due:
                ack = role.take_ack()
                if ack is not None:
                    self._msgs_after.append(ack)  # Rule 1
        return self._ready.ready(self._hard_tuple(), self._soft_tuple())

    def advance(self, rd: Ready) -> None:
        """The driver carried `rd` out: its writes are durable, its committed
        entries applied."""
        ready = self._ready
        ready.advance(rd)
        self._hs_durable = ready.hard_durable
        if self.state is _LEADING:
            self.role.advanced()
        self._settle_membership()

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
            self.role.status_into(progress, extra)
        elif self.state is not _LOOKING:
            extra["session"] = self.role._session
        if not self._participant:
            extra["observer"] = 1
        configs = log.configs
        extra["config_index"] = configs.latest_index
        extra["config_pending"] = int(bool(self.ensemble.pending_at))
        if self.id not in self._members:
            extra["member"] = 0
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
        """What this node reports (Ready.soft_state, status, NotLeader hints).

        A node names a leader only once that leader serves: a leader reports
        LEADER from BROADCAST on (its NOOP committed on a quorum, so propose()
        accepts), and a learner names its leader from BROADCAST on (UPTODATE,
        or the NOOP's commit, seen). Before that the leader reports LOOKING
        and a learner its role without a leader: a client that trusted an
        earlier report would forward writes to a leader that cannot take them,
        or lose the answer when the learner gives up on a leader that never
        established (its soft state would go leader -> None and the runtime
        fails the forwarded writes "outcome unknown")."""
        state = self.state
        serving = self.phase is _BROADCAST
        if state is _LEADING:
            if serving:
                return (Role.LEADER, self.id, self.accepted_epoch)
            return (Role.LOOKING, None, self.accepted_epoch)  # cannot take a write yet
        if state is _FOLLOWING:
            return (Role.FOLLOWER, self.leader if serving else None, self.accepted_epoch)
        if state is _OBSERVING:
            return (Role.OBSERVER, self.leader if serving else None, self.accepted_epoch)
        return (Role.LOOKING, None, self.accepted_epoch)

    def _leader_hint(self) -> NodeId | None:
        """The leader a NotLeader names: the one the soft state reports."""
        if self.state is _LOOKING or self.phase is not _BROADCAST:
            return None
        return self.leader

    def _become_looking(self, vote: Vote | None = None, join_round: int = 0) -> None:
        """Start an election. `vote`: our first vote, if not for ourselves (a
        leadership transfer's target, Leader.transfer); `join_round`: an election
        round under way to join (Election.start)."""
        self.role = None
        self.state = _LOOKING
        self.phase = _ELECTION
        self.leader = None
        self._resend_elapsed = 0
        own = (vote or self._own_vote()) if self._participant else None
        decision = self._election.start(own, join_round)
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

    def _become_learner(self, leader: NodeId, state: PeerState) -> None:
        self.state = state
        self.phase = ZabPhase.DISCOVERY
        self.leader = leader
        learner = self.role = Learner(self, leader, state is _OBSERVING)
        learner.start()

    def _become_leader(self) -> None:
        self.state = _LEADING
        self.phase = ZabPhase.DISCOVERY
        self.leader = self.id
        leader = self.role = Leader(self)
        leader.start()

    # ===================================================================
    # Membership (ensemble.py: whom we count; membership.py: the configurations)
    # ===================================================================
    def _apply_membership(self) -> None:
        """Derive whom we count from the configurations of our log: the newest is
        in force from its entry on; until it is known committed the committed one
        counts too (ZooKeeper's lastSeenQuorumVerifier beside its QuorumVerifier).
        A learner whose part changed (promoted, demoted) plays it from now on; the
        leader adjusts its learners. A leader no longer a voter leaves after the
        input that caused it: _settle_membership."""
        configs = self.log.configs
        committed = max(self.log.committed, self._config_known_committed)
        ensemble = self.ensemble = Ensemble.of(configs, committed)
        self._committed_digest = config_digest(configs.committed_config(committed))
        self._pending_digest = config_digest(configs.latest) if ensemble.pending_at else 0
        self._voters = ensemble.voters
        self._voter_set = frozenset(ensemble.voters)
        self._members = ensemble.members
        self._known |= ensemble.members
        self._peers = tuple(sorted(ensemble.members - {self.id}))
        self._other_voters = tuple(v for v in ensemble.voters if v != self.id)
        self._participant = self.id in self._voter_set
        self._election.set_quorums(ensemble.quorums)
        role = self.role
        if role is not None:
            role.membership_changed()
        else:
            self._recount = True  # the votes we hold may decide now (_settle_membership)

    def _on_config_change(self, latest: Membership) -> None:
        """ConfigHistory.on_change: an append, a truncation or a snapshot changed
        our newest configuration (called from inside the LogView operation)."""
        if self.log.configs.latest_index < self._config_known_committed:
            # The entry a peer told us committed was truncated away (ours was an
            # orphan): what replaces it there is not known committed.
            self._config_known_committed = 0
        self._apply_membership()

    def _settle_membership(self) -> None:
        """After each input: a pending configuration that committed leaves only the
        new one counting; a leader that is no voter of it hands over (ZooKeeper:
        COMMITANDACTIVATE names the next leader); a looking node whose quorums
        changed counts its votes again."""
        pending_at = self.ensemble.pending_at
        if pending_at and max(self.log.committed, self._config_known_committed) >= pending_at:
            self._apply_membership()
        if self.role is None:
            if self._participant and self._election.own is None and self.id in self._members:
                self._become_looking()  # we count now: vote, in a new round
            elif self._recount:
                self._recount = False
                decision = self._election.recheck()
                if decision is not None:
                    self._decide(decision)
            return
        if self.state is _LEADING and not self._participant:
            self.role.leave()  # it goes LOOKING once it handed over
        # A learner that is no member goes on: its leader stops streaming to it once
        # the change removing it committed (Leader.membership_changed), and then it
        # looks in silence; until then its log may just predate its own addition.

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
        if self.id not in self._members:
            return  # removed: we take part in no election (a removed node never campaigns)
        # A voter tells the voters. A learner or observer tells every member: one whose
        # pending change makes it a voter counts the vote it passes on.
        for peer in self._other_voters if self._participant else self._peers:
            self._send(self._notification(peer))

    def _notification(self, dst: NodeId) -> Notification:
        if self.state is _LOOKING:
            vote = self._election.proposal
            rnd = self._election.logical_clock
        else:
            vote = self._vote
            rnd = self._vote_round
        commit = max(self.log.committed, self._config_known_committed)
        # (No digest while our log never held a configuration but the bootstrap one:
        # then nobody's pending change can be the one we know committed.)
        digest = self._committed_digest if self.log.configs.latest_index else 0
        state = int(self.state)
        if vote is None or self.id not in self._members:  # an observer has no vote of its own
            return Notification(self.id, dst, rnd, 0, 0, 0, 0, state, commit, digest)
        return Notification(
            self.id, dst, rnd, vote.leader, vote.zxid, vote.index, vote.peer_epoch, state, commit, digest
        )

    def _on_stranger(self, n: Notification) -> None:
        """A notification from a node outside our configurations in play (never
        counted), but of one we held since we started.

        A leader whose commit index is past our whole log: our configuration may
        be older than the changes that made it lead (we were away, or are a new
        member whose log predates our own addition): join it (_joins_leader).
        A node looking: most likely one a change removed that missed the commit
        telling it so. Our notification carries our committed configuration,
        from which it learns that it left and falls silent (Notification.
        config_digest). Only a node with a leader answers: its notification is
        no LOOKING one, which nobody answers, so two nodes cannot echo."""
        if n.src == self.id or n.src not in self._known:
            return  # a forgery, or a stranger indeed: no node of a configuration we held or heard of
        if self._joins_leader(n):
            return
        if self.state is not _LOOKING and self.id in self._members:
            self._send(self._notification(n.src))

    def _left_by_leader(self, n: Notification) -> bool:
        """The node we follow says it is LOOKING in a later round than the one that
        made us follow it, or in that round voting for another node (within a round
        votes only get better: it will not lead in it). It will not lead us: look at
        once rather than after an election timeout of silence (our quorum may be
        one that cannot elect it: a pending change it holds and we do not)."""
        if self.state is _LOOKING or self.state is _LEADING or n.src != self.leader or n.state != _LOOKING:
            return False
        return n.election_epoch > self._vote_round or (n.election_epoch == self._vote_round and n.leader != n.src)

    def _joins_leader(self, n: Notification) -> bool:
        """Follow (or observe) a leader on its own word when it has committed
        entries past our whole log, or when we hold a change not known committed
        and the leader's log beats ours in FLE's order: the configurations we hold
        may be older than the ones that count now (or an orphan a later epoch
        truncates), so waiting for a quorum of them to follow it could last
        forever. Joining decides nothing: the leader's Discovery and Sync check
        every epoch and position (election.has_quorum_following). Leaders call
        the members that have not registered with them (Leader.tick)."""
        if self.state is not _LOOKING or n.state != _LEADING or n.leader != n.src:
            return False
        if n.commit_index <= self.log.last_index():
            if not self.ensemble.pending_at:
                return False
            theirs = Vote(n.leader, n.zxid, n.index, n.peer_epoch)
            if not total_order(theirs, self._own_vote()):
                return False
        self._decide(self._election.join(n.src, n))
        return True

    def _on_notification(self, n: Notification) -> None:
        src = n.src
        if n.state != _LOOKING and n.leader and n.leader not in self._known:
            # A member follows a node outside every configuration we held: our
            # configurations are out of date. We may join that leader when it calls
            # (_on_stranger, Leader._call_members).
            self._known |= {n.leader}
        if self._joins_leader(n):
            return
        if self._left_by_leader(n):
            self._become_looking(join_round=n.election_epoch)  # and take part in its election, below
        pending_at = self.ensemble.pending_at
        if (
            pending_at
            and self.state is not _LEADING  # (a leader learns its commits from its acks)
            and n.commit_index >= pending_at
            and n.config_digest == self._pending_digest
        ):
            # The configuration the sender's commit index covers is our pending one: it
            # is in force there, committed; we count as it does from now on. (Were our
            # entry an orphan a new leader truncates, the configuration we take is
            # still the one committed: the sender's, equal to ours.)
            self._config_known_committed = pending_at
            self._apply_membership()
        if not self._participant:
            if self.id not in self._members:
                # Removed, and a node that still counts us is looking: we answer with
                # our committed configuration (never a vote), from which it learns that
                # the change removing us committed; once per resend interval, since a
                # node whose configurations differ from ours may answer us back.
                last = self._hinted.get(src)
                if n.state == _LOOKING and (last is None or self._ticks - last >= self._resend_ticks):
                    self._hinted[src] = self._ticks
                    self._send(self._notification(src))
                return
            # Looking, observers answer nobody (that would echo between an observer
            # and a voter forever: each answers a non-voter's notification); they
            # only pass on a vote they adopted (election.py). Observing, they
            # tell a looking node whom they observe (nobody answers that): a node
            # whose pending change promotes them counts it.
            if self.state is not _LOOKING:
                if n.state == _LOOKING:
                    self._send(self._notification(src))
            elif n.leader:  # (from any member: one that sends us its vote counts us)
                decision = self._election.receive(src, n)
                self._flush_election()
                if decision is not None:
                    self._decide(decision)
            return
        if src not in self._voter_set:
            # An observer looking for the leader: tell it who leads. (Not while we
            # look ourselves: a node that counts us but not it would answer back.)
            if n.state == _LOOKING and self.state is not _LOOKING:
                self._send(self._notification(src))
            return
        if n.leader == 0:
            # A node we count without a vote: a learner a change promotes before it
            # holds the change, or a removed one telling its configuration (above).
            # With a leader we tell it ours (nobody answers that); looking, our next
            # notification brings it our vote to pass on (election.py): answering
            # here would echo with a removed node.
            if self.state is not _LOOKING:
                self._send(self._notification(src))
            return
        if n.leader not in self._members:
            # A vote names a member: a voter, or (in a change pending at the sender
            # that we do not hold yet) a learner it promotes.
            self._drop(drops.MALFORMED)
            return
        if self.state is not _LOOKING:
            if n.state == _LOOKING:
                self._send(self._notification(src))  # WorkerReceiver: help it find our leader
            return
        election = self._election
        if n.state == _LOOKING and (
            n.election_epoch < election.logical_clock
            or (
                self.ensemble.pending_at
                and n.election_epoch == election.logical_clock
                and election.proposal is not None
                and total_order(election.proposal, Vote(n.leader, n.zxid, n.index, n.peer_epoch))
            )
        ):
            # It is behind (ZooKeeper's WorkerReceiver), or - while we hold a change
            # not known committed - votes worse than we do in our round: tell it our
            # vote now, not at our next resend. Its finalize wait may end sooner, with
            # a quorum of a configuration that we know is not the only one counting.
            self._send(self._notification(src))
        # A node that lost its disk and has not caught up: its vote proves nothing, nor
        # does its report that it follows us, or that it leads (its history may lack what
        # its lost disk acknowledged: Raft's voters refuse such a candidate their grant
        # too). Its report that it follows ANOTHER node still counts: that leader counted
        # its own votes, and without it a node could not join a leader whose followers
        # all lost their disks once.
        counted = self.lost_data.counts_vote(src) or (n.state != _LOOKING and n.leader not in (self.id, src))
        decision = election.receive(src, n, counted)
        self._flush_election()
        if decision is not None:
            self._decide(decision)

    # ===================================================================
    # Helpers (the roles use them too)
    # ===================================================================
    def _lease_hold(self) -> bool:
        """Leases are allowed and we started less than election_ticks ago: we
        may have answered a leader's PING just before a restart, so we help
        no other leader in yet (Leader.lease_valid; Raft's `_in_lease`)."""
        return self.config.lease_read and self._ticks < self.config.election_ticks

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

    # ===================================================================
    # Views of the role's state, for tests and the simulator's forger
    # ===================================================================
    @property
    def _learners(self) -> dict:
        return self.role._learners if self.state is _LEADING else {}

    @property
    def _new_epoch(self) -> int | None:
        return self.role._new_epoch if self.state is _LEADING else None

    @property
    def _established(self) -> bool:
        return self.state is _LEADING and self.role._established

    @property
    def _session(self) -> int:
        return self.role._session if isinstance(self.role, Learner) else 0

    @property
    def _leader_epoch(self) -> int | None:
        return self.role._leader_epoch if isinstance(self.role, Learner) else None

    @property
    def _newleader(self):
        return self.role._newleader if isinstance(self.role, Learner) else None

    @property
    def _synced_to(self) -> int | None:
        return self.role._synced_to if isinstance(self.role, Learner) else None

    @_synced_to.setter
    def _synced_to(self, index: int | None) -> None:
        assert isinstance(self.role, Learner)
        self.role._synced_to = index


def _membership_problem(membership: Membership) -> str | None:
    """Why a configuration cannot be one (ZAB's part: ids, voters), or None."""
    ids = [m.id for m in membership.members]
    if any(node < 1 for node in ids):
        return f"node ids must be >= 1: {ids}"
    if len(set(ids)) != len(ids):
        return f"a node is listed twice: {ids}"
    if not membership.voters:
        return "a cluster needs at least one voter"
    return None


def _validate(config: EngineConfig) -> None:
    if config.membership is None:
        ids = (*config.voters, *config.observers)
        if len(set(ids)) != len(ids):
            raise ValueError(f"a node is listed twice in voters/observers: {ids}")
    bootstrap = config.bootstrap_membership()
    problem = _membership_problem(bootstrap)
    if problem is not None:
        raise ValueError(problem)
    if config.node_id not in bootstrap.ids():
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
