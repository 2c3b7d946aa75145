"""Leadership that clients can rely on: what a ZAB node reports (Ready.soft_state)
under message loss, crashes and restarts.

A node names a leader only while that leader serves: the runtime forwards a
follower's writes to the leader it names and fails them "outcome unknown" when
the name changes, so naming a leader that cannot take writes (or that the
follower is about to give up on, never having synchronized with it) turns
into lost answers. Randomized; each test prints its seed.
"""

from __future__ import annotations

import random

import pytest

from replicator.protocol.zab.election import PeerState
from replicator.protocol.zab.engine import ZabPhase
from replicator.types import NotLeader, Role
from tests.protocol.engine_harness import ZabCluster as Cluster


class CheckedCluster(Cluster):
    """Checks every soft state as the driver would report it."""

    def process_ready(self, i, *, persist=True):
        rd = super().process_ready(i, persist=persist)
        ss = rd.soft_state if rd is not None else None
        if ss is None or i in self.down:
            return rd
        engine = self[i]
        if ss.role is Role.LEADER:
            # It can serve: a write proposed now is taken.
            assert engine.state is PeerState.LEADING and engine.phase is ZabPhase.BROADCAST, engine
            engine.propose(b"probe")
        elif ss.leader is not None:
            # A learner names only a leader that reached BROADCAST in that epoch.
            leader = self[ss.leader]
            assert engine.phase is ZabPhase.BROADCAST, engine
            if ss.leader not in self.down and leader.state is PeerState.LEADING and leader.accepted_epoch == ss.epoch:
                assert leader.phase is ZabPhase.BROADCAST, (engine, leader)
        self.reported += 1
        return rd


@pytest.mark.parametrize("seed", range(12))
def test_no_node_names_a_leader_that_cannot_serve(seed):
    print(f"seed {seed}")
    rng = random.Random(seed)
    c = CheckedCluster(5 if seed % 3 == 0 else 3, seed=seed, election_ticks=8)
    c.reported = 0
    loss = rng.choice((0.05, 0.15, 0.3))
    c.drop = lambda m: rng.random() < loss
    for _ in range(400):
        roll = rng.random()
        if roll < 0.01 and len(c.down) < (len(c.ids) - 1) // 2:
            c.crash(rng.choice([i for i in c.ids if i not in c.down]))
        elif roll < 0.03 and c.down:
            c.restart(rng.choice(sorted(c.down)))
        elif roll < 0.3:
            leader = c.leader()
            if leader is not None:
                try:
                    c[leader].propose(b"w")
                except NotLeader:
                    pass
        c.tick()
    assert c.reported > 0
