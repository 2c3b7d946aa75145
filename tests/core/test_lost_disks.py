"""Lost disks at the node core (replicator/incarnations.py), driven by hand with real
engines over in-memory stores (core_harness.py): a member that never heard from a
peer's earlier disk learns of it from the leader, and so notices when the peer comes
back with a new one. The simulator's wiped-disks profile found the hole this closes
(raft seeds 20032, 20213: a leader without committed entries, two leaders in a term)."""

from __future__ import annotations

import pytest

from replicator.core.messages import Incarnation
from replicator.incarnations import CaughtUp
from replicator.sim import registers as reg
from replicator.storage.memory_store import MemoryStore
from replicator.types import Role
from tests.core.core_harness import PROTOCOLS, Answers, Cores


def write(cores: Cores, node, count: int) -> None:
    answers = Answers(count)
    node.submit_batch([("registers", reg.encode_put(b"k%d" % i, b"v")) for i in range(count)], answers)
    cores.settle(50)
    assert answers.decided == count and all(i > 0 for i in answers.indexes), answers.values


def open_links(cores: Cores, cut: frozenset[int] = frozenset()) -> None:
    """What the runtime does when links open: each live node greets every other with its
    disk (NodeCore.greeting: an Incarnation first on the link); not between the two `cut`."""
    for core in cores.live():
        for other in cores.live():
            if other is not core and {core.node_id, other.node_id} != cut:
                for msg in core.greeting(other.node_id):
                    other.receive(msg)


def wipe(cores: Cores, node_id: int, incarnation: int) -> None:
    """Node `node_id` stops and comes back with an empty disk."""
    cores.crash(node_id)
    cores.stores[node_id] = MemoryStore(incarnation=incarnation)
    cores.restart(node_id)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_leader_introduces_disks_so_a_member_that_never_met_one_notices_its_loss(protocol):
    cores = Cores(protocol)
    leader = cores.leader()
    lagging, wiped = (i for i in cores.ids if i != leader.node_id)
    open_links(cores, cut=frozenset((lagging, wiped)))  # these two never meet
    write(cores, leader, 3)
    first_disk = cores.stores[wiped].incarnation
    assert cores.stores[lagging].peers()[wiped] == (first_disk, 0)  # from the leader's CaughtUp

    wipe(cores, wiped, incarnation=0xD15C)
    cores.crash(leader.node_id)  # the only other copy of the entries is away for now
    core = cores.cores[lagging]
    core.receive(Incarnation(wiped, lagging, 0xD15C))
    cores.settle(100)
    assert core.host.engine.lost_data.until == {wiped: core.host.engine.log.last_index()}
    assert not any(c.host.role == Role.LEADER for c in cores.live())  # its vote does not count

    cores.restart(leader.node_id)
    open_links(cores)
    leader = cores.leader()
    write(cores, leader, 1)  # the new disk catches up, and the leader sees it
    cores.settle(50)
    assert not core.host.engine.lost_data  # the leader told the lagging member
    assert cores.stores[lagging].peers()[wiped] == (0xD15C, 0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_only_the_leader_it_follows_introduces_a_disk_and_never_over_one_it_knows(protocol):
    cores = Cores(protocol)
    leader = cores.leader()
    follower = cores.follower()
    other = next(i for i in cores.ids if i not in (leader.node_id, follower.node_id))
    peers = cores.stores[follower.node_id].peers
    follower.receive(CaughtUp(other, follower.node_id, other, 0xAAA))  # not from its leader
    follower.receive(CaughtUp(leader.node_id, follower.node_id, follower.node_id, 0xBBB))  # about itself
    cores.settle(1, tick=False)
    assert other not in peers() and follower.node_id not in peers()
    follower.receive(CaughtUp(leader.node_id, follower.node_id, other, 0xCCC))
    follower.receive(CaughtUp(leader.node_id, follower.node_id, other, 0xDDD))  # a known peer keeps its disk
    cores.settle(1, tick=False)
    assert peers()[other] == (0xCCC, 0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_forged_disk_ids_never_reach_the_store(protocol):
    """A store keeps a peer's disk as a non-zero u64 (LMDB packs it): an id outside that,
    or a disk of a node that is no member, is dropped before it is recorded."""
    cores = Cores(protocol)
    leader = cores.leader()
    follower = cores.follower()
    other = next(i for i in cores.ids if i not in (leader.node_id, follower.node_id))
    peers = cores.stores[follower.node_id].peers
    before = peers()
    for incarnation in (0, -1, -(2**63), 2**64, 2**70):
        follower.receive(Incarnation(other, follower.node_id, incarnation))
        follower.receive(CaughtUp(leader.node_id, follower.node_id, other, incarnation))
    follower.receive(CaughtUp(leader.node_id, follower.node_id, 99, 0x5))  # not a member
    follower.receive(CaughtUp(leader.node_id, follower.node_id, 2**70, 0x5))
    cores.settle(1, tick=False)
    assert peers() == before
    assert not follower.host.engine.lost_data
