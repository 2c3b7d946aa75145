"""One ZabEngine, scripted messages in, whole Readies out: election, discovery,
synchronization and broadcast, one phase at a time (as openraft asserts whole
command lists). Node 3 leads voters 1, 2, 3 unless said otherwise.
"""

from __future__ import annotations

import random

import pytest

from replicator.protocol import EngineConfig
from replicator.protocol.ready import Ready
from replicator.protocol.zab.election import PeerState
from replicator.protocol.zab.engine import ZabEngine, ZabPhase, decode_hard_state, encode_hard_state
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
    Notification,
    Ping,
    PingAck,
    Proposal,
    SyncReq,
    SyncResp,
    Trunc,
    UpToDate,
)
from replicator.protocol.zab.zxid import make_zxid
from replicator.storage.memory_store import MemoryStore
from replicator.types import Entry, EntryKind, NotLeader, ReadState, Role, SoftState
from tests.protocol.engine_harness import blank_ready as ready
from tests.protocol.engine_harness import run_lone as run

LOOKING, FOLLOWING, LEADING = int(PeerState.LOOKING), int(PeerState.FOLLOWING), int(PeerState.LEADING)
NOOP = EntryKind.NOOP


def hs(accepted, leader, current, commit=0):
    return encode_hard_state(accepted, leader, current, commit)


def entry(index, epoch, counter, data=b"", kind=EntryKind.NORMAL):
    return Entry(index, epoch, data, kind, make_zxid(epoch, counter))


def noop(index, epoch):
    return entry(index, epoch, 0, kind=NOOP)


def new_engine(node_id=1, voters=(1, 2, 3), *, log=(), hard=None, seed=0, **overrides):
    """An engine over a MemoryStore holding `log` (entries) and hard state `hard`."""
    store = MemoryStore()
    if log or hard:
        store.save(ready(0, hard_state=hs(*hard) if hard else None, entries=tuple(log), must_sync=True))
    overrides.setdefault("election_ticks", 10)
    config = EngineConfig(node_id=node_id, voters=voters, **overrides)
    return ZabEngine(config, store, random.Random(seed)), store


def drain(engine, store) -> list[Ready]:
    out = []
    while engine.has_ready():
        out.append(run(engine, store))
    return out


def note(src, dst, leader, *, rnd=1, zxid=0, index=0, peer_epoch=0, state=LOOKING, commit=0):
    return Notification(src, dst, rnd, leader, zxid, index, peer_epoch, state, commit)


# --- election ---------------------------------------------------------------------------------
def test_a_new_node_looks_and_votes_for_itself():
    engine, _ = new_engine(1)
    assert engine.ready() == ready(
        1,
        messages=(note(1, 2, 1), note(1, 3, 1)),
        soft_state=SoftState(Role.LOOKING, None, 0),
    )
    assert engine.status().extra["phase"] == "election"


def test_follows_the_best_vote_after_the_finalize_wait():
    engine, store = new_engine(1, voters=(1, 2, 3, 4, 5))
    run(engine, store)
    engine.step(note(3, 1, 3))  # 3 beats 1 (server id)
    assert engine.ready() == ready(2, messages=tuple(note(1, d, 3) for d in (2, 3, 4, 5)))
    engine.step(note(2, 1, 3))  # 1, 2, 3 agree: a quorum of 5, wait for a better vote
    assert not engine.has_ready()
    engine.tick()
    assert engine.state is PeerState.LOOKING
    engine.tick()
    assert engine.state is PeerState.FOLLOWING and engine.leader == 3
    session = engine._session
    # Following, but it names no leader until it is in sync with one (UPTODATE).
    assert engine.ready() == ready(
        3,
        messages=(FollowerInfo(1, 3, 0, session),),
        soft_state=SoftState(Role.FOLLOWER, None, 0),
    )


