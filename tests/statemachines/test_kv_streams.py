"""Streams in the kv machine on its own: snapshots, determinism of generated IDs and times, the
listpack-node emulation's arithmetic, and hostile input (bounded work, no exception reaches a
client). Exact replies are checked against redis-server in
tests/frontends/test_resp_oracle_streams.py.
"""

from __future__ import annotations

import random
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from statemachines import ReplyError, encode_args
from statemachines.kv import KVMachine
from statemachines.kv.stream_commands import parse_id
from statemachines.kv.streams import ID_MAX, Stream, str_element_bytes

T0 = 1_700_000_000_000
INVALID_ID = ReplyError("ERR Invalid stream ID specified as stream command argument")


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


def streams_with_groups() -> Driver:
    d = Driver()
    for i in range(1, 400):
        d.w("XADD", "s", f"{i}-{i % 3}", "f", "x" * (i % 50), "n", i)
    d.w("XDEL", "s", "5-2", "200-2", "201-0")
    d.w("XTRIM", "s", "MINID", "30")
    d.w("XGROUP", "CREATE", "s", "g", "0")
    d.w("XGROUP", "CREATE", "s", "h", "$", "ENTRIESREAD", "7")
    d.w("XREADGROUP", "GROUP", "g", "alice", "COUNT", "5", "STREAMS", "s", ">", ts=T0 + 1)
    d.w("XREADGROUP", "GROUP", "g", "bob", "COUNT", "3", "STREAMS", "s", ">", ts=T0 + 2)
    d.w("XCLAIM", "s", "g", "carol", "0", "31-1", "RETRYCOUNT", "9", ts=T0 + 3)
    d.w("XGROUP", "CREATECONSUMER", "s", "h", "dave", ts=T0 + 4)
    d.w("XADD", "empty", "1", "a", "1")
    d.w("XDEL", "empty", "1")
    return d


def test_streams_survive_snapshot_and_restore():
    d = streams_with_groups()
    copy = KVMachine()
    copy.restore(d.m.snapshot())
    for key in (b"s", b"empty"):
        assert copy.keyspace.data[key] == d.m.keyspace.data[key]
    r = Driver(copy)
    r.index = d.index  # the log position the snapshot was taken at (WATCH versions are indexes)
    for probe in (
        ("XINFO", "STREAM", "s", "FULL", "COUNT", "0"),
        ("XINFO", "STREAM", "empty"),
        ("XPENDING", "s", "g", "-", "+", "100"),
        ("XINFO", "CONSUMERS", "s", "h"),
        ("XRANGE", "s", "-", "+"),
    ):
        assert r.r(*probe) == d.r(*probe), probe
    assert b"".join(d.m.snapshot()) == b"".join(copy.snapshot())
    # the restored stream keeps working the same way as the original
    for machine in (d, r):
        assert machine.w("XADD", "s", "MAXLEN", "~", "100", "1000-0", "f", "v") == b"1000-0"
        machine.w("XREADGROUP", "GROUP", "g", "erin", "STREAMS", "s", ">", ts=T0 + 9)
    assert b"".join(d.m.snapshot()) == b"".join(r.m.snapshot())


def test_copy_is_independent():
    d = streams_with_groups()
    assert d.w("COPY", "s", "s2") == 1
    d.w("XADD", "s2", "5000", "a", "1")
    d.w("XGROUP", "DESTROY", "s2", "g")
    assert d.r("XLEN", "s") == d.r("XLEN", "s2") - 1
    assert len(d.r("XINFO", "GROUPS", "s")) == 2


