"""Client-side caching on a real 3-node cluster: a write sent to one node invalidates the readers
that track the key on every other node (each node pushes its invalidations when IT applies the
entry), in RESP3 pushes, in BCAST mode, and for a flush."""

from __future__ import annotations

import time

import pytest
import redis

from tests.e2e.harness import wait_for
from tests.frontends.resp_helpers import RawClient

pytestmark = pytest.mark.e2e

INVALIDATED = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\nkey1\r\n"


def _write(client: redis.Redis, *args) -> None:
    while True:  # not a test of leader changes: again if the node says it may
        try:
            client.execute_command(*args)
            return
        except (redis.exceptions.TryAgainError, redis.exceptions.ClusterDownError):
            time.sleep(0.05)


def _push(raw: RawClient) -> bytes:
    raw.sock.settimeout(30)
    return raw.reply()


def test_a_write_on_one_node_invalidates_readers_on_the_others(cluster):
    cluster.leader()
    reader_node, writer_node, bcast_node = sorted(cluster.configs)
    writer = cluster.steady_client(writer_node)
    _write(writer, "SET", "key1", "v0")
    with RawClient(cluster.port(reader_node)) as reader, RawClient(cluster.port(bcast_node)) as bcast:
        for raw in (reader, bcast):
            raw.command("HELLO", "3")
        assert reader.command("CLIENT", "TRACKING", "on") == b"+OK\r\n"
        assert bcast.command("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "key") == b"+OK\r\n"
        wait_for(lambda: reader.command("GET", "key1") == b"$2\r\nv0\r\n", what="the reader to see v0")
        _write(writer, "SET", "key1", "v1")
        assert _push(reader) == INVALIDATED  # nothing asked: the reader's node pushed it at apply
        assert _push(bcast) == INVALIDATED
        assert reader.command("GET", "key1") == b"$2\r\nv1\r\n"  # read again: tracked again
        _write(writer, "FLUSHALL")
        assert _push(reader) == b">2\r\n$10\r\ninvalidate\r\n_\r\n"
        assert _push(bcast) == b">2\r\n$10\r\ninvalidate\r\n_\r\n"
        assert reader.command("PING") == b"+PONG\r\n"  # and nothing else was pushed before it
    writer.close()


def test_a_resp2_reader_hears_through_its_redirect_target_on_its_node(cluster):
    cluster.leader()
    reader_node, writer_node = sorted(cluster.configs)[:2]
    writer = cluster.steady_client(writer_node)
    with RawClient(cluster.port(reader_node)) as target, RawClient(cluster.port(reader_node)) as reader:
        target_id = int(target.command("CLIENT", "ID")[1:-2])
        target.command("SUBSCRIBE", "__redis__:invalidate")
        assert reader.command("CLIENT", "TRACKING", "on", "REDIRECT", target_id) == b"+OK\r\n"
        reader.command("GET", "key1")
        _write(writer, "SET", "key1", "x")
        assert _push(target) == b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$4\r\nkey1\r\n"
    writer.close()