def test_the_better_log_wins_over_the_higher_id():
    """A voter's (currentEpoch, last zxid) beats any server id."""
    engine, store = new_engine(3, log=[noop(1, 1), entry(2, 1, 1, b"a")], hard=(1, 3, 1, 1))
    run(engine, store)
    z = make_zxid(1, 1)
    engine.step(note(2, 3, 2, zxid=make_zxid(1, 0), index=1, peer_epoch=1))  # shorter log
    engine.step(note(1, 3, 1, zxid=z, index=2, peer_epoch=1))  # same log as ours, lower id
    assert engine._election.proposal.leader == 3
    engine.step(note(1, 3, 2, zxid=z, index=2, peer_epoch=2))  # a higher currentEpoch wins
    assert engine._election.proposal.leader == 2


def test_a_looking_node_joins_a_leader_that_a_quorum_follows():
    engine, store = new_engine(1)
    run(engine, store)
    engine.step(note(2, 1, 3, rnd=7, peer_epoch=4, state=FOLLOWING))
    assert engine.state is PeerState.LOOKING  # 3 itself has not said LEADING
    engine.step(note(3, 1, 3, rnd=7, peer_epoch=4, state=LEADING))
    assert engine.state is PeerState.FOLLOWING and engine.leader == 3


def test_a_following_node_answers_a_looking_one_with_its_leaders_vote():
    engine, store = new_engine(1)
    run(engine, store)
    engine.step(note(3, 1, 3))
    engine.step(note(2, 1, 3))  # all three agree: decided at once
    assert engine.state is PeerState.FOLLOWING
    run(engine, store)
    engine.step(note(2, 1, 2, rnd=5))
    assert engine.ready().messages == (note(1, 2, 3, rnd=1, state=FOLLOWING),)


# --- discovery and synchronization: the follower ----------------------------------------------
def following(node_id=1, **kw):
    """Node `node_id` decided to follow 3 and sent FOLLOWERINFO."""
    engine, store = new_engine(node_id, **kw)
    run(engine, store)
    engine.step(note(3, node_id, 3, zxid=1 << 40, index=99, peer_epoch=9))  # 3 is far ahead
    engine.step(note(2, node_id, 3, zxid=1 << 40, index=99, peer_epoch=9))
    assert engine.state is PeerState.FOLLOWING
    run(engine, store)
    return engine, store, engine._session


def test_follower_acks_the_epoch_only_once_it_is_durable():
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 4, s))
    assert engine.ready() == ready(
        3,
        hard_state=hs(4, 3, 0),
        must_sync=True,
        messages_after_persist=(AckEpoch(1, 3, 4, s, 0, 0, 0, 0, 0, False),),
        soft_state=SoftState(Role.FOLLOWER, None, 4),  # no leader named before UPTODATE
    )


def test_follower_refuses_an_epoch_older_than_the_one_it_accepted():
    engine, store, s = following(hard=(5, 2, 4, 0))
    engine.step(LeaderInfo(3, 1, 4, s))
    assert engine.state is PeerState.LOOKING and engine.accepted_epoch == 5


def test_an_epoch_accepted_from_another_leader_is_acked_as_a_repeat():
    engine, store, s = following(hard=(4, 2, 3, 0))
    engine.step(LeaderInfo(3, 1, 4, s))
    rd = engine.ready()
    assert rd.hard_state is None  # nothing new to promise
    assert rd.messages_after_persist == (AckEpoch(1, 3, 4, s, 3, 0, 0, 0, 0, True),)


def test_diff_sync_then_newleader_then_uptodate():
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    run(engine, store)
    n1 = noop(1, 1)
    engine.step(Diff(3, 1, 1, s, 0, 0))
    engine.step(Proposal(3, 1, 1, (n1,)))
    rd = engine.ready()
    assert rd.entries == (n1,) and rd.messages_after_persist == ()  # no ACK before NEWLEADER
    store.save(rd)
    engine.advance(rd)
    engine.step(NewLeader(3, 1, 1, s, 1, make_zxid(1, 0)))
    rd = engine.ready()
    assert rd == ready(
        5,
        hard_state=hs(1, 3, 1),  # currentEpoch, durable before the ACK
        must_sync=True,
        messages_after_persist=(Ack(1, 3, 1, s, 1, make_zxid(1, 0)),),
    )
    store.save(rd)
    engine.advance(rd)
    assert engine.phase is ZabPhase.SYNCHRONIZATION
    engine.step(UpToDate(3, 1, 1, s, commit=1))
    assert engine.phase is ZabPhase.BROADCAST
    rd = run(engine, store)
    assert rd.committed == (n1,) and rd.hard_state == hs(1, 3, 1, 1) and not rd.must_sync


