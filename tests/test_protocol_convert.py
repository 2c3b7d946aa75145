"""replicator.convert in-process: what a converted store holds, refusals, the config edit,
and a converted cluster electing a leader that keeps every acknowledged write.
(tests/e2e/test_convert.py runs the whole procedure with real processes.)"""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest

from replicator import config as config_mod
from replicator.config import Config, Member
from replicator.convert import ConvertError, convert, offline_host, set_config_protocol
from replicator.core.node import NodeCore
from replicator.node import NodeHost, Payload
from replicator.protocol import EngineConfig
from replicator.protocol.raft.engine import decode_hard_state as raft_hs
from replicator.protocol.raft.engine import encode_hard_state as raft_encode
from replicator.protocol.ready import Ready
from replicator.protocol.zab.engine import decode_hard_state as zab_hs
from replicator.protocols import committed_index, engine_factory
from replicator.storage.lmdb_store import LmdbStore, recorded_identity
from replicator.types import Entry, EntryKind, Role
from statemachines import encode_args
from statemachines.kv import KVMachine

_encode = msgspec.msgpack.Encoder().encode
VOTERS = (1, 2, 3)


def set_entry(index: int, term: int) -> Entry:
    command = encode_args([b"SET", f"k{index}".encode(), f"v{index}".encode()])
    return Entry(index, term, _encode(Payload(1000 + index, 1, index, "kv", command)))


def raft_store(path: Path, node_id: int, terms: list[int], *, term: int, vote: int, commit: int) -> None:
    """A stopped raft node's data dir: entries 1..len(terms) (SET k<i> v<i>; a NOOP opens each term)."""
    entries, previous = [], 0
    for index, t in enumerate(terms, start=1):
        entry = set_entry(index, t)
        if t != previous:
            entry = Entry(index, t, b"", EntryKind.NOOP)
        entries.append(entry)
        previous = t
    with LmdbStore.open(path, cluster_id="c", node_id=node_id, protocol="raft") as store:
        store.save(Ready(0, raft_encode(term, vote, commit), tuple(entries), None, True, (), (), (), (), None))


def kv_get(host: NodeHost, key: str) -> object:
    return host.query("kv", encode_args([b"GET", key.encode()]), 0)


def open_host(path: Path, node_id: int, protocol: str) -> NodeHost:
    store = LmdbStore.open(path, cluster_id="c", node_id=node_id, protocol=protocol, fsync=False)
    meta = store.snapshot_meta()
    engine = engine_factory(protocol)(
        EngineConfig(node_id=node_id, voters=VOTERS, applied=meta.index if meta else 0), store, random.Random(node_id)
    )
    return NodeHost(node_id, engine, store, {"kv": KVMachine()}, voters=VOTERS)


def test_raft_to_zab_keeps_every_position_and_promise(tmp_path):
    raft_store(tmp_path / "n1", 1, [1, 1, 1, 2, 2, 2], term=4, vote=2, commit=4)
    r = convert(tmp_path / "n1", "zab")
    assert (r.source, r.target, r.commit, r.epoch, r.tail) == ("raft", "zab", 4, 2, 2)
    assert recorded_identity(tmp_path / "n1") == ("c", 1, "zab")
    assert recorded_identity(r.backup) == ("c", 1, "raft") and r.backup.name.startswith("n1.raft.bak-")
    with LmdbStore.open(tmp_path / "n1", cluster_id="c", node_id=1, protocol="zab") as store:
        meta = store.snapshot_meta()
        assert (meta.index, meta.epoch, meta.zxid) == (4, 2, 2 << 32 | 4)
        tail = store.entries(5, 7)
        assert [(e.index, e.epoch, e.zxid) for e in tail] == [(5, 2, 2 << 32 | 5), (6, 2, 2 << 32 | 6)]
        assert [e.data for e in tail] == [set_entry(5, 2).data, set_entry(6, 2).data]
        # acceptedEpoch = the raft term; currentEpoch = the last entry's epoch; commit.
        assert zab_hs(store.hard_state()) == (4, 0, 2, 4)
        host = offline_host("zab", 1, store, {"kv": KVMachine()}, VOTERS)
    assert host.applied == 4  # the snapshot: SETs 2 and 3 (1 and 4 are NOOPs)
    assert [kv_get(host, f"k{i}") for i in (1, 2, 3, 4, 5)] == [None, b"v2", b"v3", None, None]

    # And back: positions unchanged, zxids gone, the vote is the node's own.
    r2 = convert(tmp_path / "n1", "raft")
    assert (r2.commit, r2.epoch, r2.tail) == (4, 2, 2)
    with LmdbStore.open(tmp_path / "n1", cluster_id="c", node_id=1, protocol="raft") as store:
        assert store.snapshot_meta().zxid == 0 and store.snapshot_meta().index == 4
        assert [(e.index, e.epoch, e.zxid) for e in store.entries(5, 7)] == [(5, 2, 0), (6, 2, 0)]
        assert raft_hs(store.hard_state()) == (4, 1, 4)
        assert committed_index("raft", store.hard_state()) == 4


