"""The leader's half of ZAB (ZooKeeper's Leader and its LearnerHandlers), pure.

A `Leader` exists only while its node is LEADING: created when Fast Leader
Election picks the node, dropped when it goes LOOKING, so nothing a leadership
owned can leak into the next role. It drives, for its own epoch:

DISCOVERY        FOLLOWERINFO from a quorum of voters -> newEpoch -> LEADERINFO;
                 a quorum of ACKEPOCHs (none ahead of us) establishes the epoch
                 and appends the NOOP, the epoch's first entry.
SYNCHRONIZATION  per learner (`_Learner`, ZooKeeper's LearnerHandler): the sync
                 sync.py chooses, the entries, NEWLEADER; a quorum's ACK of
                 NEWLEADER commits the NOOP and starts
BROADCAST        windowed PROPOSALs, cumulative ACKs, COMMIT on a quorum, PINGs
                 (heartbeats, read rounds, the lease: `lease_valid`), syncLimit
                 and initLimit; and the end of a leadership by choice
                 (`transfer`: catch the target up, then Handover).

The node (engine.py) owns what outlives a role - the log, the durable epochs,
the outboxes, the Ready - and the Leader reaches them through `self.node`.
The rules the module docstring of engine.py numbers (durability before
acknowledgement, the leader's parallel write, batching) hold here unchanged.
"""

from __future__ import annotations

import enum
from collections import deque

