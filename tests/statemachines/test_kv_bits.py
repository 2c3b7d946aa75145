"""Bitmaps and LCS on the kv machine itself (issue 13): hostile offsets, bitfield types and op
counts answer Redis' errors both before the log (the command's check) and at apply; work stays
bounded by the data, never by a client's number; the bit-parallel LCS gives the textbook table's
answer; and under hypothesis no argument list makes a check or a handler raise, or a check
refuse what apply would accept.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_kv_bounds import bounded

from statemachines import NOT_AN_INTEGER, ReplyError, encode_args
from statemachines.kv import KVMachine
from statemachines.kv.bitmaps import BIT_OFFSET, BIT_VALUE, BITFIELD_TYPE, RO_ONLY_GET, combine, first_bit, popcount
from statemachines.kv.lcs import TABLE_TOO_LARGE, _Ranges, walk_back
from statemachines.kv.table import TABLE

SPECS = {cmd.spec.name: cmd.spec for cmd in TABLE}


def run(kv: KVMachine, *args: bytes | str, index: int = 1):
    """A command as the node runs it: a write through apply, a read through query."""
    raw = [a if isinstance(a, bytes) else a.encode() for a in args]
    request = encode_args(raw)
    if SPECS[raw[0].decode().lower()].is_write:
        return kv.apply(index, request, 1000)
    return kv.query(request, 1000)


def with_string(value: bytes = b"foobar") -> KVMachine:
    kv = KVMachine()
    run(kv, "SET", "k", value)
    return kv


HOSTILE = [
    (("SETBIT", "k", "-1", "1"), BIT_OFFSET),
    (("SETBIT", "k", "4294967296", "1"), BIT_OFFSET),
    (("SETBIT", "k", "9223372036854775807", "1"), BIT_OFFSET),
    (("SETBIT", "k", "9223372036854775808", "1"), BIT_OFFSET),
    (("SETBIT", "k", "-9223372036854775808", "1"), BIT_OFFSET),
    (("SETBIT", "k", "18446744073709551616", "1"), BIT_OFFSET),
    (("SETBIT", "k", " 1", "1"), BIT_OFFSET),
    (("SETBIT", "k", "1", "2"), BIT_VALUE),
    (("SETBIT", "k", "1", "-9223372036854775808"), BIT_VALUE),
    (("SETBIT", "k", "1", "9223372036854775808"), BIT_VALUE),
    (("GETBIT", "k", "4294967296"), BIT_OFFSET),
    (("GETBIT", "k", "-1"), BIT_OFFSET),
    (("BITFIELD", "k", "GET", "u8", "4294967296"), BIT_OFFSET),
    (("BITFIELD", "k", "GET", "u8", "#536870912"), BIT_OFFSET),
    (("BITFIELD", "k", "SET", "i64", "#67108864", "1"), BIT_OFFSET),
    (("BITFIELD", "k", "GET", "i64", "#144115188075855872"), BIT_OFFSET),  # 2^57 * 64 wraps to -2^63
    (("BITFIELD", "k", "GET", "u8", "#9223372036854775807"), BIT_OFFSET),
    (("BITFIELD", "k", "GET", "u8", "#-1"), BIT_OFFSET),
    (("BITFIELD", "k", "GET", "u64", "0"), BITFIELD_TYPE),
    (("BITFIELD", "k", "GET", "i65", "0"), BITFIELD_TYPE),
    (("BITFIELD", "k", "GET", "i0", "0"), BITFIELD_TYPE),
    (("BITFIELD", "k", "GET", "u-1", "0"), BITFIELD_TYPE),
    (("BITFIELD", "k", "GET", "i9223372036854775808", "0"), BITFIELD_TYPE),
    (("BITFIELD", "k", "GET", "u" + "9" * 5000, "0"), BITFIELD_TYPE),
    (("BITFIELD", "k", "GET", "I8", "0"), BITFIELD_TYPE),
    (("BITFIELD", "k", "GET", "", "0"), BITFIELD_TYPE),
    (("BITFIELD", "k", "SET", "u8", "0", "9223372036854775808"), NOT_AN_INTEGER),
    (("BITFIELD", "k", "INCRBY", "i8", "0", "1" * 5000), NOT_AN_INTEGER),
    (("BITFIELD_RO", "k", "GET", "u8", "0", "INCRBY", "u8", "0", "1"), RO_ONLY_GET),
]


@pytest.mark.parametrize("command, error", HOSTILE, ids=lambda x: " ".join(x)[:60] if isinstance(x, tuple) else "")
def test_hostile_arguments_are_refused_before_the_log_and_at_apply(command, error):
    raw = [a.encode() for a in command]
    assert SPECS[command[0].lower()].check(raw) == error
    kv = with_string()
    assert run(kv, *raw) == error
    assert run(kv, "GET", "k") == b"foobar"


def test_a_nul_ends_what_strcasecmp_and_strlen_read():
    """Option words and a bitfield type's width are C strings in Redis: a NUL ends them."""
    kv = with_string(b"\x01\x02")
    assert run(kv, "BITFIELD_RO", "k", b"get\x00junk", b"u8\x00junk", "8") == [2]
    assert run(kv, "BITCOUNT", "k", "0", "-1", b"bit\x00junk") == 2
    assert run(kv, "BITFIELD", "k", "GET", "u8", b"8\x00") == BIT_OFFSET  # an offset is the whole sds


