"""ACL users on a real 3-node cluster: a user created through one node is enforced by every node,
and survives snapshots and a restart of the whole cluster (statemachines/acl.py)."""

from __future__ import annotations

import hashlib

import pytest
import redis

from tests.e2e.harness import ProcessCluster, wait_for

pytestmark = pytest.mark.e2e


def _refused_as_alice(cluster: ProcessCluster, node_id: int) -> bool:
    """alice may GET app:* and nothing else, on `node_id` (False while the node has not applied her)."""
    alice = cluster.client(node_id, username="alice", password="wonderland")
    try:
        try:
            value = alice.get("app:1")
        except redis.exceptions.AuthenticationError:
            return False
        assert value == b"v"
        with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to run the 'set' command"):
            alice.set("app:1", "x")
        with pytest.raises(redis.exceptions.NoPermissionError, match="one of the keys"):
            alice.get("other")
        with pytest.raises(redis.exceptions.NoPermissionError):
            alice.execute_command("REPLICATOR.MEMBER", "LIST")  # membership needs @admin
        return True
    finally:
        alice.close()


def test_a_user_is_enforced_on_every_node_and_survives_restart(tmp_path):
    cluster = ProcessCluster(tmp_path, protocol="raft", snapshot_entries=20, keep_entries=5)
    cluster.start_all()
    try:
        leader = cluster.leader()
        follower = next(n for n in sorted(cluster.configs) if n != leader)
        admin = cluster.steady_client(follower)
        admin.set("app:1", "v")
        assert admin.acl_setuser("alice", enabled=True, passwords=["+wonderland"], commands=["+get"], keys=["app:*"])
        assert admin.acl_setuser("bob", enabled=True, nopass=True, commands=["+@all"], keys=["*"])
        assert admin.acl_deluser("bob") == 1
        for node_id in sorted(cluster.configs):
            wait_for(lambda n=node_id: _refused_as_alice(cluster, n), what=f"alice enforced on node {node_id}")
            assert cluster.client(node_id).acl_users() == ["alice", "default"]
        for i in range(60):  # past snapshot_entries: the users must come back from a snapshot
            admin.set(f"k{i}", i)
        admin.close()
        cluster.close()
        cluster.procs.clear()
        cluster.start_all()
        cluster.leader()
        for node_id in sorted(cluster.configs):
            wait_for(lambda n=node_id: _refused_as_alice(cluster, n), what=f"alice on node {node_id} after restart")
            digest = hashlib.sha256(b"wonderland").hexdigest()
            assert cluster.client(node_id).acl_list()[0] == f"user alice on #{digest} ~app:* resetchannels -@all +get"
    finally:
        cluster.close()


def test_aclfile_seeds_a_new_cluster_once(tmp_path):
    """Every node's aclfile seeds the users of a cluster whose users were never set; once they
    are (or were changed), a restart with another file changes nothing; ACL LOAD then replaces
    them on every node."""
    aclfile = tmp_path / "users.acl"
    aclfile.write_text("user default on nopass ~* &* +@all\nuser alice on >wonderland ~app:* -@all +get\n")
    cluster = ProcessCluster(tmp_path / "cluster", protocol="zab", aclfile=aclfile)
    cluster.start_all()
    try:
        cluster.leader()
        cluster.steady_client(1).set("app:1", "v")
        for node_id in sorted(cluster.configs):
            wait_for(lambda n=node_id: _refused_as_alice(cluster, n), what=f"alice seeded on node {node_id}")
        aclfile.write_text("user carol on nopass +@all ~*\n")
        cluster.close()
        cluster.procs.clear()
        cluster.start_all()
        cluster.leader()
        for node_id in sorted(cluster.configs):
            wait_for(lambda n=node_id: _refused_as_alice(cluster, n), what=f"alice on node {node_id} after restart")
            assert cluster.client(node_id).acl_users() == ["alice", "default"]  # the new file: not loaded
        assert cluster.steady_client(2).acl_load()
        for node_id in sorted(cluster.configs):
            wait_for(
                lambda n=node_id: cluster.client(n).acl_users() == ["carol", "default"], what=f"ACL LOAD on {node_id}"
            )
    finally:
        cluster.close()
