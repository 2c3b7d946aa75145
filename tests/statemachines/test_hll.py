"""HyperLogLog in the kv machine on its own: the representation's invariants, the local speed-ups
never changing a result, snapshots, and hostile values. (Replies, counts and bytes are compared
with redis-server in tests/frontends/test_resp_oracle_hll.py.)
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statemachines import ReplyError, encode_args
from statemachines.kv import KVMachine, hll
from statemachines.kv import hyperloglog as commands

T0 = 1_700_000_000_000
CORRUPTED = ReplyError("INVALIDOBJ Corrupted HLL object detected")
STALE_HEADER = b"HYLL\x01\x00\x00\x00" + bytes(7) + b"\x80"


class Driver:
    def __init__(self, machine: KVMachine | None = None) -> None:
        self.m = machine or KVMachine()
        self.index = 0

    def w(self, *args):
        self.index += 1
        return self.m.apply(self.index, encode_args([a if isinstance(a, bytes) else str(a).encode() for a in args]), T0)

    def r(self, *args):
        return self.m.query(encode_args([a if isinstance(a, bytes) else str(a).encode() for a in args]), T0)


def _reference_cum(s: bytearray, end: int) -> list[int]:
    """The running register count per byte, by a plain walk of the opcodes (s[end] is the byte
    past the string, which an XZERO cut at the end reads)."""
    out: list[int] = []
    total, p = 0, hll.HEADER
    while p < end:
        b = s[p]
        if 0x40 <= b < 0x80:
            total += ((b & 63) << 8 | s[p + 1]) + 1
            out.append(total)
            if p + 1 < end:
                out.append(total)
            p += 2
        else:
            total += (b & 63) + 1 if b < 0x40 else (b & 3) + 1
            out.append(total)
            p += 1
    return out


_opcode = st.one_of(
    st.integers(0, 0x3F).map(lambda b: bytes([b])),  # ZERO
    st.tuples(st.integers(0x40, 0x7F), st.integers(0, 255)).map(bytes),  # XZERO
    st.integers(0x80, 0xFF).map(lambda b: bytes([b])),  # VAL
)


@settings(max_examples=150, deadline=None)
@given(
    ops=st.one_of(st.just(b"\x7f\xff"), st.lists(_opcode, max_size=30).map(b"".join)),
    cut=st.booleans(),
    sets=st.lists(st.tuples(st.integers(0, hll.REGISTERS - 1), st.integers(1, 40)), max_size=40),
)
def test_incremental_register_index_matches_a_fresh_walk(ops, cut, sets):
    """SparseEditor rewrites only the index entries of the opcodes an edit touched: after every
    edit the whole index still equals a walk of the bytes, on well-formed and forged strings
    (an XZERO cut at the end included)."""
    value = STALE_HEADER + ops + (b"\x41" if cut else b"")
    editor = hll.SparseEditor(value)
    assert editor.cum == _reference_cum(editor.s, editor.end)
    for index, count in sets:
        done = editor.set(index, count)
        if done is None or done < 0:
            break
        assert editor.cum == _reference_cum(editor.s, editor.end)
        assert len(editor.s) == editor.end + 1


def test_packing_round_trips():
    rng = random.Random(7)
    for _ in range(20):
        raw = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
        dense = b"HYLL" + bytes(12) + hll.raw_to_dense(raw)
        assert hll.dense_to_raw(dense) == raw
        assert all(hll.dense_get(dense, i) == raw[i] for i in range(0, hll.REGISTERS, 97))
        other = bytes(rng.randrange(64) for _ in range(hll.REGISTERS))
        assert hll.union(raw, other) == bytes(map(max, raw, other))
        assert hll.histogram(raw) == [raw.count(v) for v in range(64)]


def test_kept_editors_and_counts_never_change_a_result():
    """The same writes with and without the per-key editor and the count memo: same bytes, same
    counts (they are speed-ups of one process, so replicas that lack them must agree)."""
    rng = random.Random(11)
    steps = [
        (rng.choice([b"a", b"b"]), [b"%d" % rng.randrange(50_000) for _ in range(rng.choice([1, 1, 3, 40]))])
        for _ in range(400)
    ]
    with_cache, without = Driver(), Driver()
    commands._EDITORS.editors.clear()
    reused = 0
    for key, elements in steps:
        kept = dict(commands._EDITORS.editors)
        commands._EDITORS.editors.clear()
        expected = without.w("PFADD", key, *elements)
        commands._EDITORS.editors.clear()
        commands._EDITORS.editors.update(kept)
        reused += key in kept and kept[key][0] is with_cache.m.keyspace.data[key]
        assert with_cache.w("PFADD", key, *elements) == expected
        value = with_cache.r("GET", key)
        assert value == without.r("GET", key)
        assert with_cache.r("PFCOUNT", key) == hll.count(value)
        assert with_cache.r("PFCOUNT", key) == hll.count(value)  # from the memo now
    assert reused > 100  # the sparse stretch of both keys went through kept editors
    assert with_cache.r("GET", "a")[4] == hll.DENSE


def test_an_edited_value_set_again_is_not_mistaken_for_the_kept_one():
    d = Driver()
    d.w("PFADD", "h", "a")
    kept = d.r("GET", "h")
    d.w("SET", "h", STALE_HEADER + b"\x7f\xff")  # an empty HLL again, under the same key
    assert d.w("PFADD", "h", "a") == 1
    assert d.r("GET", "h") == kept


def test_hlls_survive_snapshot_and_restore():
    d = Driver()
    d.w("PFADD", "sparse", *(b"s%d" % i for i in range(300)))
    d.w("PFADD", "dense", *(b"d%d" % i for i in range(5000)))
    d.w("PFMERGE", "merged", "sparse", "dense")
    copy = KVMachine()
    copy.restore(d.m.snapshot())
    again = Driver(copy)
    for key in ("sparse", "dense", "merged"):
        assert again.r("GET", key) == d.r("GET", key)
        assert again.r("PFCOUNT", key) == d.r("PFCOUNT", key)
    assert again.w("PFADD", "sparse", "new") == d.w("PFADD", "sparse", "new") == 1
    assert again.r("GET", "sparse") == d.r("GET", "sparse")


def test_pfcount_is_a_read_and_pfadd_is_not():
    d = Driver()
    assert d.r("PFCOUNT", "h", "g") == 0
    assert "is a write" in d.r("PFADD", "h", "a").message
    d.w("PFADD", "h", "a", "b")
    before = d.r("GET", "h")
    assert d.r("PFCOUNT", "h") == 2
    assert d.r("GET", "h") == before  # the stale cache stays stale: a read writes nothing


def test_huge_forged_sparse_strings_are_refused_after_a_bounded_walk():
    """Run lengths adding up past 2**31 overflowed redis-server's int index before the
    CVE-2025-32023 fix; here the walk stops at the first run past register 16383."""
    d = Driver()
    huge = STALE_HEADER + b"\x7f\xff" * 300_000  # 4.9e9 registers
    d.w("SET", "h", huge)
    assert d.r("PFCOUNT", "h") == CORRUPTED
    assert d.r("PFCOUNT", "h", "nokey") == CORRUPTED
    assert d.w("PFMERGE", "out", "h") == CORRUPTED
    assert d.w("PFDEBUG", "TODENSE", "h") == CORRUPTED
    assert d.w("PFADD", "h", "a") == CORRUPTED  # splitting a run grows it past 3000 bytes: promoted, refused
    assert d.r("GET", "h") == huge
    assert d.r("EXISTS", "out") == 0


def test_overflowing_estimates_reply_as_redis_does():
    """Forged dense registers the estimator cannot sum: Redis' llroundl overflows to -2**63."""
    d = Driver()
    d.w("SET", "h", STALE_HEADER.replace(b"\x01", b"\x00", 1) + hll.raw_to_dense(bytes([63]) * hll.REGISTERS))
    assert d.r("PFCOUNT", "h") == -(1 << 63)