def test_offsets_up_to_the_limit_are_accepted():
    """The last addressable bit (2^32 - 1) reads; `#N` may address a field that ends past it."""
    kv = with_string()
    assert run(kv, "GETBIT", "k", "4294967295") == 0
    assert run(kv, "BITFIELD_RO", "k", "GET", "i64", "#67108863", "GET", "u8", "#2305843009213693952") == [0, 102]


def test_setbit_grows_with_zero_bytes_and_keeps_the_ttl():
    kv = with_string(b"\xff")
    run(kv, "EXPIRE", "k", "100")
    assert run(kv, "SETBIT", "k", "8", "0") == 0
    assert run(kv, "SETBIT", "k", "100", "1") == 0
    assert run(kv, "GET", "k") == b"\xff" + bytes(11) + b"\x08"
    assert run(kv, "TTL", "k") == 100


def test_a_setbit_that_changes_nothing_leaves_the_watch_version():
    kv = with_string(b"\x80")
    before = kv.watch_versions([b"k"], 1000)
    assert run(kv, "SETBIT", "k", "0", "1", index=7) == 1
    assert kv.watch_versions([b"k"], 1000) == before
    assert run(kv, "SETBIT", "k", "0", "0", index=8) == 1
    assert kv.watch_versions([b"k"], 1000) != before


def _many_bitfield_ops() -> list:
    kv = KVMachine()
    ops = ["INCRBY", "u8", "0", "1"] * 30000
    return run(kv, "BITFIELD", "k", "OVERFLOW", "WRAP", *ops)[-1:] + [run(kv, "GET", "k")]


def test_many_bitfield_ops_are_as_many_small_steps():
    assert bounded(_many_bitfield_ops) == [30000 % 256, bytes((30000 % 256,))]


def _bitop_of_many_missing_keys() -> list:
    """Redis' loop is sources x longest (here 1 MiB x 20000): missing sources cost nothing here."""
    kv = with_string(bytes(range(256)) * 4096)
    missing = [b"m%d" % i for i in range(20000)]
    results = []
    for operation in ("OR", "XOR", "AND"):
        results.append(run(kv, "BITOP", operation, "d", "k", *missing))
        results.append(run(kv, "GET", "d") == (bytes(1 << 20) if operation == "AND" else run(kv, "GET", "k")))
    return results


def test_bitop_over_many_sources_is_bounded_by_their_sizes():
    assert bounded(_bitop_of_many_missing_keys) == [1 << 20, True] * 3


def _extreme_ranges() -> list:
    kv = with_string(b"\xff" * (1 << 20) + b"\x00")
    lo, hi = "-9223372036854775808", "9223372036854775807"
    return [
        run(kv, "BITCOUNT", "k", lo, hi, "BIT"),
        run(kv, "BITPOS", "k", "0", lo, hi, "BIT"),
        run(kv, "BITPOS", "k", "0", lo, hi),
        run(kv, "BITPOS", "k", "1", hi),
    ]


def test_extreme_ranges_are_clamped_to_the_string():
    assert bounded(_extreme_ranges) == [8 << 20, 8 << 20, 8 << 20, -1]


def _lcs_at_the_table_limit() -> list:
    """(len(a) + 1) * (len(b) + 1) uint32 cells may not exceed 512 MiB, as in Redis."""
    kv = KVMachine()
    run(kv, "MSET", "a", "xy", "b", b"y" * 44739241)
    fits = run(kv, "LCS", "a", "b", "IDX")
    run(kv, "APPEND", "b", "y")
    return [fits, run(kv, "LCS", "a", "b", "LEN"), run(kv, "LCS", "a", "nokey")]


def test_lcs_refuses_the_table_redis_refuses():
    fits, refused, empty = bounded(_lcs_at_the_table_limit)
    assert fits == {b"matches": [[[1, 1], [44739240, 44739240]]], b"len": 1}
    assert refused == TABLE_TOO_LARGE
    assert empty == b""


