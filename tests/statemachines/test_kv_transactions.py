"""The kv machine's WATCH support, as the node's transaction executor uses it: watched
versions, atomic apply at one index, Redis 7.0's expiry semantics."""

from __future__ import annotations

from replicator.transactions import Transactions, encode_transaction, encode_watch_read
from statemachines import ReplyError, encode_args
from statemachines.kv import KVMachine

T0 = 1_700_000_000_000
READS = {"get", "exists"}


def b(*args) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


class Driver:
    def __init__(self) -> None:
        self.m = KVMachine()
        self.txn = Transactions({"kv": self.m})
        self.index = 0

    def w(self, *args, ts: int = T0):
        self.index += 1
        return self.m.apply(self.index, encode_args(b(*args)), ts)

    def watch(self, *keys, now: int = T0) -> list[tuple[str, bytes, int, bool]]:
        flat = self.txn.query(encode_watch_read("kv", b(*keys)), now)
        return [("kv", key, flat[2 * i], bool(flat[2 * i + 1])) for i, key in enumerate(b(*keys))]

    def exec(self, watches, *commands, ts: int = T0):
        self.index += 1
        steps = [("kv", encode_args(b(*c)), str(c[0]).lower() not in READS) for c in commands]
        return self.txn.apply(self.index, encode_transaction(steps, watches), ts)


def test_exec_applies_the_queue_at_one_index_and_reads_see_earlier_writes():
    d = Driver()
    result = d.exec([], ("SET", "a", 1), ("INCR", "a"), ("GET", "a"), ("LPUSH", "a", "x"), ("SET", "a", "v", "FOO"))
    assert result == [
        "OK",
        2,
        b"2",
        ReplyError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ReplyError("ERR syntax error"),
    ]
    assert d.m.keyspace.version(b"a") == d.index


def test_a_watched_change_aborts_and_applies_nothing():
    d = Driver()
    d.w("SET", "a", 1)
    watches = d.watch("a", "absent")
    assert [live for *_, live in watches] == [True, False]
    d.w("SET", "a", 2)
    assert d.exec(watches, ("SET", "b", 1)) is None
    assert d.m.query(encode_args([b"EXISTS", b"b"]), T0) == 0
    assert d.exec(d.watch("a", "absent"), ("SET", "b", 1)) == ["OK"]
    watches = d.watch("absent")
    d.w("SET", "absent", "now")
    assert d.exec(watches, ("GET", "b")) is None


def test_expiry_after_watch_aborts_expired_before_watch_does_not():
    d = Driver()
    d.w("SET", "t", 1, "PX", 100)
    live = d.watch("t")
    assert d.exec(live, ("SET", "x", 1), ts=T0 + 50) == ["OK"]
    assert d.exec(live, ("SET", "x", 1), ts=T0 + 150) is None  # expired since WATCH (not reaped yet)
    d.w("SET", "u", 1, "PX", 100)
    live = d.watch("u")
    d.w("GET", "u", ts=T0 + 200)
    d.w("SET", "other", 1, ts=T0 + 200)  # apply's active expiry reaps u
    assert b"u" not in d.m.keyspace.data
    assert d.exec(live, ("SET", "x", 1), ts=T0 + 200) is None
    d.w("SET", "v", 1, "PX", 100)
    dead = d.watch("v", now=T0 + 150)  # already expired when WATCHed
    assert dead[0][3] is False
    d.w("SET", "other", 2, ts=T0 + 300)  # reaped meanwhile: no change for WATCH
    assert d.exec(dead, ("SET", "x", 2), ts=T0 + 300) == ["OK"]


def test_flushall_and_tombstone_floor_abort_watches():
    d = Driver()
    d.w("SET", "a", 1)
    watches = d.watch("a", "never")
    d.w("FLUSHALL")
    assert d.exec(watches, ("SET", "y", 1)) is None
    watches = d.watch("never")
    d.w("FLUSHALL")
    assert d.exec(watches, ("SET", "y", 1)) is None


def test_the_watch_hooks_read_without_changing_anything():
    d = Driver()
    d.w("SET", "a", 1, "PX", 100)
    assert d.m.watch_versions([b"a", b"b"], T0) == [(1, True), (0, False)]
    assert d.m.watch_versions([b"a"], T0 + 100) == [(1, False)]  # expired (not reaped): same version
    assert d.m.watched_unchanged([(b"a", 1, True)], T0 + 99)
    assert not d.m.watched_unchanged([(b"a", 1, True)], T0 + 100)
    assert b"a" in d.m.keyspace.data and d.m.keyspace.version(b"a") == 1
