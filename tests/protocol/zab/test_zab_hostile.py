"""Messages no correct peer sends: the ZAB engine drops and counts them (drops.py).

Each test scripts what a buggy or forged peer could send in one phase and
checks that the engine neither raises (the old engine asserted, or failed on
an unknown FLE state) nor acts on it, and that the drop is counted by reason.
Node 3 leads voters 1, 2, 3 (as in test_zab_phases.py).
"""

from __future__ import annotations

import pytest

from replicator.protocol.zab.election import PeerState
from replicator.protocol.zab.engine import ZabPhase
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
    PingAck,
    Proposal,
    Snap,
    SnapAck,
    Trunc,
    UpToDate,
)
from replicator.protocol.zab.zxid import MAX_EPOCH, make_zxid
from replicator.types import Entry, EntryKind, SnapshotMeta
from tests.protocol.zab.test_zab_phases import (
    drain,
    entry,
    established_leader,
    following,
    leading,
    new_engine,
    noop,
    note,
    run,
    synced_follower,
)


def log_state(engine):
    log = engine.log
    return (engine.state, engine.phase, engine.leader, log.last_index(), log.committed)


# --- election ---------------------------------------------------------------------------------
def test_a_notification_with_an_unknown_state_is_dropped_not_a_crash():
    """The old engine raised ValueError on PeerState(7)."""
    engine, store = new_engine(1)
    run(engine, store)
    engine.step(Notification(2, 1, 1, 2, 0, 0, 0, 7))
    engine.step(note(2, 1, 2, peer_epoch=-1))
    engine.step(note(2, 1, 2, peer_epoch=MAX_EPOCH + 1))
    assert engine.state is PeerState.LOOKING and engine._election.proposal.leader == 1
    assert engine.dropped_messages == {"malformed": 3}


def test_a_vote_for_a_non_voter_is_dropped_and_counted():
    engine, store = new_engine(1)
    run(engine, store)
    engine.step(note(2, 1, 9))
    assert engine.dropped_messages == {"malformed": 1}


def test_notifications_from_non_members_are_counted():
    engine, store = new_engine(1)
    run(engine, store)
    engine.step(note(9, 1, 9, zxid=1 << 60, index=10**9, peer_epoch=MAX_EPOCH))
    assert engine._election.proposal.leader == 1 and engine.dropped_messages == {"not_member": 1}


# --- the leader ---------------------------------------------------------------------------------
def test_an_absurd_accepted_epoch_cannot_exhaust_the_epoch_space():
    """The old leader raised AssertionError('epoch space exhausted')."""
    engine, store = leading()
    run(engine, store)
    engine.step(FollowerInfo(1, 3, MAX_EPOCH, 11))
    assert engine._new_epoch is None and engine.state is PeerState.LEADING
    assert engine.dropped_messages == {"malformed": 1}


def test_an_ack_past_the_leaders_log_is_dropped_not_a_crash():
    """The old leader asserted index <= last_index in _acked (the KeyError of Raft's finding 2)."""
    engine, store = established_leader()
    last = engine.log.last_index()
    engine.step(Ack(1, 3, 1, 11, last + 5))
    engine.step(PingAck(1, 3, 1, 11, 0, last + 5))
    assert engine._learners[1].match == last and engine.log.committed == last
    assert engine.dropped_messages == {"beyond_log": 2}


def test_an_ack_of_a_zxid_never_proposed_is_dropped():
    engine, store = established_leader()
    engine.propose(b"a")
    run(engine, store)
    engine.step(Ack(1, 3, 1, 11, 2, make_zxid(5, 1)))  # our entry 2 is of epoch 1
    assert engine.log.committed == 1 and engine.dropped_messages == {"beyond_log": 1}
    engine.step(Ack(1, 3, 1, 11, 2, make_zxid(1, 1)))
    assert engine.log.committed == 2


def test_a_ping_answer_for_a_round_never_sent_is_dropped():
    engine, store = established_leader()
    engine.step(PingAck(1, 3, 1, 11, 10**6, 0))
    assert engine._learners[1].acked_round < 10**6 and engine.dropped_messages == {"beyond_log": 1}


