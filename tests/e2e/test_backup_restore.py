"""`replicator backup` and `replicator restore` as an operator runs them, with real node
processes and real clients.

A backup taken from a FOLLOWER of a Raft cluster while a client keeps writing holds every
write acknowledged before the backup started; restored into a fresh 3-node ZAB cluster,
every such key reads back with its value on every node, and the cluster takes new writes.
A backup of that ZAB cluster (behind a password) restores into a single Raft node. Bad
files, another cluster's backup and a used data directory are refused (exit status 2, a
message, nothing written).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from replicator import config as config_mod
from replicator.config import Config, Member
from replicator.storage.backup_file import read_backup
from tests.e2e.harness import ProcessCluster, cluster_port_block, free_ports, wait_for

pytestmark = pytest.mark.e2e

BIG = bytes(range(256)) * 10_000  # 2.5 MB


def cli(*args, env=None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "replicator", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env
    )


class Writer(threading.Thread):
    """Writes key:<n> = value:<n> through one node until stopped, recording what was acknowledged."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.acked: list[int] = []  # appended only once SET returned OK
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                pipe = self.client.pipeline(transaction=False)
                batch = range(n, n + 20)
                for i in batch:
                    pipe.set(f"key:{i}", f"value:{i}")
                # TRYAGAIN (a leader change) leaves that key unacknowledged: it is not checked
                replies = pipe.execute(raise_on_error=False)
                self.acked.extend(i for i, reply in zip(batch, replies) if reply is True)
                n += 20
        except BaseException as exc:  # reported by the test
            self.error = exc


def restore_configs(root: Path, protocol: str, nodes: int, **settings) -> ProcessCluster:
    """A NEW cluster's config files (nothing started, no data directory yet)."""
    return ProcessCluster(root, nodes=nodes, protocol=protocol, **settings)


def assert_keys(cluster: ProcessCluster, keys: list[int]) -> None:
    names = [f"key:{i}" for i in keys]
    for node_id in cluster.configs:
        client = cluster.client(node_id, password=cluster.configs[node_id].requirepass or None)
        # A linearizable read on each node: the restored state is there once the node serves
        # (TRYAGAIN and CLUSTERDOWN while it has no leader are asked again, within one deadline).
        got = wait_for(lambda client=client: client.mget(names), 60, what=f"node {node_id} to serve reads")
        missing = [name for name, value in zip(names, got) if value != name.replace("key", "value").encode()]
        assert not missing, f"node {node_id} lacks {len(missing)} acknowledged keys, e.g. {missing[:5]}"


@pytest.fixture(scope="module")
def raft_backup(tmp_path_factory) -> tuple[Path, list[int]]:
    """A backup of a 3-node Raft cluster, taken from a follower while a client writes through
    the leader; and the keys acknowledged before `replicator backup` started."""
    root = tmp_path_factory.mktemp("raft-source")
    source = ProcessCluster(root / "cluster", protocol="raft")
    try:
        source.start_all()
        leader = source.leader()
        assert source.steady_client(leader).set("big", BIG)  # a chunk of several READ parts
        writer = Writer(source.steady_client(leader))
        writer.start()
        wait_for(lambda: len(writer.acked) >= 500, what="500 acknowledged writes")
        before = list(writer.acked)
        follower = next(i for i in source.configs if i != leader)
        out = cli("backup", "--port", source.port(follower), root / "raft.backup")
        writer.stop.set()
        writer.join(timeout=30)
        assert writer.error is None, writer.error
        assert out.returncode == 0, out.stderr
        assert f"taken from node {follower}" in out.stdout and "sha256-checked" in out.stdout, out.stdout
        assert len(writer.acked) > len(before)  # the writes went on during the backup
    finally:
        source.close()
    return root / "raft.backup", before


def test_a_follower_backup_under_writes_restores_into_a_zab_cluster_and_back(raft_backup, tmp_path):
    backup, before = raft_backup
    header, _ = read_backup(backup)
    assert (header.cluster_id, header.protocol, header.machines) == ("local", "raft", ("kv",))
    assert header.membership.voters == (1, 2, 3) and header.index >= len(before) // 20

    # Raft -> a fresh 3-node ZAB cluster, every node seeded by one command.
    zab = restore_configs(tmp_path / "zab", "zab", 3, requirepass="s3cret")
    configs = [arg for path in zab.config_paths.values() for arg in ("--config", path)]
    out = cli("restore", backup, *configs)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("(zab) in") == 3 and f"at index {header.index}" in out.stdout, out.stdout
    try:
        zab.start_all()
        assert_keys(zab, before)
        assert zab.steady_client(3, password="s3cret").get("big") == BIG
        client = zab.steady_client(1, password="s3cret")
        assert client.set("after-restore", "zab")  # the restored cluster takes writes, after the backup's index
        leader = int(client.info("consensus")["leader_id"])
        assert int(zab.steady_client(leader, password="s3cret").info("consensus")["commit_index"]) > header.index

        # ... and back: a backup of the ZAB cluster (it has a password) into one Raft node.
        follower = next(i for i in zab.configs if i != leader)
        refused = cli("backup", "--port", zab.port(follower), tmp_path / "zab.backup")
        assert refused.returncode == 2 and "NOAUTH" in refused.stderr, refused
        assert not (tmp_path / "zab.backup").exists() and not (tmp_path / "zab.backup.tmp").exists()
        out = cli(
            "backup", "--port", zab.port(follower), tmp_path / "zab.backup", env={"REPLICATOR_PASSWORD": "s3cret"}
        )
        assert out.returncode == 0, out.stderr
    finally:
        zab.close()
    zab_header, _ = read_backup(tmp_path / "zab.backup")
    assert zab_header.protocol == "zab" and zab_header.index > header.index

    single = restore_configs(tmp_path / "raft1", "raft", 1)
    out = cli(
        "restore", tmp_path / "zab.backup", "--config", single.config_paths[1], "--data-dir", single.configs[1].data_dir
    )
    assert out.returncode == 0, out.stderr
    try:
        single.start_all()
        assert_keys(single, before)
        assert single.steady_client(1).get("big") == BIG
        assert single.steady_client(1).get("after-restore") == b"zab"
    finally:
        single.close()


