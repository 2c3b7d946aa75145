"""The randomized fault run of the engine harness, for either protocol.

Message loss, reordering, duplication, partitions, crashes and compaction, chosen
by a seeded rng (the test id names the seed; the same seed replays the run).
After every step: at most one leader per term/epoch; every node applies the same
entry at each index; a committed entry a node held durably is never truncated
(nor replaced); read points are linearizable. Then everything heals and the
cluster must converge. (replicator/sim does this at scale, with a clock.)
"""

from __future__ import annotations

import random

from replicator.types import NotLeader, Role
from tests.protocol.engine_harness import Cluster


def soak(cluster: type[Cluster], seed: int, steps: int, n: int = 5, **overrides) -> Cluster:
    """Run `steps` random steps on a fresh cluster of `n` nodes, checking after each; return it
    with `stats` (how many proposals were accepted)."""
    rng = random.Random(seed)
    c = cluster(n, seed=seed, **overrides)
    leaders: dict[int, int] = {}
    committed: dict[int, tuple[int, bytes]] = {}
    held: dict[int, set[int]] = {i: set() for i in c.ids}  # committed indexes each store holds
    reads: dict[int, int] = {}  # ctx -> highest index committed anywhere when the read began
    stats = {"proposed": 0}

    def check():
        for i in c.ids:
            st = c[i].status()
            if i not in c.down and st.role is Role.LEADER:
                assert leaders.setdefault(st.epoch, i) == i, f"two leaders in term/epoch {st.epoch}"
            for rd in c.nodes[i].readies[-1:]:
                for entry in rd.committed:
                    want = (entry.epoch, entry.data)
                    assert committed.setdefault(entry.index, want) == want, (i, entry)
                for rs in rd.read_states:
                    # Linearizable: the read point covers every write committed before it began.
                    assert rs.index >= reads[rs.ctx], (rs, reads[rs.ctx])
            store = c.nodes[i].store
            snap = store.snapshot_meta()
            for index in list(held[i]):
                if snap is not None and snap.index >= index:
                    continue
                assert index >= store.first_index() - 1, (i, index)  # compacted only behind a snapshot
                assert store.term(index) == committed[index][0], f"n{i} lost committed entry {index}"
            for index, (epoch, _) in committed.items():
                if index not in held[i] and store.first_index() <= index <= store.last_index():
                    if store.term(index) == epoch:
                        held[i].add(index)

    for _ in range(steps):
        r = rng.random()
        up = [i for i in c.ids if i not in c.down]
        if r < 0.06:
            for i in up:  # one tick of global time
                c[i].tick()
        elif r < 0.55 and c.queue:
            msg = c.queue.pop(rng.randrange(len(c.queue)))  # reordering
            if rng.random() < 0.05:
                c.queue.append(msg)  # duplication
            if rng.random() > 0.1 and msg.dst not in c.down and (msg.src, msg.dst) not in c.cut:
                c[msg.dst].step(msg)
        elif r < 0.80:
            c.process_ready(rng.choice(up))
        elif r < 0.88:
            node = rng.choice(up)
            reads[len(reads) + 1] = max(c[i].log.committed for i in up)
            try:
                c[node].read_index(len(reads))
            except NotLeader:
                pass
        elif r < 0.95:
            leader = c.leader()
            if leader is not None:
                try:
                    c[leader].propose(b"p%d" % (stats["proposed"] + 1))
                    stats["proposed"] += 1
                except NotLeader:
                    pass
        elif r < 0.956:
            c.heal()
            if rng.random() < 0.4:
                minority = tuple(rng.sample(c.ids, 2))
                c.partition(minority, tuple(i for i in c.ids if i not in minority))
            if rng.random() < 0.5:
                a, b = rng.sample(c.ids, 2)
                c.cut.update({(a, b), (b, a)})
        elif r < 0.962:
            victim = rng.choice(c.ids)
            if victim in c.down:
                c.restart(victim)
            elif len(c.down) < 2:
                c.crash(victim)
        else:
            node = c.nodes[rng.choice(up)]
            if node.applied_index - (node.store.first_index() - 1) > 10:
                snap = node.take_snapshot()
                node.store.save_snapshot(snap)
                node.store.compact(snap.meta.index - 2)
        check()

    # Liveness: heal everything; the cluster converges.
    c.heal()
    for i in list(c.down):
        c.restart(i)
    leader = c.elect(limit=400)
    c.propose(leader, b"final")
    c.tick(3 * c[leader].config.election_ticks)  # a stalled snapshot stream resends after a timeout
    check()
    final = c.applied(leader)
    assert final[-1] == b"final"
    assert all(c.applied(i) == final for i in c.ids)
    c.stats = stats
    return c
