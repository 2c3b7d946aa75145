"""Hashes, lists, sets, sorted sets, WATCH versions and active expiry in the kv machine on its own.

(Exact replies are checked against redis-server in tests/frontends/test_resp_oracle_types.py.)
"""

from __future__ import annotations

from statemachines import ReplyError, decode_args, encode_args
from statemachines.kv import KVMachine

T0 = 1_700_000_000_000
WRONGTYPE = ReplyError("WRONGTYPE Operation against a key holding the wrong kind of value")


def cmd(*args) -> bytes:
    return encode_args([a if isinstance(a, bytes) else str(a).encode() for a in args])


class Driver:
    def __init__(self, machine: KVMachine | None = None) -> None:
        self.m = machine or KVMachine()
        self.index = 0

    def w(self, *args, ts: int = T0):
        self.index += 1
        return self.m.apply(self.index, cmd(*args), ts)

    def r(self, *args, now: int = T0):
        return self.m.query(cmd(*args), now)


def populated() -> Driver:
    d = Driver()
    d.w("SET", "s", "v")
    d.w("HSET", "h", "a", "1", "b", "2")
    d.w("RPUSH", "l", "x", "y", "z")
    d.w("SADD", "set", "m1", "m2", "m3")
    d.w("ZADD", "z", "1", "a", "2.5", "b", "-3", "c")
    d.w("PEXPIRE", "h", "100000")
    d.w("SET", "gone", "1")
    d.w("DEL", "gone")  # leaves a version tombstone
    return d


def test_every_type_survives_snapshot_and_restore():
    d = populated()
    copy = KVMachine()
    copy.restore(d.m.snapshot())
    a, b = d.m.keyspace, copy.keyspace
    assert set(a.data) == set(b.data) == {b"s", b"h", b"l", b"set", b"z"}
    for key in a.data:
        assert type(a.data[key]) is type(b.data[key])
    assert a.expires == b.expires and a.versions == b.versions and a.version_floor == b.version_floor
    r = Driver(copy)
    assert r.r("HGETALL", "h") == {b"a": b"1", b"b": b"2"}
    assert r.r("LRANGE", "l", 0, -1) == [b"x", b"y", b"z"]
    assert r.r("SMEMBERS", "set") == [b"m1", b"m2", b"m3"]
    assert r.r("ZRANGE", "z", 0, -1, "WITHSCORES") == [b"c", -3.0, b"a", 1.0, b"b", 2.5]
    # and the snapshots are byte-identical (replicas compare them)
    assert b"".join(d.m.snapshot()) == b"".join(copy.snapshot())


def test_snapshot_of_containers_is_a_point_in_time_view():
    d = populated()
    chunks = d.m.snapshot()  # not consumed yet
    d.w("HSET", "h", "c", "3")
    d.w("RPUSH", "l", "more")
    d.w("SREM", "set", "m1")
    d.w("ZADD", "z", "9", "new")
    copy = Driver(KVMachine())
    copy.m.restore(chunks)
    assert copy.r("HLEN", "h") == 2 and copy.r("LLEN", "l") == 3
    assert copy.r("SCARD", "set") == 3 and copy.r("ZCARD", "z") == 3


def test_wrongtype_everywhere():
    d = populated()
    for args in (
        ("HGET", "s", "a"),
        ("LPUSH", "h", "x"),
        ("SADD", "l", "x"),
        ("ZADD", "set", "1", "x"),
        ("GET", "z"),
        ("LRANGE", "z", 0, 1),
        ("SMEMBERS", "h"),
        ("ZSCORE", "l", "x"),
        ("SINTERSTORE", "d", "set", "z"),
        ("LMOVE", "l", "s", "LEFT", "LEFT"),
        ("INCRBYFLOAT", "h", "1"),
        ("HINCRBYFLOAT", "z", "f", "1"),
    ):
        result = d.w(*args) if args[0] not in ("HGET", "GET", "LRANGE", "SMEMBERS", "ZSCORE") else d.r(*args)
        assert result == WRONGTYPE, args


def test_spop_is_deterministic_at_apply():
    def run() -> list:
        d = Driver()
        d.w("SADD", "s", *[f"m{i}" for i in range(50)])
        return [d.w("SPOP", "s"), d.w("SPOP", "s", 5, ts=T0 + 1), d.r("SMEMBERS", "s")]

    assert run() == run()


def test_emptied_containers_are_deleted():
    d = populated()
    d.w("HDEL", "h", "a", "b")
    d.w("LPOP", "l", 3)
    d.w("SPOP", "set", 10)
    d.w("ZREMRANGEBYRANK", "z", 0, -1)
    assert d.r("EXISTS", "h", "l", "set", "z") == 0


def test_copy_is_independent():
    d = populated()
    assert d.w("COPY", "l", "l2") == 1
    d.w("RPUSH", "l2", "w")
    assert d.r("LLEN", "l") == 3 and d.r("LLEN", "l2") == 4
    assert d.w("COPY", "z", "z2") == 1
    d.w("ZADD", "z2", "7", "q")
    assert d.r("ZCARD", "z") == 3


def test_versions_change_on_every_kind_of_write():
    d = populated()
    ks = d.m.keyspace
    before = {key: ks.version(key) for key in (b"s", b"h", b"l", b"set", b"z", b"gone", b"never")}
    d.w("HSET", "h", "a", "changed")
    d.w("LPUSH", "l", "w")
    d.w("SADD", "set", "m9")
    d.w("ZINCRBY", "z", "1", "a")
    d.w("APPEND", "s", "x")
    d.w("SET", "gone", "back")
    for key in (b"s", b"h", b"l", b"set", b"z", b"gone"):
        assert ks.version(key) > before[key], key
    assert ks.version(b"never") == before[b"never"]
    unchanged = ks.version(b"set")
    d.w("SADD", "set", "m9")  # no change: no new version
    d.w("SREM", "set", "absent")
    assert ks.version(b"set") == unchanged


def test_housekeeping_proposes_expired_keys_and_apply_rechecks():
    d = Driver()
    for i in range(5):
        d.w("SET", f"k{i}", "v", "PX", 100)
    d.w("SET", "keep", "v", "PX", 10_000)
    assert d.m.housekeeping(T0 + 50) == []
    [purge] = d.m.housekeeping(T0 + 200)
    assert sorted(decode_args(purge)[1:]) == [b"k0", b"k1", b"k2", b"k3", b"k4"]
    d.w("SET", "k0", "new")  # set again before the purge is applied: must survive it
    d.index += 1
    d.m.apply(d.index, purge, T0 + 200)  # (apply's own bounded expiry may reclaim them first)
    assert d.m.keyspace.data.keys() == {b"k0", b"keep"}
    d.index += 1
    assert d.m.apply(d.index, purge, T0 + 200) == 0  # applied twice: harmless
    assert d.r("GET", "k0", now=T0 + 200) == b"new" and d.r("DBSIZE") == 2
    assert d.m.housekeeping(T0 + 200) == []
    # an early (or replayed) purge before the deadline deletes nothing
    d.w("SET", "late", "v", "PX", 1000)
    d.index += 1
    assert d.m.apply(d.index, cmd("__expired__", "late"), T0 + 10) == 0
    assert d.r("EXISTS", "late") == 1


def test_purge_is_not_a_client_command():
    names = {spec.name for spec in KVMachine().commands()}
    assert "__expired__" not in names
    assert {"hset", "lpos", "sintercard", "zrangestore", "scan", "copy", "getex", "incrbyfloat"} <= names
