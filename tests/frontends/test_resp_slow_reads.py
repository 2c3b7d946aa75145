"""The server flags slow read batches for the node (NodeAPI.read_batch's `slow`): commands
without Redis' `fast` flag, and read requests of any command that are large. Big replies of
slow reads are encoded in a worker thread and must come out the same."""

from __future__ import annotations

import redis
import trio

from frontends.resp.server import SLOW_READ_REQUEST_BYTES, THREAD_ENCODE_ITEMS


async def test_slow_reads_are_flagged_and_big_replies_come_out_whole(node, port):
    members = [b"m:%d" % i for i in range(2 * THREAD_ENCODE_ITEMS)]
    keys = [b"key:%08d" % i for i in range(SLOW_READ_REQUEST_BYTES // 10)]

    def run():
        c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
        c.sadd("s", *members)
        c.set("k", "v")
        flags = []
        for call in (
            lambda: c.get("k"),
            lambda: c.keys("*"),
            lambda: c.mget(keys[:10]),
            lambda: c.mget(keys),
            lambda: c.smembers("s"),
        ):
            before = len(node.slow_batches)
            flags.append((call(), node.slow_batches[before:]))
        return flags

    with trio.fail_after(30):
        (get, keys_star, small_mget, big_mget, smembers) = await trio.to_thread.run_sync(run)
    assert get == (b"v", [False])  # GET is `fast`
    assert sorted(keys_star[0]) == [b"k", b"s"] and keys_star[1] == [True]  # KEYS is not
    assert small_mget[1] == [False]  # MGET is `fast`...
    assert big_mget[0] == [None] * len(keys) and big_mget[1] == [True]  # ...unless its request is large
    assert smembers == (set(members), [True])
