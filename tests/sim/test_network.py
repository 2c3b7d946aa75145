"""The simulated network's fault model."""

from __future__ import annotations

import random

from replicator.sim.network import NetworkConfig, SimNetwork


def test_partitions_are_symmetric_and_one_way_faults_are_not():
    net = SimNetwork(random.Random(1))
    net.partition([[1], [2, 3]])
    assert net.route(1, 2) == [] and net.route(2, 1) == []
    assert net.route(2, 3) != []
    net.heal()
    net.block(1, 2)
    assert net.route(1, 2) == [] and net.route(2, 1) != []
    assert not net.deliverable(1, 2) and net.deliverable(2, 1)  # in-flight copies are cut too
    net.heal()
    assert net.describe() == "healed"


def test_loss_duplication_and_delays_follow_the_config():
    net = SimNetwork(random.Random(2), NetworkConfig(1, 5, loss=0.2, duplicate=0.2, reorder=0.1, reorder_ms_max=50))
    copies = [net.route(1, 2) for _ in range(5000)]
    lost = sum(1 for c in copies if not c)
    dup = sum(1 for c in copies if len(c) == 2)
    assert 600 < lost < 1400 and 600 < dup < 1400
    delays = [d for c in copies for d in c]
    assert min(delays) >= 1 and max(delays) <= 55 and any(d > 5 for d in delays)


def test_same_seed_same_routes():
    a = SimNetwork(random.Random(3), NetworkConfig(loss=0.1, duplicate=0.1, straggle=0.05))
    b = SimNetwork(random.Random(3), NetworkConfig(loss=0.1, duplicate=0.1, straggle=0.05))
    assert [a.route(1, 2) for _ in range(500)] == [b.route(1, 2) for _ in range(500)]
