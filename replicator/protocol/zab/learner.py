"""The learner's half of ZAB (ZooKeeper's Learner: Follower and Observer), pure.

A `Learner` exists only while its node is FOLLOWING or OBSERVING one leader:
created when Fast Leader Election names that leader, dropped when the node
goes LOOKING. It registers with the leader and follows it through

DISCOVERY        FOLLOWERINFO(acceptedEpoch) with a fresh registration session;
                 LEADERINFO(newEpoch) -> durable acceptedEpoch -> ACKEPOCH.
SYNCHRONIZATION  the leader's sync marker (DIFF/TRUNC) or SNAP, the entries
                 after it, NEWLEADER -> durable log and currentEpoch -> ACK.
BROADCAST        UPTODATE (or the NOOP's commit) -> PROPOSAL -> durable write
                 -> cumulative ACK -> COMMIT; an observer gets INFORM instead.

It gives up on the leader (the node goes LOOKING) after election_ticks without
a valid message of the leader's epoch. The node (engine.py) owns the log, the
durable epochs, the outboxes and the Ready; the Learner reaches them through
`self.node`. Rules 1 and 3 of engine.py's docstring are enforced here: nothing
is ACKed before NEWLEADER is processed, and nothing at or below `_synced_to`
(the index through which our log is known to equal the leader's) is replaced.
"""

from __future__ import annotations

from replicator.protocol import drops
from replicator.protocol.snapshot_receiver import Received, SnapshotReceiver
from replicator.protocol.zab.election import PeerState, Vote
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
from replicator.protocol.zab.zxid import zxid_epoch
from replicator.types import Entry, NodeId, ReadState

_DISCOVERY = ZabPhase.DISCOVERY
_SYNC = ZabPhase.SYNCHRONIZATION
_BROADCAST = ZabPhase.BROADCAST


