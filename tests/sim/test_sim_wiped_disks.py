"""A node that lost its disk (issue 10, finding 4) under the simulator's wiped-disks profile.

Seeds that broke leader completeness or election safety when a node that lost
its disk still counted as a voter (each fails if the engine counts its votes:
Raft's pre-vote and vote grants, ZAB's FLE votes, FOLLOWERINFO and ACKEPOCH).
Replay one with `python -m replicator.sim --protocol P --seed S --profile wiped-disks --trace`.
"""

from __future__ import annotations

import pytest

from replicator.sim import run_seed

SEEDS = {"raft": (1, 38, 67, 153), "zab": (9, 31, 49, 140, 161)}


@pytest.mark.parametrize("protocol, seed", [(p, s) for p, seeds in SEEDS.items() for s in seeds])
def test_a_node_that_lost_its_disk_never_helps_elect_a_leader_without_committed_entries(protocol, seed):
    result = run_seed(seed, protocol, "wiped-disks")
    assert result.stats.wiped_disks > 0, "the seed no longer wipes a disk: pick another"
    assert result.ok, result.report(tail=40)