def test_refusals(tmp_path):
    raft_store(tmp_path / "n1", 1, [1, 1], term=1, vote=1, commit=2)
    with pytest.raises(ConvertError, match="already holds a raft store"):
        convert(tmp_path / "n1", "raft")
    with pytest.raises(ConvertError, match="unknown protocol"):
        convert(tmp_path / "n1", "paxos")
    with pytest.raises(ConvertError, match="not a replicator data directory"):
        convert(tmp_path / "missing", "zab")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ConvertError, match="not a replicator data directory"):
        convert(tmp_path / "other", "zab")
    with LmdbStore.open(tmp_path / "n1", cluster_id="c", node_id=1, protocol="raft"):
        with pytest.raises(ConvertError, match="looks running"):
            convert(tmp_path / "n1", "zab")
    members = tuple(Member(i, ("127.0.0.1", 7100 + i), ("127.0.0.1", 7000 + i)) for i in VOTERS)
    for node_id, cluster_id, data_dir, why in [
        (2, "c", "n1", "configures node 2"),
        (1, "d", "n1", "of cluster 'd'"),
        (1, "c", "n9", "not "),
    ]:
        cfg = Config(
            node_id=node_id,
            members=members,
            data_dir=Path(data_dir),
            resp=members[0].resp,
            peer=members[0].peer,
            cluster_id=cluster_id,
        )
        (tmp_path / "n.toml").write_text(config_mod.to_toml(cfg))
        with pytest.raises(ConvertError, match=why):
            convert(tmp_path / "n1", "zab", tmp_path / "n.toml")
    assert recorded_identity(tmp_path / "n1") == ("c", 1, "raft")
    assert not list(tmp_path.glob("*.bak-*")) and not list(tmp_path.glob(".n1*"))


def test_config_protocol_line_is_rewritten_in_place(tmp_path):
    path = tmp_path / "n1.toml"
    path.write_text(
        '# my node\nnode_id = 1\nprotocol = "raft"   # chosen in 2024\ndata_dir = "n1"\n'
        'resp = "127.0.0.1:7001"\npeer = "127.0.0.1:7101"\n\n[[members]]\nid = 1\n'
        'peer = "127.0.0.1:7101"\nresp = "127.0.0.1:7001"\nprotocol_note = "x"\n'
    )
    before = path.read_text()
    assert "now says" in set_config_protocol(path, "zab")
    assert path.read_text() == before.replace('protocol = "raft"', 'protocol = "zab"')
    assert "already says" in set_config_protocol(path, "zab")
    # No protocol line (raft by default): one is added before the first table.
    path.write_text(before.replace('protocol = "raft"   # chosen in 2024\n', ""))
    set_config_protocol(path, "zab")
    assert config_mod.load(path).protocol == "zab"
    assert path.read_text().index('protocol = "zab"') < path.read_text().index("[[members]]")


def run_until(hosts: dict[int, NodeHost], done, max_ticks: int = 3000) -> None:
    """A synchronous, lossless network: every tick, every node runs its Ready
    cycles and every message is delivered, until `done()`."""
    outbox: list = []
    cores = {node_id: NodeCore.for_host(host, send=outbox.append) for node_id, host in hosts.items()}
    for _ in range(max_ticks):
        for core in cores.values():
            core.tick()
        for _ in range(50):
            for core in cores.values():
                core.step()
                while core.run_ready():
                    pass
            if not outbox:
                break
            for msg in outbox:
                if msg.dst in cores:
                    cores[msg.dst].receive(msg)
            outbox.clear()
        if done():
            return
    raise AssertionError("the converted cluster did not get there")


@pytest.mark.parametrize("to", ["zab", "raft"])
def test_converted_cluster_keeps_writes_committed_on_a_majority(tmp_path, to):
    """Durable commit indexes lag (a commit-only hard state is never fsync'd),
    here as far as 0. Entries 1..6 are on a majority (n1, n2): acknowledged
    writes. n1 stays down; n2 and n3 must elect n2 and keep all six."""
    raft_store(tmp_path / "n1", 1, [1, 1, 1, 2, 2, 2], term=2, vote=1, commit=0)
    raft_store(tmp_path / "n2", 2, [1, 1, 1, 2, 2, 2], term=2, vote=1, commit=3)
    raft_store(tmp_path / "n3", 3, [1, 1, 1, 2], term=2, vote=1, commit=1)
    for n in (1, 2, 3):
        convert(tmp_path / f"n{n}", "zab")
    if to == "raft":  # and back again, through ZAB stores
        for n in (1, 2, 3):
            convert(tmp_path / f"n{n}", "raft")
    hosts = {n: open_host(tmp_path / f"n{n}", n, to) for n in (2, 3)}
    try:
        run_until(
            hosts,
            lambda: any(h.role == Role.LEADER for h in hosts.values()) and all(h.applied >= 7 for h in hosts.values()),
        )
        leader = next(h for h in hosts.values() if h.role == Role.LEADER)
        assert leader.node_id == 2
        for host in hosts.values():
            assert [kv_get(host, f"k{i}") for i in (2, 3, 5, 6)] == [b"v2", b"v3", b"v5", b"v6"]
        # Then n1 joins and catches up with the same state.
        hosts[1] = open_host(tmp_path / "n1", 1, to)
        run_until(hosts, lambda: hosts[1].applied >= 7 and hosts[1].leader == 2)
        states = {n: b"".join(h.machines["kv"].snapshot()) for n, h in hosts.items()}
        assert states[1] == states[2] == states[3]
    finally:
        for host in hosts.values():
            host.store.close()
