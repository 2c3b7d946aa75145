"""The locks machine on its own: leases on the entries' stamps, fencing tokens, snapshots."""

from __future__ import annotations

from statemachines import ReplyError, decode_args, encode_args, locks
from statemachines.locks import EXPIRE, LocksMachine

T0 = 1_700_000_000_000


def cmd(*args) -> bytes:
    return encode_args([a if isinstance(a, bytes) else str(a).encode() for a in args])


class Driver:
    def __init__(self) -> None:
        self.m = LocksMachine()
        self.index = 0

    def w(self, *args, ts: int = T0):
        self.index += 1
        return self.m.apply(self.index, cmd(*args), ts)

    def r(self, *args, now: int = T0):
        return self.m.query(cmd(*args), now)


def snap(m) -> bytes:
    return b"".join(m.snapshot())


def test_acquire_is_exclusive_and_tokens_are_grant_indexes():
    d = Driver()
    d.w("LOCK.ACQUIRE", "other", "x", "10")  # index 1
    assert d.w("LOCK.ACQUIRE", "db", "alice", "1000") == 2
    assert d.w("LOCK.ACQUIRE", "db", "bob", "1000", ts=T0 + 10) is None
    assert d.w("LOCK.ACQUIRE", "db", "alice", "1000", ts=T0 + 500) == 2  # a retry: same token, extended
    assert d.r("LOCK.HOLDER", "db", now=T0 + 600) == [b"alice", 2, 900]
    assert d.w("LOCK.RELEASE", "db", "bob", "2") == 0
    assert d.w("LOCK.RELEASE", "db", "alice", "3") == 0
    assert d.w("LOCK.RELEASE", "db", "alice", "2") == 1
    assert d.r("LOCK.HOLDER", "db") is None
    token = d.w("LOCK.ACQUIRE", "db", "bob", "1000")
    assert token == d.index and token > 2  # fencing: every grant is later in the log


def test_leases_run_out_on_the_entry_stamp():
    d = Driver()
    token = d.w("LOCK.ACQUIRE", "db", "alice", "100")
    assert d.w("LOCK.RENEW", "db", "alice", token, "100", ts=T0 + 99) == 1  # deadline T0 + 199
    assert d.r("LOCK.HOLDER", "db", now=T0 + 198) == [b"alice", token, 1]
    assert d.r("LOCK.HOLDER", "db", now=T0 + 199) is None  # reads hide a lease that ran out
    assert d.w("LOCK.RENEW", "db", "alice", token, "100", ts=T0 + 199) == 0  # lost, even if unclaimed
    bob = d.w("LOCK.ACQUIRE", "db", "bob", "100", ts=T0 + 200)
    assert bob > token
    assert d.w("LOCK.RELEASE", "db", "alice", token, ts=T0 + 201) == 0
    assert d.r("LOCK.HOLDER", "db", now=T0 + 201) == [b"bob", bob, 99]


def test_expiry_through_the_log_is_harmless_late_or_twice():
    d = Driver()
    d.w("LOCK.ACQUIRE", "a", "x", "100")
    d.w("LOCK.ACQUIRE", "b", "y", "300")
    assert d.m.housekeeping(T0 + 99) == []
    [expire] = d.m.housekeeping(T0 + 100)
    assert decode_args(expire) == [EXPIRE, b"a"]
    d.w("LOCK.ACQUIRE", "a", "x", "100", ts=T0 + 50)  # renewed by its holder before the expiry applies
    d.index += 1
    assert d.m.apply(d.index, expire, T0 + 120) == 0
    d.index += 1
    assert d.m.apply(d.index, expire, T0 + 150) == 1
    d.index += 1
    assert d.m.apply(d.index, expire, T0 + 150) == 0
    assert d.r("LOCK.HOLDER", "a") is None and d.r("LOCK.HOLDER", "b")[0] == b"y"
    assert [decode_args(c) for c in d.m.housekeeping(T0 + 1000)] == [[EXPIRE, b"b"]]


def test_bad_input_never_raises():
    d = Driver()
    assert d.w("LOCK.ACQUIRE", "a", "x", "0") == locks.BAD_TTL
    assert d.w("LOCK.ACQUIRE", "a", "x", "soon") == locks.BAD_TTL
    assert d.w("LOCK.RELEASE", "a", "x", "t") == ReplyError("ERR value is not an integer or out of range")
    assert d.w("LOCK.RENEW", "a", "x", "1") == ReplyError("ERR wrong number of arguments for 'lock.renew' command")
    assert d.r("LOCK.ACQUIRE", "a", "x", "1") == ReplyError("ERR 'lock.acquire' is a write: it goes through the log")
    assert d.r("LOCK.NOPE", "a").message.startswith("ERR unknown command")
    assert d.m.apply(1, b"\xc1", T0) == ReplyError("ERR invalid command encoding")
    assert d.r("lock.holder", "a") is None


def test_snapshot_round_trip_in_chunks(monkeypatch):
    monkeypatch.setattr(locks, "CHUNK_RECORDS", 7)
    d = Driver()
    for i in range(50):
        d.w("LOCK.ACQUIRE", f"l{i % 40}", f"o{i % 3}", str(100 + i))
    chunks = list(d.m.snapshot())
    assert len(chunks) == 1 + 6
    other = LocksMachine()
    other.restore(chunks)
    assert snap(other) == snap(d.m)
    assert other.query(cmd("LOCK.HOLDER", "l5"), T0) == d.r("LOCK.HOLDER", "l5")
    try:
        other.restore(chunks[:-1])
    except ValueError:
        pass
    else:
        raise AssertionError("a truncated snapshot was accepted")
    assert snap(other) == snap(d.m)
    other.restore(())
    assert snap(other) == snap(LocksMachine())


def test_declared_commands():
    specs = {s.name.upper(): s for s in LocksMachine().commands()}
    assert set(specs) == {"LOCK.ACQUIRE", "LOCK.RENEW", "LOCK.RELEASE", "LOCK.HOLDER"}
    assert [n for n, s in specs.items() if not s.is_write] == ["LOCK.HOLDER"]


def test_checks_reject_what_apply_rejects_before_the_log():
    specs = {s.name: s for s in LocksMachine().commands()}
    for name, rest in [
        ("lock.acquire", ["l", "o", "0"]),
        ("lock.renew", ["l", "o", "t", "5"]),
        ("lock.renew", ["l", "o", "1", "-5"]),
        ("lock.release", ["l", "o", "t"]),
    ]:
        args = [name.encode(), *(a.encode() for a in rest)]
        error = specs[name].check(args)
        assert isinstance(error, ReplyError) and LocksMachine().apply(1, encode_args(args), T0) == error
    assert specs["lock.acquire"].check([b"lock.acquire", b"l", b"o", b"5"]) is None
    assert specs["lock.holder"].check is None