def test_generated_ids_and_times_come_from_the_entry():
    """Two replicas applying the same entries assign the same IDs and times, whatever their clocks."""
    a, b = Driver(), Driver()
    for d in (a, b):
        assert d.w("XADD", "s", "*", "a", "1", ts=T0) == b"%d-0" % T0
        assert d.w("XADD", "s", "*", "a", "2", ts=T0) == b"%d-1" % T0
        assert d.w("XADD", "s", "*", "a", "3", ts=T0 - 5000) == b"%d-2" % T0  # the leader's clock went back
        assert d.w("XADD", "s", f"{T0 + 7}-*", "a", "4") == b"%d-0" % (T0 + 7)
        assert d.w("XADD", "s", f"{T0 + 7}-*", "a", "5") == b"%d-1" % (T0 + 7)
        d.w("XGROUP", "CREATE", "s", "g", "0")
        d.w("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">", ts=T0 + 100)
        time.sleep(0.002)
    assert b"".join(a.m.snapshot()) == b"".join(b.m.snapshot())
    assert a.r("XPENDING", "s", "g", "-", "+", "10", now=T0 + 150)[0] == [b"%d-0" % T0, b"c", 50, 1]
    full = a.r("XINFO", "STREAM", "s", "FULL", now=T0 + 150)
    assert full[b"groups"][0][b"consumers"][0][b"seen-time"] == T0 + 100
    assert a.r("XINFO", "CONSUMERS", "s", "g", now=T0 + 130)[0][b"idle"] == 30


def test_listpack_sizes_follow_listpack_encodings():
    # integers 0..127 take one byte plus one of backlen; 13-bit two; strings a header and backlen
    assert str_element_bytes(b"0") == 2 and str_element_bytes(b"127") == 2
    assert str_element_bytes(b"128") == 3 and str_element_bytes(b"-4096") == 3
    assert str_element_bytes(b"-32768") == 4 and str_element_bytes(b"8388607") == 5
    assert str_element_bytes(b"2147483647") == 6 and str_element_bytes(b"9223372036854775807") == 10
    assert str_element_bytes(b"9223372036854775808") == 21  # not an int64: a 19-byte string
    assert str_element_bytes(b"01") == 4 and str_element_bytes(b"-0") == 4 and str_element_bytes(b"") == 2
    assert str_element_bytes(b"x" * 63) == 65 and str_element_bytes(b"x" * 64) == 67
    assert str_element_bytes(b"x" * 4095) == 4095 + 2 + 2 and str_element_bytes(b"x" * 4096) == 4096 + 5 + 2


def test_radix_tree_node_count():
    s = Stream()
    assert s.tree_nodes() == 1
    s.append(1 << 64, (b"a", b"1"))
    assert s.tree_nodes() == 2
    for i in range(2, 250):
        s.append(i << 64, (b"a", b"1"))
    assert len(s.nodes) == 3  # 100 entries a node
    # 16-byte keys of ms 1, 101, 201 (seq 0): a compressed 7-byte prefix, a branch on the 8th
    # byte, and under each branch a compressed 8-byte chain (the seq) and its leaf
    assert s.tree_nodes() == 8


def test_parse_id_reads_like_redis():
    assert parse_id(b"5") == (5 << 64, True)
    assert parse_id(b"5", missing_seq=9) == (5 << 64 | 9, True)
    assert parse_id(b"007-1") == (7 << 64 | 1, True)
    assert parse_id(b"1- 5") == (1 << 64 | 5, True)  # strtoull skips spaces
    assert parse_id(b"1- -5") == (1 << 64 | (1 << 64) - 5, True)  # and wraps "-5", as C does
    assert parse_id(b"1--5") is None and parse_id(b"1--0") == (1 << 64, True)
    assert parse_id(b"18446744073709551616") is None
    assert parse_id(b"-") == (0, True) and parse_id(b"+") == (ID_MAX, True)
    assert parse_id(b"-", strict=True) is None
    assert parse_id(b"1-*") is None and parse_id(b"1-*", seq_star=True) == (1 << 64, False)
    assert parse_id(b"1\x00junk") == (1 << 64, True)  # read as a C string
    assert parse_id(b"1" * 128) is None and parse_id(b"") is None


def test_hostile_numbers_are_refused_or_clamped():
    d = streams_with_groups()
    for count in ("9223372036854775807", "-9223372036854775808"):
        assert isinstance(d.r("XRANGE", "s", "-", "+", "COUNT", count), list | type(None))
        assert isinstance(d.r("XREAD", "COUNT", count, "STREAMS", "s", "0"), list)
        assert isinstance(d.r("XPENDING", "s", "g", "-", "+", count), list)
        assert isinstance(d.r("XINFO", "STREAM", "s", "FULL", "COUNT", count), dict)
    for huge in ("9223372036854775808", "-9223372036854775809", "1" * 30, "1e3", " 1", "+1"):
        error = d.w("XADD", "s", "MAXLEN", huge, "*", "a", "1")
        assert error == ReplyError("ERR value is not an integer or out of range"), huge
    claimed = d.w("XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "576460752303423487", "JUSTID")
    assert claimed[0] == b"0-0" and len(claimed[1]) == 8 and claimed[2] == []
    assert d.w("XCLAIM", "s", "g", "c", "-9223372036854775808", "31-1", "IDLE", "-9223372036854775808")[0][0] == (
        b"31-1"
    )
    assert d.w("XCLAIM", "s", "g", "c", "0", "31-1", "TIME", "9223372036854775807", "RETRYCOUNT", "0")
    assert d.w("XADD", "s", "1" * 200, "a", "1") == INVALID_ID
    assert d.w("XSETID", "s", "18446744073709551615-18446744073709551615") == "OK"
    assert d.w("XADD", "s", "*", "a", "1") == ReplyError(
        "ERR The stream has exhausted the last possible ID, unable to add more items"
    )


def test_a_range_walk_touches_only_what_it_returns(monkeypatch):
    d = Driver()
    for i in range(1, 2001):
        d.w("XADD", "s", i, "a", i)
    s = d.m.keyspace.data[b"s"]
    touched = []
    real = type(s).scan

    def counting_scan(self, *args):
        out = real(self, *args)
        touched.append(len(out))
        return out

    monkeypatch.setattr(type(s), "scan", counting_scan)
    assert [e[0] for e in d.r("XRANGE", "s", "1000", "+", "COUNT", "2")] == [b"1000-0", b"1001-0"]
    assert [e[0] for e in d.r("XREVRANGE", "s", "+", "-", "COUNT", "1")] == [b"2000-0"]
    assert d.r("XREAD", "COUNT", "1", "STREAMS", "s", "1999")[0][1][0][0] == b"2000-0"
    assert touched == [2, 1, 1]


STREAM_COMMANDS = [
    "XADD",
    "XRANGE",
    "XREVRANGE",
    "XLEN",
    "XDEL",
    "XTRIM",
    "XREAD",
    "XGROUP",
    "XREADGROUP",
    "XACK",
    "XPENDING",
    "XCLAIM",
    "XAUTOCLAIM",
    "XINFO",
    "XSETID",
]
READS = {"XRANGE", "XREVRANGE", "XLEN", "XREAD", "XPENDING", "XINFO"}
WORDS = [
    "s",
    "g",
    "c",
    "0",
    "-",
    "+",
    "$",
    ">",
    "*",
    "1-1",
    "(1",
    "5-*",
    "MAXLEN",
    "MINID",
    "~",
    "=",
    "LIMIT",
    "COUNT",
    "STREAMS",
    "GROUP",
    "NOACK",
    "BLOCK",
    "IDLE",
    "TIME",
    "RETRYCOUNT",
    "FORCE",
    "JUSTID",
    "LASTID",
    "FULL",
    "CREATE",
    "SETID",
    "MKSTREAM",
    "ENTRIESREAD",
    "DESTROY",
    "CREATECONSUMER",
    "DELCONSUMER",
    "STREAM",
    "GROUPS",
    "CONSUMERS",
    "HELP",
    "NOMKSTREAM",
    "ENTRIESADDED",
    "MAXDELETEDID",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615-18446744073709551615",
    "",
    "\x00",
    "x",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(STREAM_COMMANDS), st.lists(st.sampled_from(WORDS), max_size=9)),
        min_size=1,
        max_size=12,
    )
)
def test_any_sequence_is_answered_and_replays_identically(commands):
    """Whatever a client sends, apply answers (never raises) and two replicas end up identical."""
    a, b = Driver(), Driver()
    a.w("XADD", "s", "1-1", "f", "v")
    b.w("XADD", "s", "1-1", "f", "v")
    for name, words in commands:
        ra = a.w(name, *words, ts=T0)
        rb = b.w(name, *words, ts=T0)
        assert ra == rb
        if name in READS:
            assert a.r(name, *words) == b.r(name, *words)
    assert b"".join(a.m.snapshot()) == b"".join(b.m.snapshot())


def test_random_entries_round_trip_through_snapshots():
    rng = random.Random(7)
    d = Driver()
    for i in range(3000):
        op = rng.random()
        if op < 0.7:
            d.w("XADD", "s", f"{i + 1}-{rng.randrange(3)}", *("f", "v" * rng.randrange(300)) * rng.randrange(1, 3))
        elif op < 0.9:
            d.w("XDEL", "s", f"{rng.randrange(i + 1)}-{rng.randrange(3)}")
        else:
            d.w("XTRIM", "s", "MAXLEN", "~", rng.randrange(2000))
    copy = KVMachine()
    copy.restore(d.m.snapshot())
    assert copy.keyspace.data[b"s"] == d.m.keyspace.data[b"s"]
    assert Driver(copy).r("XINFO", "STREAM", "s") == d.r("XINFO", "STREAM", "s")
