"""A peer that lost its disk (protocol/lost_data.py): its votes do not count until it caught up."""

from __future__ import annotations

from replicator.protocol.raft.messages import RequestVote, RequestVoteResp
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
