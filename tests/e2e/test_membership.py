"""Membership changes with real node processes, the `replicator member` CLI and real
clients: grow 3 -> 5 and shrink back under writes, remove the leader, replace a
SIGKILLed node, refusals, and a restart that follows the store's configuration."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest
import redis

from tests.e2e.harness import ProcessCluster, free_ports, wait_for  # cluster: conftest.py, both protocols


def member(c: ProcessCluster, via: int, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "replicator", "member", *args[:1], "--port", str(c.port(via)), *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, cwd=c.root)


def add_node(c: ProcessCluster, via: int, node_id: int, role: str = "learner") -> None:
    """`replicator member add ... --write-config`, then start the node it describes."""
    resp, peer = free_ports(2)
    path = c.root / f"n{node_id}.toml"
    done = member(
        c,
        via,
        "add",
        "--id",
        str(node_id),
        "--peer",
        f"127.0.0.1:{peer}",
        "--resp",
        f"127.0.0.1:{resp}",
        "--role",
        role,
        "--write-config",
        str(path),
        "--from-config",
        str(c.config_paths[1]),
    )
    assert done.returncode == 0, done.stderr
    c.adopt(node_id, path)
    c.start(node_id)


def roles(c: ProcessCluster, via: int) -> dict[int, str]:
    rows = c.client(via).execute_command("REPLICATOR.MEMBER", "LIST")
    return {int(dict(zip(r[::2], r[1::2]))[b"id"]): dict(zip(r[::2], r[1::2]))[b"role"].decode() for r in rows}


class Writer:
    """Writes k0, k1, ... from a follower in a thread; remembers what was acknowledged."""

    def __init__(self, c: ProcessCluster, node_id: int) -> None:
        self.client = c.steady_client(node_id)
        self.acked: dict[str, str] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        i = 0
        while not self.stop.is_set():
            key, value = f"k{i}", f"v{i}"
            try:
                if self.client.set(key, value):
                    self.acked[key] = value
            except redis.RedisError:
                pass  # not acknowledged: it may or may not be there
            i += 1

    def finish(self) -> dict[str, str]:
        self.stop.set()
        self.thread.join(timeout=60)
        return self.acked


def assert_all_readable(c: ProcessCluster, via: int, acked: dict[str, str]) -> None:
    client = c.steady_client(via)
    keys = sorted(acked)
    values = client.mget(keys)
    missing = [k for k, v in zip(keys, values) if v is None or v.decode() != acked[k]]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"


def test_grow_to_five_and_shrink_to_three_under_writes(cluster):
    c = cluster
    leader = c.leader()
    follower = next(i for i in (1, 2, 3) if i != leader)
    writer = Writer(c, follower)
    for new in (4, 5):
        add_node(c, follower, new)
        # Caught up, the leader promotes it by itself.
        wait_for(lambda new=new: roles(c, follower).get(new) == "voter", 60, f"node {new} promoted")
    assert set(roles(c, 4)) == {1, 2, 3, 4, 5}
    for gone in (5, 4):
        done = member(c, follower, "remove", "--id", str(gone))
        assert done.returncode == 0, done.stderr
    acked = writer.finish()
    assert len(acked) > 20
    assert set(roles(c, follower)) == {1, 2, 3}
    assert_all_readable(c, 1, acked)
    # A removed node knows it was removed and serves nobody.
    wait_for(lambda: b"removed" in _error_of(c, 5), 30, "node 5 to refuse clients")
    # Asking the removed node to remove itself again (a retry after an unknown outcome does
    # this) finds the change made: its LIST holds the configuration without it.
    again = member(c, 5, "remove", "--id", "5")
    assert again.returncode == 0 and "node 5 removed" in again.stdout, again.stderr


def _error_of(c: ProcessCluster, node_id: int) -> bytes:
    try:
        c.client(node_id).set("x", "y")
    except redis.ResponseError as exc:
        return str(exc).encode()
    except redis.RedisError:
        return b""
    return b""


def test_remove_the_leader_hands_over_first(cluster):
    c = cluster
    leader = c.leader()
    writer = Writer(c, next(i for i in (1, 2, 3) if i != leader))
    wait_for(lambda: writer.acked, what="the writer's first acknowledged write")
    done = member(c, leader, "remove", "--id", str(leader))
    assert done.returncode == 0, done.stderr
    others = [i for i in (1, 2, 3) if i != leader]
    c.kill(leader, signal.SIGTERM)  # stopped once removed, as the docs say: the others must agree
    new = wait_for(lambda: c.leader() if c.leader() != leader else None, 30, "a new leader")
    assert new in others
    assert set(roles(c, new)) == set(others)
    acked = writer.finish()
    assert_all_readable(c, new, acked)


def test_replace_a_killed_node(cluster):
    c = cluster
    leader = c.leader()
    dead = next(i for i in (1, 2, 3) if i != leader)
    c.kill(dead)
    writer = Writer(c, leader)
    done = member(c, leader, "remove", "--id", str(dead))
    assert done.returncode == 0, done.stderr
    add_node(c, leader, 7)
    wait_for(lambda: roles(c, leader).get(7) == "voter", 60, "node 7 promoted")
    acked = writer.finish()
    assert sorted(roles(c, leader)) == sorted([*(i for i in (1, 2, 3) if i != dead), 7])
    assert_all_readable(c, 7, acked)


def test_refusals_change_nothing(cluster):
    c = cluster
    leader = c.leader()
    follower = next(i for i in (1, 2, 3) if i != leader)
    before = roles(c, leader)
    taken = c.configs[2]
    cases = [
        (["add", "--id", "2", "--peer", "127.0.0.1:1", "--resp", "127.0.0.1:2"], "already a member"),
        (["add", "--id", "9", "--peer", "%s:%d" % taken.peer, "--resp", "127.0.0.1:2"], "already used by node 2"),
        (["add", "--id", "9", "--peer", "127.0.0.1:1", "--resp", "nonsense"], "host:port"),
        (["remove", "--id", "42"], "not a member"),
        (["promote", "--id", "3"], "not a learner"),
    ]
    for args, why in cases:
        done = member(c, follower, *args, "--from-config", str(c.config_paths[1])) if args[0] == "add" else None
        done = done or member(c, follower, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert why in done.stderr, (args, done.stderr)
    assert roles(c, leader) == before
    with pytest.raises(redis.ResponseError, match="not allowed inside MULTI"):
        with c.client(leader).pipeline(transaction=True) as tx:
            tx.execute_command("REPLICATOR.MEMBER", "REMOVE", "3")
            tx.execute()
    assert roles(c, leader) == before


def test_restart_follows_the_stores_membership(cluster):
    c = cluster
    leader = c.leader()
    add_node(c, leader, 4, role="observer")
    follower = next(i for i in (1, 2, 3) if i != leader)
    c.kill(follower)
    c.start(follower)  # its config file lists three members; its store knows four
    wait_for(lambda: roles(c, follower).get(4) == "observer", 30, "the restarted node to know node 4")
    assert "differ from its config file" in c.log_tail(follower, 200)
    c.steady_client(4).set("via-observer", "1")
    assert c.steady_client(leader).get("via-observer") == b"1"
    status = subprocess.run(
        [sys.executable, "-m", "replicator", "status", "--port", str(c.port(follower))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = {int(r.split()[0]): r.split() for r in status.stdout.splitlines()[1:] if r.strip()}
    assert sorted(rows) == [1, 2, 3, 4], status.stdout
    assert rows[4][2] == "observer" and rows[1][2] == "voter", status.stdout
