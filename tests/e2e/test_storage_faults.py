"""Damaged and foreign data directories, with real node processes (issue 10, finding 3).

A 3-node cluster takes writes; one follower is stopped, and copies of its data
directory are damaged in one way each. The follower's node is started on each
copy (a config file that differs only in data_dir): it must refuse to start
with a message that names the directory, what is wrong and what to do, and never
serve the damage. Meanwhile the other two nodes keep every acknowledged write.

`pytest -s` prints what each bad directory made the node say (the closing note of
issue 10 lists them).
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from replicator import config as config_mod
from replicator.storage.lmdb_store import LmdbStore
from tests.e2e.harness import ProcessCluster, wait_for

KEYS = 300
NEEDLE = b"needle-%d" % os.getpid()  # a value we can find in data.mdb


def write_all(cluster: ProcessCluster, keys: int, start: int = 0) -> None:
    """SET k{start}..k{keys-1} through whichever node leads, again on TRYAGAIN (a leader change)."""
    pending = list(range(start, keys))
    while pending:
        client = cluster.client(cluster.leader())
        try:
            while pending:
                i = pending[-1]
                client.set(f"k{i}", NEEDLE if i == 0 else b"v%d" % i)
                pending.pop()
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
            if isinstance(exc, redis.ResponseError) and "TRYAGAIN" not in str(exc):
                raise


def assert_serves_everything(cluster: ProcessCluster, node: int, keys: int) -> None:
    def all_there() -> bool:
        client = cluster.client(node)
        try:
            values = client.mget([f"k{i}" for i in range(keys)])
        except redis.ResponseError as exc:  # TRYAGAIN while a leader is elected
            if "TRYAGAIN" in str(exc):
                return False
            raise
        expected = [NEEDLE if i == 0 else b"v%d" % i for i in range(keys)]
        assert all(v is None or v == e for v, e in zip(values, expected)), "a node served a wrong value"
        return values == expected

    wait_for(all_there, 30, f"node {node} to serve all {keys} acknowledged writes")


def run_refused(cluster: ProcessCluster, node: int, data_dir: Path) -> str:
    """Start `node` on `data_dir`; it must exit with status 2: its stderr."""
    cfg = replace(cluster.configs[node], data_dir=data_dir)
    path = cluster.root / f"n{node}-{data_dir.name}.toml"
    path.write_text(config_mod.to_toml(cfg))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "replicator", "serve", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"node {node} served {data_dir.name} for 60 s instead of refusing it: {exc.stderr!r:.2000}")
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.startswith("replicator: ")]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return lines[0]


def flip(path: Path, offset: int, length: int = 1) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        old = f.read(length)
        f.seek(offset)
        f.write(bytes(b ^ 0xFF for b in old))


def page_size(data: Path) -> int:
    return struct.unpack_from("=I", data.read_bytes(), 16 + 24)[0]  # meta page 0, mm_dbs[0].md_pad


def leaf_pages(data: Path) -> list[int]:
    raw, psize = data.read_bytes(), page_size(data)
    return [
        n for n in range(2, len(raw) // psize) if struct.unpack_from("=H", raw, n * psize + 10)[0] & 0x02
    ]  # mp_flags & P_LEAF


def damage_meta_page(data: Path) -> None:
    flip(data, page_size(data) + 16 + 128 + 4)  # meta page 1: a high byte of mm_txnid


def damage_btree_page(data: Path) -> None:
    """The first node offsets of every leaf page: some leaf pages are free (stale copies
    LMDB left behind), and which ones depends on timing, so one page could miss."""
    psize = page_size(data)
    for page in leaf_pages(data):
        flip(data, page * psize + 16, 16)


def needles(data: Path) -> list[int]:
    """Every offset of NEEDLE in data.mdb. LMDB copies a page on write, so free pages may
    hold stale copies of it: damaging only the first could hit one of those and leave the
    live value whole (the node would then rightly start, and the test would wait)."""
    raw, found, at = data.read_bytes(), [], -1
    while (at := raw.find(NEEDLE, at + 1)) >= 0:
        found.append(at)
    assert found, "the needle is not in data.mdb"
    return found


def damage_log_value(data: Path) -> None:
    for at in needles(data):
        flip(data, at)


def truncate_half(data: Path) -> None:
    os.truncate(data, data.stat().st_size // 2)


def random_bytes_over_the_log(data: Path) -> None:
    """Finding 3's damage, aimed: over the page that holds a log value and the next one
    (random bytes over free pages are harmless, and rightly served)."""
    psize = page_size(data)
    with open(data, "r+b") as f:
        for at in needles(data):
            f.seek(at // psize * psize)
            f.write(os.urandom(8192))


DAMAGE = {
    "meta page": (damage_meta_page, "is damaged: .*data.mdb: its two meta pages disagree"),
    "b-tree page": (damage_btree_page, "is damaged: "),
    "log value": (damage_log_value, r"is damaged: log entry \d+ fails its checksum"),
    "8 KiB of random bytes": (random_bytes_over_the_log, "is damaged: "),
    "truncated to half": (
        truncate_half,
        "is damaged: .*data.mdb: it is \\d+ bytes but its metadata says "
        "it holds \\d+ pages of \\d+ bytes \\(\\d+ bytes\\): it was truncated",
    ),
}


def foreign(kind: str, directory: Path, cluster: ProcessCluster, node: int) -> str:
    cfg = cluster.configs[node]
    if kind == "random files":
        directory.mkdir()
        (directory / "notes.txt").write_text("not a store")
        return "holds other files \\(notes.txt\\) but no replicator store"
    identity = {"cluster_id": cfg.cluster_id, "node_id": cfg.node_id, "protocol": cfg.protocol}
    identity.update(
        {
            "another cluster": {"cluster_id": "elsewhere"},
            "another node id": {"node_id": node + 1},
            "another protocol": {"protocol": "zab"},
        }[kind]
    )
    LmdbStore.open(directory, **identity).close()
    return {
        "another cluster": "belongs to cluster 'elsewhere'",
        "another node id": f"belongs to node {node + 1}",
        "another protocol": "belongs to protocol 'zab'.*replicator convert",
    }[kind]


@pytest.fixture(params=["raft"])
def cluster(tmp_path, request):
    c = ProcessCluster(tmp_path, 3, request.param)
    try:
        c.start_all()
        yield c
    finally:
        c.close()


def test_a_damaged_or_foreign_data_directory_is_refused_and_the_others_lose_nothing(cluster, capsys):
    write_all(cluster, KEYS)
    leader = cluster.leader()
    follower = next(i for i in cluster.configs if i != leader)
    assert_serves_everything(cluster, follower, KEYS)
    cluster.kill(follower, signal.SIGTERM)
    original = cluster.configs[follower].data_dir
    printed = {}
    for name, (damage, expected) in DAMAGE.items():
        copy = cluster.root / f"damaged-{name.replace(' ', '-')}"
        shutil.copytree(original, copy)
        damage(copy / "data.mdb")
        printed[name] = message = run_refused(cluster, follower, copy)
        assert message.startswith(f"replicator: this node's data directory {copy} is damaged: "), message
        assert _search(expected, message), (expected, message)
        assert message.endswith(
            f"On a follower: move it away (mv {copy} {copy}.damaged) and start the node "
            f"again; it rejoins from the leader"
        ), message
    for kind in ("another cluster", "another node id", "another protocol", "random files"):
        directory = cluster.root / f"foreign-{kind.replace(' ', '-')}"
        expected = foreign(kind, directory, cluster, follower)
        printed[kind] = message = run_refused(cluster, follower, directory)
        assert str(directory) in message and _search(expected, message), (expected, message)
    for node in cluster.alive():
        assert_serves_everything(cluster, node, KEYS)
    cluster.start(follower)  # its own directory was never touched
    assert_serves_everything(cluster, follower, KEYS)
    with capsys.disabled():
        print("\nwhat each bad data directory printed:")
        for name, message in printed.items():
            print(f"  {name}: {message}")


def _search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


@pytest.mark.parametrize("cluster", ["raft", "zab"], indirect=True)
@pytest.mark.parametrize("wipe", ["missing", "data.mdb truncated to 0"])
def test_a_follower_that_lost_its_disk_catches_up_and_every_write_survives(cluster, wipe):
    write_all(cluster, KEYS)
    leader = cluster.leader()
    follower = next(i for i in cluster.configs if i != leader)
    assert_serves_everything(cluster, follower, KEYS)
    cluster.kill(follower)
    data_dir = cluster.configs[follower].data_dir
    if wipe == "missing":
        shutil.rmtree(data_dir)
    else:
        os.truncate(data_dir / "data.mdb", 0)
    cluster.start(follower)
    assert "created a new store in" in (cluster.root / f"n{follower}.log").read_text()
    assert_serves_everything(cluster, follower, KEYS)  # caught up (finding 4: it hung in probe)
    wait_for(
        lambda: "lost its data" in (cluster.root / f"n{leader}.log").read_text(),
        10,
        "the leader to notice the new incarnation",
    )
    for node in cluster.alive():
        assert_serves_everything(cluster, node, KEYS)


@pytest.mark.parametrize("cluster", ["raft", "zab"], indirect=True)
def test_a_wiped_voter_cannot_elect_a_leader_that_lacks_committed_writes(cluster):
    """Finding 4: B falls behind; A (leader) and C commit more; C loses its disk and A
    stops. C's empty log would grant B its vote and elect a leader without those
    writes. B knows C lost its data: it does not count that vote, and waits for A."""
    write_all(cluster, KEYS)
    a = cluster.leader()
    b, c = (i for i in cluster.configs if i != a)
    cluster.kill(b)
    write_all(cluster, 2 * KEYS, start=KEYS)  # committed by A and C only
    cluster.kill(c)
    shutil.rmtree(cluster.configs[c].data_dir)
    cluster.kill(a)
    cluster.start(b)
    cluster.start(c)
    wait_for(
        lambda: "lost its data" in (cluster.root / f"n{b}.log").read_text(),
        20,
        f"node {b} to notice that node {c} lost its data",
    )
    for _ in range(40):  # 4 s, about 20 election timeouts: B may campaign, must never win
        assert cluster.info(b).get("consensus_role") != "leader", "elected with the vote of an empty node"
        time.sleep(0.1)
    cluster.start(a)
    for node in cluster.configs:
        assert_serves_everything(cluster, node, 2 * KEYS)
