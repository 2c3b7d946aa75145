"""Randomized membership changes in the ZAB engine harness, under the faults of
tests/protocol/soak.py (loss, reordering, duplication, partitions, crashes,
compaction): learners added (always under a new id, with a fresh store), promoted,
demoted to observers, voters and learners removed, the leader among them.

After every step: at most one leader per epoch across configurations; every node
applies the same entry at each index; when an entry is first applied anywhere, a
quorum of the voters of the configuration in force holds it durably (a
configuration entry: of the one before too); a committed entry a node held
durably is never truncated. At the end everything heals and the members of
the final configuration converge on one leader and one history. The test id names
the seed; the same seed replays the run.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from replicator.protocol.membership import MembershipChangeRefused
from replicator.types import ClusterMember, EntryKind, MemberRole, Membership, NotLeader, Role, config_entry_membership
from tests.protocol.zab.membership_harness import LEARNER, OBSERVER, VOTER, MemberCluster, config_data, voters

MAX_NODES = 9


def membership_soak(seed: int, steps: int) -> dict[str, int]:
    rng = random.Random(seed)
    c = MemberCluster(3, seed=seed, election_ticks=10)
    leaders: dict[int, int] = {}
    committed: dict[int, tuple[int, bytes]] = {}
    held: dict[int, set[int]] = {i: set() for i in c.ids}
    stats = {"proposed": 0, "changes": 0, "refused": 0}
    next_id = 4
    # The configurations committed so far, (index, membership), in index order.
    configs: list[tuple[int, Membership]] = [(0, voters(1, 2, 3))]
    seen: dict[object, int] = {}  # readies checked, per node object (a restart makes a new one)

    def holders(index: int, epoch: int) -> set[int]:
        """The nodes whose store holds the entry at `index` (of `epoch`) durably."""
        out = set()
        for j, node in c.nodes.items():
            store = node.store
            snap = store.snapshot_meta()
            if snap is not None and snap.index >= index:
                out.add(j)
            elif store.first_index() <= index <= store.last_index() and store.term(index) == epoch:
                out.add(j)
        return out

    def check_quorum(entry, configured: bool) -> None:
        """The first time an entry is applied anywhere, a quorum of the configuration in
        force holds it; a configuration entry, a quorum of the one before too (the
        joint rule: ZooKeeper's reconfig). A removed node never counts: only voters do."""
        have = holders(entry.index, entry.epoch)
        needed = [configs[-1][1]]
        if configured:
            needed.append(configs[-2][1])
        for membership in needed:
            vs = membership.voters
            assert sum(1 for v in vs if v in have) > len(vs) // 2, (
                f"entry {entry.index} committed without a quorum of {vs}: held by {sorted(have)}"
            )

    def check():
        for i in c.ids:
            st = c[i].status()
            if i not in c.down and st.role is Role.LEADER:
                assert leaders.setdefault(st.epoch, i) == i, f"two leaders in epoch {st.epoch}"
            node = c.nodes[i]
            new, seen[node] = node.readies[seen.get(node, 0) :], len(node.readies)
            for rd in new:
                for entry in rd.committed:
                    want = (entry.epoch, entry.data)
                    first = entry.index not in committed
                    assert committed.setdefault(entry.index, want) == want, (i, entry)
                    if not first:
                        continue
                    membership = config_entry_membership(entry.data) if entry.kind is EntryKind.CONFIG else None
                    if membership is not None:
                        configs.append((entry.index, membership))
                    check_quorum(entry, membership is not None)
            store = c.nodes[i].store
            snap = store.snapshot_meta()
            for index in list(held[i]):
                if snap is not None and snap.index >= index:
                    continue
                assert store.term(index) == committed[index][0], f"n{i} lost committed entry {index}"
            for index, (epoch, _) in committed.items():
                if index not in held[i] and store.first_index() <= index <= store.last_index():
                    if store.term(index) == epoch:
                        held[i].add(index)

    def change(leader: int) -> None:
        nonlocal next_id
        latest = c[leader].configs.latest
        r = rng.random()
        if r < 0.3 and next_id <= MAX_NODES:
            new = next_id
            next_id += 1
            target = latest.replace(ClusterMember(new, LEARNER))
            c.start_member(new, target)  # told the configuration it is added by
            held[new] = set()
        elif r < 0.6:
            learners = [m.id for m in latest.members if m.role != VOTER]
            if not learners:
                return
            target = latest.replace(ClusterMember(rng.choice(learners), VOTER))
        elif r < 0.7:
            if len(latest.voters) < 2:
                return
            target = latest.replace(ClusterMember(rng.choice(latest.voters), OBSERVER))
        else:
            if len(latest.members) < 2:
                return
            gone = rng.choice([m.id for m in latest.members])
            target = latest.without(gone)
            if not target.voters:
                return
        try:
            c[leader].propose_config(config_data(target, stats["changes"] + 1))
            stats["changes"] += 1
        except (MembershipChangeRefused, NotLeader):
            stats["refused"] += 1

    for _ in range(steps):
        r = rng.random()
        up = [i for i in c.ids if i not in c.down]
        if r < 0.06:
            for i in up:
                c[i].tick()
        elif r < 0.55 and c.queue:
            msg = c.queue.pop(rng.randrange(len(c.queue)))
            if rng.random() < 0.05:
                c.queue.append(msg)
            if rng.random() > 0.1 and msg.dst in c.nodes and msg.dst not in c.down and (msg.src, msg.dst) not in c.cut:
                c[msg.dst].step(msg)
        elif r < 0.80:
            c.process_ready(rng.choice(up))
        elif r < 0.88:
            leader = c.leader()
            if leader is not None:
                try:
                    c[leader].propose(b"p%d" % (stats["proposed"] + 1))
                    stats["proposed"] += 1
                except NotLeader:
                    pass
        elif r < 0.92:
            leader = c.leader()
            if leader is not None:
                change(leader)
        elif r < 0.926:
            c.heal()
            if rng.random() < 0.4:
                minority = tuple(rng.sample(c.ids, 2))
                c.partition(minority, tuple(i for i in c.ids if i not in minority))
            if rng.random() < 0.5:
                a, b = rng.sample(c.ids, 2)
                c.cut.update({(a, b), (b, a)})
        elif r < 0.932:
            victim = rng.choice(c.ids)
            if victim in c.down:
                c.restart(victim)
            elif len(c.down) < 2:
                c.crash(victim)
        else:
            node = c.nodes[rng.choice(up)]
            if node.applied_index - (node.store.first_index() - 1) > 10:
                snap = node.take_snapshot()
                membership = node.engine.configs.committed_config(snap.meta.index)
                snap = type(snap)(replace(snap.meta, membership=membership), snap.chunks)
                node.store.save_snapshot(snap)
                node.store.compact(snap.meta.index - 2)
        check()

    # Liveness: heal, restart everyone; the members of the newest configuration converge.
    c.heal()
    for i in list(c.down):
        c.restart(i)
    final_members = None
    for _ in range(40):
        c.tick(c[c.ids[0]].config.election_ticks)
        leader = c.leader()
        if leader is not None and not c[leader].configs.pending(c[leader].log.committed):
            final_members = tuple(sorted(c[leader].configs.latest.ids()))
            break
    assert final_members is not None, "no leader with a committed configuration: " + "\n".join(
        f"{c[i]!r} {c[i].ensemble} {c[i].configs.latest}" for i in c.ids
    )
    leader = c.settle(final_members, ticking=c.ids, limit=400)
    c.propose(leader, b"final")
    c.tick(3 * c[leader].config.election_ticks, nodes=c.ids)
    check()
    final = c.applied(leader)
    assert final[-1] == b"final"
    assert all(c.applied(i) == final for i in final_members)
    roles = {m.id: m.role for m in c[leader].configs.latest.members}
    for i in final_members:
        assert c[i].configs.latest == c[leader].configs.latest
        assert (c[i].state.name == "OBSERVING") == (roles[i] != MemberRole.VOTER) or i == leader
    return stats


@pytest.mark.parametrize("seed", range(int(__import__("os").environ.get("ZAB_MEMBERSHIP_SEEDS", "12"))))
def test_membership_soak(seed):
    print(f"membership soak seed {seed}")
    membership_soak(seed, steps=2500)


def test_the_membership_soak_changes_members():
    stats = [membership_soak(seed, steps=2500) for seed in range(3)]
    assert sum(s["changes"] for s in stats) >= 8 and sum(s["proposed"] for s in stats) >= 30, stats
