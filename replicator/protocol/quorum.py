"""Majority arithmetic, shared by the engines: commit index and vote tallies.

Pure functions over plain values (after etcd-io/raft `quorum/`). A
configuration is a tuple of voter ids; observers never appear in it, so they
never count toward a commit or an election. Joint consensus (two majorities)
is reserved for membership changes and not implemented yet.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence

from replicator.types import NodeId


class VoteResult(enum.Enum):
    PENDING = "pending"  # neither side has a majority yet
    LOST = "lost"  # a majority can no longer be reached
    WON = "won"  # a majority granted


def majority(voter_count: int) -> int:
    """Smallest number of voters that forms a quorum."""
    assert voter_count > 0, "a configuration needs at least one voter"
    return voter_count // 2 + 1


def quorum_index(values: Iterable[int]) -> int:
    """The largest value that a majority of the given values reach.

    With one value per voter (its match index), that is the highest index a
    majority holds, i.e. the commit candidate (Raft §5.3). Also used for
    heartbeat rounds: the newest round a majority has acknowledged.
    """
    ordered = sorted(values, reverse=True)
    return ordered[majority(len(ordered)) - 1]


def committed_index(voters: Sequence[NodeId], match: Mapping[NodeId, int]) -> int:
    """Highest index held by a majority of `voters`; a missing voter holds 0."""
    return quorum_index([match.get(v, 0) for v in voters])


def vote_result(voters: Sequence[NodeId], votes: Mapping[NodeId, bool]) -> VoteResult:
    """Tally `votes` (True granted, False rejected; absent = not heard yet).

    Votes from non-voters are ignored, so a stray observer reply cannot tip it.
    """
    need = majority(len(voters))
    granted = rejected = 0
    for v in voters:
        answer = votes.get(v)
        if answer is True:
            granted += 1
        elif answer is False:
            rejected += 1
    if granted >= need:
        return VoteResult.WON
    if len(voters) - rejected >= need:
        return VoteResult.PENDING
    return VoteResult.LOST


__all__ = ["VoteResult", "committed_index", "majority", "quorum_index", "vote_result"]
