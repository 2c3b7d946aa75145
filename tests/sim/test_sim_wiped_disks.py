"""A node that lost its disk (issue 10, finding 4) under the simulator's wiped-disks profile.

Seeds that broke leader completeness or election safety when a node that lost
its disk still counted as a voter (each fails if the engine counts its votes:
Raft's pre-vote and vote grants, ZAB's FLE votes, FOLLOWERINFO and ACKEPOCH).
Re-pick them when the simulator draws its randomness differently (each must wipe a
disk, and fail with `LostData.mark` made a no-op; the second test checks that).
The last test's seeds need the leader's introductions of disks instead (each must
fail without them). Replay one with
`python -m replicator.sim --protocol P --seed S --profile wiped-disks --trace`.
"""

from __future__ import annotations

import pytest

from replicator.incarnations import Incarnations
from replicator.protocol.lost_data import LostData
from replicator.sim import run_seed

SEEDS = {"raft": (14, 35, 55, 78, 115, 229), "zab": (33, 183, 189, 208, 250)}


@pytest.mark.parametrize("protocol, seed", [(p, s) for p, seeds in SEEDS.items() for s in seeds])
def test_a_node_that_lost_its_disk_never_helps_elect_a_leader_without_committed_entries(protocol, seed):
    result = run_seed(seed, protocol, "wiped-disks")
    assert result.stats.wiped_disks > 0, "the seed no longer wipes a disk: pick another"
    assert result.ok, result.report(tail=40)


@pytest.mark.parametrize("protocol", sorted(SEEDS))
def test_the_seeds_fail_when_a_node_that_lost_its_disk_still_votes(protocol, monkeypatch):
    """What makes the seeds above worth running: without the engines' bookkeeping of
    lost disks, each of them elects a leader without committed entries, or two."""
    monkeypatch.setattr(LostData, "mark", lambda self, peer, until_index: None)
    still_ok = [seed for seed in SEEDS[protocol] if run_seed(seed, protocol, "wiped-disks").ok]
    assert not still_ok, f"seeds {still_ok} pass even when lost disks vote: pick others"


# A member that never heard from a peer's earlier disk, so it counted the vote of the new
# one at once; the leader's introductions (replicator/incarnations.py) tell it of that disk.
INTRODUCED = {"raft": (3477,)}


@pytest.mark.parametrize("protocol, seed", [(p, s) for p, seeds in INTRODUCED.items() for s in seeds])
def test_a_member_that_never_met_a_lost_disk_learns_of_it_from_the_leader(protocol, seed, monkeypatch):
    result = run_seed(seed, protocol, "wiped-disks")
    assert result.stats.wiped_disks > 0 and result.ok, result.report(tail=40)
    monkeypatch.setattr(Incarnations, "introduce", lambda self, peer, incarnation: None)
    without = run_seed(seed, protocol, "wiped-disks")
    assert not without.ok and without.kind != "Liveness", "passes without introductions: pick another seed"


# A candidate that lost its disk, granted votes by a member that suspected it: with the only
# other holder of some committed entries away, it won without them (a voter's grant now
# needs the candidate's disk trusted: RaftEngine._may_elect).
SUSPECT_CANDIDATE = {"raft": (2245, 2466)}


@pytest.mark.parametrize("protocol, seed", [(p, s) for p, seeds in SUSPECT_CANDIDATE.items() for s in seeds])
def test_a_member_grants_no_vote_to_a_candidate_it_suspects_of_a_lost_disk(protocol, seed, monkeypatch):
    from replicator.protocol.raft.engine import RaftEngine

    result = run_seed(seed, protocol, "wiped-disks")
    assert result.stats.wiped_disks > 0 and result.ok, result.report(tail=40)
    monkeypatch.setattr(RaftEngine, "_may_elect", lambda self, candidate: True)
    without = run_seed(seed, protocol, "wiped-disks")
    assert not without.ok and without.kind != "Liveness", "passes without the rule: pick another seed"
