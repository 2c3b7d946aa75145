"""Streams through DUMP and RESTORE, both ways against redis-server 7.0: a stream dumped there
restores here with the same entries, tombstones, node boundaries, groups, PELs and consumers
(XINFO STREAM FULL compared whole), our DUMP restores there the same, and with rdbcompression
off the payloads are byte for byte Redis' own."""

from __future__ import annotations

import random

import redis
import trio


def _fill(r: redis.Redis) -> None:
    r.xadd("s:small", {"a": "1", "b": "x"}, id="1-1")
    r.xadd("s:small", {"a": "2", "b": "y"}, id="1-2")
    r.xadd("s:small", {"other": "field"}, id="5-0")
    r.xadd("s:negative-diff", {"f": "v"}, id="100-50")
    r.xadd("s:negative-diff", {"f": "w"}, id="101-0")
    r.xadd("s:negative-diff", {"f": "w"}, id="18446744073709551615-3")
    rng = random.Random(7)
    for i in range(1, 260):
        fields = {"n": str(i), "pad": "p" * rng.randrange(40)} if i % 7 else {"odd": "-123", "n": str(-i)}
        r.xadd("s:nodes", fields, id=f"{1000 + i}-{i % 3}")
    for i in (1002, 1003, 1150, 1151, 1259):
        r.xdel("s:nodes", f"{i}-{(i - 1000) % 3}")
    r.xtrim("s:nodes", maxlen=240)  # exact: the first node keeps tombstones
    r.xadd("s:big", {"v": "b" * 5000}, id="1-0")
    r.xadd("s:big", {"v": "c" * 5000}, id="2-0")
    r.xadd("s:empty", {"f": "v"}, id="3-0")
    r.xdel("s:empty", "3-0")
    for i in range(1, 30):
        r.xadd("s:groups", {"i": str(i)}, id=f"{i}-0")
    r.xgroup_create("s:groups", "g1", id="0")
    r.xgroup_create("s:groups", "g2", id="$")
    r.xgroup_create("s:groups", "g3", id="7-0")
    r.xreadgroup("g1", "alice", {"s:groups": ">"}, count=5)
    r.xreadgroup("g1", "bob", {"s:groups": ">"}, count=4)
    r.xreadgroup("g3", "carol", {"s:groups": ">"}, count=2)
    r.xack("s:groups", "g1", "2-0", "7-0")
    r.xclaim("s:groups", "g1", "bob", 0, ["3-0"])
    r.xgroup_createconsumer("s:groups", "g2", "idle")
    r.xdel("s:groups", "4-0")


def _full(r: redis.Redis, key: bytes):
    return r.execute_command("XINFO", "STREAM", key, "FULL")


def _both_ways(port: int, oracle_port: int) -> None:
    theirs = redis.Redis(port=oracle_port)
    ours = redis.Redis(port=port)
    theirs.flushall()
    ours.flushall()
    _fill(theirs)
    keys = sorted(theirs.keys())
    assert len(keys) == 6
    try:
        for key in keys:
            payload = theirs.dump(key)
            assert ours.restore(key, 0, payload), key
            assert _full(ours, key) == _full(theirs, key), key
            assert ours.execute_command("XINFO", "GROUPS", key) == theirs.execute_command("XINFO", "GROUPS", key)
            theirs.restore(key + b":back", 0, ours.dump(key))
            assert _full(theirs, key + b":back") == _full(theirs, key), key
        theirs.config_set("rdbcompression", "no")
        for key in keys:
            assert ours.dump(key) == theirs.dump(key), key
    finally:
        theirs.config_set("rdbcompression", "yes")
        theirs.flushall()


async def test_streams_dump_and_restore_both_ways(port, oracle_port):
    await trio.to_thread.run_sync(_both_ways, port, oracle_port)


def _damaged(port: int, oracle_port: int) -> list[tuple[int, str]]:
    """Every single-byte change of a stream payload (checksum fixed up, so the body is what is
    judged) answers OK or Redis' "Bad data format", and never more than the payload holds."""
    from statemachines.kv.rdb_codec.crc64 import crc64

    theirs = redis.Redis(port=oracle_port)
    ours = redis.Redis(port=port)
    theirs.flushall()
    _fill(theirs)
    payload = theirs.dump("s:groups")
    theirs.flushall()
    bad = []
    rng = random.Random(11)
    print("seed 11")
    for _ in range(300):
        body = bytearray(payload[:-8])
        body[rng.randrange(len(body) - 2)] = rng.randrange(256)
        mutated = bytes(body) + crc64(bytes(body)).to_bytes(8, "little")
        try:
            ours.restore("m", 0, mutated, replace=True)
            ours.execute_command("XINFO", "STREAM", "m", "FULL")
        except redis.ResponseError as e:
            if str(e) != "Bad data format":
                bad.append((mutated.hex(), str(e)))
    return bad


async def test_a_damaged_stream_payload_is_bad_data(port, oracle_port):
    assert await trio.to_thread.run_sync(_damaged, port, oracle_port) == []
