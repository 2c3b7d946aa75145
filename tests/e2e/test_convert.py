"""`replicator convert`: a whole cluster switches from Raft to ZAB and back, with real processes.

The README procedure: stop every node, convert every node's data dir (which
also edits its config), start them all again under the other protocol.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from replicator import config as config_mod
from tests.e2e.harness import ProcessCluster

pytestmark = pytest.mark.e2e

KEYS = [f"key:{i}" for i in range(200)]


def value(key: str, generation: str) -> bytes:
    return f"{generation}-{key}".encode()


def cli(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "replicator", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def convert_all(cluster: ProcessCluster, to: str) -> None:
    for node_id, cfg in cluster.configs.items():
        data_dir = cfg.data_dir
        out = cli("convert", "--to", to, "--data-dir", data_dir, "--config", cluster.config_paths[node_id])
        assert out.returncode == 0, out.stderr
        assert f"to {to}:" in out.stdout and "store is kept in" in out.stdout, out.stdout
        backups = sorted(data_dir.parent.glob(f"{data_dir.name}.*.bak-*"))
        assert backups and str(backups[-1]) in out.stdout, (backups, out.stdout)
        assert config_mod.load(cluster.config_paths[node_id]).protocol == to
        assert f'protocol = "{to}"' in cluster.config_paths[node_id].read_text()


def check_everywhere(cluster: ProcessCluster, keys: list[str], generation: str) -> None:
    expected = [value(k, generation) for k in keys]
    for node_id in cluster.configs:
        client = cluster.client(node_id)
        assert client.mget(keys) == expected, f"node {node_id}"
        assert client.lrange("list", 0, -1) == [b"c", b"b", b"a"]
        assert client.hgetall("hash") == {b"f": b"v"}


def test_convert_a_cluster_to_zab_and_back(tmp_path: Path):
    raft = ProcessCluster(tmp_path, protocol="raft")
    try:
        raft.start_all()
        leader = raft.client(raft.leader())
        pipe = leader.pipeline(transaction=False)
        for key in KEYS:
            pipe.set(key, value(key, "raft"))
        pipe.lpush("list", "a", "b", "c")
        pipe.hset("hash", "f", "v")
        assert all(pipe.execute())
        check_everywhere(raft, KEYS, "raft")

        # A running node is refused, and left as it was.
        out = cli("convert", "--to", "zab", "--data-dir", raft.configs[1].data_dir, "--config", raft.config_paths[1])
        assert out.returncode == 2 and "running" in out.stderr, out
        assert not list(tmp_path.glob("n1.*.bak-*")) and config_mod.load(raft.config_paths[1]).protocol == "raft"
    finally:
        raft.close()
    assert not raft.alive()

    n1 = raft.configs[1].data_dir
    # --to the protocol it already has, or one that does not exist.
    out = cli("convert", "--to", "raft", "--data-dir", n1)
    assert out.returncode == 2 and "already holds a raft store" in out.stderr, out
    out = cli("convert", "--to", "paxos", "--data-dir", n1)
    assert out.returncode == 2 and "invalid choice" in out.stderr, out
    # Not a replicator data dir.
    (tmp_path / "elsewhere").mkdir()
    out = cli("convert", "--to", "zab", "--data-dir", tmp_path / "elsewhere")
    assert out.returncode == 2 and "not a replicator data directory" in out.stderr, out
    # Another node's config.
    out = cli("convert", "--to", "zab", "--data-dir", n1, "--config", raft.config_paths[2])
    assert out.returncode == 2 and "pass that node's own config" in out.stderr, out

    # Started as zab without converting: serve refuses with a clear message.
    unconverted = tmp_path / "zab-n1.toml"
    unconverted.write_text(config_mod.to_toml(replace(raft.configs[1], protocol="zab")))
    out = cli("serve", "--config", unconverted, timeout=30)
    assert out.returncode == 2, out
    assert "belongs to protocol 'raft', not 'zab'" in out.stderr and "replicator convert" in out.stderr, out.stderr

    # Raft -> ZAB, every node.
    convert_all(raft, "zab")
    zab = ProcessCluster.existing(tmp_path, protocol="zab")
    try:
        zab.start_all()
        leader_id = zab.leader()
        assert zab.info(leader_id)["consensus_role"] == "leader"
        check_everywhere(zab, KEYS, "raft")
        leader = zab.client(leader_id)
        for key in KEYS[:50]:
            assert leader.set(key, value(key, "zab"))
        follower = next(i for i in zab.configs if i != leader_id)
        assert zab.client(follower).set("new", "zab")
        expected = [value(k, "zab") for k in KEYS[:50]] + [value(k, "raft") for k in KEYS[50:]]
        for node_id in zab.configs:
            assert zab.client(node_id).mget(KEYS) == expected
            assert zab.client(node_id).get("new") == b"zab"
    finally:
        zab.close()

    # And back: ZAB -> Raft.
    convert_all(zab, "raft")
    raft = ProcessCluster.existing(tmp_path, protocol="raft")
    try:
        raft.start_all()
        leader_id = raft.leader()
        for node_id in raft.configs:
            client = raft.client(node_id)
            assert client.mget(KEYS) == expected
            assert client.get("new") == b"zab"
            assert client.lrange("list", 0, -1) == [b"c", b"b", b"a"]
        assert raft.client(leader_id).set("again", "raft")
        for node_id in raft.configs:
            assert raft.client(node_id).get("again") == b"raft"
    finally:
        raft.close()
