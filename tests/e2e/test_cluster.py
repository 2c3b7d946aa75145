"""A real 3-node cluster of OS processes, driven by redis-py and redis-cli.

What a user does in the README, and what must survive kill -9.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import sys
import threading

import pytest
import redis

from tests.e2e.harness import ProcessCluster, closed_by_node, cluster_port_block, wait_for

pytestmark = pytest.mark.e2e


PROTOCOLS = ("raft", "zab")


@pytest.fixture(params=PROTOCOLS)
def protocol(request):
    return request.param


@pytest.fixture
def cluster(tmp_path, protocol):
    c = ProcessCluster(tmp_path, protocol=protocol)
    c.start_all()
    try:
        yield c
    finally:
        c.close()


def redis_cli(port: int, *args: str) -> str:
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_write_via_follower_read_everywhere(cluster):
    leader = cluster.leader()
    follower = next(i for i in cluster.configs if i != leader)
    assert redis_cli(cluster.port(follower), "SET", "k", "v") == "OK"
    for node_id in cluster.configs:
        assert redis_cli(cluster.port(node_id), "GET", "k") == "v"
        assert cluster.client(node_id).get("k") == b"v"
    info = cluster.info(leader)
    assert info["consensus_role"] == "leader" and info["leader_id"] == str(leader)
    if cluster.configs[leader].protocol == "zab":  # the zxid, shown as epoch and counter
        assert int(info["zxid_epoch"]) >= 1 and int(info["zxid_counter"]) >= 1
    assert int(info["commit_index"]) >= 2 and int(info["applied_index"]) >= 2
    replication = redis_cli(cluster.port(leader), "INFO", "replication")
    for field in ("role:master", "leader_id:", "term:", "commit_index:", "applied_index:"):
        assert field in replication, replication
    for peer in cluster.configs:
        if peer != leader:
            match = dict(kv.split("=") for kv in info[f"peer_{peer}"].split(","))["match"]
            assert int(match) >= 1
            assert f"node_id={peer}," in replication


def test_pipelined_writes_on_a_follower_keep_order(cluster):
    for attempt in range(3):  # a leader change (a loaded machine) fails the pipeline with TRYAGAIN: that is
        leader = cluster.leader()  # correct, so try again on a fresh counter rather than flake
        follower = next(i for i in cluster.configs if i != leader)
        counter = f"counter{attempt}"
        pipe = cluster.client(follower).pipeline(transaction=False)
        for i in range(200):
            pipe.incr(counter)
            pipe.set(f"key:{i}", i)
        try:
            results = pipe.execute()
        except redis.exceptions.TryAgainError:
            continue
        assert results[0::2] == list(range(1, 201))
        assert all(r is True for r in results[1::2])
        assert cluster.client(leader).get(counter) == b"200"
        return
    pytest.fail("three leader changes in a row")


def test_leader_sigkill_under_load_loses_no_acknowledged_write(cluster):
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    leader = cluster.leader()
    acked: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(w: int) -> None:
        n = 0
        while not stop.is_set():
            node = rng.choice(cluster.alive())
            key, value = f"w{w}:{n}", f"{w}-{n}"
            try:
                if cluster.client(node).set(key, value):
                    with lock:
                        acked[key] = value
            except (redis.RedisError, OSError):
                pass  # unknown outcome or node down: not acknowledged, so not checked
            n += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(acked) >= 100, what="100 acknowledged writes")
        cluster.kill(leader)
        new_leader = cluster.leader()
        assert new_leader != leader
        before = len(acked)
        wait_for(lambda: len(acked) >= before + 100, what="writes to go on after the failover")
    finally:
        stop.set()
        for t in threads:
            t.join()
    survivor = cluster.client(new_leader)
    assert _missing(survivor, acked) == []
    cluster.start(leader)
    restarted = cluster.client(leader)
    wait_for(
        lambda: int(cluster.info(leader)["applied_index"]) >= int(cluster.info(new_leader)["commit_index"]),
        what="the restarted node to catch up",
    )
    assert _missing(restarted, acked) == []


def _missing(client: redis.Redis, acked: dict[str, str]) -> list[str]:
    keys = sorted(acked)
    values = []
    for i in range(0, len(keys), 500):
        values += client.mget(keys[i : i + 500])
    return [k for k, v in zip(keys, values) if v != acked[k].encode()]


def test_restarted_follower_catches_up_by_snapshot(tmp_path, protocol):
    c = ProcessCluster(tmp_path, protocol=protocol, snapshot_entries=50, keep_entries=10)
    try:
        c.start_all()
        leader = c.leader()
        lagging = next(i for i in c.configs if i != leader)
        c.kill(lagging)
        client = c.steady_client(leader)  # not a test of leader changes: SETs go again on TRYAGAIN
        for first in range(0, 600, 3):  # small pipelines: a pipeline's SETs share one entry
            pipe = client.pipeline(transaction=False)
            for i in range(first, first + 3):
                pipe.set(f"s{i}", i)
            pipe.execute()
        wait_for(lambda: int(c.info(leader).get("first_index", "0")) > 100, what="the leader to compact its log")
        c.start(lagging)
        follower = c.steady_client(lagging)
        assert follower.mget([f"s{i}" for i in range(600)]) == [str(i).encode() for i in range(600)]
        assert int(c.info(lagging).get("snapshot_index", "0")) > 0
    finally:
        c.close()


def test_whole_cluster_restart_keeps_data(cluster):
    cluster.leader()
    assert cluster.steady_client(1).set("durable", "yes")  # acknowledged, after any leader change
    for node_id in list(cluster.configs):
        cluster.kill(node_id, signal.SIGKILL)
    cluster.start_all()
    cluster.leader()
    assert cluster.steady_client(3).get("durable") == b"yes"


def test_garbage_and_strangers_on_the_peer_port_are_dropped(cluster):
    leader = cluster.leader()
    peer_addr = cluster.configs[leader].peer
    for junk in (b"\x00\x00\x00\x05hello", b"GET / HTTP/1.1\r\n\r\n", b"\xff" * 64, b"\x00\x00\x00\x02\x92\x40"):
        with socket.create_connection(peer_addr, timeout=5) as s:
            s.sendall(junk)
            closed_by_node(s)  # after its challenge, the node closes the connection
    # a well-formed handshake from another cluster is refused too
    from replicator.codec import Codec
    from replicator.runtime.messages import MESSAGE_TYPES, Hello

    hello = Codec(MESSAGE_TYPES).encode(Hello("someone-else", 2, "raft", nonce=b"n" * 32))
    with socket.create_connection(peer_addr, timeout=5) as s:
        s.sendall(hello)
        closed_by_node(s)
    assert cluster.leader() == leader
    cluster.client(leader).set("still", "fine")
    assert cluster.client(leader).get("still") == b"fine"


def test_data_dir_of_another_cluster_is_refused(tmp_path, cluster):
    cluster.leader()
    cluster.close()
    other = ProcessCluster(tmp_path / "other", protocol=cluster.configs[1].protocol, cluster_id="other")
    shutil.copytree(cluster.configs[1].data_dir, other.configs[1].data_dir)
    out = subprocess.run(
        [sys.executable, "-m", "replicator", "serve", "--config", str(other.config_paths[1])],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "cluster" in out.stderr and "other" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_replicator_cluster_command_and_status(tmp_path, protocol):
    port = cluster_port_block(3)
    cmd = [
        sys.executable,
        "-m",
        "replicator",
        "cluster",
        "--nodes",
        "3",
        "--port",
        str(port),
        "--protocol",
        protocol,
        "--data-dir",
        str(tmp_path / "data"),
    ]
    for run in range(2):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            lines = []
            while not any("redis-cli -p" in line for line in lines):
                line = proc.stdout.readline()
                assert line, "".join(lines)
                lines.append(line)
            assert f"redis-cli -p {port}" in lines[-1]
            if run == 0:
                assert redis_cli(port + 1, "SET", "greeting", "hello") == "OK"
            else:
                assert redis_cli(port + 2, "GET", "greeting") == "hello"
            status = subprocess.run(
                [sys.executable, "-m", "replicator", "status", "--port", str(port)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert status.returncode == 0, status.stderr
            rows = [r for r in status.stdout.splitlines()[1:] if r.strip()]
            assert len(rows) == 3 and sum(" leader " in r for r in rows) == 1, status.stdout
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        assert "all nodes stopped" in out