def test_an_ack_before_newleader_cannot_commit():
    """A learner still in discovery has not been sent NEWLEADER: its ACK would
    count a log it may not hold toward the commit quorum."""
    engine, store = leading()
    run(engine, store)
    engine.step(FollowerInfo(1, 3, 0, 11))
    engine.step(FollowerInfo(2, 3, 0, 12))
    run(engine, store)
    engine.step(AckEpoch(1, 3, 1, 11, 0, 0, 0, 0))
    run(engine, store)  # established with 1: NOOP at index 1, sync to 1 under way
    engine.step(Ack(2, 3, 1, 12, 1))  # node 2 only got LEADERINFO
    assert engine._learners[2].synced is False
    assert engine.dropped_messages == {"out_of_phase": 1}


def test_snapshot_answers_for_chunks_the_snapshot_lacks_are_dropped():
    engine, store = established_leader()
    lr = engine._learners[1]
    lr.snap_meta = SnapshotMeta(1, 1, chunk_count=2)
    engine.step(SnapAck(1, 3, 1, 11, 1, next_chunk=7, chunk_index=6))
    assert lr.snap_meta is not None and lr.snap_acked == 0
    assert engine.dropped_messages == {"beyond_log": 1}


def test_a_learner_that_lost_acked_entries_no_longer_counts():
    """Finding 4, ZAB side: a learner whose disk was wiped registers again and
    reports an empty log in ACKEPOCH. The leader had it synced at match 2: that
    match must not survive into the new registration (it would count toward
    commits it does not hold)."""
    engine, store = established_leader()
    engine.propose(b"a")
    run(engine, store)
    engine.step(Ack(1, 3, 1, 11, 2))
    run(engine, store)
    assert engine._learners[1].match == 2 and engine._learners[1].synced
    engine.step(FollowerInfo(1, 3, 0, 99 << 32 | 1))  # a new incarnation, nothing on disk
    engine.step(AckEpoch(1, 3, 1, 99 << 32 | 1, 0, 0, 0, 0))
    lr = engine._learners[1]
    assert (lr.match, lr.synced) == (0, False) and engine.progress_resets == 1
    rd = run(engine, store)
    assert rd.messages[0] == Diff(3, 1, 1, 99 << 32 | 1, 0, 0)  # synced from what it has: nothing
    assert engine.dropped_messages == {}


# --- learners -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "entries",
    [
        (entry(2, 1, 1), entry(4, 1, 2)),  # not contiguous
        (entry(2, 1, 1), entry(3, 1, 1)),  # zxids do not grow
        (entry(2, 2, 1),),  # an epoch above the message's
        (Entry(2, 1, b"", EntryKind.NORMAL, make_zxid(2, 1)),),  # a zxid of another epoch
        (entry(0, 1, 1),),  # index 0 holds no entry
    ],
)
def test_proposals_whose_entries_are_inconsistent_are_dropped(entries):
    engine, store, s = synced_follower()
    before = log_state(engine)
    engine.step(Proposal(3, 1, 1, entries))
    engine.step(Inform(3, 1, 1, entries, 1))
    assert log_state(engine) == before and not engine.has_ready()
    assert engine.dropped_messages == {"malformed": 2}


def test_a_proposal_that_replaces_a_committed_entry_is_dropped_not_a_crash():
    """The old learner asserted entry.index > committed in _accept_entries. (The
    marker check keeps synced_to >= commit; the state is set by hand to reach
    this second line of defence.)"""
    engine, store, s = synced_follower()
    engine.step(Proposal(3, 1, 1, (entry(2, 1, 1, b"a"),)))
    engine.step(Commit(3, 1, 1, 2))
    drain(engine, store)
    assert engine.log.committed == 2
    engine._synced_to = 1  # as if a resent sync had rewound us: the entry at 2 is taken again
    engine.step(Proposal(3, 1, 1, (entry(2, 0, 1, b"forged"), entry(3, 1, 2))))
    assert engine.log.entries(2, 3)[0].data == b"a"
    assert engine.dropped_messages == {"conflicts_commit": 1}


