"""`replicator import` from a real redis-server into a real 3-node cluster, through a follower:
keys of every type and encoding, with and without TTLs, arrive equal. (CI copies a few thousand
keys; bench/import_100k.py copies 100k.)"""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis

from tests.e2e.harness import ProcessCluster, wait_for
from tests.e2e.redis_fill import differences, fill
from tests.frontends.resp_helpers import real_redis

pytestmark = pytest.mark.e2e

KEYS = 3000


@pytest.fixture
def cluster(tmp_path):
    c = ProcessCluster(tmp_path, protocol="raft")
    c.start_all()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def source():
    with real_redis() as port:
        if port is None:
            pytest.skip("redis-server is not installed")
        yield port


def _import(c: ProcessCluster, via: int, source_port: int, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "replicator", "import", "--from", f"127.0.0.1:{source_port}"]
    cmd += ["--port", str(c.port(via)), "--batch", "200", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_import_copies_every_type_with_ttls_through_a_follower(cluster, source):
    src = redis.Redis(port=source)
    fill(src, KEYS)
    src.select(1)
    src.set("other-db", "v")
    src.select(0)
    total = src.dbsize()
    follower = next(i for i in cluster.alive() if i != cluster.leader())
    done = _import(cluster, follower, source)
    assert done.returncode == 0, done.stderr
    assert f"imported {total} keys" in done.stdout.splitlines()[-1], done.stdout
    assert f"{total}/{total} keys" in done.stderr  # the progress line's last state
    target = cluster.steady_client(follower)
    assert target.dbsize() == total
    assert differences(src, target) == []
    assert target.exists("other-db") == 0


def test_import_match_and_db(cluster, source):
    src = redis.Redis(port=source, db=2)
    fill(src, 70, prefix="a")
    fill(src, 70, prefix="b")
    leader = cluster.leader()
    done = _import(cluster, leader, source, "--match", "a:*", "--db", "2")
    assert done.returncode == 0, done.stderr
    assert "75 matching keys of the source's 150" in done.stderr
    target = cluster.steady_client(leader)
    assert target.dbsize() == 75
    assert differences(src, target, "a:*") == []
    # Again: RESTORE ... REPLACE overwrites, nothing doubles.
    src.set("a:new", "fresh")
    again = _import(cluster, leader, source, "--match", "a:*", "--db", "2", "--quiet")
    assert again.returncode == 0 and again.stderr == ""
    assert target.dbsize() == 76 and target.get("a:new") == b"fresh"
    # Into another database of the cluster: the same keys there, database 0 untouched.
    into = _import(cluster, leader, source, "--match", "b:*", "--db", "2", "--to-db", "5", "--quiet")
    assert into.returncode == 0, into.stderr
    assert differences(src, cluster.steady_client(leader, db=5), "b:*") == []
    assert target.dbsize() == 76
    beyond = _import(cluster, leader, source, "--db", "2", "--to-db", "16", "--quiet")
    assert beyond.returncode == 1 and "DB index is out of range" in beyond.stderr


def test_import_refusals(cluster, source, tmp_path):
    nowhere = _import(cluster, 1, 1)
    assert nowhere.returncode == 1 and "cannot reach the source" in nowhere.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "replicator", "import", "--from", "nohostport"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "expected host:port" in bad.stderr


def test_import_from_a_source_with_a_password(cluster):
    with real_redis("--requirepass", "s3cret") as port:
        if port is None:
            pytest.skip("redis-server is not installed")
        src = redis.Redis(port=port, password="s3cret")
        fill(src, 14)
        refused = _import(cluster, 1, port, "--quiet")
        assert refused.returncode == 1 and "NOAUTH" in refused.stderr, refused.stderr
        done = _import(cluster, 1, port, "--quiet", "--from-password", "s3cret")
        assert done.returncode == 0, done.stderr
        assert differences(src, cluster.steady_client(1)) == []


def test_import_rides_out_a_leader_change(cluster, source):
    """The leader dies mid-import: the follower answers TRYAGAIN (outcome unknown) and CLUSTERDOWN
    (no leader yet) for a while, the importer sends those RESTOREs again, and every key arrives."""
    src = redis.Redis(port=source)
    fill(src, KEYS)
    total = src.dbsize()
    leader = cluster.leader()
    follower = next(i for i in cluster.alive() if i != leader)
    cmd = [sys.executable, "-m", "replicator", "import", "--from", f"127.0.0.1:{source}"]
    cmd += ["--port", str(cluster.port(follower)), "--batch", "50", "--quiet"]
    importer = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        target = cluster.steady_client(follower)
        wait_for(lambda: target.dbsize() >= 200, what="the import to start")
        cluster.kill(leader)
        out, err = importer.communicate(timeout=300)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
    assert importer.returncode == 0, err
    assert f"imported {total} keys" in out
    print(out)  # how many RESTOREs were sent again (depends on when the leader died)
    assert target.dbsize() == total
    assert differences(src, target) == []