def synced_follower():
    """Node 1 synced with leader 3 in epoch 1 (its NOOP at index 1), in BROADCAST."""
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    engine.step(Diff(3, 1, 1, s, 0, 0))
    engine.step(Proposal(3, 1, 1, (noop(1, 1),)))
    engine.step(NewLeader(3, 1, 1, s, 1, make_zxid(1, 0)))
    engine.step(UpToDate(3, 1, 1, s, commit=1))
    drain(engine, store)
    assert engine.phase is ZabPhase.BROADCAST and engine.log.committed == 1
    return engine, store, s


def test_proposals_commit_in_zxid_order():
    engine, store, s = synced_follower()
    number = engine._ready.number
    a, b = entry(2, 1, 1, b"a"), entry(3, 1, 2, b"b")
    engine.step(Proposal(3, 1, 1, (a,)))
    engine.step(Proposal(3, 1, 1, (b,)))
    assert engine.ready() == ready(
        number + 1,
        entries=(a, b),
        must_sync=True,
        messages_after_persist=(Ack(1, 3, 1, s, 3, make_zxid(1, 2)),),  # one ACK covers both
    )


def test_a_gap_is_dropped_and_duplicates_are_skipped():
    engine, store, s = synced_follower()
    a, b, c = entry(2, 1, 1, b"a"), entry(3, 1, 2, b"b"), entry(4, 1, 3, b"c")
    engine.step(Proposal(3, 1, 1, (c,)))  # b was lost: c cannot be appended
    assert not engine.has_ready()
    engine.step(Proposal(3, 1, 1, (a, b)))
    engine.step(Proposal(3, 1, 1, (a, b, c)))  # the leader's resend overlaps
    rd = run(engine, store)
    assert rd.entries == (a, b, c)
    engine.step(Commit(3, 1, 1, 3))
    assert [e.data for e in run(engine, store).committed] == [b"a", b"b"]


def test_messages_of_another_epoch_or_leader_are_ignored():
    engine, store, s = synced_follower()
    engine.step(Proposal(3, 1, 2, (entry(2, 2, 1, b"x"),)))  # epoch 2: not our leader's
    engine.step(Proposal(2, 1, 1, (entry(2, 1, 1, b"x"),)))  # from a non-leader
    engine.step(Commit(3, 1, 0, 1))
    assert not engine.has_ready()


def test_trunc_replaces_a_divergent_tail_in_the_same_write():
    """The learner holds an old epoch's uncommitted proposal at index 3; the new
    leader's TRUNC to 2 and its entries replace it in one durable write."""
    log = [noop(1, 1), entry(2, 1, 1, b"a"), entry(3, 1, 2, b"stale")]
    engine, store, s = following(log=log, hard=(1, 3, 1, 2))
    engine.step(LeaderInfo(3, 1, 2, s))
    ack = run(engine, store).messages_after_persist[0]
    assert (ack.last_index, ack.last_epoch, ack.commit) == (3, 1, 2)
    new = (noop(3, 2), entry(4, 2, 1, b"b"))
    engine.step(Trunc(3, 1, 2, s, 2, 1))
    assert engine.log.entries(3, 4)[0].data == b"stale"  # nothing dropped yet
    engine.step(Proposal(3, 1, 2, new))
    engine.step(NewLeader(3, 1, 2, s, 3, make_zxid(2, 0)))
    rd = run(engine, store)
    assert rd.entries == new and decode_hard_state(rd.hard_state)[2] == 2
    assert [e.data for e in store.entries(1, 5)] == [b"", b"a", b"", b"b"]