def test_pfselftest_passes():
    assert Driver().r("PFSELFTEST") == "OK"


_anything = st.binary(max_size=64).map(lambda tail: b"HYLL" + tail)
_command = st.sampled_from(
    [
        ("PFADD", "h", "a", "b", "c"),
        ("PFCOUNT", "h"),
        ("PFCOUNT", "h", "g"),
        ("PFMERGE", "g", "h"),
        ("PFMERGE", "h", "g"),
        ("PFDEBUG", "GETREG", "h"),
        ("PFDEBUG", "DECODE", "h"),
        ("PFDEBUG", "ENCODING", "h"),
        ("PFDEBUG", "TODENSE", "h"),
    ]
)


@settings(max_examples=400, deadline=None)
@given(value=_anything, other=st.one_of(st.none(), _anything), steps=st.lists(_command, max_size=6))
def test_any_string_gets_a_reply_never_an_exception(value, other, steps):
    d = Driver()
    d.w("SET", "h", value)
    if other is not None:
        d.w("SET", "g", other)
    for step in steps:
        reply = d.r(*step) if step[0] == "PFCOUNT" else d.w(*step)
        assert type(reply) in (int, str, bytes, list, ReplyError), reply
        if type(reply) is ReplyError:
            assert reply.message.split()[0] in ("WRONGTYPE", "INVALIDOBJ", "ERR"), reply


def test_an_xzero_cut_at_the_end_is_re_read_after_each_edit():
    """Regression: an XZERO cut at the end reads the byte past the string. Splitting it leaves
    the new tail's low byte there; a later edit further left moves the bytes and zeroes it, which
    shortens that run. The bytes below are redis-server 7.0's for this forged string and these
    three registers (the stale index gave ...\\x88"\\x80J instead)."""
    editor = hll.SparseEditor(STALE_HEADER + b"TmF\x8d\xf4\xb9\x85R")
    for index, count in ((8749, 3), (3245, 1), (8785, 1)):
        assert editor.set(index, count) == 1
    assert editor.value()[hll.HEADER :] == b'L\xac\x80G\xbfF\x8d\xf4\xb9\x85G+\x88"\x80I'


@pytest.mark.parametrize("ops", [bytes(40_000), b"\x40\x00" * 20_000], ids=["ZERO", "XZERO"])
def test_a_long_forged_string_is_indexed_up_to_register_16383_only(ops):
    """40000 one-register ZERO opcodes, or 20000 one-register XZEROs (register 16383 then sits
    at the end of the index): the editor indexes the first 32770 bytes, enough for every
    register an element can hash to, and edits in place keep that prefix exact."""
    editor = hll.SparseEditor(STALE_HEADER + ops)
    assert len(editor.cum) == hll.SparseEditor.INDEXED_BYTES
    rng = random.Random(5)
    for n in range(100):
        index = hll.REGISTERS - 1 - n if n % 2 else rng.randrange(hll.REGISTERS)
        assert editor.set(index, rng.randrange(1, 4)) in (0, 1, None)
        reference = _reference_cum(editor.s, editor.end)
        assert editor.cum == reference[: len(editor.cum)]
        assert editor.cum[-1] > hll.REGISTERS
