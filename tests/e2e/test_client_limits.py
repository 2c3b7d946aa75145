"""What one client connection may cost a real 3-node cluster: bounded, never an election.

Regression tests for issue 10, findings 5 and 6(a): a value or a MULTI larger
than the peer frame limit cost a leader election (`TRYAGAIN outcome unknown`),
and a client that pipelined GETs of a large value and never read took a node
from 243 MB to 1.57 GB.
"""

from __future__ import annotations

import socket
import time

import pytest
import redis

from replicator.config import MAX_ENTRY_BYTES
from tests.e2e.harness import ProcessCluster, rss_bytes, wait_for

pytestmark = pytest.mark.e2e

MIB = 1 << 20


@pytest.fixture(scope="module", params=("raft", "zab"))
def cluster(request, tmp_path_factory):
    # The default timings (1-2 s election timeout), as an operator runs it.
    c = ProcessCluster(tmp_path_factory.mktemp(request.param), protocol=request.param, tick_ms=50, election_ticks=20)
    c.start_all()
    try:
        yield c
    finally:
        c.close()


def leadership(cluster: ProcessCluster) -> tuple[int, str]:
    leader = cluster.leader()
    return leader, cluster.info(leader)["term"]


def test_too_large_commands_are_refused_on_arrival_and_cost_no_election(cluster):
    before = leadership(cluster)
    leader = before[0]
    follower = next(i for i in cluster.configs if i != leader)
    too_big = b"v" * MAX_ENTRY_BYTES  # with SET and the key around it: over the limit
    for node_id in (leader, follower):
        r = cluster.client(node_id)
        with pytest.raises(
            redis.ResponseError, match=rf"^command of \d+ bytes exceeds max_entry_bytes \({MAX_ENTRY_BYTES}\)$"
        ):
            r.set("big", too_big)
        # A MULTI is one entry: the SET that makes the queue too large is refused when queued,
        # and EXEC discards the transaction (as Redis does with a command refused in MULTI).
        part = b"p" * (MAX_ENTRY_BYTES * 2 // 5)
        pipe = r.pipeline(transaction=True)
        pipe.set("t1", part).set("t2", part).set("t3", part)
        with pytest.raises(
            redis.ResponseError, match=rf"transaction of \d+ bytes exceeds max_entry_bytes \({MAX_ENTRY_BYTES}\)"
        ):
            pipe.execute()  # redis-py raises the queued command's error, not EXEC's EXECABORT
        assert r.exists("big", "t1", "t2", "t3") == 0
        assert r.set("small", node_id) is True  # the connection, and the cluster, serve on
    assert leadership(cluster) == before
    for node_id in cluster.configs:
        assert cluster.client(node_id).get("small") == str(follower).encode()


def test_a_value_beyond_the_peer_frame_limit_is_skipped_not_buffered(cluster):
    """The finding's own case: a 300 MiB value (between the 256 MiB peer frame limit and the
    512 MiB RESP limit), streamed to the leader and to a follower: the clear error, the node
    never holds the value, no election."""
    before = leadership(cluster)
    for node_id in (before[0], next(i for i in cluster.configs if i != before[0])):
        pid = cluster.procs[node_id].pid
        base = rss_bytes(pid)
        peak = base
        with socket.create_connection(("127.0.0.1", cluster.port(node_id)), timeout=60) as sock:
            sock.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % (300 * MIB))
            chunk = b"x" * MIB
            for i in range(300):
                sock.sendall(chunk)
                if i % 30 == 0:
                    peak = max(peak, rss_bytes(pid))
            sock.sendall(b"\r\n" + b"*1\r\n$4\r\nPING\r\n")
            replies = b""
            while not replies.endswith(b"+PONG\r\n"):
                replies += sock.recv(4096)
        assert replies == (
            b"-ERR command of %d bytes exceeds max_entry_bytes (%d)\r\n+PONG\r\n" % (3 + 3 + 300 * MIB, MAX_ENTRY_BYTES)
        )
        assert peak - base < 64 * MIB, f"RSS grew by {(peak - base) / MIB:.0f} MiB"
    assert leadership(cluster) == before
    assert cluster.client(before[0]).exists("big") == 0


def test_a_burst_of_large_writes_through_a_follower_is_forwarded(cluster):
    """Forty 1 MiB SETs pipelined on a follower: forwarded in parts, each far below the peer
    frame limit, all applied in order."""
    leader = cluster.leader()
    follower = next(i for i in cluster.configs if i != leader)
    pipe = cluster.client(follower).pipeline(transaction=False)
    for i in range(40):
        pipe.set(f"burst{i % 4}", bytes([65 + i % 26]) * MIB)
    results = pipe.execute(raise_on_error=False)
    retried = [i for i, res in enumerate(results) if isinstance(res, redis.exceptions.TryAgainError)]
    for i in retried:  # a leader change on a busy machine: SET is idempotent, write it again
        cluster.client(follower).set(f"burst{i % 4}", bytes([65 + i % 26]) * MIB)
    assert all(res is True for i, res in enumerate(results) if i not in retried), results
    assert cluster.client(leader).get("burst3") == bytes([65 + 39 % 26]) * MIB


def test_a_client_that_never_reads_cannot_grow_a_node(cluster):
    """Pipelined GETs of a 1 MiB value, never read: the node holds a bounded amount of
    replies for it (it stops reading the client), instead of ~1 GiB."""
    leader = cluster.leader()
    r = cluster.client(leader)
    r.set("one-mib", b"m" * MIB)
    pid = cluster.procs[leader].pid
    base = rss_bytes(pid)
    processed = int(cluster.client(leader).info("stats")["total_commands_processed"])
    hog = socket.create_connection(("127.0.0.1", cluster.port(leader)))
    try:
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        hog.sendall(b"*2\r\n$3\r\nGET\r\n$7\r\none-mib\r\n" * 3000)
        wait_for(
            lambda: int(r.info("stats")["total_commands_processed"]) >= processed + 1024,
            what="the node to run the first 1024 GETs",
        )
        # The replies of those GETs would be encoded right after their reads are served: watch
        # the node's memory for a while (the old server grew by ~1 GiB within a second).
        peak, deadline = base, time.monotonic() + 3
        while time.monotonic() < deadline:
            peak = max(peak, rss_bytes(pid))
            time.sleep(0.05)
        assert peak - base < 96 * MIB, f"RSS grew by {(peak - base) / MIB:.0f} MiB"
    finally:
        hog.close()
    assert r.ping() is True
    assert cluster.client(leader).get("one-mib") == b"m" * MIB