def test_a_marker_that_is_not_on_our_log_is_refused():
    engine, store, s = following(log=[noop(1, 1)], hard=(1, 3, 1, 0))
    engine.step(LeaderInfo(3, 1, 2, s))
    run(engine, store)
    engine.step(Diff(3, 1, 2, s, 1, 2))  # our entry 1 has epoch 1, not 2: no leader picks that point
    assert engine.state is PeerState.FOLLOWING and engine.phase is ZabPhase.DISCOVERY
    assert engine._synced_to is None and engine.dropped_messages == {"out_of_phase": 1}
    engine.step(Diff(3, 1, 2, s, 1, 1))  # the true marker is still taken
    assert engine.phase is ZabPhase.SYNCHRONIZATION and engine._synced_to == 1


def test_a_stale_sessions_markers_are_ignored():
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    run(engine, store)
    engine.step(Diff(3, 1, 1, s + 1, 0, 0))
    engine.step(NewLeader(3, 1, 1, s + 1, 1, make_zxid(1, 0)))
    assert engine.phase is ZabPhase.DISCOVERY and engine._synced_to is None


def test_ping_reports_the_durable_position_once_newleader_is_durable():
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    engine.step(Diff(3, 1, 1, s, 0, 0))
    engine.step(Proposal(3, 1, 1, (noop(1, 1),)))
    drain(engine, store)
    engine.step(Ping(3, 1, 1, 0, 5))
    assert run(engine, store).messages == (PingAck(1, 3, 1, s, 5, 0),)  # no NEWLEADER yet
    engine.step(NewLeader(3, 1, 1, s, 1, make_zxid(1, 0)))
    engine.step(Ping(3, 1, 1, 0, 6))
    rd = engine.ready()
    assert rd.messages == (PingAck(1, 3, 1, s, 6, 0),)  # currentEpoch not durable yet
    store.save(rd)
    engine.advance(rd)
    engine.step(Ping(3, 1, 1, 1, 7))
    assert run(engine, store).messages == (PingAck(1, 3, 1, s, 7, 1),)


def test_follower_goes_looking_when_its_leader_is_silent():
    engine, store = synced_follower()[:2]
    engine.tick()
    engine.step(Ping(3, 1, 1, 1, 1))  # the leader's silence starts now
    for _ in range(9):
        engine.tick()
    assert engine.state is PeerState.FOLLOWING
    engine.tick()
    assert engine.state is PeerState.LOOKING and engine.status().role is Role.LOOKING


# --- the leader ---------------------------------------------------------------------------------
def leading(voters=(1, 2, 3), **kw):
    """Node 3 won the election (everyone voted for it): LEADING, in DISCOVERY."""
    engine, store = new_engine(3, voters, **kw)
    run(engine, store)
    for v in voters:
        if v != 3:
            engine.step(
                note(
                    v,
                    3,
                    3,
                    zxid=engine._own_vote().zxid,
                    index=engine._own_vote().index,
                    peer_epoch=engine.current_epoch,
                )
            )
    while engine.state is PeerState.LOOKING:
        engine.tick()
    assert engine.state is PeerState.LEADING and engine.phase is ZabPhase.DISCOVERY
    return engine, store


def test_leader_picks_a_new_epoch_from_a_quorum_of_accepted_epochs():
    engine, store = leading(hard=(2, 3, 2, 0))
    run(engine, store)
    engine.step(FollowerInfo(1, 3, 6, 11))
    # Not established yet: it reports LOOKING (no leader of any epoch), with its new acceptedEpoch.
    assert engine.ready() == ready(
        3,
        hard_state=hs(7, 3, 2),
        must_sync=True,
        messages_after_persist=(LeaderInfo(3, 1, 7, 11),),
        soft_state=SoftState(Role.LOOKING, None, 7),
    )


