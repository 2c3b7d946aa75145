"""Issue 11: a RESP pipeline mixing kv writes and reads costs one entry, on a real Node.

An in-process cluster (tests/runtime/test_node.py) with the RESP server on the leader and
on a follower; a raw socket sends each burst at once, as redis-py's pipeline does."""

from __future__ import annotations

from functools import partial

import trio

from frontends.resp.server import serve_resp
from statemachines.kv import KVMachine
from statemachines.locks import LocksMachine
from tests.runtime.test_node import InProcessCluster, cmd


def resp(*args: str) -> bytes:
    return b"".join([f"*{len(args)}\r\n".encode(), *(f"${len(a)}\r\n{a}\r\n".encode() for a in args)])


def bulk(value: str) -> bytes:
    return f"${len(value)}\r\n{value}\r\n".encode()


async def exchange(stream: trio.SocketStream, burst: bytes, expected: bytes) -> bytes:
    """Send the burst in one write; read until as many bytes as `expected` came (or 10 s)."""
    await stream.send_all(burst)
    got = b""
    with trio.move_on_after(10):
        while len(got) < len(expected):
            got += await stream.receive_some(65536)
    return got


async def test_a_mixed_pipeline_is_one_entry_in_order_on_leader_and_follower(tmp_path):
    cluster = InProcessCluster(tmp_path)
    async with trio.open_nursery() as nursery:
        leader, follower = await cluster.start_all(nursery, (KVMachine, LocksMachine))
        for node in (leader, follower):
            port = await nursery.start(partial(serve_resp, node, "127.0.0.1", 0, machines=("locks",)))
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            assert await exchange(stream, resp("SET", "warm", "1"), b"+OK\r\n") == b"+OK\r\n"
            # SET/GET pairs, an INCR read back, a WRONGTYPE error in place, PING kept in place
            burst, expected = b"", b""
            for i in range(200):
                burst += resp("SET", f"k{i}", f"v{i}-{node.node_id}") + resp("GET", f"k{i}")
                expected += b"+OK\r\n" + bulk(f"v{i}-{node.node_id}")
            burst += resp("SET", "n", "1") + resp("PING") + resp("INCR", "n") + resp("GET", "n")
            burst += resp("HGET", "n", "f")
            expected += b"+OK\r\n+PONG\r\n:2\r\n" + bulk("2")
            wrongtype = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
            expected += wrongtype
            before = leader.host.applied
            assert await exchange(stream, burst, expected) == expected
            assert leader.host.applied == before + 1, (before, leader.host.applied)  # the whole burst: one entry
            # A slow read (KEYS) ends the run: writes before it, it, and writes after it
            # are three rounds, and the read sees exactly the writes before it.
            one, two = f"s{node.node_id}", f"s{node.node_id}-2"
            burst = resp("SET", one, "1") + resp("KEYS", f"{one}*") + resp("SET", two, "2") + resp("GET", two)
            expected = b"+OK\r\n*1\r\n" + bulk(one) + b"+OK\r\n" + bulk("2")
            before = leader.host.applied
            assert await exchange(stream, burst, expected) == expected
            assert leader.host.applied == before + 2  # SET; then SET+GET as one entry
            # Another machine's write is not mixed: a GET after LOCK.ACQUIRE takes the barrier.
            before = leader.host.applied
            burst = resp("SET", "m", "1") + resp("LOCK.ACQUIRE", f"j{node.node_id}", "w", "60000") + resp("GET", "m")
            got = await exchange(stream, burst, b"+OK\r\n:1\r\n" + bulk("1"))
            assert got.startswith(b"+OK\r\n:") and got.endswith(b"\r\n" + bulk("1"))
            assert leader.host.applied == before + 2  # SET, LOCK.ACQUIRE; the GET is no entry
            # A burst of reads alone keeps the read barrier: no entry.
            before = leader.host.applied
            expected = bulk("v0-%d" % node.node_id) + bulk("2")
            assert await exchange(stream, resp("GET", "k0") + resp("GET", "n"), expected) == expected
            assert leader.host.applied == before
            await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_in_redirect_mode_a_followers_mixed_pipeline_reads_locally(tmp_path):
    """Redirect mode: the follower answers the writes -MOVED and serves the reads itself,
    as for any burst; the reads are not put in an entry (they would be answered -MOVED)."""
    cluster = InProcessCluster(tmp_path, write_mode="redirect")
    async with trio.open_nursery() as nursery:
        leader, follower = await cluster.start_all(nursery)
        assert await leader.submit("kv", cmd("SET", "k", "old")).wait_one() == "OK"
        port = await nursery.start(serve_resp, follower, "127.0.0.1", 0)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        host, leader_port = cluster.configs[leader.node_id].resp
        moved = f"-MOVED 0 {host}:{leader_port}\r\n".encode()
        expected = moved + bulk("old") + moved + bulk("old")
        burst = resp("SET", "k", "new") + resp("GET", "k") + resp("SET", "k", "newer") + resp("GET", "k")
        assert await exchange(stream, burst, expected) == expected
        await stream.aclose()
        nursery.cancel_scope.cancel()
