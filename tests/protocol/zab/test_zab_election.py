"""Fast Leader Election, pure (election.py): total order, tallies, the finalize wait,
and joining a leader a quorum already follows (ZooKeeper FastLeaderElection)."""

import pytest

from replicator.protocol.zab.election import (
    Election,
    PeerState,
    Vote,
    has_quorum,
    has_quorum_following,
    total_order,
)
from replicator.protocol.zab.messages import Notification
from replicator.protocol.zab.zxid import make_zxid

LOOKING, FOLLOWING, LEADING = PeerState.LOOKING, PeerState.FOLLOWING, PeerState.LEADING


def vote(leader, epoch=0, index=0, peer_epoch=0):
    """A vote for `leader` whose last entry is (index, epoch) and currentEpoch peer_epoch."""
    return Vote(leader, make_zxid(epoch, 0), index, peer_epoch)


def note(src, v: Vote, rnd=1, state=LOOKING, dst=1):
    return Notification(src, dst, rnd, v.leader, v.zxid, v.index, v.peer_epoch, int(state))


# --- total order: (currentEpoch, zxid, server id) ----------------------------------------------
@pytest.mark.parametrize(
    ("new", "current", "wins"),
    [
        (vote(1, peer_epoch=3), vote(9, epoch=5, index=50, peer_epoch=2), True),  # currentEpoch first
        (vote(1, epoch=2, index=1, peer_epoch=2), vote(9, epoch=1, index=90, peer_epoch=2), True),  # then zxid epoch
        (vote(1, epoch=2, index=8, peer_epoch=2), vote(9, epoch=2, index=7, peer_epoch=2), True),  # then zxid counter
        (vote(3, epoch=2, index=8, peer_epoch=2), vote(2, epoch=2, index=8, peer_epoch=2), True),  # then server id
        (vote(2, epoch=2, index=8, peer_epoch=2), vote(3, epoch=2, index=8, peer_epoch=2), False),
        (vote(3, epoch=2, index=8, peer_epoch=2), vote(3, epoch=2, index=8, peer_epoch=2), False),  # strict
    ],
)
def test_total_order(new, current, wins):
    assert total_order(new, current) is wins


def test_tally_counts_only_voters_casting_exactly_that_vote():
    v3, v2 = vote(3), vote(2)
    voters = (1, 2, 3)
    assert not has_quorum({1: v3}, voters, v3)
    assert has_quorum({1: v3, 2: v3, 3: v2}, voters, v3)
    assert not has_quorum({1: v3, 4: v3, 5: v3}, voters, v3)  # non-voters never count
    out = {1: (vote(3, index=7), FOLLOWING, 4), 2: (vote(3, index=2), FOLLOWING, 2)}
    assert has_quorum_following(out, voters, vote(3))  # same leader: a later joiner copied it
    out = {2: (vote(3, peer_epoch=6), FOLLOWING, 7), 3: (vote(3, peer_epoch=7), LEADING, 8)}
    assert has_quorum_following(out, voters, vote(3, peer_epoch=7))  # a follower that kept its old vote counts
    assert not has_quorum_following({2: (vote(2), FOLLOWING, 7), 3: (vote(3), LEADING, 8)}, voters, vote(3))


# --- one round -----------------------------------------------------------------------------------
def test_adopts_a_better_vote_and_announces_it():
    e = Election(1, (1, 2, 3), finalize_ticks=2)
    e.start(vote(1))
    assert e.changed and e.logical_clock == 1
    e.changed = False
    assert e.receive(2, note(2, vote(2))) is None  # 2 beats 1 by id
    assert e.proposal == vote(2) and e.changed
    e.changed = False
    e.receive(3, note(3, vote(1)))  # a worse vote changes nothing
    assert e.proposal == vote(2) and not e.changed


def test_a_newer_round_empties_the_vote_box():
    e = Election(1, (1, 2, 3), finalize_ticks=2)
    e.start(vote(1, epoch=1, index=5, peer_epoch=1))
    e.receive(2, note(2, vote(2), rnd=1))
    assert 2 in e.recv
    e.receive(3, note(3, vote(3), rnd=7))  # 3 is worse than our own initial vote
    assert e.logical_clock == 7
    assert e.recv == {1: vote(1, epoch=1, index=5, peer_epoch=1), 3: vote(3)}
    assert e.proposal.leader == 1