def established_leader():
    """Node 3 leads epoch 1 with follower 1 synced; in BROADCAST."""
    engine, store = leading()
    run(engine, store)
    engine.step(FollowerInfo(1, 3, 0, 11))
    run(engine, store)  # acceptedEpoch 1 durable: the leader counts itself
    engine.step(AckEpoch(1, 3, 1, 11, 0, 0, 0, 0))
    rd = run(engine, store)
    assert rd.entries == (noop(1, 1),)
    assert rd.messages == (Diff(3, 1, 1, 11, 0, 0), Proposal(3, 1, 1, (noop(1, 1),)))
    assert rd.messages_after_persist == (NewLeader(3, 1, 1, 11, 1, make_zxid(1, 0)),)
    assert engine.phase is ZabPhase.SYNCHRONIZATION
    # Established, but it cannot take a write yet: it does not report itself leader.
    assert rd.soft_state is None and engine.status().role is Role.LOOKING
    with pytest.raises(NotLeader) as exc:
        engine.propose(b"too early")
    assert exc.value.leader is None
    engine.step(Ack(1, 3, 1, 11, 1))
    rd = run(engine, store)
    assert engine.phase is ZabPhase.BROADCAST
    assert rd.soft_state == SoftState(Role.LEADER, 3, 1)  # from now on propose() accepts
    assert rd.committed == (noop(1, 1),)
    assert rd.messages == (UpToDate(3, 1, 1, 11, 1),)
    return engine, store


def test_establishment_and_newleader_quorum():
    established_leader()


def test_many_proposals_one_message_per_follower_and_one_commit():
    engine, store = established_leader()
    number = engine._ready.number
    i1, i2, i3 = (engine.propose(d) for d in (b"a", b"b", b"c"))
    assert (i1, i2, i3) == (2, 3, 4)
    ents = (entry(2, 1, 1, b"a"), entry(3, 1, 2, b"b"), entry(4, 1, 3, b"c"))
    rd = engine.ready()
    assert rd == ready(number + 1, entries=ents, must_sync=True, messages=(Proposal(3, 1, 1, ents),))
    store.save(rd)
    engine.advance(rd)
    assert engine.log.committed == 1  # the leader alone is no quorum
    engine.step(Ack(1, 3, 1, 11, 4))
    rd = engine.ready()
    assert rd.messages == (Commit(3, 1, 1, 4, make_zxid(1, 3)),)
    assert [e.data for e in rd.committed] == [b"a", b"b", b"c"]


def test_leader_counts_itself_only_after_its_own_write():
    engine, store = established_leader()
    engine.propose(b"a")
    engine.step(Ack(1, 3, 1, 11, 2))  # the follower is faster than our disk
    rd = engine.ready()
    assert rd.committed == () and engine.log.committed == 1
    store.save(rd)
    engine.advance(rd)
    assert engine.log.committed == 2


def test_a_learner_ahead_of_the_leader_deposes_it():
    """ZooKeeper waitForEpochAck: an ACKEPOCH with a newer history means another
    node holds entries we may lack: we must not lead."""
    engine, store = leading()
    run(engine, store)
    engine.step(FollowerInfo(1, 3, 0, 11))
    run(engine, store)
    engine.step(AckEpoch(1, 3, 1, 11, current_epoch=0, last_index=5, last_epoch=0, last_zxid=0))
    assert engine.state is PeerState.LOOKING


def test_repeat_acks_do_not_establish_an_epoch():
    engine, store = leading()
    run(engine, store)
    engine.step(FollowerInfo(1, 3, 0, 11))
    run(engine, store)
    engine.step(AckEpoch(1, 3, 1, 11, 0, 0, 0, 0, repeat=True))
    assert not engine._established
    engine.step(FollowerInfo(2, 3, 0, 12))
    run(engine, store)
    engine.step(AckEpoch(2, 3, 1, 12, 0, 0, 0, 0))
    assert engine._established
    # Both are synchronized: the repeat was only kept out of the quorum.
    assert {m.dst for m in run(engine, store).messages if type(m) is Diff} == {1, 2}


