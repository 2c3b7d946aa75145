"""DUMP and RESTORE against redis-server 7.0: payloads travel both ways and mean the same value.

- CASES: replies byte for byte (DUMP of values whose serialization Redis does not compress, so
  the payload bytes themselves must be equal; RESTORE's errors in Redis' order).
- Every type in every encoding Redis 7.0 emits, small and large (int-encoded, raw and LZF
  strings; quicklists of one and many listpack nodes; intsets and hash-table sets; listpack and
  hash-table hashes; listpack and skiplist sorted sets), with and without a TTL: DUMP on Redis,
  RESTORE here, same content; DUMP here, RESTORE on Redis, same content; and with Redis'
  compression off, our DUMP of the restored value is Redis' payload byte for byte.
- RDB 9 payloads (ziplists, plain lists, string-double sorted sets), built here, restore as in Redis.
- Thousands of damaged payloads (random edits, the CRC recomputed so the body is what is judged):
  accepted or refused exactly as Redis with sanitize-dump-payload yes does, and an accepted one
  holds what Redis holds (the seed is printed; DUMP_FUZZ_SEED replays it).
"""

from __future__ import annotations

import os
import random

import pytest
import redis
import trio
from resp_helpers import assert_same_as_redis, real_redis

from statemachines import ReplyError
from statemachines.kv.rdb import load_payload
from statemachines.kv.rdb_codec.crc64 import crc64
from statemachines.kv.rdb_codec.reader import BadData, Reader

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
    "memory": """
        SET k v
        MEMORY USAGE nokey
        MEMORY USAGE k SAMPLES -1
        MEMORY USAGE k SAMPLES x
        MEMORY USAGE k SAMPLES
        MEMORY USAGE k FOO
        MEMORY USAGE nokey SAMPLES 0
        MEMORY USAGE
        MEMORY STATS extra
        MEMORY DOCTOR extra
        MEMORY FOO
        MEMORY
        MEMORY HELP
        MEMORY PURGE
    """,
}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, protocol, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name], protocol=protocol)


def _memory(port: int, oracle_port: int, protocol: int) -> None:
    """USAGE's estimate stays near Redis' figure for every type and encoding; STATS, DOCTOR and
    MALLOC-STATS answer in Redis' shapes (their numbers describe each process)."""
    theirs = redis.Redis(port=oracle_port, protocol=protocol)
    ours = redis.Redis(port=port, protocol=protocol)
    theirs.flushall()
    ours.flushall()
    _fill(theirs)
    try:
        for key in theirs.keys():
            ours.restore(key, 0, theirs.dump(key))
            # SAMPLES 0: every element. Redis' default estimate samples 5 skiplist nodes, whose
            # sizes follow their random levels, so its figure for a big sorted set wanders.
            want, got = theirs.memory_usage(key, samples=0), ours.memory_usage(key, samples=0)
            assert 0.8 * want <= got <= 1.25 * want, (key, want, got)
            assert ours.memory_usage(key) > 0
        want, got = theirs.memory_stats(), ours.memory_stats()
        assert list(got) == list(want) and got["keys.count"] == want["keys.count"] == 18
        assert set(got["db.0"]) == set(want["db.0"])
        assert [type(v) for v in got.values()] == [type(v) for v in want.values()]
        assert "Sam" in ours.execute_command("MEMORY DOCTOR").decode()
        assert isinstance(ours.execute_command("MEMORY MALLOC-STATS"), bytes)
    finally:
        theirs.flushall()


@pytest.mark.parametrize("protocol", [2, 3])
async def test_memory_usage_and_stats(port, oracle_port, protocol):
    await trio.to_thread.run_sync(_memory, port, oracle_port, protocol)


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


# --- damaged payloads: Redis (deep sanitization on) and we accept and refuse the same -------------
MUTATIONS = 3000


def _mutate(rng: random.Random, body: bytes) -> bytes:
    """1-3 random edits: set a byte, flip a bit, delete or insert a few bytes."""
    out = bytearray(body)
    for _ in range(rng.randint(1, 3)):
        if not out:
            break
        pos = rng.randrange(len(out))
        op = rng.randrange(4)
        if op == 0:
            out[pos] = rng.randrange(256)
        elif op == 1:
            out[pos] ^= 1 << rng.randrange(8)
        elif op == 2:
            del out[pos : pos + rng.randint(1, 4)]
        else:
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
    return bytes(out)


def with_footer(body: bytes, version: int = 10) -> bytes:
    head = body + version.to_bytes(2, "little")
    return head + crc64(head).to_bytes(8, "little")


def _redis_presizes_beyond(payload: bytes) -> bool:
    """Redis sizes a set's, sorted set's or hash's table from the announced count before reading
    any element (dictTryExpand): a count of billions costs it seconds of allocation before its
    "Bad data format". Such payloads are left out here (we refuse them at once, as
    tests/statemachines/test_kv_rdb.py checks) to keep this test fast."""
    if payload[0] not in (2, 3, 4, 5):
        return False
    try:
        return Reader(payload[1:]).length() > len(payload)
    except BadData:
        return False


