"""Slow reads (driver.py, module docstring): queried in a worker thread while the node holds
back applying, so the leader keeps leading and the read stays atomic."""

from __future__ import annotations

import threading

import pytest
import trio

from replicator.core import node as core_node
from replicator.runtime.api import ReadConsistency
from replicator.types import Role
from statemachines.kv import KVMachine
from tests.runtime.test_node import InProcessCluster, cmd

GATED = cmd("GET", "k")  # the request GatedKV holds up


class GatedKV(KVMachine):
    """A kv machine whose query of GATED, once `armed`, waits for `gate` (in the worker
    thread): a read that takes as long as the test wants."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.entered = threading.Event()
        self.gate = threading.Event()

    def query(self, request: bytes, now_ms: int):
        if self.armed and request == GATED:
            self.armed = False
            self.entered.set()
            self.gate.wait(30)
        return super().query(request, now_ms)


async def test_a_slow_read_holds_back_apply_but_not_consensus(tmp_path):
    cluster = InProcessCluster(tmp_path)  # tick 10 ms, election after 100-200 ms
    async with trio.open_nursery() as nursery:
        leader, _ = await cluster.start_all(nursery, machines=(GatedKV,))
        assert (await leader.submit("kv", cmd("SET", "k", "v0")).wait_one()) == "OK"
        term = leader.status().epoch
        machine = leader.machines["kv"]
        machine.armed = True
        slow = leader.read_batch([("kv", GATED)], ReadConsistency.STALE, slow=True)
        await trio.to_thread.run_sync(machine.entered.wait)  # the worker thread is in the query now

        write = leader.submit("kv", cmd("SET", "k", "v1"))
        with trio.fail_after(10):  # committed on a quorum, not applied: the thread is reading
            while leader.status().commit <= leader.host.applied:
                await trio.sleep(0.01)
        linearizable = leader.read("kv", cmd("GET", "k"), ReadConsistency.LINEARIZABLE)
        # A fast read meanwhile is served inline, on the state as applied so far.
        assert (await leader.read("kv", cmd("GET", "k"), ReadConsistency.STALE).wait_one()) == b"v0"
        await trio.sleep(1.0)  # five election timeouts with the read still running
        assert not write.done and not linearizable.done
        assert leader.role == Role.LEADER and leader.status().epoch == term
        assert all(n.host.leader == leader.node_id for n in cluster.nodes.values())

        machine.gate.set()
        with trio.fail_after(10):
            assert (await slow.wait_one()) == b"v0"  # atomic: the write committed meanwhile is not seen
            assert (await write.wait_one()) == "OK"
            assert (await linearizable.wait_one()) == b"v1"  # its barrier waited for the held apply
        assert leader.status().epoch == term
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("apply_slice_s", [core_node.APPLY_SLICE_S, 0.0])
async def test_slow_reads_and_writes_take_turns(tmp_path, monkeypatch, apply_slice_s):
    """Applies wait for one round of slow reads at most, and slow reads for one round of applies:
    a steady stream of both makes progress on both sides, and every answer is right. With no
    time for a slice, held-back applies are caught up one Ready per turn of the engine loop."""
    monkeypatch.setattr(core_node, "APPLY_SLICE_S", apply_slice_s)
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        leader, follower = await cluster.start_all(nursery)
        counts = {leader.node_id: 0, follower.node_id: 0}  # slow read rounds done, per node

        async def writer(node, n):
            for i in range(n):
                assert (await node.submit("kv", cmd("INCR", f"c{node.node_id}")).wait_one()) == i + 1

        async def reader(node, rounds):
            last = 0
            for _ in range(rounds):
                reads = [("kv", cmd("KEYS", "*")), ("kv", cmd("GET", f"c{node.node_id}"))]
                _, value = await node.read_batch(reads, ReadConsistency.LINEARIZABLE, slow=True).wait()
                value = int(value or 0)
                assert value >= last  # never back in time
                last = value
                counts[node.node_id] += 1

        with trio.fail_after(30):
            async with trio.open_nursery() as inner:
                for node in (leader, follower):
                    inner.start_soon(writer, node, 200)
                    inner.start_soon(reader, node, 50)
        assert counts == {leader.node_id: 50, follower.node_id: 50}
        final = await leader.read_batch(
            [("kv", cmd("MGET", f"c{leader.node_id}", f"c{follower.node_id}"))], ReadConsistency.LINEARIZABLE, slow=True
        ).wait()
        assert final == [[b"200", b"200"]]
        nursery.cancel_scope.cancel()


async def test_snapshots_are_captured_off_the_loop_amid_slow_reads(tmp_path):
    """Snapshot capture shares the slow reads' hold: taken often here, every one of them at
    a state the applied index names, and the replicas end equal."""
    cluster = InProcessCluster(tmp_path, snapshot_entries=20, keep_entries=5)
    async with trio.open_nursery() as nursery:
        leader, follower = await cluster.start_all(nursery)

        async def reader():
            for _ in range(40):
                await leader.read("kv", cmd("KEYS", "*"), ReadConsistency.STALE, slow=True).wait_one()

        with trio.fail_after(30):
            async with trio.open_nursery() as inner:
                inner.start_soon(reader)
                for i in range(300):
                    assert (await leader.submit("kv", cmd("SET", f"k{i % 50}", str(i))).wait_one()) == "OK"
            while leader.host.snapshot_index < 200 or follower.host.applied < leader.host.applied:
                await trio.sleep(0.01)
        for node in (leader, follower):
            restored = KVMachine()
            restored.restore(list(node.machines["kv"].snapshot()))
            assert restored.keyspace.data == leader.machines["kv"].keyspace.data
        nursery.cancel_scope.cancel()