def test_a_learner_with_a_newer_accepted_epoch_makes_the_leader_give_way():
    engine, store = established_leader()
    engine.step(FollowerInfo(2, 3, 5, 12))  # it promised epoch 5: it can never follow epoch 1
    assert engine.state is PeerState.LOOKING


def test_leader_without_a_quorum_goes_looking():
    engine, store = established_leader()
    ticks = engine.config.election_ticks
    for _ in range(ticks - 1):
        engine.tick()
    engine.step(PingAck(1, 3, 1, 11, 0, 1))
    engine.tick()  # the check-quorum window closes: 1 was heard in it
    assert engine.state is PeerState.LEADING
    for _ in range(ticks):
        engine.tick()
    assert engine.state is PeerState.LOOKING  # 1 went quiet for a whole window: no false leader


def test_read_barrier_on_leader_and_for_a_follower():
    engine, store = established_leader()
    engine.read_index(7)
    engine.step(SyncReq(1, 3, 1, 8))
    rd = run(engine, store)
    pings = [m for m in rd.messages if type(m) is Ping]
    assert pings and rd.read_states == ()  # a round must confirm we still lead
    engine.step(PingAck(1, 3, 1, 11, pings[-1].round, 1))
    rd = run(engine, store)
    assert rd.read_states == (ReadState(7, 1),)
    assert rd.messages == (SyncResp(3, 1, 1, 8, 1),)


def test_follower_read_asks_the_leader():
    engine, store, s = synced_follower()
    engine.read_index(5)
    assert run(engine, store).messages == (SyncReq(1, 3, 1, 5),)
    engine.step(SyncResp(3, 1, 1, 5, 9))
    assert run(engine, store).read_states == (ReadState(5, 9),)


def test_looking_node_has_no_leader_to_ask():
    engine, _ = new_engine(1)
    with pytest.raises(NotLeader) as exc:
        engine.read_index(1)
    assert exc.value.leader is None
    with pytest.raises(NotLeader):
        engine.propose(b"x")


def test_transfer_waits_for_the_target_then_hands_over():
    engine, store = established_leader()
    engine.propose(b"a")
    run(engine, store)
    engine.transfer_leadership(1)
    assert engine.state is PeerState.LEADING  # 1 lacks entry 2: no handover yet
    with pytest.raises(NotLeader) as exc:
        engine.propose(b"b")  # no new entries while the target catches up
    assert exc.value.leader == 1
    engine.step(Ack(1, 3, 1, 11, 2))
    assert engine.state is PeerState.LOOKING
    rd = engine.ready()
    assert Handover(3, 1, 1, 1, make_zxid(1, 1), 2) in rd.messages
    # We vote for the target: its vote is ours but for the server id.
    assert note(3, 2, 1, rnd=2, zxid=make_zxid(1, 1), index=2, peer_epoch=1, commit=2) in rd.messages
    assert rd.soft_state == SoftState(Role.LOOKING, None, 1)


def test_transfer_is_refused_off_a_serving_leader():
    engine, store = established_leader()
    with pytest.raises(ValueError):
        engine.transfer_leadership(9)
    follower, _, _ = following()
    with pytest.raises(NotLeader):
        follower.transfer_leadership(2)


def test_a_transfer_that_does_not_finish_in_an_election_timeout_is_abandoned():
    engine, store = established_leader()
    engine.propose(b"a")
    run(engine, store)
    engine.transfer_leadership(1)
    for _ in range(engine.config.election_ticks - 1):
        engine.tick()
        engine.step(PingAck(1, 3, 1, 11, engine._learners[1].acked_round + 1, 1))  # alive, still behind
    with pytest.raises(NotLeader):
        engine.propose(b"b")
    engine.tick()
    assert engine.state is PeerState.LEADING
    assert engine.propose(b"b") == 3  # it leads on