def _compare_mutations(seed: int) -> list[str]:
    rng = random.Random(seed)
    bad = []
    with real_redis("--sanitize-dump-payload", "yes") as oracle:
        if oracle is None:
            pytest.skip("redis-server is not installed")
        theirs = redis.Redis(port=oracle, socket_timeout=30)
        _fill(theirs)
        theirs.rpush("list:ints", "a", "1", "-5000", "70000")
        theirs.hset("hash:tiny", mapping={"a": "1", "bb": "x" * 70})
        theirs.zadd("zset:tiny", {"a": 1, "b": 2.5})
        keys = [key for key in sorted(theirs.keys()) if theirs.memory_usage(key) < 20000]
        bodies = [theirs.dump(key)[:-10] for key in keys]  # LZF-compressed where Redis compresses
        theirs.config_set("rdbcompression", "no")
        bodies += [theirs.dump(key)[:-10] for key in keys]  # and plain: edits land in the structures
        for _ in range(MUTATIONS):
            payload = with_footer(_mutate(rng, rng.choice(bodies)))
            if _redis_presizes_beyond(payload):
                continue
            try:
                theirs.restore("k", 0, payload, replace=True)
                want = "OK"
            except redis.ResponseError as e:
                want = str(e)
            value = load_payload(payload)
            got = value.message.removeprefix("ERR ") if type(value) is ReplyError else "OK"
            if got != want:
                bad.append(f"{payload!r}: redis {want}, replicator {got}")
            elif got == "OK" and value != load_payload(theirs.dump("k")):
                bad.append(f"{payload!r}: restored differently")
    return bad


async def test_damaged_payloads_accepted_and_refused_as_redis_does():
    seed = int(os.environ.get("DUMP_FUZZ_SEED", random.randrange(1 << 32)))
    print(f"seed {seed} (replay: DUMP_FUZZ_SEED={seed})")
    bad = await trio.to_thread.run_sync(_compare_mutations, seed)
    assert not bad, f"seed {seed}:\n" + "\n".join(bad[:10])


# --- RDB 9 encodings (ziplists), which Redis 7.0 still loads but no longer writes ---------------
def _zl_entry(previous: int, value: bytes | int) -> bytes:
    prevlen = bytes((previous,)) if previous < 254 else b"\xfe" + previous.to_bytes(4, "little")
    if isinstance(value, int):
        if 0 <= value <= 12:
            encoding = bytes((0xF1 + value,))
        elif -128 <= value < 128:
            encoding = b"\xfe" + value.to_bytes(1, "little", signed=True)
        elif -(1 << 15) <= value < 1 << 15:
            encoding = b"\xc0" + value.to_bytes(2, "little", signed=True)
        elif -(1 << 23) <= value < 1 << 23:
            encoding = b"\xf0" + value.to_bytes(3, "little", signed=True)
        elif -(1 << 31) <= value < 1 << 31:
            encoding = b"\xd0" + value.to_bytes(4, "little", signed=True)
        else:
            encoding = b"\xe0" + value.to_bytes(8, "little", signed=True)
    elif len(value) < 64:
        encoding = bytes((len(value),)) + value
    elif len(value) < 16384:
        encoding = bytes((0x40 | len(value) >> 8, len(value) & 0xFF)) + value
    else:
        encoding = b"\x80" + len(value).to_bytes(4, "big") + value
    return prevlen + encoding


def ziplist(values: list[bytes | int]) -> bytes:
    entries, previous, tail, offset = [], 0, 10, 10
    for value in values:
        entry = _zl_entry(previous, value)
        entries.append(entry)
        tail, offset, previous = offset, offset + len(entry), len(entry)
    body = b"".join(entries)
    size = 10 + len(body) + 1
    return size.to_bytes(4, "little") + tail.to_bytes(4, "little") + len(values).to_bytes(2, "little") + body + b"\xff"


def _rdb_string(blob: bytes) -> bytes:
    return b"\x80" + len(blob).to_bytes(4, "big") + blob


VALUES = [b"a", 0, 12, 13, -1, 127, -128, 300, -30000, 70000, -(1 << 23), 1 << 30, -(1 << 62), b"x" * 300, b"y" * 70]
OLD_PAYLOADS = {
    "list_ziplist": bytes((10,)) + _rdb_string(ziplist(VALUES)),
    "list_quicklist": bytes((14,)) + b"\x02" + _rdb_string(ziplist(VALUES[:7])) + _rdb_string(ziplist(VALUES[7:])),
    "hash_ziplist": bytes((13,)) + _rdb_string(ziplist([b"f1", 5, b"f2", b"x" * 60, 7, b"seven"])),
    "zset_ziplist": bytes((12,)) + _rdb_string(ziplist([b"m4", b"-inf", b"m3", -70000, b"m2", b"2.5", b"m1", 5])),
    "list_plain": bytes((1,)) + b"\x03" + b"\x01a" + b"\xc0\x05" + b"\x01b",
    "zset_strings": bytes((3,)) + b"\x03" + b"\x01a" + b"\x031.5" + b"\x01b" + b"\xfe" + b"\x01c" + b"\x05-2e1x",
    "set_plain": bytes((2,)) + b"\x02" + b"\x01a" + b"\xc1\x00\x01",
}


def _old_encodings(port: int, oracle_port: int) -> None:
    theirs = redis.Redis(port=oracle_port)
    ours = redis.Redis(port=port)
    theirs.config_set("rdbcompression", "no")
    try:
        for name, body in OLD_PAYLOADS.items():
            payload = with_footer(body, version=9)
            theirs.restore(name, 0, payload, replace=True)
            ours.restore(name, 0, payload, replace=True)
            assert _content(ours, name.encode()) == _content(theirs, name.encode()), name
            # Redis keeps the loaded quicklist's node boundaries (we cut nodes as RPUSH would) and
            # iterates a hash-table set in its hash order: those two differ in bytes, not in content.
            if name not in ("list_quicklist", "set_plain"):
                assert ours.dump(name) == theirs.dump(name), name  # both in Redis 7.0's encoding now
    finally:
        theirs.config_set("rdbcompression", "yes")
        theirs.flushall()


async def test_rdb9_encodings_restore_as_in_redis(port, oracle_port):
    await trio.to_thread.run_sync(_old_encodings, port, oracle_port)
