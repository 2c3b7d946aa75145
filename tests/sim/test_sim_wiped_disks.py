"""A node that lost its disk (issue 10, finding 4) under the simulator's wiped-disks profile.

Seeds that broke leader completeness or election safety when a node that lost
its disk still counted as a voter (each fails if the engine counts its votes:
Raft's pre-vote and vote grants, ZAB's FLE votes, FOLLOWERINFO and ACKEPOCH).
Re-pick them when the simulator draws its randomness differently (each must wipe a
disk, and fail with `LostData.mark` made a no-op; the second test checks that).
Replay one with `python -m replicator.sim --protocol P --seed S --profile wiped-disks --trace`.
"""

from __future__ import annotations

import pytest

from replicator.protocol.lost_data import LostData
from replicator.sim import run_seed

SEEDS = {"raft": (95, 105, 122, 124, 162, 233), "zab": (40, 115, 152, 245, 376)}


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