def one_config(tmp_path: Path, **settings) -> Path:
    port, peer = free_ports(2)
    member = Member(id=1, peer=("127.0.0.1", peer), resp=("127.0.0.1", port))
    cfg = Config(node_id=1, members=(member,), data_dir=tmp_path / "n1", resp=member.resp, peer=member.peer)
    path = tmp_path / "n1.toml"
    path.write_text(config_mod.to_toml(replace(cfg, **settings)))
    return path


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[:-100], "checksum does not match"),
        (lambda data: data[:20], "truncated"),
        (
            lambda data: data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1 :],
            "damaged",
        ),
        (lambda data: b"hello, this is not a backup at all" * 10, "is not a replicator backup"),
    ],
    ids=["cut-short", "header-only", "flipped-byte", "not-a-backup"],
)
def test_a_bad_file_is_refused_and_nothing_is_written(raft_backup, tmp_path, damage, message):
    backup, _ = raft_backup
    bad = tmp_path / "bad.backup"
    bad.write_bytes(damage(backup.read_bytes()))
    config = one_config(tmp_path)
    out = cli("restore", bad, "--config", config)
    assert out.returncode == 2, out
    assert message in out.stderr and "nothing was restored" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "n1").exists() and not list(tmp_path.glob(".n1.*"))


def test_another_clusters_backup_needs_source_cluster(raft_backup, tmp_path):
    backup, before = raft_backup
    config = one_config(tmp_path, cluster_id="billing")
    out = cli("restore", backup, "--config", config)
    assert out.returncode == 2
    assert "the backup is of cluster 'local', but" in out.stderr and "--source-cluster local" in out.stderr
    assert not (tmp_path / "n1").exists()
    out = cli("restore", backup, "--config", config, "--source-cluster", "payroll")
    assert out.returncode == 2 and "does not name it either" in out.stderr, out.stderr
    out = cli("restore", backup, "--config", config, "--source-cluster", "local")
    assert out.returncode == 0, out.stderr
    assert "node 1 of cluster 'billing' (raft)" in out.stdout


def test_a_data_dir_in_use_is_refused(raft_backup, tmp_path):
    backup, _ = raft_backup
    config = one_config(tmp_path)
    assert cli("restore", backup, "--config", config).returncode == 0
    before = sorted(p.name for p in (tmp_path / "n1").iterdir())
    out = cli("restore", backup, "--config", config)  # a store is there now
    assert out.returncode == 2, out
    assert "already holds the raft store of node 1 of cluster 'local'" in out.stderr, out.stderr
    assert sorted(p.name for p in (tmp_path / "n1").iterdir()) == before

    other = tmp_path / "other"
    (other / "n1").mkdir(parents=True)
    (other / "n1" / "notes.txt").write_text("mine")
    out = cli("restore", backup, "--config", one_config(other))
    assert out.returncode == 2 and "already holds 1 file(s)" in out.stderr, out.stderr
    assert [p.name for p in (other / "n1").iterdir()] == ["notes.txt"]


def test_a_machine_the_config_does_not_run_is_refused(raft_backup, tmp_path):
    backup, _ = raft_backup
    out = cli("restore", backup, "--config", one_config(tmp_path, machines=("locks",)))
    assert out.returncode == 2 and "machine(s) kv, which" in out.stderr, out.stderr
    assert not (tmp_path / "n1").exists()


def test_cluster_restore_starts_a_local_cluster_seeded_from_a_backup(raft_backup, tmp_path):

    backup, before = raft_backup
    base = cluster_port_block(3)
    data = tmp_path / "restored"
    cmd = ["cluster", "--protocol", "zab", "--port", base, "--data-dir", data, "--restore", backup]
    proc = subprocess.Popen(
        [sys.executable, "-m", "replicator", *map(str, cmd)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out = ""
        while "ready." not in out:
            line = proc.stdout.readline()
            assert line, f"cluster exited ({proc.poll()}): {out}"
            out += line
        assert out.count("(zab) in") == 3 and "created a 3-node zab cluster" in out, out
        cluster = ProcessCluster.existing(data, "zab")
        assert_keys(cluster, before)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    # A second --restore into the same directory is refused: it holds a cluster now.
    again = cli(*cmd)
    assert again.returncode == 2 and "--restore seeds a new one" in again.stderr, again.stderr
    # A bad file leaves nothing behind.
    bad = tmp_path / "bad.backup"
    bad.write_bytes(backup.read_bytes()[:-1])
    out = cli("cluster", "--port", base, "--data-dir", tmp_path / "other", "--restore", bad)
    assert out.returncode == 2 and "checksum does not match" in out.stderr, out.stderr
    assert not list((tmp_path / "other").glob("n*"))