def textbook_lcs(a: bytes, b: bytes) -> tuple[bytes, list]:
    """lcsCommand's table and walk back, cell by cell."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    i, j, out, ranges = len(a), len(b), bytearray(), _Ranges(len(a), 0, True)
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            ranges.matched(i, j)
            i, j = i - 1, j - 1
            continue
        if table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
        ranges.moved()
    return bytes(reversed(out)), ranges.out


def test_the_bit_parallel_lcs_walks_as_the_table_does():
    rng = random.Random(13)
    for _ in range(3000):
        alphabet = rng.choice((b"ab", b"abc", b"abcdefgh"))
        a = bytes(rng.choice(alphabet) for _ in range(rng.randrange(16)))
        b = bytes(rng.choice(alphabet) for _ in range(rng.randrange(16)))
        ranges = _Ranges(len(a), 0, True)
        assert (walk_back(a, b, ranges), ranges.out) == textbook_lcs(a, b), (a, b)


def test_bitop_and_bitpos_helpers_against_bit_by_bit_definitions():
    rng = random.Random(7)
    for _ in range(2000):
        sources = [bytes(rng.choice((0, 255, rng.randrange(256))) for _ in range(rng.randrange(12))) for _ in range(3)]
        if not any(sources):
            continue
        longest = max(map(len, sources))
        padded = [s.ljust(longest, b"\0") for s in sources]
        assert combine(b"and", sources) == bytes(x & y & z for x, y, z in zip(*padded))
        assert combine(b"or", sources) == bytes(x | y | z for x, y, z in zip(*padded))
        assert combine(b"xor", sources) == bytes(x ^ y ^ z for x, y, z in zip(*padded))
        bits = "".join(f"{byte:08b}" for byte in sources[0])
        assert first_bit(sources[0], 1) == bits.find("1")
        assert first_bit(sources[0], 0) == (bits + "0").find("0")


def test_scans_across_chunks_find_what_a_whole_scan_finds():
    """first_bit and popcount walk 64 KiB chunks: runs of 0x00 or 0xff over chunk edges, with a
    stray byte before, on or after an edge, and ranges starting and ending anywhere."""
    rng = random.Random(11)
    chunk = 1 << 16
    for _ in range(60):
        fill = rng.choice((0, 0xFF))
        data = bytearray([fill]) * (chunk * rng.randint(1, 3) + rng.randrange(100))
        for _ in range(rng.randrange(3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data)
        start = rng.choice((0, rng.randrange(len(data)), chunk - 1, chunk))
        end = rng.choice((len(data), rng.randrange(start, len(data) + 1)))
        size = (end - start) * 8
        ones = int.from_bytes(data[start:end], "big")
        zeros = ones ^ ((1 << size) - 1)
        assert first_bit(data, 1, start, end) == (size - ones.bit_length() if ones else -1)
        assert first_bit(data, 0, start, end) == (size - zeros.bit_length() if zeros else size)
        assert popcount(data, start, end) == ones.bit_count()


def test_bitop_across_chunks_matches_whole_strings():
    """combine works 1 MiB at a time: sources ending before, on and after a chunk edge."""
    rng = random.Random(3)
    chunk = 1 << 20
    lengths = [0, 5, chunk - 1, chunk, chunk + 1, 2 * chunk + 7]
    for _ in range(6):
        sources = [rng.randbytes(rng.choice(lengths)) for _ in range(rng.randint(1, 4))]
        longest = max(map(len, sources))
        if not longest:
            continue
        ints = [int.from_bytes(source.ljust(longest, b"\0"), "big") for source in sources]
        for operation, fold in ((b"and", int.__and__), (b"or", int.__or__), (b"xor", int.__xor__)):
            acc = ints[0]
            for value in ints[1:]:
                acc = fold(acc, value)
            assert combine(operation, sources) == acc.to_bytes(longest, "big"), (operation, list(map(len, sources)))


TOKENS = [
    b"GET",
    b"SET",
    b"INCRBY",
    b"OVERFLOW",
    b"WRAP",
    b"SAT",
    b"FAIL",
    b"BIT",
    b"BYTE",
    b"AND",
    b"OR",
    b"NOT",
    b"IDX",
    b"LEN",
    b"MINMATCHLEN",
    b"WITHMATCHLEN",
    b"u8",
    b"i64",
    b"u63",
    b"u64",
    b"i1",
    b"#3",
    b"#-1",
    b"#",
    b"0",
    b"1",
    b"-1",
    b"7",
    b"4294967295",
    b"4294967296",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"k",
    b"s",
    b"",
    b"x",
    b"get\x00x",
]
NAMES = ["SETBIT", "GETBIT", "BITCOUNT", "BITPOS", "BITOP", "BITFIELD", "BITFIELD_RO", "LCS"]


@settings(max_examples=600, deadline=None, database=None)
@given(
    name=st.sampled_from(NAMES),
    rest=st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=6)), min_size=1, max_size=12),
    value=st.binary(max_size=12),
)
def test_a_check_never_refuses_what_apply_accepts(name, rest, value):
    """Whatever the arguments: no check or handler raises; a check's error is apply's error for
    a missing key and for a string key alike (checks are the stateless part of Redis' parse)."""
    spec = SPECS[name.lower()]
    args = [name.encode(), *rest]
    if len(args) < abs(spec.arity) or (spec.arity > 0 and len(args) != spec.arity):
        return
    error = spec.check(args) if spec.check is not None else None
    for kv in (KVMachine(), with_string(value)):
        run(kv, "SET", "s", value)
        reply = run(kv, *args, index=2)
        if error is not None:
            assert reply == error
        assert reply is None or isinstance(reply, (bytes, int, list, dict, ReplyError)), reply
