"""Pub/Sub on a real 3-node cluster: subscribers on every node see every message, in one order.

PUBLISH goes through the log and each node delivers at apply, so publishers on two nodes
interleave into ONE sequence that every subscriber, on any node, receives whole and in order.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.e2e.harness import wait_for

pytestmark = pytest.mark.e2e

MESSAGES_PER_PUBLISHER = 150


def _collect(pubsub, want: int, out: list, done: threading.Event) -> None:
    deadline = time.monotonic() + 60
    while len(out) < want and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message is not None and message["type"] in ("message", "pmessage", "smessage"):
            out.append((message["type"], message["data"]))
    done.set()


def _publish(client, publisher: str, channel: str, spublish: bool = False) -> None:
    for i in range(MESSAGES_PER_PUBLISHER):
        data = f"{publisher}:{i}"
        while True:  # not a test of leader changes: publish again if the node says it may
            try:
                (client.spublish if spublish else client.publish)(channel, data)
                break
            except (redis.exceptions.TryAgainError, redis.exceptions.ClusterDownError):
                time.sleep(0.05)


def test_subscribers_on_every_node_see_one_order(cluster):
    cluster.leader()
    nodes = sorted(cluster.configs)
    subscribers = []
    for node_id in nodes:
        for kind in ("channel", "pattern"):
            pubsub = cluster.client(node_id).pubsub(ignore_subscribe_messages=True)
            if kind == "channel":
                pubsub.subscribe("events")
            else:
                pubsub.psubscribe("ev*")
            subscribers.append((node_id, kind, pubsub))
    for node_id in nodes:  # every subscription is in place before anything is published
        wait_for(
            lambda n=node_id: (
                cluster.client(n).pubsub_numsub("events") == [(b"events", 1)] and cluster.client(n).pubsub_numpat() == 1
            ),
            what=f"subscriptions on node {node_id}",
        )
    total = 2 * MESSAGES_PER_PUBLISHER
    received: list[list] = [[] for _ in subscribers]
    threads, dones = [], []
    for (_, _, pubsub), out in zip(subscribers, received):
        done = threading.Event()
        dones.append(done)
        threads.append(threading.Thread(target=_collect, args=(pubsub, total, out, done), daemon=True))
    for thread in threads:
        thread.start()
    publishers = [
        threading.Thread(target=_publish, args=(cluster.client(nodes[0]), f"p{nodes[0]}", "events"), daemon=True),
        threading.Thread(target=_publish, args=(cluster.client(nodes[1]), f"p{nodes[1]}", "events"), daemon=True),
    ]
    for thread in publishers:
        thread.start()
    for thread in publishers:
        thread.join(60)
    for done in dones:
        assert done.wait(60)
    first = [data for _, data in received[0]]
    assert len(first) == total, f"node {subscribers[0][0]} got {len(first)} of {total}"
    for publisher in (nodes[0], nodes[1]):  # each publisher's messages in the order it sent them
        own = [data for data in first if data.startswith(b"p%d:" % publisher)]
        assert own == [b"p%d:%d" % (publisher, i) for i in range(MESSAGES_PER_PUBLISHER)]
    for (node_id, kind, _), got in zip(subscribers, received):
        assert [data for _, data in got] == first, f"the {kind} subscriber on node {node_id} saw another order"
        assert {t for t, _ in got} == {"message" if kind == "channel" else "pmessage"}
    for _, _, pubsub in subscribers:
        pubsub.close()


def test_shard_channels_reach_every_node(cluster):
    cluster.leader()
    nodes = sorted(cluster.configs)
    subscribers = []
    for node_id in nodes:
        pubsub = cluster.client(node_id).pubsub(ignore_subscribe_messages=True)
        pubsub.ssubscribe("orders")
        subscribers.append(pubsub)
    for node_id in nodes:
        wait_for(
            lambda n=node_id: cluster.client(n).execute_command("PUBSUB", "SHARDNUMSUB", "orders") == [b"orders", 1],
            what=f"the shard subscription on node {node_id}",
        )
    _publish(cluster.client(nodes[2]), "s", "orders", spublish=True)
    for pubsub in subscribers:
        got: list = []
        _collect(pubsub, MESSAGES_PER_PUBLISHER, got, threading.Event())
        assert got == [("smessage", b"s:%d" % i) for i in range(MESSAGES_PER_PUBLISHER)]
        pubsub.close()
