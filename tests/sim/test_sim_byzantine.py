"""Hostile peers and lost disks under the simulator (issue 10, findings 2 and 4).

The Byzantine-lite profile (replicator/sim/forger.py documents its model)
injects replayed, foreign, misrouted, malformed and state-impossible messages
next to crashes, partitions, stalls and a lossy network. No engine may raise,
and every invariant (election safety, log matching, leader completeness, state
machine safety, committed durability, linearizable clients, liveness after
healing) must hold. SIM_BYZANTINE_SEEDS (default 60) seeds per protocol run
in CI, about 30 s per protocol on a quiet core; more on demand:

    SIM_BYZANTINE_SEEDS=1000 pytest tests/sim/test_sim_byzantine.py -q
    python -m replicator.sim --protocol zab --profile byzantine --seeds 2000
    python -m replicator.sim --protocol raft --profile byzantine --seed N --trace
"""

from __future__ import annotations

import os

import pytest

from replicator.sim import SimCluster, make_config, run_seed
from replicator.sim.trace import Trace

PROTOCOLS = ("raft", "zab")
SEEDS = int(os.environ.get("SIM_BYZANTINE_SEEDS", "60"))
BASE = 50_000  # disjoint from test_sim_protocols.py's seed ranges


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_byzantine_lite_seeds(protocol):
    failures = []
    forged = dropped = 0
    for seed in range(BASE, BASE + SEEDS):
        result = run_seed(seed, protocol, "byzantine")
        forged += result.stats.forged
        dropped += result.stats.dropped
        if not result.ok:
            failures.append(result)
    assert not failures, f"{len(failures)} of {SEEDS} seeds failed:\n" + "\n\n".join(
        r.report(tail=40) for r in failures
    )
    # The forger really forged, and the engines really refused (not a silent no-op).
    assert forged > 100 * SEEDS and dropped > forged // 4, (forged, dropped)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("snapshots", [False, True], ids=["whole-log", "compacted"])
@pytest.mark.parametrize("seed", [31, 32])
def test_a_node_whose_store_was_wiped_while_down_catches_up(protocol, snapshots, seed):
    """Finding 4: a node that lost its data directory restarts empty. The Raft
    leader kept it in probe at next = match + 1 forever (unless a compacted log
    sent it a snapshot by luck); now its progress is reset and it catches up,
    from the leader's log or by snapshot, so the liveness check (every replica
    applied the same, identical state) passes."""
    knobs = {"snapshot_entries": 20, "keep_entries": 0} if snapshots else {"snapshot_entries": 10**9}
    cfg = make_config("calm", protocol, vary=False, **knobs)
    c = SimCluster(seed, protocol, config=cfg, profile="calm", trace=Trace(tail=400))
    c.start()
    wiped = []

    def crash_a_follower():
        leader = c.leader()
        assert leader is not None, "no leader at 1 s in a calm cluster"
        victim = next(i for i in c.ids if i != leader)
        wiped.append(victim)
        c.crash(victim, "crash (scripted)")

    def wipe_and_restart():
        c.wipe_disk(wiped[0])
        c.restart(wiped[0])

    c.at(1000, crash_a_follower)
    c.at(1400, wipe_and_restart)
    result = c.run()
    assert result.ok, result.report(tail=60)
    assert c.nodes[wiped[0]].store.last_index() > 0
