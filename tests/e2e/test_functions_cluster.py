"""Function libraries are replicated state: loaded on the leader, they serve FCALL_RO from a
follower's own state; a follower that missed them catches up by snapshot with them; and the whole
cluster restarted from its stores still has them."""

from __future__ import annotations

import signal
import socket

import pytest
import redis

from tests.e2e.harness import ProcessCluster, wait_for

pytestmark = pytest.mark.e2e

LIBRARY = (
    "#!lua name=counter\n"
    "redis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\n"
    "redis.register_function{function_name='peek', callback=function(keys)"
    " return cmsgpack.unpack(cmsgpack.pack(redis.call('get', keys[1]))) end, flags={'no-writes'}}"
)


def local_peek(cluster: ProcessCluster, node_id: int) -> bytes | None:
    """FCALL_RO peek on one connection reading the node's own state (READCONSISTENCY STALE): what
    that node holds. None while it has no such function."""
    client = cluster.steady_client(node_id, single_connection_client=True)
    try:
        client.execute_command("READCONSISTENCY", "STALE")
        return client.fcall_ro("peek", 1, "hits")
    except redis.ResponseError as exc:
        assert "Function not found" in str(exc), exc
        return None
    finally:
        client.close()


def test_libraries_reach_followers_by_log_and_by_snapshot_and_survive_restarts(tmp_path):
    cluster = ProcessCluster(tmp_path, protocol="raft", snapshot_entries=50, keep_entries=10)
    try:
        cluster.start_all()
        leader = cluster.leader()
        lagging, follower = (i for i in cluster.configs if i != leader)
        cluster.kill(lagging)
        writer = cluster.steady_client(leader)
        assert writer.function_load(LIBRARY) == b"counter"
        assert writer.fcall("bump", 1, "hits", 5) == 5
        wait_for(lambda: local_peek(cluster, follower) == b"5", what="the follower")
        for i in range(200):  # enough entries for the leader to compact past the FUNCTION LOAD
            writer.set(f"filler:{i}", i)
        wait_for(lambda: int(cluster.info(leader).get("first_index", "0")) > 100, what="the leader to compact")

        cluster.start(lagging)
        wait_for(lambda: int(cluster.info(lagging).get("snapshot_index", "0")) > 0, what="a snapshot install")
        wait_for(lambda: local_peek(cluster, lagging) == b"5", what="the libraries")
        assert cluster.steady_client(lagging).fcall("bump", 1, "hits", 2) == 7  # forwarded, applied everywhere

        for node_id in list(cluster.configs):
            cluster.kill(node_id, signal.SIGKILL)
        cluster.start_all()
        cluster.leader()
        for node_id in sorted(cluster.configs):
            wait_for(lambda n=node_id: local_peek(cluster, n) == b"7", what=f"node {node_id}")
        [library] = cluster.steady_client(lagging, protocol=3).function_list()
        assert library[b"library_name"] == b"counter"
        assert [fn[b"name"] for fn in library[b"functions"]] == [b"bump", b"peek"]
        assert library[b"functions"][1][b"flags"] == [b"no-writes"]  # redis-py makes the set a list
        # on the wire a RESP3 set of status strings, though the reply was forwarded from the leader
        with socket.create_connection(("127.0.0.1", cluster.port(lagging)), timeout=15) as sock:
            sock.sendall(b"HELLO 3\r\nFUNCTION LIST\r\n")
            received = b""
            while b"~1\r\n+no-writes\r\n" not in received:
                chunk = sock.recv(65536)
                assert chunk, received
                received += chunk
    finally:
        cluster.close()
