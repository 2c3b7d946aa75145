"""The DUMP payload codec on its own: CRC-64, LZF, listpacks, intsets, the RESTORE command's
semantics in the kv machine, and a Hypothesis fuzz of RESTORE with damaged payloads (only Redis'
two errors, never an exception). Payloads against redis-server: tests/frontends/test_resp_oracle_dump.py."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statemachines import ReplyError, encode_args
from statemachines.kv import KVMachine
from statemachines.kv.hashes import Hash
from statemachines.kv.lists import List
from statemachines.kv.rdb import BAD_DATA, WRONG_FOOTER, dump_payload, load_payload
from statemachines.kv.rdb_codec import intset, listpack
from statemachines.kv.rdb_codec.crc64 import crc64
from statemachines.kv.rdb_codec.lzf import LzfError, decompress
from statemachines.kv.rdb_codec.reader import BadData, Reader
from statemachines.kv.sets import Set
from statemachines.kv.zsets import ZSet

T0 = 1_700_000_000_000


def with_footer(body: bytes, version: int = 10) -> bytes:
    head = body + version.to_bytes(2, "little")
    return head + crc64(head).to_bytes(8, "little")


def test_crc64_is_redis_jones():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA  # Redis' crc64.c test vector
    assert crc64(b"") == 0


def test_lzf():
    assert decompress(b"\x02abc", 3) == b"abc"
    assert decompress(b"\x00a\xe0\x05\x00", 1 + 7 + 5 + 2) == b"a" * 15  # long back reference, overlapping
    assert decompress(b"\x01ab\x20\x01", 5) == b"ababa"
    for data, size in [
        (b"\x05abc", 6),  # literal beyond the input
        (b"\x02abc", 2),  # beyond the output
        (b"\x20\x00", 3),  # reference before the start
        (b"\x02abc", 4),  # too short
        (b"\x00a\xe0", 10),  # truncated reference
    ]:
        with pytest.raises(LzfError):
            decompress(data, size)


def test_reader_refuses_lengths_beyond_the_payload():
    reader = Reader(b"\x80\xff\xff\xff\xff")
    with pytest.raises(BadData):
        reader.count()
    with pytest.raises(BadData):
        Reader(b"\x81" + (1 << 60).to_bytes(8, "big")).string()
    huge_lzf = b"\xc3\x01" + b"\x80" + (1 << 30).to_bytes(4, "big") + b"\x00"
    with pytest.raises(BadData):  # 1 GiB announced from one compressed byte: refused before any work
        Reader(huge_lzf).string()


def test_listpack_round_trip_and_integer_forms():
    elements = [
        b"",
        b"a",
        b"0",
        b"127",
        b"128",
        b"-1",
        b"-4096",
        b"4095",
        b"-4097",
        b"32767",
        b"-32769",
        b"8388607",
        b"-8388609",
        b"2147483647",
        b"2147483648",
        b"-9223372036854775808",
        b"9223372036854775808",
        b"007",
        b"-0",
        b"x" * 63,
        b"y" * 64,
        b"z" * 4095,
        b"w" * 4096,
        b"v" * 20000,
    ]
    blob = listpack.build(elements)
    assert [listpack.as_bytes(e) for e in listpack.parse(blob)] == elements
    assert listpack.parse(listpack.build([b"12"])) == [12]
    assert listpack.parse(listpack.build([b"007"])) == [b"007"]
    for broken in [blob[:-1], blob[:10] + blob[11:], b"\x07\x00\x00\x00\x01\x00\xff", blob[:-2] + b"\x00\xff"]:
        with pytest.raises(BadData):
            listpack.parse(broken)


def test_intset():
    assert intset.parse(intset.build([3, -1, 70000])) == [-1, 3, 70000]
    assert intset.build([1, 2])[:4] == b"\x02\x00\x00\x00"
    with pytest.raises(BadData):
        intset.parse(b"\x02\x00\x00\x00\x02\x00\x00\x00\x05\x00\x01\x00")  # descending
    with pytest.raises(BadData):
        intset.parse(b"\x03\x00\x00\x00\x01\x00\x00\x00\x05\x00\x00")  # width 3


def _zset(pairs: dict[bytes, float]) -> ZSet:
    z = ZSet()
    for member, score in pairs.items():
        z.add(member, score)
    return z


VALUES = [
    b"hello",
    b"12345",
    b"",
    b"x" * 5000,
    List([b"a", b"1", b"x" * 9000, *[b"e%d" % i for i in range(3000)]]),
    Set.fromkeys([b"1", b"-7", b"100000"]),
    Set.fromkeys([b"a", b"b"]),
    Hash({b"f": b"v", b"n": b"1"}),
    Hash({b"f%d" % i: b"v" * 70 for i in range(10)}),
    _zset({b"a": 1.0, b"b": -2.5, b"c": float("inf"), b"d": -0.0, b"e": 1e300}),
    _zset({b"m%d" % i: i / 3 for i in range(300)}),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_dump_load_round_trip(value):
    payload = dump_payload(value)
    assert load_payload(payload) == value
    assert load_payload(payload[:-1] + bytes((payload[-1] ^ 1,))) == WRONG_FOOTER
    assert load_payload(payload[:-10] + b"\x0b\x00" + payload[-8:]) == WRONG_FOOTER  # RDB 11: too new


def test_refusals_are_bad_data():
    for body in [
        b"\x02\x00",  # an empty set
        b"\x04\x02\x01a\x01b\x01a\x01c",  # a duplicate hash field
        b"\x02\x02\x01a\x01a",  # a duplicate set member
        b"\x05\x01\x01a" + struct.pack("<d", float("nan")),  # a NaN score
        b"\x12\x01\x03\x01a",  # a quicklist container that is neither PLAIN nor PACKED
        b"\x0f\x00",  # a stream type nobody registered
        b"\x63",  # no such type
        b"\x00",  # truncated
    ]:
        assert load_payload(with_footer(body)) == BAD_DATA, body


def cmd(*args) -> bytes:
    return encode_args([a if isinstance(a, bytes) else str(a).encode() for a in args])


def test_restore_in_the_machine():
    m = KVMachine()
    m.apply(1, cmd("RPUSH", "l", "a", "b"), T0)
    payload = m.query(cmd("DUMP", "l"), T0)
    assert m.apply(2, cmd("RESTORE", "l", 0, payload), T0) == ReplyError("BUSYKEY Target key name already exists.")
    assert m.apply(3, cmd("RESTORE", "copy", 5000, payload), T0) == "OK"
    assert m.query(cmd("PTTL", "copy"), T0) == 5000  # relative to the entry's ts_ms
    assert m.query(cmd("LRANGE", "copy", 0, -1), T0) == [b"a", b"b"]
    assert m.apply(4, cmd("RESTORE", "abs", T0 + 10, payload, "ABSTTL"), T0) == "OK"
    assert m.query(cmd("PTTL", "abs"), T0) == 10
    assert m.apply(5, cmd("RESTORE", "l", T0, payload, "ABSTTL", "REPLACE"), T0) == "OK"  # already expired
    assert m.query(cmd("EXISTS", "l"), T0) == 0
    assert m.apply(6, cmd("RESTORE", "big", 2**63 - 1, payload), T0) == "OK"  # ts + ttl wraps in Redis: gone
    assert m.query(cmd("EXISTS", "big"), T0) == 0
    assert m.query(cmd("DUMP", "nokey"), T0) is None


def _mutations():
    bodies = [dump_payload(v)[:-10] for v in VALUES[:3] + VALUES[5:10]]
    return st.tuples(
        st.sampled_from(bodies),
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 16), st.binary(max_size=4)), min_size=1, max_size=4),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_restore_of_damaged_payloads_answers_only_redis_errors(case):
    body, edits = case
    out = bytearray(body)
    for op, where, data in edits:
        pos = where % (len(out) + 1)
        if op == 0:
            out[pos:pos] = data
        elif op == 1:
            del out[pos : pos + len(data) + 1]
        elif op == 2 and pos < len(out):
            out[pos] ^= (data or b"\x01")[0] or 1
        else:
            out = out[:pos]
    for payload in (with_footer(bytes(out)), bytes(out)):  # CRC recomputed (the body is judged), or not
        value = load_payload(payload)
        if type(value) is ReplyError:
            assert value in (BAD_DATA, WRONG_FOOTER)
        else:
            assert load_payload(dump_payload(value)) == value
        m = KVMachine()
        assert m.apply(1, cmd("RESTORE", "k", 0, payload), T0) in ("OK", BAD_DATA, WRONG_FOOTER)


class Box:
    """A value type the kv machine does not have, registered the way the stream type will be."""

    def __init__(self, items: list[bytes]) -> None:
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.items == self.items


def test_a_new_type_registers_its_own_encoding():
    from statemachines.kv import rdb

    code = 99

    def save(box: Box) -> tuple[int, bytes]:
        return code, rdb.rdb_len(len(box.items)) + b"".join(map(rdb.rdb_string, box.items))

    def load(reader: Reader, _code: int) -> Box:
        return Box([reader.string() for _ in range(reader.count())])

    rdb.register_saver(Box, save)
    rdb.register_loader((code,), load)
    try:
        payload = dump_payload(Box([b"a", b"12"]))
        assert payload[0] == code
        assert load_payload(payload) == Box([b"a", b"12"])
        assert load_payload(with_footer(bytes((code,)) + b"\x05\x01a")) == BAD_DATA  # 5 announced, 1 there
    finally:
        del rdb._SAVERS[Box], rdb._LOADERS[code]
    assert dump_payload(Box([])) is None
    assert load_payload(payload) == BAD_DATA


def test_listpack_backlen_read_as_redis_reads_it():
    """lpDecodeBacklen walks left while the high bit is set, into the entry's own bytes: after an
    entry byte 0 (the integer 0), a backlen byte 0x81 still reads as 1, and Redis accepts it."""
    blob = bytearray(listpack.build([b"0", b"a"]))
    assert blob[7] == 1
    blob[7] = 0x81
    assert listpack.parse(bytes(blob)) == [0, b"a"]
    blob[6] = 5  # now the walk reads 1 | 5 << 7: a wrong backlen
    with pytest.raises(BadData):
        listpack.parse(bytes(blob))


def test_counts_beyond_the_payload_are_refused_at_once():
    """A sorted set announcing billions of members (Redis pre-sizes a table for them)."""
    payload = with_footer(b"\x05\x80\xc3\t@d\x01mm\x01\x00\x00\x00\x00\x00\x00\x08@")
    assert load_payload(payload) == BAD_DATA
