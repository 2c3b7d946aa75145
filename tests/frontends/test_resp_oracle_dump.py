"""DUMP and RESTORE against redis-server 7.0: payloads travel both ways and mean the same value.

- CASES: replies byte for byte (DUMP of values whose serialization Redis does not compress, so
  the payload bytes themselves must be equal; RESTORE's errors in Redis' order).
- Every type in every encoding Redis 7.0 emits, small and large (int-encoded, raw and LZF
  strings; quicklists of one and many listpack nodes; intsets and hash-table sets; listpack and
  hash-table hashes; listpack and skiplist sorted sets), with and without a TTL: DUMP on Redis,
  RESTORE here, same content; DUMP here, RESTORE on Redis, same content; and with Redis'
  compression off, our DUMP of the restored value is Redis' payload byte for byte.
"""

from __future__ import annotations

import pytest
import redis
import trio
from resp_helpers import assert_same_as_redis

CASES = {
    "dump_exact": """
        SET s hello
        DUMP s
        SET n 12345
        DUMP n
        SET neg -129
        DUMP neg
        SET min -9223372036854775808
        DUMP min
        SET empty ""
        DUMP empty
        SET twenty 01234567890123456789
        DUMP twenty
        DUMP nokey
        RPUSH l a 1 -5000
        DUMP l
        SADD si 3 1 2
        DUMP si
        SADD si2 70000
        DUMP si2
        HSET h a 1
        DUMP h
        ZADD z 1 a 2.5 b
        DUMP z
        ZADD zi -3 x
        DUMP zi
    """,
    "restore_errors": """
        SET s hello
        RESTORE s 0 garbage
        RESTORE s -1 garbage
        RESTORE s 0 garbage REPLACE
        RESTORE new -1 garbage
        RESTORE new abc garbage
        RESTORE new 9223372036854775808 garbage
        RESTORE new 0 garbage
        RESTORE new 0 short
        RESTORE new 0 ""
        RESTORE new 0 garbage FOO
        RESTORE new 0 garbage IDLETIME -1
        RESTORE new 0 garbage IDLETIME x
        RESTORE new 0 garbage IDLETIME
        RESTORE new 0 garbage FREQ 256
        RESTORE new 0 garbage FREQ -1
        RESTORE new 0 garbage FREQ 1 IDLETIME 1
        RESTORE new 0 garbage IDLETIME 1 FREQ 1
        RESTORE new 0 garbage IDLETIME 5 REPLACE ABSTTL
        RESTORE s 0 garbage FREQ 300
        RESTORE new
        DUMP
        DUMP a b
        EXISTS new
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name])


def _fill(r: redis.Redis) -> None:
    """One key per type and encoding Redis 7.0 DUMPs, small and large."""
    r.set("str:int", "12345")
    r.set("str:int64", "-9223372036854775808")
    r.set("str:raw", "hello world")
    r.set("str:lzf", "abc" * 400)  # compressible: LZF in Redis' payload
    r.set("str:binary", bytes(range(256)) * 3)
    r.set("str:empty", "")
    r.rpush("list:small", "a", "1", "-5000", "70000", "9223372036854775807", "x" * 100)
    r.rpush("list:nodes", *[f"element-{i}-" + "y" * (i % 50) for i in range(5000)])  # many 8 KB nodes
    r.rpush("list:big", "z" * 20000, "small", "w" * 5000)  # elements larger than a node
    r.sadd("set:intset", 5, -3, 100000, 2**40)
    r.sadd("set:ht", "a", "b", "c")
    r.sadd("set:manyints", *range(1000))  # above set-max-intset-entries
    r.hset("hash:lp", mapping={"a": "1", "field": "value", "n": "-42"})
    r.hset("hash:ht", mapping={f"f{i}": f"v{i}" for i in range(600)})
    r.hset("hash:long", mapping={"long": "v" * 100})  # a value above hash-max-listpack-value
    r.zadd("zset:lp", {"a": 1, "b": 2.5, "c": -1e300, "d": float("inf"), "e": 0, "f": 1.0000000000000002})
    r.zadd("zset:sl", {f"m{i}": i * 0.1 for i in range(600)})
    r.zadd("zset:long", {"m" * 100: 3})
    r.pexpire("str:raw", 500_000)
    r.pexpire("hash:ht", 900_000)


def _content(r: redis.Redis, key: bytes):
    kind = r.type(key)
    if kind == b"string":
        return r.get(key)
    if kind == b"list":
        return r.lrange(key, 0, -1)
    if kind == b"set":
        return sorted(r.smembers(key))
    if kind == b"hash":
        return sorted(r.hgetall(key).items())
    if kind == b"zset":
        return r.zrange(key, 0, -1, withscores=True)
    raise AssertionError(kind)


def _round_trip(port: int, oracle_port: int) -> None:
    theirs = redis.Redis(port=oracle_port)
    ours = redis.Redis(port=port)
    theirs.flushall()
    ours.flushall()
    _fill(theirs)
    keys = sorted(theirs.keys())
    assert len(keys) == 18
    try:
        for key in keys:
            payload = theirs.dump(key)
            ttl = max(theirs.pttl(key), 0)
            assert ours.restore(key, ttl, payload), key
            assert _content(ours, key) == _content(theirs, key), key
            assert (ours.pttl(key) > 0) == (ttl > 0), key
            back = ours.dump(key)
            theirs.restore(key + b":back", 0, back)
            assert _content(theirs, key + b":back") == _content(theirs, key), key
        # With compression off, Redis' payload for the value is what we emit for it.
        theirs.config_set("rdbcompression", "no")
        for key in keys:
            assert ours.dump(key) == theirs.dump(key), key
    finally:
        theirs.config_set("rdbcompression", "yes")
        theirs.flushall()


async def test_dump_restore_both_ways(port, oracle_port):
    await trio.to_thread.run_sync(_round_trip, port, oracle_port)


def _restore_semantics(port: int) -> None:
    ours = redis.Redis(port=port)
    ours.flushall()
    ours.set("k", "v")
    payload = ours.dump("k")
    with pytest.raises(redis.ResponseError, match="BUSYKEY"):
        ours.restore("k", 0, payload)
    assert ours.restore("k", 0, payload, replace=True)
    assert ours.restore("t", 100_000, payload) and 0 < ours.pttl("t") <= 100_000
    assert ours.restore("a", 4_000_000_000_000, payload, absttl=True) and ours.pttl("a") > 0
    # A deadline already past: OK, and no key (REPLACE deletes the old one).
    assert ours.restore("k", 1, payload, replace=True, absttl=True)
    assert ours.exists("k") == 0
    assert ours.restore("x", 0, payload, idletime=10) and ours.restore("y", 0, payload, frequency=3)


async def test_restore_semantics(port):
    await trio.to_thread.run_sync(_restore_semantics, port)