def test_handover_makes_a_follower_vote_for_the_target():
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    engine.step(Diff(3, 1, 1, s, 0, 0))
    engine.step(Proposal(3, 1, 1, (noop(1, 1),)))
    engine.step(NewLeader(3, 1, 1, s, 1, make_zxid(1, 0)))
    engine.step(UpToDate(3, 1, 1, s, 1))
    drain(engine, store)
    engine.step(Handover(3, 1, 1, 2, make_zxid(1, 0), 1))
    assert engine.state is PeerState.LOOKING
    assert engine._election.proposal.leader == 2
    engine.step(Handover(2, 1, 1, 2, 0, 1))  # not from our leader (we have none now): ignored
    assert engine.state is PeerState.LOOKING and engine.dropped_messages == {}


def test_handover_naming_a_non_voter_is_dropped():
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    engine.step(Handover(3, 1, 1, 9, 0, 0))
    assert engine.state is PeerState.FOLLOWING and engine.dropped_messages == {"malformed": 1}


def test_observer_gets_inform_with_committed_entries_only():
    engine, store = new_engine(3, voters=(1, 2, 3), observers=(4,))
    run(engine, store)
    for v in (1, 2):
        engine.step(note(v, 3, 3))
    engine.step(FollowerInfo(1, 3, 0, 11))
    engine.step(FollowerInfo(4, 3, 0, 44, observer=True))
    run(engine, store)
    engine.step(AckEpoch(1, 3, 1, 11, 0, 0, 0, 0))
    engine.step(AckEpoch(4, 3, 1, 44, 0, 0, 0, 0))
    run(engine, store)
    engine.step(Ack(1, 3, 1, 11, 1))
    engine.step(Ack(4, 3, 1, 44, 1))
    run(engine, store)
    assert engine.phase is ZabPhase.BROADCAST
    engine.propose(b"a")
    rd = run(engine, store)
    assert [type(m) for m in rd.messages if m.dst == 4] == []  # not committed yet: nothing for 4
    engine.step(Ack(1, 3, 1, 11, 2))
    rd = run(engine, store)
    assert [m for m in rd.messages if m.dst == 4] == [Inform(3, 4, 1, (entry(2, 1, 1, b"a"),), 2)]
    assert engine.status().progress[4].match == 1


def test_hard_state_round_trip_and_restart():
    engine, store = established_leader()
    engine.propose(b"a")
    drain(engine, store)
    assert decode_hard_state(store.hard_state())[:3] == (1, 3, 1)
    again = ZabEngine(engine.config, store, random.Random(1))
    assert (again.accepted_epoch, again.accepted_leader, again.current_epoch) == (1, 3, 1)
    assert again.log.last_index() == 2 and again.state is PeerState.LOOKING
    assert again._own_vote().peer_epoch == 1 and again._own_vote().index == 2
    with pytest.raises(ValueError):
        decode_hard_state(b"\x01" + bytes(24))  # a Raft hard state is refused


def test_status_of_the_leader():
    engine, store = established_leader()
    st = engine.status()
    assert (st.role, st.leader, st.epoch, st.commit, st.applied, st.first_index, st.last_index) == (
        Role.LEADER,
        3,
        1,
        1,
        1,
        1,
        1,
    )
    assert st.progress[1].state == "broadcast" and st.progress[1].match == 1
    assert st.progress[2].state == "sync" and not st.progress[2].recent_active
    extra = st.extra
    assert (extra["accepted_epoch"], extra["current_epoch"], extra["zxid_epoch"], extra["zxid_counter"]) == (1, 1, 1, 0)
    assert extra["phase"] == "broadcast"


# --- what TCP would have given ZooKeeper: resends and registrations -----------------------------
def test_a_sync_without_newleader_ack_is_sent_again():
    engine, store = leading()
    run(engine, store)
    engine.step(FollowerInfo(1, 3, 0, 11))
    run(engine, store)
    engine.step(AckEpoch(1, 3, 1, 11, 0, 0, 0, 0))
    first = run(engine, store)  # Diff, Proposal(NOOP), NewLeader: all lost
    for _ in range(engine._stall_ticks):
        engine.tick()
    again = drain(engine, store)
    msgs = [m for rd in again for m in rd.messages + rd.messages_after_persist if type(m) is not Ping]
    assert msgs == [m for m in first.messages + first.messages_after_persist if type(m) is not Ping]


