"""A peer that lost its disk (protocol/lost_data.py): its votes do not count until it caught up."""

from __future__ import annotations

from replicator.protocol.raft.messages import PreVote, RequestVote, RequestVoteResp
from replicator.types import Role
from tests.protocol.raft.test_raft_paper import new_engine, run


def test_a_candidate_does_not_count_the_grant_of_a_peer_that_lost_its_disk():
    engine, store = new_engine(voters=(1, 2, 3))
    engine.peer_lost_data(2, until_index=5)
    engine.campaign()
    run(engine, store)
    engine.step(RequestVoteResp(2, 1, engine.term))  # an empty voter grants anyone
    assert engine.role is Role.CANDIDATE
    engine.step(RequestVoteResp(3, 1, engine.term))
    assert engine.role is Role.LEADER


def test_a_vote_request_does_not_clear_the_suspicion():
    """Our commit index may lag the cluster's: a peer that reached it may still lack
    entries committed with its lost copy."""
    engine, store = new_engine(voters=(1, 2, 3))
    engine.peer_lost_data(2, until_index=5)
    engine.step(RequestVote(2, 1, 1, last_index=50, last_term=1))
    assert not engine.lost_data.counts_vote(2)


def test_a_voter_grants_nothing_to_a_candidate_that_lost_its_disk():
    """Found by the simulator (raft seed 20636): the candidate counts its own vote, and
    its log lacked entries its lost disk had acknowledged. Our grant, with the only
    other holder of those entries away, elected it without them."""
    engine, store = new_engine(voters=(1, 2, 3), terms=(1, 1, 1))
    engine.peer_lost_data(2, until_index=3)

    def answer(request):
        engine.step(request)
        rd = run(engine, store)
        (reply,) = [*rd.messages, *rd.messages_after_persist]
        return reply

    assert answer(PreVote(2, 1, 2, last_index=9, last_term=1)).reject
    assert answer(RequestVote(2, 1, 2, last_index=9, last_term=1)).reject
    assert engine.vote != 2
    engine.lost_data.forgive(2)  # the leader's word that it caught up
    assert not answer(RequestVote(2, 1, 3, last_index=9, last_term=1)).reject
    assert engine.vote == 2
