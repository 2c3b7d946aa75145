"""Issue 11: a redis-py pipeline alternating SET and GET, on the leader and on a follower of
a real 3-node cluster, answers every GET with the SET just before it (read-your-writes in
Redis' reply order), in one entry per MiB of pipeline instead of one round trip per pair."""

from __future__ import annotations

import time

import pytest
import redis

pytestmark = pytest.mark.e2e

PAIRS = 2000


def alternating(client: redis.Redis, tag: str) -> list:
    """The pipeline's replies; sent again while the node says TRYAGAIN or CLUSTERDOWN (a
    leader change: not what this test is about; SET and GET may run twice)."""
    deadline = time.monotonic() + 30
    while True:
        pipe = client.pipeline(transaction=False)
        for i in range(PAIRS):
            pipe.set(f"k{i}", f"{tag}-{i}")
            pipe.get(f"k{i}")
        replies = pipe.execute(raise_on_error=False)
        retry = [
            r for r in replies if isinstance(r, redis.ResponseError) and str(r).startswith(("TRYAGAIN", "CLUSTERDOWN"))
        ]
        if not retry or time.monotonic() > deadline:
            return replies
        time.sleep(0.2)


def test_a_pipeline_of_set_get_pairs_reads_its_writes_on_leader_and_follower(cluster):
    leader = cluster.leader()
    follower = next(i for i in cluster.configs if i != leader)
    for node_id in (leader, follower):
        tag = f"node{node_id}"
        commit_before = int(cluster.info(cluster.leader())["commit_index"])
        replies = alternating(cluster.client(node_id), tag)
        expected = []
        for i in range(PAIRS):
            expected += [True, f"{tag}-{i}".encode()]
        assert replies == expected
        # One round trip, not one per pair: a handful of entries (the client's writes may
        # reach the server in several bursts), never thousands.
        assert int(cluster.info(cluster.leader())["commit_index"]) - commit_before < 50
    assert cluster.steady_client(follower).get(f"k{PAIRS - 1}") == f"node{follower}-{PAIRS - 1}".encode()