def test_a_trunc_below_our_commit_is_dropped_not_a_crash():
    """The old learner asserted m.index >= committed (Rule 3)."""
    engine, store, s = following(log=[noop(1, 1), entry(2, 1, 1), entry(3, 1, 2)], hard=(1, 3, 1, 3))
    engine.step(LeaderInfo(3, 1, 2, s))
    run(engine, store)
    engine.step(Trunc(3, 1, 2, s, 1, 1))
    assert engine.phase is ZabPhase.DISCOVERY and engine._synced_to is None
    assert engine.log.last_index() == 3 and engine.dropped_messages == {"conflicts_commit": 1}


def test_a_snap_that_contradicts_our_commit_is_dropped():
    engine, store, s = following(log=[noop(1, 1), entry(2, 1, 1)], hard=(1, 3, 1, 2))
    engine.step(LeaderInfo(3, 1, 2, s))
    run(engine, store)
    engine.step(Snap(3, 1, 2, s, SnapshotMeta(2, 2, chunk_count=1), 0, b"x"))
    assert engine._synced_to is None and engine.dropped_messages == {"conflicts_commit": 1}


def test_snap_chunks_past_the_count_or_not_adding_up_are_refused():
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 2, s))
    run(engine, store)
    meta = SnapshotMeta(5, 1, chunk_count=2, size_bytes=10)
    engine.step(Snap(3, 1, 2, s, meta, 2, b"x"))  # chunk 2 of 2
    assert engine.dropped_messages == {"malformed": 1}
    engine.step(Snap(3, 1, 2, s, meta, 0, b"abc"))
    engine.step(Snap(3, 1, 2, s, meta, 1, b"def"))  # 6 bytes, not 10
    assert all(rd.snapshot is None for rd in drain(engine, store)) and engine.log.last_index() == 0
    assert engine.dropped_messages == {"malformed": 1, "snapshot_mismatch": 1}


def test_uptodate_before_newleader_is_out_of_phase():
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    engine.step(Diff(3, 1, 1, s, 0, 0))
    engine.step(UpToDate(3, 1, 1, s, commit=1))
    assert engine.phase is ZabPhase.SYNCHRONIZATION and engine.dropped_messages == {"out_of_phase": 1}


def test_a_newleader_that_is_not_the_epochs_noop_is_malformed():
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    engine.step(Diff(3, 1, 1, s, 0, 0))
    engine.step(NewLeader(3, 1, 1, s, 1, make_zxid(1, 5)))
    engine.step(NewLeader(3, 1, 1, s, 0, make_zxid(1, 0)))
    assert engine._newleader is None and engine.dropped_messages == {"malformed": 2}


def test_a_commit_of_a_zxid_never_proposed_is_dropped():
    engine, store, s = synced_follower()
    engine.step(Proposal(3, 1, 1, (entry(2, 1, 1, b"a"),)))
    drain(engine, store)
    engine.step(Commit(3, 1, 1, 2, make_zxid(4, 1)))  # a zxid of a later epoch than the leader's
    engine.step(Commit(3, 1, 1, 2, make_zxid(0, 1)))  # our entry 2 is of epoch 1
    assert engine.log.committed == 1 and engine.dropped_messages == {"malformed": 1, "beyond_log": 1}
    engine.step(Commit(3, 1, 1, 2, make_zxid(1, 1)))
    assert engine.log.committed == 2


def test_messages_of_a_stale_epoch_are_not_counted():
    engine, store, s = synced_follower()
    engine.step(Proposal(3, 1, 0, ()))  # an older epoch
    engine.step(Commit(2, 1, 1, 1))  # not our leader: ignored
    assert engine.dropped_messages == {}


def test_a_wiped_learner_catches_up_in_a_cluster():
    """End to end in the engine harness: a follower acks everything, loses its
    store while down and restarts empty; the leader forgets its old match and
    syncs it from nothing."""
    from replicator.storage.memory_store import MemoryStore
    from tests.protocol.engine_harness import ZabCluster

    c = ZabCluster(3)
    leader = c.elect()
    c.propose(leader, b"a", b"b", b"c")
    victim = next(i for i in c.ids if i != leader)
    assert c.nodes[victim].store.last_index() == c[leader].log.last_index()
    c.crash(victim)
    c.nodes[victim].store = MemoryStore()  # the wiped disk
    c.restart(victim)
    c.elect()
    c.propose(c.leader(), b"d")
    c.tick(5)
    assert c.applied(victim) == [b"a", b"b", b"c", b"d"]
    assert c[c.leader()].progress_resets == 1