def test_an_older_round_is_ignored():
    e = Election(1, (1, 2, 3), finalize_ticks=2)
    e.start(vote(1))
    e.start(vote(1))  # round 2
    assert e.receive(3, note(3, vote(3), rnd=1)) is None
    assert e.proposal == vote(1) and 3 not in e.recv


def test_finalize_wait_then_decide():
    e = Election(1, (1, 2, 3, 4, 5), finalize_ticks=2)
    e.start(vote(1))
    assert e.receive(3, note(3, vote(3))) is None
    assert e.receive(2, note(2, vote(3))) is None  # a quorum (1, 2, 3) agrees on 3: the wait starts
    assert e.finalize_left == 2
    assert e.tick() is None
    decision = e.tick()
    assert decision is not None and decision.vote == vote(3) and decision.state is FOLLOWING
    assert decision.election_epoch == 1


def test_a_better_vote_during_the_finalize_wait_cancels_it():
    e = Election(1, (1, 2, 3, 4, 5), finalize_ticks=2)
    e.start(vote(1))
    e.receive(3, note(3, vote(3)))
    e.receive(2, note(2, vote(3)))
    e.receive(1, note(1, vote(3)))
    assert e.finalize_left == 2
    e.tick()
    e.receive(5, note(5, vote(5, epoch=1, index=1)))  # a better vote was still in flight
    assert e.proposal.leader == 5 and e.finalize_left is None
    assert e.tick() is None and e.tick() is None  # no quorum for 5 yet: nothing decided


def test_every_vote_in_decides_at_once():
    e = Election(3, (1, 2, 3), finalize_ticks=2)
    e.start(vote(3))
    e.receive(1, note(1, vote(3), dst=3))
    decision = e.receive(2, note(2, vote(3), dst=3))
    assert decision is not None and decision.state is LEADING


def test_a_single_voter_elects_itself():
    decision = Election(1, (1,), finalize_ticks=2).start(vote(1))
    assert decision is not None and decision.state is LEADING


# --- joining a leader that already exists ---------------------------------------------------------
def test_joins_a_leader_that_a_quorum_follows():
    e = Election(1, (1, 2, 3, 4, 5), finalize_ticks=2)
    e.start(vote(1))
    elected = vote(4, epoch=2, index=9, peer_epoch=2)
    assert e.receive(2, note(2, elected, rnd=6, state=FOLLOWING)) is None
    assert e.receive(3, note(3, elected, rnd=6, state=FOLLOWING)) is None  # quorum, but 4 not heard LEADING
    decision = e.receive(4, note(4, elected, rnd=6, state=LEADING))
    assert decision is not None and decision.vote.leader == 4 and decision.state is FOLLOWING
    assert e.logical_clock == 6  # it joins the leader's round


def test_a_leader_that_went_looking_is_not_joined():
    e = Election(1, (1, 2, 3), finalize_ticks=2)
    e.start(vote(1))
    elected = vote(3, peer_epoch=2)
    e.receive(3, note(3, elected, rnd=4, state=LEADING))
    e.receive(3, note(3, vote(3), rnd=5, state=LOOKING))  # it lost its quorum meanwhile
    assert e.receive(2, note(2, elected, rnd=4, state=FOLLOWING)) is None


def test_observer_never_votes_and_only_joins_an_existing_leader():
    e = Election(4, (1, 2, 3), finalize_ticks=2)
    assert e.start(None) is None and e.proposal is None and e.recv == {}
    assert e.receive(1, note(1, vote(3), dst=4)) is None  # LOOKING votes: nothing to join
    elected = vote(3, peer_epoch=1)
    e.receive(1, note(1, elected, rnd=2, state=FOLLOWING, dst=4))
    decision = e.receive(3, note(3, elected, rnd=2, state=LEADING, dst=4))
    assert decision is not None and decision.state is PeerState.OBSERVING and decision.vote.leader == 3
