"""The kv machine on its own: Redis semantics, expiry by the entry's stamp, snapshots.

(Exact replies against a real redis-server are checked through the server in
tests/frontends/test_oracle.py.)
"""

from __future__ import annotations

import random

import pytest

from statemachines import ReplyError, encode_args
from statemachines.kv import KVMachine
from statemachines.kv.databases import Databases
from statemachines.kv.snapshot import CHUNK_BYTES, dump, load

T0 = 1_700_000_000_000  # a leader's ms stamp


def cmd(*args) -> bytes:
    return encode_args([a if isinstance(a, bytes) else str(a).encode() for a in args])


class Driver:
    """Applies commands with increasing indexes; reads with a given now."""

    def __init__(self, machine: KVMachine | None = None) -> None:
        self.m = machine or KVMachine()
        self.index = 0

    def w(self, *args, ts: int = T0):
        self.index += 1
        return self.m.apply(self.index, cmd(*args), ts)

    def r(self, *args, now: int = T0):
        return self.m.query(cmd(*args), now)


def test_strings():
    d = Driver()
    assert d.r("GET", "k") is None
    assert d.w("SET", "k", "v") == "OK"
    assert d.r("GET", "k") == b"v"
    assert d.w("get", "k") == b"v"  # readonly commands run at apply too (a read proposed through the log)
    assert d.w("SET", "k", "w", "NX") is None
    assert d.w("SET", "k", "w", "XX", "GET") == b"v"
    assert d.w("SET", "n", "1", "XX") is None
    assert d.w("SET", "n", "1", "NX", "GET") is None
    assert d.r("MGET", "k", "n", "none") == [b"w", b"1", None]
    assert d.w("MSET", "a", "1", "b", "2") == "OK"
    assert d.w("MSETNX", "a", "9", "c", "3") == 0
    assert d.w("APPEND", "a", "23") == 3
    assert d.r("STRLEN", "a") == 3
    assert d.w("GETSET", "a", "x") == b"123"
    assert d.w("GETDEL", "a") == b"x"
    assert d.w("SETNX", "a", "1") == 1
    assert d.w("DEL", "a", "b", "a", "zz") == 2
    assert d.r("EXISTS", "k", "k", "a") == 2
    assert d.r("TYPE", "k") == "string" and d.r("TYPE", "a") == "none"
    assert d.r("DBSIZE") == 2


def test_counters():
    d = Driver()
    assert d.w("INCR", "c") == 1
    assert d.w("INCRBY", "c", "41") == 42
    assert d.w("DECRBY", "c", "2") == 40
    assert d.w("DECR", "c") == 39
    assert d.r("GET", "c") == b"39"
    d.w("SET", "c", str(2**63 - 1))
    assert d.w("INCR", "c") == ReplyError("ERR increment or decrement would overflow")
    assert d.r("GET", "c") == str(2**63 - 1).encode()  # unchanged
    d.w("SET", "s", "1.5")
    assert d.w("INCR", "s") == ReplyError("ERR value is not an integer or out of range")
    assert d.w("INCRBY", "c", "x") == ReplyError("ERR value is not an integer or out of range")
    assert d.w("DECRBY", "c", str(-(2**63))) == ReplyError("ERR decrement would overflow")


def test_arity_unknown_and_garbage_never_raise():
    d = Driver()
    assert d.w("GET") == ReplyError("ERR wrong number of arguments for 'get' command")
    assert d.w("SET", "k") == ReplyError("ERR wrong number of arguments for 'set' command")
    assert d.w("MSET", "a", "1", "b") == ReplyError("ERR wrong number of arguments for 'mset' command")
    assert d.w("NOPE", "a") == ReplyError("ERR unknown command 'NOPE', with args beginning with: 'a' ")
    assert d.m.apply(9, b"\xc1garbage", T0) == ReplyError("ERR invalid command encoding")
    assert d.m.apply(9, encode_args([]), T0) == ReplyError("ERR invalid command encoding")
    assert d.r("SET", "a", "b") == ReplyError("ERR 'set' is a write: it goes through the log")
    assert d.m.keyspace.data == {}