def test_follower_resends_ackepoch_until_the_sync_starts():
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    ack = run(engine, store).messages_after_persist[0]
    for _ in range(engine._resend_ticks):
        engine.tick()
    assert run(engine, store).messages_after_persist == (ack,)


def test_a_delayed_followerinfo_of_an_older_registration_is_ignored():
    engine, store = established_leader()
    engine.step(FollowerInfo(1, 3, 1, 10))  # same incarnation (nonce 0), older registration
    assert engine._learners[1].session == 11 and engine._learners[1].stage.value == "broadcast"
    engine.step(FollowerInfo(1, 3, 1, 5 << 32 | 1))  # a new incarnation: a new registration
    assert engine._learners[1].stage.value == "info"
    assert run(engine, store).messages_after_persist == (LeaderInfo(3, 1, 1, 5 << 32 | 1),)


def test_leader_adopts_a_registration_the_learner_completed():
    """The learner registered twice; the second FOLLOWERINFO was lost, yet it synced
    (the sync of the first registration reached it): its ACK with a newer session
    brings the leader's record up to date."""
    engine, store = established_leader()
    engine.step(FollowerInfo(1, 3, 1, 12))
    run(engine, store)
    engine.propose(b"a")
    run(engine, store)
    engine.step(Ack(1, 3, 1, 13, 2))
    lr = engine._learners[1]
    assert (lr.session, lr.stage.value, lr.match) == (13, "broadcast", 2)
    assert UpToDate(3, 1, 1, 13, 2) in run(engine, store).messages


# --- who a node names as leader (Ready.soft_state) ---------------------------------------------
def test_a_follower_names_its_leader_only_once_it_is_up_to_date():
    """Regression: a follower named its leader as soon as FLE picked it. A write
    forwarded then was lost "outcome unknown" when the follower gave up on a
    leader it never synchronized with (the runtime fails forwarded writes when
    the named leader changes, to None included)."""
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    engine.step(Diff(3, 1, 1, s, 0, 0))
    engine.step(Proposal(3, 1, 1, (noop(1, 1),)))
    engine.step(NewLeader(3, 1, 1, s, 1, make_zxid(1, 0)))
    softs = [rd.soft_state for rd in drain(engine, store) if rd.soft_state is not None]
    assert all(ss.leader is None for ss in softs) and engine.status().leader is None
    engine.step(UpToDate(3, 1, 1, s, 1))
    assert run(engine, store).soft_state == SoftState(Role.FOLLOWER, 3, 1)
    assert engine.status().leader == 3


def test_a_follower_that_gives_up_on_an_unsynced_leader_never_named_it():
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    softs = [rd.soft_state for rd in drain(engine, store) if rd.soft_state is not None]
    for _ in range(engine.config.election_ticks):  # the leader never gets further
        engine.tick()
        softs += [rd.soft_state for rd in drain(engine, store) if rd.soft_state is not None]
    assert engine.state is PeerState.LOOKING
    assert softs and all(ss.leader is None for ss in softs)


def test_the_noop_commit_also_makes_a_follower_name_its_leader():
    """UPTODATE may be lost: a COMMIT of the NOOP proves the leader in BROADCAST."""
    engine, store, s = following()
    engine.step(LeaderInfo(3, 1, 1, s))
    engine.step(Diff(3, 1, 1, s, 0, 0))
    engine.step(Proposal(3, 1, 1, (noop(1, 1),)))
    engine.step(NewLeader(3, 1, 1, s, 1, make_zxid(1, 0)))
    drain(engine, store)
    engine.step(Commit(3, 1, 1, 1, make_zxid(1, 0)))
    assert run(engine, store).soft_state == SoftState(Role.FOLLOWER, 3, 1)