from replicator.protocol import drops
from replicator.protocol.log import LogView
from replicator.protocol.log_store import Compacted
from replicator.protocol.zab import sync as zsync
from replicator.protocol.zab.election import Vote
from replicator.protocol.zab.messages import (
    Ack,
    AckEpoch,
    Commit,
    Diff,
    FollowerInfo,
    Handover,
    Inform,
    LeaderInfo,
    NewLeader,
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
from replicator.protocol.zab.node import ZabNode
from replicator.protocol.zab.phase import ZabPhase
from replicator.protocol.zab.zxid import MAX_COUNTER, MAX_EPOCH, LogPos, make_zxid, zxid_epoch
from replicator.types import Entry, EntryKind, NodeId, NotLeader, PeerProgress, ReadState, SnapshotMeta

SNAPSHOT_WINDOW_CHUNKS = 4  # unacknowledged SNAP chunks per learner

_SYNC = ZabPhase.SYNCHRONIZATION
_BROADCAST = ZabPhase.BROADCAST


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


class Leader:
    """A LEADING node's state for one leadership: its learners, the epoch it
    proposes, the NOOP, the counters and the read rounds. See the module
    docstring; `node` is the ZabEngine it leads for."""

    ack_due = False  # a leader ACKs nobody (the Learner's counterpart)

    def __init__(self, node: ZabNode) -> None:
        self.node = node
        self.id = node.id
        self.config = node.config
        self.log = node.log
        self.store = node.store
        self.lost_data = node.lost_data
        self._msgs = node._msgs  # the node's outbox (cleared in place by ready())
        self._resend_ticks = node._resend_ticks
        self._stall_ticks = node._stall_ticks
        self._init_ticks = node._init_ticks
        self._learners: dict[NodeId, _Learner] = {}
        self._infos: dict[NodeId, int] = {}  # voters' acceptedEpoch (discovery)
        self._info_max = 0  # highest acceptedEpoch any learner reported
        self._new_epoch: int | None = None
        self._epoch_acks: set[NodeId] = set()
        self._established = False
        self._noop_index = 0
        self._counter = 0
        self._lead_ticks = 0
        self._check_elapsed = 0
        self._heartbeat_elapsed = 0
        self._call_elapsed = 0
        self._bcast = False
        node._ready.reset_uncommitted()
        self._read_round = 0
        self._reads_unassigned: list[tuple[int, NodeId | None, int]] = []
        self._read_queue: deque[tuple[int, int, NodeId | None, int]] = deque()
        self._reads_waiting: list[tuple[NodeId | None, int]] = []  # until BROADCAST
        # Leases (see `lease_valid`): the tick each PING round left at, until a quorum answers it.
        self._lease_ticks = lease_ticks(self.config.election_ticks)
        self._round_ticks: deque[tuple[int, int]] = deque()
        self._lease_until = 0  # lease reads are safe while node._ticks < this
        # Leadership transfer (see `transfer`): the voter we hand over to, and since when.
        self.transferee: NodeId | None = None
        self._transfer_ticks = 0
        self.leaving = False  # no voter of our committed configuration: handing over (`leave`)
        self.handlers = {
            FollowerInfo: self._on_follower_info,
            AckEpoch: self._on_ack_epoch,
            Ack: self._on_ack,
            PingAck: self._on_ping_ack,
            SnapAck: self._on_snap_ack,
            SyncReq: self._on_sync_req,
        }
        if node._participant:
            self._infos[self.id] = node.accepted_epoch
        self._info_max = node.accepted_epoch

    def start(self) -> None:
        """Discovery starts with our own acceptedEpoch (a lone voter has its quorum)."""
        self._maybe_choose_epoch()

    # --- the node's inputs, while it leads --------------------------------
    def propose(self, data: bytes, kind: EntryKind = EntryKind.NORMAL) -> int:
        """Append a client command (or a CONFIG entry: the node checked it) in
        BROADCAST (the node checked the phase)."""
        if self.transferee is not None:
            raise NotLeader(self.transferee)  # no new entries while the target catches up
        self.node._ready.admit(len(data))
        counter = self._counter + 1
        if counter > MAX_COUNTER:
            # ZooKeeper: the zxid counter would wrap; a new epoch starts it over.
            self.node._become_looking()
            raise NotLeader(None)
        log = self.log
        index = log.last_index() + 1
        epoch = self.node.current_epoch
        log.append(Entry(index, epoch, data, kind, make_zxid(epoch, counter)))
        self._counter = counter
        self._bcast = True
        return index

    def read(self, ctx: int, lease: bool) -> None:
        """A read asked on this node: from the lease when asked and valid, else
        the barrier (ZooKeeper's sync)."""
        if lease and self.lease_valid():
            self.node._read_states.append(ReadState(ctx, self.log.committed))
            return
        self._serve_read(None, ctx)

    def lease_valid(self) -> bool:
        """Whether this leader may answer a read from its commit index with no
        PING round: no other leader can have committed anything yet.

        The argument. A learner abandons its leader only after election_ticks
        of its own ticks without a valid message from it (Learner.tick), or
        when told to (Handover, which we send only after `transfer` ended our
        lease); a node that just started honours the leases it may have granted
        before for election_ticks (`lease_hold`). A new leader commits nothing
        before a quorum acked its epoch, and a voter FOLLOWING us acks no other
        epoch. So if a quorum of voters (us included) answered a PING sent at
        our tick t, each of them heard from us after t and stays with us until
        at least election_ticks - 1 of its ticks later (its first tick may come
        at once), and every quorum that could elect another leader contains one
        of them: until then our commit index is the newest. We count
        `lease_ticks(election_ticks)` of our own ticks from t: election_ticks - 1,
        less a margin for clocks that drift (a leader tick up to ~10% slower than
        a learner's, at least one tick). Process pauses are not covered: a
        paused leader's ticks do not run (lease-pauses, a known limit of leases).
        Only in BROADCAST (our NOOP committed: our commit index covers earlier
        epochs) and never during a transfer.
        """
        return (
            self.config.lease_read
            and self.transferee is None
            and self.node.phase is _BROADCAST
            and self.node._ticks < self._lease_until
        )

    def transfer(self, to: NodeId) -> None:
        """Hand leadership to voter `to` (the node checked it is one, and that
        we are in BROADCAST). Best effort, in the manner of Raft's TimeoutNow
        (thesis 3.10); ZooKeeper has no transfer outside reconfig.

        1. Stop proposing (propose() raises NotLeader naming `to`) and stop
           lease reads: the followers are about to leave us early.
        2. Stream to `to` until it ACKs our last entry (its log is ours).
        3. Send Handover(leader=`to`, our last position) to every learner and
           go LOOKING ourselves, voting for `to`. A learner that gets it goes
           LOOKING at once with that vote as its initial one; `to` votes for
           itself, which is the same vote (same position and currentEpoch).
           FLE's order only lets a strictly better vote replace it, and no
           voter has a better one (none holds more than our log), so the
           voters that heard us agree on `to` at once. Safety never rests on
           this: any node may go LOOKING at any time, and Discovery makes the
           winner step down if a quorum member is ahead of it.

        If `to` has not caught up within election_ticks we lead on. A lost
        Handover costs what a leader crash costs: its learners time out and
        elect anyone (FLE) - possibly `to`, possibly another; callers watch
        the soft state with a deadline, as for Raft.
        """
        if to == self.id:
            return
        self.transferee = to
        self._transfer_ticks = 0
        lr = self._learners.get(to)
        if lr is not None:
            lr.dirty = True  # send it what it lacks now
        self._maybe_hand_over()

    def _maybe_hand_over(self) -> None:
        to = self.transferee
        lr = self._learners.get(to) if to is not None else None
        log = self.log
        last = log.last_index()
        if lr is None or not lr.synced or lr.stage is not _Stage.BROADCAST or lr.match < last:
            return
        node = self.node
        epoch = node.current_epoch
        zxid = node._zxid_at(last)
        # Our last proposals and commit first (this role ends here): a learner then
        # counts with the configuration we leave in force, committed (`leave`).
        self.flush()
        for learner in self._learners.values():
            self._msgs.append(Handover(self.id, learner.id, epoch, to, zxid, last))
        node._become_looking(Vote(to, zxid, last, epoch))  # this object is done: return at once

    def report_unreachable(self, peer: NodeId) -> None:
        lr = self._learners.get(peer)
        if lr is not None and lr.stage is _Stage.BROADCAST:
            self._rewind(lr)

    def caught_up_peers(self) -> list[NodeId]:
        """Synced learners hold our history as of the sync: every committed entry."""
        suspected = self.lost_data.until
        return [peer for peer, lr in self._learners.items() if lr.synced and peer not in suspected]

    def lost_data_shown(self, src: NodeId) -> None:
        lr = self._learners.get(src)
        if lr is not None and lr.synced:
            self.lost_data.showed(src, lr.match)

    def advanced(self) -> None:
        """The node's Ready was carried out. Rule 2: the leader counts itself
        only for what its disk holds."""
        if not self._established:
            node = self.node
            if self._new_epoch is not None and node._hs_durable[:2] == (self._new_epoch, self.id):
                self._epoch_acks.add(self.id)
                self._maybe_establish()
        else:
            self._maybe_commit()

    def status_into(self, progress: dict[NodeId, PeerProgress], extra: dict[str, int | str]) -> None:
        for peer in self.node._peers:
            lr = self._learners.get(peer)
            if lr is None:
                progress[peer] = PeerProgress(0, 0, "sync", False)
            else:
                state = "broadcast" if lr.stage is _Stage.BROADCAST else "sync"
                progress[peer] = PeerProgress(lr.match, lr.next, state, lr.recent_active)
        if self._established:
            extra["noop_index"] = self._noop_index
            extra["pending_reads"] = len(self._reads_unassigned) + len(self._read_queue) + len(self._reads_waiting)

    def _maybe_choose_epoch(self) -> None:
        """Discovery: a quorum of voters reported their acceptedEpoch."""
        if self._new_epoch is not None:
            return
        lost = self.lost_data.until
        if not self.node.ensemble.has_quorums([v for v in self._infos if v not in lost]):
            return  # (a node that lost its disk lost its acceptedEpoch too: its promise proves nothing)
        epoch = max(self._info_max, *self._infos.values()) + 1
        if epoch > MAX_EPOCH:
            raise AssertionError("epoch space exhausted")
        self._new_epoch = epoch
        # Durable before LEADERINFO leaves and before we count ourselves (Rules 1, 2).
        self.node.accepted_epoch = epoch
        self.node.accepted_leader = self.id
        for lr in self._learners.values():
            if lr.stage is _Stage.INFO:
                self.node._send(LeaderInfo(self.id, lr.id, epoch, lr.session))

    def _maybe_establish(self) -> None:
        if self._established or self.id not in self._epoch_acks:
            return
        if self.node._lease_hold():
            return  # we may have granted a lease before a restart (tick() tries again)
        lost = self.lost_data.until
        if not self.node.ensemble.has_quorums([v for v in self._epoch_acks if v not in lost]):
            return
        self._establish()

    def _establish(self) -> None:
        """A quorum acked our epoch: it is ours alone. Start synchronization."""
        epoch = self._new_epoch
        assert epoch is not None
        self._established = True
        self.node.current_epoch = epoch  # durable with the NOOP, before NEWLEADER leaves
        self.node.phase = _SYNC
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

    def tick(self) -> None:
        config = self.config
        self._lead_ticks += 1
        if self.transferee is not None:
            self._transfer_ticks += 1
            if self._transfer_ticks >= config.election_ticks:
                if self.leaving:
                    self.node._become_looking()  # no voter caught up in time: leave all the same
                    return
                self.transferee = None  # the target did not catch up in time: lead on (as Raft)
        elif not self._established and self._new_epoch is not None:
            self._maybe_establish()  # a lease hold may have ended
        if self.node.phase is not _BROADCAST:
            if self._lead_ticks >= self._init_ticks:
                self.node._become_looking()  # no quorum synchronized in time (initLimit)
                return
        else:
            self._check_elapsed += 1
            if self._check_elapsed >= config.election_ticks:
                self._check_elapsed = 0
                if not self._quorum_active():
                    self.node._become_looking()  # syncLimit: no false leaders
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
        self._call_elapsed += 1
        if self._call_elapsed >= self._resend_ticks:
            self._call_elapsed = 0
            self._call_members()

    def _call_members(self) -> None:
        """Tell the members that have not registered with us (or went silent) that we lead. In
        ZooKeeper a learner finds its leader by election; one whose log predates
        the changes that count now (a new member, one back from a long absence)
        counts ensembles that may be gone, and would never find us
        (ZabEngine._joins_leader)."""
        node = self.node
        if node.phase is not _BROADCAST:
            return
        learners = self._learners
        for peer in node._peers:
            lr = learners.get(peer)
            if lr is None or not lr.recent_active:  # (or silent since the last check: it may look)
                node._send(node._notification(peer))

    def _quorum_active(self) -> bool:
        active = [self.id]
        for lr in self._learners.values():
            if lr.recent_active and lr.synced and not lr.observer:
                active.append(lr.id)
            lr.recent_active = False
        return self.node.ensemble.has_quorums(active)

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
        observer = src not in self.node._voter_set  # the configuration decides, not the flag
        old = self._learners.get(src)
        epoch = self._new_epoch
        if old is not None and old.session == m.session:
            old.recent_active = True
            if old.stage is _Stage.INFO and epoch is not None:
                self.node._send(LeaderInfo(self.id, src, epoch, m.session))  # it may have been lost
            return
        if old is not None and not _newer_session(m.session, old.session):
            return  # a delayed FOLLOWERINFO of a registration it has since replaced
        if epoch is not None and m.accepted_epoch > epoch:
            # It promised a newer epoch and can never follow ours: give way, so
            # that the next election picks an epoch above its acceptedEpoch.
            self.node._become_looking()
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
            self.node._send(LeaderInfo(self.id, src, epoch, m.session))

    def _on_ack_epoch(self, m: AckEpoch) -> None:
        lr = self._learner(m)
        if lr is None:
            return
        lr.recent_active = True
        if m.session != lr.session or lr.stage is not _Stage.INFO:
            return
        if lr.synced and (m.last_index < lr.match or m.current_epoch < self.node.current_epoch):
            # It acked our log through lr.match under our epoch, and now
            # reports less: it lost what it had made durable (a wiped disk).
            self.reset_progress(lr.id)
        log = self.log
        theirs = (m.current_epoch, m.last_epoch, m.last_index)
        ours = (self.node.current_epoch, log.last_term(), log.last_index())
        if theirs > ours:
            # ZooKeeper waitForEpochAck: a learner ahead of us may hold committed
            # entries we lack. We must not lead; a new election will pick it.
            self.node._become_looking()
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
        epoch = self.node.current_epoch
        if isinstance(plan, zsync.Diff):
            prev = plan.prev
            lr.marker = Diff(self.id, lr.id, epoch, lr.session, prev.index, prev.epoch, self.node._zxid_at(prev.index))
            lr.next = prev.index + 1
        elif isinstance(plan, (zsync.Trunc, zsync.TruncDiff)):
            to = plan.to
            lr.marker = Trunc(self.id, lr.id, epoch, lr.session, to.index, to.epoch, self.node._zxid_at(to.index))
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
            self.node._drop(drops.BEYOND_LOG)  # an ACK of a zxid we never proposed
            return
        if not self._established:
            lr.recent_active = True
            return
        if self._acked(lr, m.session, m.index) and lr.id == self.transferee:
            self._maybe_hand_over()

    def _acked(self, lr: _Learner, session: int, index: int) -> bool:
        """`lr` holds our log through `index` durably, and our currentEpoch.
        False if that cannot be true (the message is dropped)."""
        if index > self.log.last_index():
            # Past everything we proposed (our log does not shrink while we lead).
            self.node._drop(drops.BEYOND_LOG)
            return False
        if session == lr.session and lr.stage in (_Stage.INFO, _Stage.ACKED):
            # This registration has not been sent NEWLEADER: it cannot ACK yet.
            self.node._drop(drops.OUT_OF_PHASE)
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
            self.node._drop(drops.BEYOND_LOG)  # a round we never sent: it would confirm reads
            return
        if m.index > 0 and self._established:
            if not self._acked(lr, m.session, m.index):
                return
        lr.recent_active = True
        if not lr.observer and lr.synced and m.round > lr.acked_round:
            lr.acked_round = m.round
            self._maybe_release_reads()
        if lr.id == self.transferee:
            self._maybe_hand_over()

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
            self.node._drop(drops.BEYOND_LOG)  # chunks this snapshot does not have
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
            self._serve_read(m.src, m.ctx)

    def _maybe_commit(self) -> None:
        if not self._established:
            return
        epoch = self.node.current_epoch
        log = self.log
        own = log.stable_last_index() if self.node._hs_durable[2] == epoch else 0  # Rule 2
        matches = {lr.id: lr.match for lr in self._learners.values() if lr.synced and not lr.observer}
        matches[self.id] = own
        # A quorum of the committed configuration, and of a pending one from its entry on.
        index = self.node.ensemble.commit_index(matches)
        # Only a quorum that ACKed NEWLEADER commits, and the NOOP first: it
        # commits every older entry with it.
        if index >= self._noop_index and index > log.committed:
            log.commit_to(index)
            self._bcast = True
            if self.node.phase is _SYNC:
                self._enter_broadcast()

    def _enter_broadcast(self) -> None:
        self.node.phase = _BROADCAST
        self._check_elapsed = 0
        for lr in self._learners.values():
            lr.recent_active = True
        waiting, self._reads_waiting = self._reads_waiting, []
        for requester, ctx in waiting:
            self._serve_read(requester, ctx)

    # --- membership changes (ZooKeeper's reconfig) ------------------------------
    def membership_changed(self) -> None:
        """The node's ensemble changed: our own CONFIG entry was appended, or a
        pending one committed (our log only grows while we lead). Learners count
        as the configurations in play say; one in none of them is told our commit
        (its last message from us: it learns there that it left, as ZooKeeper's
        COMMITANDACTIVATE tells it) and forgotten. Quorums that shrank may be met."""
        node = self.node
        members = node._members
        for lr in list(self._learners.values()):
            if lr.id not in members:
                if lr.stage is _Stage.BROADCAST:
                    self._send_to(lr)
                del self._learners[lr.id]
            else:
                lr.observer = lr.id not in node._voter_set
                lr.dirty = True
        self._maybe_choose_epoch()
        self._maybe_establish()
        self._maybe_commit()

    def leave(self) -> None:
        """We are no voter of our committed configuration (the change removed or
        demoted us): stop leading. As ZooKeeper's designated leader, hand over to
        the voter that holds most of our log (`transfer`: it catches up, then
        every learner looks for it at once); with none synced, or if it has not
        caught up within election_ticks, go LOOKING plainly."""
        if self.leaving:
            return
        self.leaving = True
        best: _Learner | None = None
        for lr in self._learners.values():
            if (
                lr.synced
                and not lr.observer
                and lr.stage is _Stage.BROADCAST
                and (best is None or lr.match > best.match)
            ):
                best = lr
        if best is None or self.node.phase is not _BROADCAST:
            self.node._become_looking()
            return
        self.transfer(best.id)

    # --- learners that lost their data -------------------------------------
    def reset_progress(self, peer: NodeId) -> None:
        """Leader: `peer` no longer holds entries it acknowledged (its disk was
        wiped or damaged). Forget what it matched and that it adopted our
        epoch: it counts toward no commit and no read quorum until it ACKs
        again, after the sync its ACKEPOCH chooses (DIFF, TRUNC or SNAP).

        The one place a learner's progress is reset; also for callers that
        learn of the loss otherwise (a new incarnation of its data directory).
        """
        lr = self._learners.get(peer)
        if lr is None:
            return
        self.node.progress_resets += 1
        lr.synced = False
        lr.match = 0
        lr.acked_round = 0
        lr.inflight.clear()

    # --- sending ----------------------------------------------------------
    def flush(self) -> None:
        """Turn pending work for learners into messages (Rule 4: batching)."""
        if not self._established:
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
        epoch = self.node.current_epoch
        if lr.stage is _Stage.SYNC:
            # Synchronization: the whole log, then NEWLEADER (no window: the
            # learner ACKs nothing before NEWLEADER).
            if not self._send_entries(lr, log.last_index(), window=False):
                return
            if not lr.newleader_sent and lr.next > self._noop_index:
                noop = self._noop_index
                self.node._send(NewLeader(self.id, lr.id, epoch, lr.session, noop, make_zxid(epoch, 0)))
                lr.newleader_sent = True
            if commit > lr.sent_commit:
                msgs.append(Commit(self.id, lr.id, epoch, commit, self.node._zxid_at(commit)))
                lr.sent_commit = commit
            return
        if not lr.uptodate_sent and self.node.phase is _BROADCAST:
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
            msgs.append(Commit(self.id, lr.id, epoch, commit, self.node._zxid_at(commit)))
            lr.sent_commit = commit

    def _send_entries(self, lr: _Learner, upto: int, *, window: bool, inform: bool = False) -> bool:
        """Stream entries lr.next..upto; False if the stream switched to a snapshot."""
        log = self.log
        epoch = self.node.current_epoch
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
        zxid = meta.zxid or self.node._zxid_at(meta.index)
        # The configuration in force at its index goes with it: the learner takes it
        # (LogView.restore). A host snapshot without one gets ours at that index.
        membership = meta.membership or self.log.configs.committed_config(meta.index)
        lr.snap_meta = SnapshotMeta(
            meta.index, meta.epoch, meta.voters, meta.observers, zxid, meta.chunk_count, meta.size_bytes, membership
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
        epoch = self.node.current_epoch
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
        if self.config.lease_read:
            self._round_ticks.append((rnd, self.node._ticks))
        if self._reads_unassigned:
            for index, requester, ctx in self._reads_unassigned:
                self._read_queue.append((rnd, index, requester, ctx))
            self._reads_unassigned = []
        commit = self.log.committed if self._established else 0
        for lr in self._learners.values():
            self._msgs.append(Ping(self.id, lr.id, epoch, commit, rnd))
        self._maybe_release_reads()

    # --- reads (ZooKeeper's sync) -------------------------------------------
    def _serve_read(self, requester: NodeId | None, ctx: int) -> None:
        if self.node.phase is not _BROADCAST:
            # Until our NOOP commits, our commit index may lag entries that
            # earlier leaders committed.
            self._reads_waiting.append((requester, ctx))
            return
        index = self.log.committed
        if self.node.ensemble.has_quorums((self.id,)):
            self._deliver_read(requester, ctx, index)  # we alone are every quorum
            return
        self._reads_unassigned.append((index, requester, ctx))

    def _maybe_release_reads(self) -> None:
        """A PING round may be answered by a quorum: release the reads that
        waited for it, and extend the lease from the tick it was sent at."""
        queue = self._read_queue
        if not queue and not self._round_ticks:
            return
        rounds = {lr.id: lr.acked_round for lr in self._learners.values() if lr.synced and not lr.observer}
        rounds[self.id] = self._read_round
        confirmed = self.node.ensemble.agreed(rounds)
        sent = self._round_ticks
        if sent and sent[0][0] <= confirmed:
            while sent and sent[0][0] <= confirmed:
                tick = sent.popleft()[1]
            self._lease_until = max(self._lease_until, tick + self._lease_ticks)
        while queue and queue[0][0] <= confirmed:
            _, index, requester, ctx = queue.popleft()
            self._deliver_read(requester, ctx, index)

    def _deliver_read(self, requester: NodeId | None, ctx: int, index: int) -> None:
        if requester is None or requester == self.id:
            self.node._read_states.append(ReadState(ctx, index))
        else:
            self.node._send(SyncResp(self.id, requester, self.node.current_epoch, ctx, index))


def lease_ticks(election_ticks: int) -> int:
    """How many of the leader's ticks a lease lasts from the PING round a quorum
    answered (Leader.lease_valid): a learner stays at least election_ticks - 1
    of its ticks, and we keep a tenth of that (at least one tick) for clocks
    that drift. 0 means no lease."""
    stay = election_ticks - 1
    return max(0, stay - max(1, -(-stay // 10)))


def _newer_session(a: int, b: int) -> bool:
    """Whether registration `a` supersedes `b`: another incarnation of the
    learner (another nonce), or a later registration of the same one."""
    return (a >> 32) != (b >> 32) or (a & 0xFFFFFFFF) > (b & 0xFFFFFFFF)