def test_check_rejects_syntax_before_the_log():
    specs = {spec.name: spec for spec in KVMachine().commands()}
    assert specs["set"].check([b"SET", b"k", b"v"]) is None
    assert specs["set"].check([b"SET", b"k", b"v", b"EX", b"10", b"NX"]) is None
    assert specs["set"].check([b"SET", b"k", b"v", b"NX", b"XX"]) == ReplyError("ERR syntax error")
    assert specs["set"].check([b"SET", b"k", b"v", b"EX", b"0"]) == ReplyError(
        "ERR invalid expire time in 'set' command"
    )
    assert specs["set"].check([b"SET", b"k", b"v", b"PX", b"x"]) == ReplyError(
        "ERR value is not an integer or out of range"
    )
    assert specs["incrby"].check([b"INCRBY", b"k", b"1x"]) is not None
    assert specs["mset"].check([b"MSET", b"a", b"1"]) is None
    assert specs["mset"].check([b"MSET", b"a", b"1", b"b"]) == ReplyError(
        "ERR wrong number of arguments for 'mset' command"
    )
    assert specs["expire"].check([b"EXPIRE", b"k", b"1", b"NX", b"GT"]) is not None
    assert specs["flushall"].check([b"FLUSHALL", b"LATER"]) == ReplyError("ERR syntax error")
    for spec in specs.values():
        assert spec.is_write != ("readonly" in spec.flags)
        assert spec.summary and spec.group


def test_expiry_uses_the_entry_stamp():
    d = Driver()
    d.w("SET", "k", "v", "EX", "10", ts=T0)
    assert d.r("TTL", "k", now=T0) == 10
    assert d.r("PTTL", "k", now=T0 + 2500) == 7500
    assert d.r("TTL", "k", now=T0 + 2500) == 8  # rounded like Redis
    assert d.r("GET", "k", now=T0 + 9999) == b"v"
    assert d.r("GET", "k", now=T0 + 10_000) is None  # reads hide it ...
    assert b"k" in d.m.keyspace.data  # ... without touching state
    assert d.w("SET", "k", "w", "NX", ts=T0 + 9_999) is None  # a write before the deadline sees it
    assert d.w("SET", "k", "w", "NX", ts=T0 + 10_000) == "OK"  # at the deadline it is gone
    assert d.r("TTL", "k", now=T0 + 10_000) == -1
    d.w("SET", "a", "1", "PXAT", str(T0 + 5), ts=T0)
    assert d.w("INCR", "a", ts=T0 + 4) == 2  # INCR keeps the TTL
    assert d.r("PTTL", "a", now=T0 + 4) == 1
    assert d.w("INCR", "a", ts=T0 + 5) == 1  # expired: a fresh counter without TTL
    assert d.r("TTL", "a", now=T0 + 10**9) == -1
    assert d.w("EXPIRE", "a", "-1", ts=T0 + 6) == 1
    assert d.r("EXISTS", "a", now=T0) == 0 and b"a" not in d.m.keyspace.data


def test_active_expiry_reclaims_untouched_keys():
    d = Driver()
    for i in range(100):
        d.w("SET", f"k{i}", "v", "PX", "10", ts=T0)
    d.w("SET", "live", "v", ts=T0)
    for step in range(20):
        d.w("EXISTS", "x", ts=T0 + 100 + step)
    assert set(d.m.keyspace.data) == {b"live"}
    assert d.m.keyspace.expires == {}