class Learner:
    """A FOLLOWING or OBSERVING node's state for one leader: the registration
    session, the leader's epoch, how far our log is known to equal the
    leader's, the held-back proposals and a partly received snapshot. See the
    module docstring; `node` is the ZabEngine it learns for."""

    def __init__(self, node: ZabNode, leader: NodeId, observer: bool) -> None:
        self.node = node
        self.id = node.id
        self.config = node.config
        self.log = node.log
        self.leader = leader
        self.observer = observer
        self._resend_ticks = node._resend_ticks
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
        self._resend_elapsed = 0
        self.ack_due = False  # an ACK of what the next Ready makes durable
        self._recv_snap = SnapshotReceiver()
        self.handlers = {
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
            Handover: self._on_handover,
        }

    def start(self) -> None:
        self._register()

    # --- the node's inputs, while it learns -------------------------------
    def read(self, ctx: int, lease: bool) -> None:
        """A read barrier: ask the leader (ZooKeeper's sync). A learner holds no
        lease: a lease read asked here takes the barrier too."""
        epoch = self._leader_epoch if self._leader_epoch is not None else self.node.accepted_epoch
        self.node._send(SyncReq(self.id, self.leader, epoch, ctx))

    def flush(self) -> None:
        """Nothing to batch: a learner answers each message as it comes."""

    def membership_changed(self) -> None:
        """Our configuration changed: a learner promoted to voter follows from
        now on (its ACKs count: the leader counts them from the same entry on),
        a voter demoted observes. Same registration: what we hold stays true."""
        node = self.node
        self.observer = not node._participant
        node.state = PeerState.OBSERVING if self.observer else PeerState.FOLLOWING

    def take_ack(self) -> Ack | None:
        """The cumulative ACK of everything the Ready being built makes durable
        (Rule 1: it leaves after that Ready's write)."""
        self.ack_due = False
        if not self._newleader_done or self._synced_to is None:
            return None
        index = min(self._synced_to, self.log.last_index())
        return Ack(self.id, self.leader, self._leader_epoch, self._session, index, self.node._zxid_at(index))

    def _register(self) -> None:
        """(Re)register with our leader: FOLLOWERINFO with a fresh session."""
        self.node.phase = _DISCOVERY
        self.node._session_seq += 1
        self._session = self.node._session_nonce << 32 | (self.node._session_seq & 0xFFFFFFFF)
        self._epoch_acked = False
        self._ack_epoch = None
        self._marker_seen = False
        self._synced_to = None
        self._early = {}
        self._newleader = None
        self._newleader_done = False
        self._recv_snap.reset()
        self._sync_idle_ticks = 0
        self._resend_elapsed = 0
        self.ack_due = False
        self._send_follower_info()

    def _send_follower_info(self) -> None:
        observer = self.observer
        self.node._send(FollowerInfo(self.id, self.leader, self.node.accepted_epoch, self._session, observer))

    def tick(self) -> None:
        ticks = self.config.election_ticks
        self._silent_ticks += 1
        if self._silent_ticks >= ticks:
            self.node._become_looking()  # the leader is gone (or cannot reach us)
            return
        if not self._newleader_done and not self._marker_seen:
            self._resend_elapsed += 1
            if self._resend_elapsed >= self._resend_ticks:
                self._resend_elapsed = 0
                if not self._epoch_acked:
                    self._send_follower_info()  # FOLLOWERINFO or LEADERINFO was lost
                elif self._ack_epoch is not None:
                    self.node._send(self._ack_epoch)  # ACKEPOCH was lost (or the leader waits for a quorum)
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
        if m.src != self.leader or m.session != self._session or self.node.phase is not _DISCOVERY:
            return
        if self.node._lease_hold():
            # We may have promised a lease to another leader before a restart: no
            # ACKEPOCH for a new one yet. The leader is alive; it answers our next
            # FOLLOWERINFO with LEADERINFO again.
            self._silent_ticks = 0
            return
        epoch = m.epoch
        if epoch < self.node.accepted_epoch:
            # ZAB: we promised a newer leader not to follow older epochs.
            self.node._become_looking()
            return
        if self._leader_epoch is not None and epoch != self._leader_epoch:
            # A new leadership of the same node (we registered again meanwhile):
            # it comes from another election, whose vote we do not hold. Look
            # again, so that what we tell LOOKING nodes stays true.
            self.node._become_looking()
            return
        repeat = False
        if epoch > self.node.accepted_epoch:
            self.node.accepted_epoch = epoch  # made durable before the ACKEPOCH leaves (Rule 1)
            self.node.accepted_leader = m.src
        elif self.node.accepted_leader != m.src:
            repeat = True  # we accepted this epoch from another leader: do not count us
        self._leader_epoch = epoch
        self._epoch_acked = True
        self._silent_ticks = 0
        self._sync_idle_ticks = 0
        pos = self.node._last_pos()
        ack = AckEpoch(
            self.id,
            m.src,
            epoch,
            self._session,
            self.node.current_epoch,
            pos.index,
            pos.epoch,
            pos.zxid,
            self.log.committed,
            repeat,
        )
        self._ack_epoch = ack
        self._resend_elapsed = 0
        self.node._send(ack)

    def _on_marker(self, m: Diff | Trunc) -> None:
        if not self._from_leader(m) or m.session != self._session or self._marker_seen or self._newleader_done:
            return
        log = self.log
        if m.index < log.committed:
            # Rule 3: the leader holds every committed entry, and chose the
            # point from our ACKEPOCH, which reported our commit index.
            self.node._drop(drops.CONFLICTS_COMMIT)
            return
        if not log.match_term(m.index, m.log_epoch):
            # The leader's point is not on our log: no leader that heard our
            # ACKEPOCH picks it. Wait for a true marker (the leader resends a
            # stalled sync; we register again if it never comes).
            self.node._drop(drops.OUT_OF_PHASE)
            return
        self._marker_seen = True
        self.node.phase = _SYNC
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
        if self.node.phase is _DISCOVERY:
            if not self._epoch_acked:
                return
            self.node.phase = _SYNC
        self._marker_seen = True
        self._sync_idle_ticks = 0
        log = self.log
        meta = m.meta
        count = max(meta.chunk_count, 1)
        synced = self._synced_to
        if meta.index <= log.committed and not log.may_hold(meta.index, meta.epoch):
            self.node._drop(drops.CONFLICTS_COMMIT)  # a committed entry of ours says otherwise
            return
        if meta.index <= log.committed or log.match_term(meta.index, meta.epoch):
            # We hold its last entry already, hence our log up to it equals the
            # leader's: keep the log (installing would drop entries after it
            # that we may have acked), or this is a resend after our answer
            # was lost.
            self._recv_snap.reset()
            shared = max(log.committed, meta.index)
            self._synced_to = shared if synced is None else max(synced, shared)
            log.commit_to(shared)  # a snapshot holds committed state only
            self.node._send(SnapAck(self.id, m.src, m.epoch, m.session, meta.index, count, m.chunk_index))
            self._maybe_newleader()
            return
        outcome, held, snapshot = self._recv_snap.receive((m.src, m.epoch, m.session), meta, m.chunk_index, m.data)
        if outcome is Received.REFUSED or outcome is Received.PARTIAL:
            refused = outcome is Received.REFUSED
            self.node._send(SnapAck(self.id, m.src, m.epoch, m.session, meta.index, held, m.chunk_index, refused))
            return
        if outcome is Received.MISMATCH:
            self.node._drop(drops.SNAPSHOT_MISMATCH)
            return
        # Our log after synced_to is not the leader's, and everything up to
        # meta.index is in the snapshot: nothing we acked is lost (Rule 3).
        log.restore(snapshot)
        self._synced_to = meta.index
        if self._newleader_done:
            self.ack_due = True
        self.node._send(SnapAck(self.id, m.src, m.epoch, m.session, meta.index, count, m.chunk_index))
        self._maybe_newleader()

    def _on_proposal(self, m: Proposal | Inform) -> None:
        if not self._from_leader(m):
            return
        if m.entries and self._accept_entries(m.entries):
            self._accept_early()
            self._sync_idle_ticks = 0
            if self._newleader_done:
                self.ack_due = True
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
                    self.node._drop(drops.CONFLICTS_COMMIT)
                    return False
                log.truncate_and_append(entries[i:])
                break
        self._synced_to = last_new
        return True

    def _on_new_leader(self, m: NewLeader) -> None:
        if not self._from_leader(m) or m.session != self._session:
            return
        if self._newleader_done:
            self.ack_due = True  # a duplicate: our ACK may have been lost
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
        self.node.current_epoch = nl.epoch
        self._newleader_done = True
        self._noop_index = nl.index
        self.ack_due = True
        self._sync_idle_ticks = 0
        self._follower_commit()

    def _on_up_to_date(self, m: UpToDate) -> None:
        if not self._from_leader(m) or m.session != self._session:
            return
        if not self._newleader_done:
            # UPTODATE follows our ACK of NEWLEADER in this registration.
            self.node._drop(drops.OUT_OF_PHASE)
            return
        self.node.phase = _BROADCAST
        self._learn_commit(m.commit)

    def _on_commit(self, m: Commit) -> None:
        if m.src != self.leader or m.epoch != self._leader_epoch:
            return  # another leadership's (stale)
        synced = self._synced_to
        log = self.log
        if m.zxid and synced is not None and m.index <= synced and not log.may_hold(m.index, zxid_epoch(m.zxid)):
            # A COMMIT of a zxid the leader never proposed: its entry there is
            # ours. Not a sign of the leader's life either.
            self.node._drop(drops.BEYOND_LOG)
            return
        if self._from_leader(m):
            self._learn_commit(m.index)

    def _on_ping(self, m: Ping) -> None:
        if not self._from_leader(m):
            return
        self._learn_commit(m.commit)
        index = 0
        synced = self._synced_to
        if synced is not None and self._newleader_done and self.node._hs_durable[2] == m.epoch:
            # Only what is durable, and only once this registration's
            # currentEpoch is (Rule 1): then it acks like an ACK.
            index = min(synced, self.log.stable_last_index())
        self.node._send(PingAck(self.id, m.src, m.epoch, self._session, m.round, index))

    def _on_handover(self, m: Handover) -> None:
        """Our leader hands over to `m.leader` (Leader.transfer): look at once,
        voting for it. The target votes for itself: the same vote, since it
        holds the leader's whole log."""
        if not self._from_leader(m):
            return
        node = self.node
        if m.leader not in node._voter_set:
            node._drop(drops.MALFORMED)  # only a voter can lead
            return
        if m.leader == self.id or self.observer:
            node._become_looking()
        else:
            node._become_looking(Vote(m.leader, m.zxid, m.index, m.epoch))

    def _on_sync_resp(self, m: SyncResp) -> None:
        if m.src == self.leader:
            self.node._read_states.append(ReadState(m.ctx, m.index))

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
        if self._newleader_done and self.node.phase is _SYNC and self._leader_commit >= self._noop_index:
            self.node.phase = _BROADCAST  # the NOOP committed: the leader is in BROADCAST (UPTODATE may be lost)

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
