"""ACL inside scripts on a real 3-node cluster: a user created through one node is refused the
redis.call its rules forbid on every node, leader and followers alike (the check is made at apply,
on every replica, frontends/resp/script_acl.py), and an ACL change is honoured by the scripts the
log orders after it, whichever node serves them."""

from __future__ import annotations

import pytest
import redis

from tests.e2e.harness import ProcessCluster, wait_for

pytestmark = pytest.mark.e2e

SET = "return redis.call('set', KEYS[1], ARGV[1])"
FLUSHALL = "return redis.call('flushall')"
DENIED_COMMAND = "The user executing the script can't run this command or subcommand"
DENIED_KEY = "The user executing the script can't access at least one of the keys"


def _scripter(cluster: ProcessCluster, node_id: int) -> redis.Redis | None:
    """A connection of `scripter` to `node_id`, once the node has applied the user."""
    client = cluster.client(node_id, username="scripter", password="pw")
    try:
        client.ping()
    except redis.exceptions.AuthenticationError:
        client.close()
        return None
    return client


def _retrying(call):
    """A script call, again while the cluster has no leader to take it (TRYAGAIN / CLUSTERDOWN)."""
    result = []

    def attempt() -> bool:
        try:
            result.append(call())
        except redis.exceptions.ResponseError as error:
            if str(error).startswith(("TRYAGAIN", "CLUSTERDOWN")):
                return False
            result.append(error)
        return True

    wait_for(attempt, what="a leader to take the script")
    return result[0]


def test_scripts_obey_the_callers_rules_on_every_node_in_log_order(tmp_path):
    cluster = ProcessCluster(tmp_path, protocol="raft")
    cluster.start_all()
    try:
        leader = cluster.leader()
        followers = [n for n in sorted(cluster.configs) if n != leader]
        admin = cluster.steady_client(followers[0])
        admin.set("app:keep", "v")
        assert admin.acl_setuser(
            "scripter", enabled=True, passwords=["+pw"], commands=["+eval", "+get", "+set", "+ping"], keys=["app:*"]
        )
        clients = {}
        for node_id in [leader, *followers]:
            clients[node_id] = wait_for(lambda n=node_id: _scripter(cluster, n), what=f"scripter on node {node_id}")
        for node_id, client in clients.items():
            assert _retrying(lambda c=client, n=node_id: c.eval(SET, 1, f"app:{n}", "x")) == b"OK"
            error = _retrying(lambda c=client: c.eval(FLUSHALL, 0))
            assert isinstance(error, redis.exceptions.ResponseError) and str(error).startswith(DENIED_COMMAND)
            error = _retrying(lambda c=client: c.eval("return redis.call('set', 'other', 'x')", 0))
            assert str(error).startswith(DENIED_KEY)
            pcall = "return redis.pcall('del', 'app:keep')"
            assert str(_retrying(lambda c=client, s=pcall: c.eval(s, 0))) == DENIED_COMMAND
        # The change, acknowledged through one follower, then a script on each other node: the log
        # orders the script after the change, so every replica refuses it (the user's connections
        # were authenticated before the change and still pass the top-level EVAL check).
        assert admin.acl_setuser("scripter", commands=["-set"])
        for node_id in [leader, followers[1]]:
            error = _retrying(lambda c=clients[node_id], n=node_id: c.eval(SET, 1, f"app:late{n}", "y"))
            assert isinstance(error, redis.exceptions.ResponseError) and str(error).startswith(DENIED_COMMAND)
        for client in clients.values():
            client.close()
        # A node restarted replays the scripts from its log: refused again (the check is in place
        # before its first apply), or its FLUSHALL would now empty it.
        cluster.kill(followers[1])
        cluster.start(followers[1])
        written = {"app:keep", *(f"app:{n}" for n in clients)}
        for node_id in sorted(cluster.configs):  # every replica ran the same calls and refused the same
            reader = cluster.client(node_id)
            wait_for(lambda r=reader: {k.decode() for k in r.keys("*")} == written, what=f"keys on {node_id}")
            reader.close()
        admin.close()
    finally:
        cluster.close()