def _random_ops(rng: random.Random, n: int) -> list[tuple[bytes, int]]:
    ops = []
    ts = T0
    keys = [f"k{i}" for i in range(30)]
    for _ in range(n):
        ts += rng.choice([0, 1, 7, 100, 1000])
        key = rng.choice(keys)
        kind = rng.randrange(8)
        if kind == 0:
            ops.append((cmd("SET", key, str(rng.randrange(100)), "PX", str(rng.randint(1, 3000))), ts))
        elif kind == 1:
            ops.append((cmd("SET", key, "x", "KEEPTTL" if rng.random() < 0.5 else "NX"), ts))
        elif kind == 2:
            ops.append((cmd("INCR", key), ts))
        elif kind == 3:
            ops.append((cmd("PEXPIRE", key, str(rng.randint(-5, 2000)), rng.choice(["NX", "XX", "GT", "LT"])), ts))
        elif kind == 4:
            ops.append((cmd("DEL", key, rng.choice(keys)), ts))
        elif kind == 5:
            ops.append((cmd("PERSIST", key), ts))
        elif kind == 6:
            ops.append((cmd("APPEND", key, "ab"), ts))
        else:
            ops.append((cmd("GETSET", key, "g"), ts))
    return ops


def _state(m: KVMachine, now: int) -> dict:
    """What a client could observe at `now`."""
    ks = m.keyspace
    return {k: (v, ks.expires.get(k)) for k, v in ks.data.items() if ks.get(k, now) is not None}


def test_replicas_stay_identical_and_snapshots_restore_exactly():
    rng = random.Random(7)
    ops = _random_ops(rng, 3000)
    a, b = KVMachine(), KVMachine()
    results_a = [a.apply(i, c, ts) for i, (c, ts) in enumerate(ops, 1)]
    # b takes a snapshot of a halfway replica and continues from there
    half = len(ops) // 2
    mid = KVMachine()
    for i, (c, ts) in enumerate(ops[:half], 1):
        mid.apply(i, c, ts)
    b.restore(list(mid.snapshot()))
    results_b = results_a[:half] + [b.apply(i, c, ts) for i, (c, ts) in enumerate(ops[half:], half + 1)]
    assert results_a == results_b
    assert a.keyspace.data == b.keyspace.data and a.keyspace.expires == b.keyspace.expires
    assert _state(a, ops[-1][1]) == _state(b, ops[-1][1])


def test_snapshot_of_many_keys_is_chunked_and_round_trips():
    m = KVMachine()
    index = 0
    for i in range(40_000):
        index += 1
        m.apply(index, cmd("SET", f"key:{i}", "v" * (i % 97), *(["PX", "100000"] if i % 3 == 0 else [])), T0)
    chunks = list(m.snapshot())
    assert len(chunks) >= 3  # header + several ~1 MiB batches
    assert max(map(len, chunks)) < CHUNK_BYTES + 64 * 1024
    copy = KVMachine()
    copy.restore(iter(chunks))  # any iterable, consumed once
    assert copy.keyspace.data == m.keyspace.data
    assert copy.keyspace.expires == m.keyspace.expires
    assert copy.query(cmd("PTTL", "key:3"), T0 + 1) == 99_999


def test_snapshot_is_a_point_in_time_view():
    m = KVMachine()
    m.apply(1, cmd("SET", "a", "1"), T0)
    chunks = m.snapshot()  # not consumed yet
    m.apply(2, cmd("SET", "a", "2"), T0)
    m.apply(3, cmd("SET", "b", "2"), T0)
    copy = KVMachine()
    copy.restore(chunks)
    assert copy.keyspace.data == {b"a": b"1"}


def test_restore_rejects_bad_input_and_keeps_the_old_state():
    m = KVMachine()
    m.apply(1, cmd("SET", "keep", "me"), T0)
    good = list(KVMachine().snapshot())
    for bad in ([b"\x93\xa3foo\x01\x00"], [good[0].replace(b"\x03", b"\x09", 1), *good[1:]], [b"\xc1"]):
        with pytest.raises(Exception):
            m.restore(bad)
    other = KVMachine()
    other.apply(1, cmd("SET", "x", "1"), T0)
    truncated = list(other.snapshot())[:1]
    with pytest.raises(ValueError):
        m.restore(truncated)
    assert m.query(cmd("GET", "keep"), T0) == b"me"


def test_empty_snapshot():
    chunks = list(dump(Databases()))
    assert len(chunks) == 2  # the header and database 0's
    other = Databases()
    load(other, chunks)
    assert other.get(0).data == {} and [ks.db for ks in other.in_use()] == [0]
