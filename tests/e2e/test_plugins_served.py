"""A cluster running several state machines serves each one's commands over RESP,
from any node (writes forwarded), with no frontend change per machine."""

import pytest

from frontends.resp.commands import build_routed_table
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
        queued = c.client(follower).pipeline(transaction=True)
        queued.set("a", "1")
        queued.execute_command("ZK.CREATE", "/in-multi", "x")
        with pytest.raises(Exception, match="EXECABORT|belongs to state machine 'znodes'"):
            queued.execute()
    finally:
        c.close()


def test_two_machines_declaring_one_command_are_refused():
    spec = CommandSpec("frob", 2, frozenset({"write"}), 1, 1, 1)
    with pytest.raises(ValueError, match="'frob' is declared by both state machine 'a' and 'b'"):
        build_routed_table({"a": [spec], "b": [spec]})
