"""NodeHost snapshots: captured at one index, encoded later (off the engine task),
still exactly the state at that index."""

import random

from replicator.core.node import NodeCore
from replicator.node import NodeHost
from replicator.protocol import EngineConfig
from replicator.protocol.raft import RaftEngine
from replicator.storage.memory_store import MemoryStore
from statemachines import encode_args
from statemachines.kv import KVMachine


def single_node():
    store = MemoryStore()
    engine = RaftEngine(EngineConfig(node_id=1, voters=(1,)), store, random.Random(1))
    host = NodeHost(1, engine, store, {"kv": KVMachine()}, voters=(1,), snapshot_entries=10**9)
    settle(host)
    return host


def settle(host):
    core = NodeCore.for_host(host)
    for _ in range(30):
        core.tick()
        core.step()
        while core.run_ready():
            pass


def write(host, *args):
    host.propose("kv", encode_args(a.encode() for a in args), 1_700_000_000_000)
    settle(host)


def test_a_captured_snapshot_is_the_state_at_capture_time():
    host = single_node()
    for i in range(50):
        write(host, "SET", f"k{i}", "before")
    at = host.applied
    encode = host.capture_snapshot()
    for i in range(50):
        write(host, "SET", f"k{i}", "after")  # applied while the snapshot waits to be encoded
    write(host, "SET", "late", "x")
    snapshot = encode()
    assert snapshot.meta.index == at and snapshot.meta.chunk_count == len(snapshot.chunks)
    fresh = single_node()
    fresh.machines["kv"].restore(iter(snapshot.chunks[1:]))  # chunk 0 is NodeHost's framing header
    query = fresh.machines["kv"].query
    assert query(encode_args([b"GET", b"k7"]), 0) == b"before"
    assert query(encode_args([b"EXISTS", b"late"]), 0) == 0


def test_an_overtaken_snapshot_is_not_stored():
    host = single_node()
    write(host, "SET", "a", "1")
    old = host.take_snapshot()
    write(host, "SET", "b", "2")
    host.save_snapshot(host.take_snapshot())
    newest = host.store.snapshot_meta()
    host.save_snapshot(old)  # e.g. encoding finished after a newer snapshot was installed
    assert host.store.snapshot_meta() == newest


def test_a_value_larger_than_a_part_travels_in_parts_and_comes_back_whole():
    """A 30-byte SETRANGE makes a value of tens of MB, which kv snapshots as one chunk;
    every stored chunk travels as one peer message, so NodeHost cuts it into parts
    (SNAPSHOT_PART_BYTES), and a node restoring from them gets the value back whole."""
    from replicator.node import SNAPSHOT_PART_BYTES

    host = single_node()
    write(host, "SETRANGE", "big", str(2 * SNAPSHOT_PART_BYTES + 5), "!")
    write(host, "SET", "small", "s")
    snapshot = host.take_snapshot()
    assert max(map(len, snapshot.chunks)) <= SNAPSHOT_PART_BYTES
    assert len(snapshot.chunks) > 3  # the big value's chunk was cut
    store = host.store
    host.save_snapshot(snapshot)
    engine = RaftEngine(EngineConfig(node_id=1, voters=(1,)), store, random.Random(1))
    restored = NodeHost(1, engine, store, {"kv": KVMachine()}, voters=(1,), snapshot_entries=10**9)
    query = restored.machines["kv"].query
    assert query(encode_args([b"STRLEN", b"big"]), 0) == 2 * SNAPSHOT_PART_BYTES + 6
    assert query(encode_args([b"GET", b"small"]), 0) == b"s"
