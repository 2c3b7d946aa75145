"""Keyspace notifications on a real 3-node cluster: every node emits the events at apply.

notify-keyspace-events is set on each node (CONFIG SET is node-local, as in Redis); a pattern
subscriber on each node then sees the same event sequence for writes sent to one node, in log
order, including the "expired" of a key whose TTL passes (active expiry: the leader proposes the
deletion, every node applies it and says so). A node whose notifications are turned off again
stops publishing them while the others go on.
"""

from __future__ import annotations

import time

import pytest
import redis

from tests.e2e.harness import wait_for

pytestmark = pytest.mark.e2e

WRITES = [
    ("SET", "a", "1"),
    ("LPUSH", "l", "x", "y"),
    ("HSET", "h", "f", "v"),
    ("ZADD", "z", "1", "m"),
    ("SADD", "s", "m"),
    ("XADD", "x", "*", "f", "v"),
    ("INCR", "n"),
    ("DEL", "a"),
    ("RENAME", "l", "l2"),
    ("SET", "t", "v", "PX", "300"),
]
EVENTS = [  # (event, key) in apply order; each is published on __keyspace@0__ then __keyevent@0__
    ("set", "a"),
    ("lpush", "l"),
    ("hset", "h"),
    ("zadd", "z"),
    ("sadd", "s"),
    ("xadd", "x"),
    ("incrby", "n"),
    ("del", "a"),
    ("rename_from", "l"),
    ("rename_to", "l2"),
    ("set", "t"),
    ("expire", "t"),
    ("expired", "t"),
]


def _expected(events) -> list[tuple[bytes, bytes]]:
    out = []
    for event, key in events:
        out.append((f"__keyspace@0__:{key}".encode(), event.encode()))
        out.append((f"__keyevent@0__:{event}".encode(), key.encode()))
    return out


def _send(client: redis.Redis, *args: str) -> None:
    while True:  # not a test of leader changes: send again when the node says it may
        try:
            client.execute_command(*args)
            return
        except (redis.exceptions.TryAgainError, redis.exceptions.ClusterDownError):
            time.sleep(0.05)


def _collect(pubsub, want: int, timeout_s: float = 30.0) -> list[tuple[bytes, bytes]]:
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message is not None and message["type"] == "pmessage":
            got.append((message["channel"], message["data"]))
    return got


def test_every_node_publishes_the_same_events(cluster):
    cluster.leader()
    nodes = sorted(cluster.configs)
    subscribers, clients = {}, {}
    for node_id in nodes:
        client = clients[node_id] = cluster.client(node_id)  # kept: a collected client closes its pubsub
        assert client.config_set("notify-keyspace-events", "KEA")
        assert client.config_get("notify-keyspace-events") == {"notify-keyspace-events": "AKE"}
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.psubscribe("__key*__:*")
        subscribers[node_id] = pubsub
    for node_id in nodes:
        wait_for(lambda n=node_id: clients[n].pubsub_numpat() == 1, what=f"the subscription on node {node_id}")
    writer = cluster.client(nodes[1])  # one node, whichever leads
    for args in WRITES:
        _send(writer, *args)
    want = _expected(EVENTS)
    for node_id, pubsub in subscribers.items():
        got = _collect(pubsub, len(want))
        assert got == want, f"node {node_id}"

    # node 3 turns its notifications off: the others go on, it publishes nothing more
    off = nodes[2]
    assert cluster.client(off).config_set("notify-keyspace-events", "")
    _send(writer, "SET", "after", "1")
    _send(writer, "PUBLISH", "__keymark__:end", "done")  # a plain message, applied after the SET
    for node_id, pubsub in subscribers.items():
        got = _collect(pubsub, 1 if node_id == off else 3)
        tail = [(b"__keymark__:end", b"done")]
        expected = tail if node_id == off else _expected([("set", "after")]) + tail
        assert got == expected, f"node {node_id}"
    for pubsub in subscribers.values():
        pubsub.close()
