"""A cluster running several state machines serves each one's commands over RESP,
from any node (writes forwarded), MULTI/EXEC across machines included, with no
frontend change per machine."""

import pytest
import redis

from frontends.resp.commands.table import build_routed_table
from statemachines import CommandSpec
from tests.e2e.harness import ProcessCluster
from tests.e2e.test_cluster import redis_cli

pytestmark = pytest.mark.e2e


def test_kv_znodes_and_locks_side_by_side(tmp_path):
    c = ProcessCluster(tmp_path, machines=("kv", "znodes", "locks"))
    try:
        c.start_all()
        leader = c.leader()
        follower = next(i for i in c.configs if i != leader)
        port = c.port(follower)
        assert redis_cli(port, "SET", "k", "v") == "OK"
        assert redis_cli(port, "ZK.CREATE", "/app", "hello") == "/app"
        assert redis_cli(port, "ZK.GET", "/app") == "hello"
        token = redis_cli(port, "LOCK.ACQUIRE", "jobs", "worker-1", "60000")
        assert int(token) > 0  # the fencing token: the grant's log index
        assert redis_cli(c.port(leader), "LOCK.ACQUIRE", "jobs", "worker-2", "60000") == ""  # nil: held
        holder = redis_cli(c.port(leader), "LOCK.HOLDER", "jobs").splitlines()
        assert holder[:2] == ["worker-1", token]
        assert redis_cli(c.port(leader), "GET", "k") == "v"
        out = redis_cli(port, "COMMAND", "INFO", "zk.create")
        assert "zk.create" in out
        # MULTI/EXEC on a follower: one entry for all three machines, forwarded to the leader
        client = c.client(follower)
        with client.pipeline() as queued:
            queued.set("a", "1")
            queued.execute_command("ZK.CREATE", "/in-multi", "x")
            queued.execute_command("LOCK.ACQUIRE", "batch", "worker-3", "60000")
            queued.get("a")
            queued.execute_command("ZK.GET", "/in-multi")
            queued.execute_command("LOCK.HOLDER", "batch")
            ok, path, batch_token, a, data, batch_holder = queued.execute()
        assert (ok, path, a, data) == (True, b"/in-multi", b"1", b"x")
        assert batch_holder[:2] == [b"worker-3", batch_token]
        for node_id in c.configs:  # one log entry, applied everywhere
            assert redis_cli(c.port(node_id), "ZK.GET", "/in-multi") == "x"
        # WATCH a kv key; another client's write through another node; EXEC is nil, nothing applied
        with client.pipeline() as guarded:
            guarded.watch("a")
            assert c.client(leader).set("a", "2")
            guarded.multi()
            guarded.execute_command("ZK.CREATE", "/guarded", "x")
            guarded.execute_command("LOCK.RELEASE", "batch", "worker-3", batch_token)
            with pytest.raises(redis.WatchError):
                guarded.execute()
        assert redis_cli(port, "ZK.EXISTS", "/guarded") == "0"
        assert redis_cli(port, "LOCK.HOLDER", "batch").splitlines()[0] == "worker-3"
    finally:
        c.close()


def test_two_machines_declaring_one_command_are_refused():
    spec = CommandSpec("frob", 2, frozenset({"write"}), 1, 1, 1)
    with pytest.raises(ValueError, match="'frob' is declared by both state machine 'a' and 'b'"):
        build_routed_table({"a": [spec], "b": [spec]})
