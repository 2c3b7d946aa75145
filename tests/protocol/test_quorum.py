"""Majority arithmetic (after etcd-io/raft quorum/testdata): table tests."""

import pytest

from replicator.protocol.quorum import VoteResult, committed_index, majority, quorum_index, vote_result


@pytest.mark.parametrize(("n", "need"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)])
def test_majority(n, need):
    assert majority(n) == need


@pytest.mark.parametrize(
    ("voters", "match", "index"),
    [
        ((1,), {1: 5}, 5),
        ((1, 2, 3), {1: 5, 2: 3, 3: 1}, 3),
        ((1, 2, 3), {1: 5, 2: 5, 3: 1}, 5),
        ((1, 2, 3), {1: 5}, 0),  # missing voters hold 0
        ((1, 2, 3, 4), {1: 9, 2: 8, 3: 2, 4: 1}, 2),  # even: 3 of 4 needed
        ((1, 2, 3, 4, 5), {1: 9, 2: 8, 3: 7, 4: 1, 5: 0}, 7),
        ((1, 2, 3), {1: 5, 2: 4, 3: 4, 9: 100}, 4),  # a non-voter (observer) never counts
    ],
)
def test_committed_index(voters, match, index):
    assert committed_index(voters, match) == index


def test_quorum_index_of_values():
    assert quorum_index([3, 1, 2]) == 2
    assert quorum_index([7]) == 7


@pytest.mark.parametrize(
    ("voters", "votes", "result"),
    [
        ((1,), {1: True}, VoteResult.WON),
        ((1,), {}, VoteResult.PENDING),
        ((1,), {1: False}, VoteResult.LOST),
        ((1, 2, 3), {1: True}, VoteResult.PENDING),
        ((1, 2, 3), {1: True, 2: True}, VoteResult.WON),
        ((1, 2, 3), {1: True, 2: False}, VoteResult.PENDING),
        ((1, 2, 3), {1: True, 2: False, 3: False}, VoteResult.LOST),
        ((1, 2, 3, 4), {1: True, 2: True}, VoteResult.PENDING),
        ((1, 2, 3, 4), {1: True, 2: False, 3: False}, VoteResult.LOST),
        ((1, 2, 3), {1: True, 9: True}, VoteResult.PENDING),  # non-voter's grant ignored
    ],
)
def test_vote_result(voters, votes, result):
    assert vote_result(voters, votes) is result
