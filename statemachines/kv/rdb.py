"""DUMP and RESTORE in Redis 7.0's own serialization (Redis src/cluster.c, src/rdb.c).

A payload is one object as an RDB file holds it, then a footer:

    <type byte> <object body> <RDB version: 2 bytes LE> <CRC-64 of all before: 8 bytes LE>

so a value dumped by redis-server restores here and the other way round. RESTORE accepts every
encoding Redis 7.0 loads (RDB version <= 10): plain strings, integers and LZF strings; lists as
quicklists of listpacks (or of ziplists, RDB 9) with PLAIN nodes, or as plain lists and ziplists;
sets as hash tables or intsets; hashes and sorted sets as hash tables / skiplists or as listpacks
and ziplists. DUMP writes what Redis 7.0 writes for the same value with default encoding settings
(listpacks for small hashes and sorted sets, intsets for small sets of integers, quicklists cut
into 8 KB listpack nodes), uncompressed (as Redis with `rdbcompression no`), so for small values
the bytes are Redis' own.

Registry: each value class registers how it is saved (`register_saver`) and each RDB type code how
it is loaded (`register_loader`). The types of this module are registered below; streams register
themselves the same way from rdb_stream.py (RDB_TYPE_STREAM_LISTPACKS_2; the pre-7.0 form 15 is
not read, see there).

Errors are Redis': a payload whose footer is wrong answers "ERR DUMP payload version or checksum
are wrong", anything else malformed "ERR Bad data format" (rdb_codec raises BadData; decoding is
linear in the payload's size, see rdb_codec/reader.py). Like Redis 7.0, bytes after the object
are ignored and the object may run into the footer (Redis' reader does not stop before it).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from sortedcontainers import SortedList

from statemachines import INT64_MAX, NOT_AN_INTEGER, ReplyError, Result
from statemachines.keyevents import GENERIC
from statemachines.kv.hashes import Hash
from statemachines.kv.keyspace import OK, SYNTAX, TYPE_NAMES, Keyspace, parse_int
from statemachines.kv.lists import List
from statemachines.kv.rdb_codec import intset, listpack, ziplist
from statemachines.kv.rdb_codec.crc64 import crc64
from statemachines.kv.rdb_codec.reader import BadData, Reader, strtod_prefix
from statemachines.kv.rdb_codec.writer import rdb_len, rdb_string
from statemachines.kv.sets import Set
from statemachines.kv.table import command, refusal
from statemachines.kv.zsets import ZSet

RDB_VERSION = 10  # Redis 7.0

RDB_TYPE_STRING = 0
RDB_TYPE_LIST = 1
RDB_TYPE_SET = 2
RDB_TYPE_ZSET = 3
RDB_TYPE_HASH = 4
RDB_TYPE_ZSET_2 = 5
RDB_TYPE_LIST_ZIPLIST = 10
RDB_TYPE_SET_INTSET = 11
RDB_TYPE_ZSET_ZIPLIST = 12
RDB_TYPE_HASH_ZIPLIST = 13
RDB_TYPE_LIST_QUICKLIST = 14
RDB_TYPE_HASH_LISTPACK = 16
RDB_TYPE_ZSET_LISTPACK = 17
RDB_TYPE_LIST_QUICKLIST_2 = 18
RDB_TYPE_STREAM_LISTPACKS = 15  # Redis < 7.0: not read (rdb_stream.py)
RDB_TYPE_STREAM_LISTPACKS_2 = 19

QUICKLIST_NODE_CONTAINER_PLAIN = 1
QUICKLIST_NODE_CONTAINER_PACKED = 2

# Redis 7.0's default encoding thresholds (redis.conf): what DUMP chooses by.
HASH_MAX_LISTPACK_ENTRIES = 512
HASH_MAX_LISTPACK_VALUE = 64
ZSET_MAX_LISTPACK_ENTRIES = 128
ZSET_MAX_LISTPACK_VALUE = 64
SET_MAX_INTSET_ENTRIES = 512
LIST_NODE_BYTES_MAX = 8192  # list-max-listpack-size -2 (quicklist.c optimization_level[1])
LIST_NODE_ESTIMATE_OVERHEAD = 8  # quicklist.c SIZE_ESTIMATE_OVERHEAD
LIST_PLAIN_ELEMENT_BYTES = 1 << 30  # quicklist.c packed_threshold: larger elements get a PLAIN node

WRONG_FOOTER = ReplyError("ERR DUMP payload version or checksum are wrong")
BAD_DATA = ReplyError("ERR Bad data format")
BUSYKEY = ReplyError("BUSYKEY Target key name already exists.")
BAD_TTL = ReplyError("ERR Invalid TTL value, must be >= 0")
BAD_IDLETIME = ReplyError("ERR Invalid IDLETIME value, must be >= 0")
BAD_FREQ = ReplyError("ERR Invalid FREQ value, must be >= 0 and <= 255")

_DOUBLE = struct.Struct("<d")

# --- the registry ------------------------------------------------------------------------------
Saver = Callable[[object], tuple[int, bytes]]  # value -> (RDB type code, object body)
Loader = Callable[[Reader, int], object]  # (reader at the body, type code) -> value; raises BadData

_SAVERS: dict[type, Saver] = {}
_LOADERS: dict[int, Loader] = {}


def register_saver(cls: type, save: Saver) -> None:
    assert cls not in _SAVERS, cls
    _SAVERS[cls] = save


def register_loader(type_codes: tuple[int, ...], load: Loader) -> None:
    for code in type_codes:
        assert code not in _LOADERS, code
        _LOADERS[code] = load


def dump_payload(value: object) -> bytes | None:
    """The DUMP payload of a value; None for a value class no module registered."""
    save = _SAVERS.get(type(value))
    if save is None:
        return None
    code, body = save(value)
    head = bytes((code,)) + body + RDB_VERSION.to_bytes(2, "little")
    return head + crc64(head).to_bytes(8, "little")


def footer_is_valid(payload: bytes) -> bool:
    """verifyDumpPayload: a version this Redis reads and a matching CRC-64."""
    if len(payload) < 10:
        return False
    if int.from_bytes(payload[-10:-8], "little") > RDB_VERSION:
        return False
    return crc64(memoryview(payload)[:-8]) == int.from_bytes(payload[-8:], "little")


def load_payload(payload: bytes) -> object | ReplyError:
    """The value a payload holds, or RESTORE's error for it."""
    if not footer_is_valid(payload):
        return WRONG_FOOTER
    reader = Reader(payload)
    try:
        load = _LOADERS.get(reader.u8())
        if load is None:
            return BAD_DATA
        return load(reader, payload[0])
    except BadData:
        return BAD_DATA


# --- strings -----------------------------------------------------------------------------------
def _save_string(value: bytes) -> tuple[int, bytes]:
    return RDB_TYPE_STRING, rdb_string(value)


def _load_string(reader: Reader, code: int) -> bytes:
    return reader.string()


register_saver(bytes, _save_string)
register_loader((RDB_TYPE_STRING,), _load_string)


# --- lists -------------------------------------------------------------------------------------
def _save_list(value: List) -> tuple[int, bytes]:
    """A quicklist as RPUSH builds it: listpack nodes filled up to 8 KB, PLAIN nodes for elements
    of 1 GB or more (quicklist.c _quicklistNodeAllowInsert with fill -2)."""
    nodes: list[bytes] = []
    packed: list[bytes] = []  # the open node's encoded entries
    packed_bytes = 0
    packed_node = rdb_len(QUICKLIST_NODE_CONTAINER_PACKED)
    for element in value:
        if len(element) >= LIST_PLAIN_ELEMENT_BYTES:
            if packed:
                nodes.append(packed_node + rdb_string(listpack.build_encoded(packed)))
                packed = []
            nodes.append(rdb_len(QUICKLIST_NODE_CONTAINER_PLAIN) + rdb_string(element))
            continue
        if packed and packed_bytes + len(element) + LIST_NODE_ESTIMATE_OVERHEAD > LIST_NODE_BYTES_MAX:
            nodes.append(packed_node + rdb_string(listpack.build_encoded(packed)))
            packed = []
        if not packed:
            packed_bytes = listpack.HEADER_BYTES + 1
        entry = listpack.encode(element)
        packed.append(entry)
        packed_bytes += len(entry)
    if packed:
        nodes.append(packed_node + rdb_string(listpack.build_encoded(packed)))
    return RDB_TYPE_LIST_QUICKLIST_2, rdb_len(len(nodes)) + b"".join(nodes)


def _load_list(reader: Reader, code: int) -> List:
    out = List()
    if code == RDB_TYPE_LIST:
        for _ in range(reader.count()):
            out.append(reader.string())
    elif code == RDB_TYPE_LIST_ZIPLIST:
        out.extend(map(listpack.as_bytes, ziplist.parse(reader.string())))
    else:  # quicklists: nodes of listpacks (v2, maybe PLAIN) or ziplists (v1)
        for _ in range(reader.count()):
            container = QUICKLIST_NODE_CONTAINER_PACKED
            if code == RDB_TYPE_LIST_QUICKLIST_2:
                container = reader.length()
                if container not in (QUICKLIST_NODE_CONTAINER_PACKED, QUICKLIST_NODE_CONTAINER_PLAIN):
                    raise BadData("quicklist container")
            data = reader.string()
            if not data:
                raise BadData("empty quicklist node")
            if container == QUICKLIST_NODE_CONTAINER_PLAIN:
                out.append(data)
            else:
                parse = listpack.parse if code == RDB_TYPE_LIST_QUICKLIST_2 else ziplist.parse
                out.extend(map(listpack.as_bytes, parse(data)))  # an empty node is skipped, as Redis does
    if not out:
        raise BadData("empty list")
    return out


register_saver(List, _save_list)
register_loader((RDB_TYPE_LIST, RDB_TYPE_LIST_ZIPLIST, RDB_TYPE_LIST_QUICKLIST, RDB_TYPE_LIST_QUICKLIST_2), _load_list)


# --- sets --------------------------------------------------------------------------------------
def _save_set(value: Set) -> tuple[int, bytes]:
    if len(value) <= SET_MAX_INTSET_ENTRIES:
        numbers = [parse_int(member) for member in value]
        if None not in numbers:
            return RDB_TYPE_SET_INTSET, rdb_string(intset.build(numbers))
    return RDB_TYPE_SET, rdb_len(len(value)) + b"".join(map(rdb_string, value))


def _load_set(reader: Reader, code: int) -> Set:
    out = Set()
    if code == RDB_TYPE_SET_INTSET:
        for number in intset.parse(reader.string()):
            out[b"%d" % number] = None
        return out
    count = reader.count()
    if count == 0:
        raise BadData("empty set")
    for _ in range(count):
        member = reader.string()
        if member in out:
            raise BadData("duplicate set member")
        out[member] = None
    return out


register_saver(Set, _save_set)
register_loader((RDB_TYPE_SET, RDB_TYPE_SET_INTSET), _load_set)


# --- hashes ------------------------------------------------------------------------------------
def _save_hash(value: Hash) -> tuple[int, bytes]:
    if len(value) <= HASH_MAX_LISTPACK_ENTRIES and all(
        len(field) <= HASH_MAX_LISTPACK_VALUE and len(v) <= HASH_MAX_LISTPACK_VALUE for field, v in value.items()
    ):
        flat: list[bytes] = []
        for item in value.items():
            flat += item
        return RDB_TYPE_HASH_LISTPACK, rdb_string(listpack.build(flat))
    body = [rdb_len(len(value))]
    for field, v in value.items():
        body += (rdb_string(field), rdb_string(v))
    return RDB_TYPE_HASH, b"".join(body)


def _pairs(reader: Reader, code: int, packed: tuple[int, ...]) -> list[bytes | int]:
    """The flat field/value (member/score) elements of a listpack or ziplist encoded pair type."""
    blob = reader.string()
    elements = listpack.parse(blob) if code in packed else ziplist.parse(blob)
    if not elements or len(elements) % 2:
        raise BadData("empty or odd pair list")
    return elements


def _load_hash(reader: Reader, code: int) -> Hash:
    out = Hash()
    if code == RDB_TYPE_HASH:
        count = reader.count(2)
        if count == 0:
            raise BadData("empty hash")
        for _ in range(count):
            field = reader.string()
            if field in out:
                raise BadData("duplicate hash field")
            out[field] = reader.string()
        return out
    elements = _pairs(reader, code, (RDB_TYPE_HASH_LISTPACK,))
    for i in range(0, len(elements), 2):
        field = listpack.as_bytes(elements[i])
        if field in out:
            raise BadData("duplicate hash field")
        out[field] = listpack.as_bytes(elements[i + 1])
    return out


register_saver(Hash, _save_hash)
register_loader((RDB_TYPE_HASH, RDB_TYPE_HASH_ZIPLIST, RDB_TYPE_HASH_LISTPACK), _load_hash)


# --- sorted sets -------------------------------------------------------------------------------
def score_text(score: float) -> bytes:
    """Redis 7.0's d2string, as zzlInsertAt stores a score in a listpack."""
    if score == 0:
        return b"-0" if math.copysign(1.0, score) < 0 else b"0"
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    if -4503599627370495 < score < 4503599627370496 and score == int(score):
        return b"%d" % int(score)
    return b"%.17g" % score


def _save_zset(value: ZSet) -> tuple[int, bytes]:
    if len(value) <= ZSET_MAX_LISTPACK_ENTRIES and all(len(m) <= ZSET_MAX_LISTPACK_VALUE for m in value.scores):
        flat: list[bytes] = []
        for score, member in value.order:
            flat += (member, score_text(score))
        return RDB_TYPE_ZSET_LISTPACK, rdb_string(listpack.build(flat))
    body = [rdb_len(len(value))]
    for score, member in reversed(value.order):  # greatest first, as zslInsert loads fastest
        body += (rdb_string(member), _DOUBLE.pack(score))
    return RDB_TYPE_ZSET_2, b"".join(body)


def _listpack_score(element: bytes | int) -> float:
    """zzlStrtod: strtod of the first 127 bytes, so trailing junk is ignored and no number is 0.
    A NaN score is refused (Redis keeps it; no sorted-set operation here can order one)."""
    if type(element) is int:
        return float(element)
    score = strtod_prefix(element[:127])
    if score is None:
        return 0.0
    if score != score:
        raise BadData("NaN score")
    return score


def _load_zset(reader: Reader, code: int) -> ZSet:
    scores: dict[bytes, float] = {}
    if code in (RDB_TYPE_ZSET, RDB_TYPE_ZSET_2):
        count = reader.count(2)
        if count == 0:
            raise BadData("empty sorted set")
        for _ in range(count):
            member = reader.string()
            score = reader.binary_double() if code == RDB_TYPE_ZSET_2 else reader.string_double()
            if score != score:
                raise BadData("NaN score")
            scores[member] = score
        if len(scores) != count:
            raise BadData("duplicate sorted set member")
    else:
        elements = _pairs(reader, code, (RDB_TYPE_ZSET_LISTPACK,))
        for i in range(0, len(elements), 2):
            scores[listpack.as_bytes(elements[i])] = _listpack_score(elements[i + 1])
        if 2 * len(scores) != len(elements):
            raise BadData("duplicate sorted set member")
    out = ZSet()
    out.scores = scores
    out.order = SortedList((score, member) for member, score in scores.items())  # one sort, not n inserts
    return out


register_saver(ZSet, _save_zset)
register_loader((RDB_TYPE_ZSET, RDB_TYPE_ZSET_2, RDB_TYPE_ZSET_ZIPLIST, RDB_TYPE_ZSET_LISTPACK), _load_zset)


# --- commands ----------------------------------------------------------------------------------
@command(
    "dump",
    2,
    "readonly",
    group="generic",
    syntax="key",
    summary="Return a serialized version of the value stored at the specified key.",
)
def cmd_dump(ks: Keyspace, args: list[bytes], now: int) -> Result:
    value = ks.get(args[1], now)
    if value is None:
        return None
    payload = dump_payload(value)
    if payload is None:
        return ReplyError(f"ERR DUMP does not support values of type {TYPE_NAMES.get(type(value), '?')} yet")
    return payload


def _parse_restore_options(args: list[bytes]) -> tuple[bool, bool] | ReplyError:
    """(replace, absttl) from RESTORE's options, or the error Redis gives first. IDLETIME and FREQ
    are checked and then have no effect: keys here keep no LRU clock or LFU counter."""
    replace = absttl = False
    idletime = freq = False
    i, n = 4, len(args)
    while i < n:
        option = args[i].lower()
        more = n - i - 1
        if option == b"replace":
            replace = True
        elif option == b"absttl":
            absttl = True
        elif option == b"idletime" and more >= 1 and not freq:
            value = parse_int(args[i + 1])
            if value is None:
                return NOT_AN_INTEGER
            if value < 0:
                return BAD_IDLETIME
            idletime = True
            i += 1
        elif option == b"freq" and more >= 1 and not idletime:
            value = parse_int(args[i + 1])
            if value is None:
                return NOT_AN_INTEGER
            if not 0 <= value <= 255:
                return BAD_FREQ
            freq = True
            i += 1
        else:
            return SYNTAX
        i += 1
    return replace, absttl


_check_restore = refusal(_parse_restore_options)


@command(
    "restore",
    -4,
    "write denyoom",
    group="generic",
    syntax="key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]",
    summary="Create a key using the provided serialized value, previously obtained using DUMP.",
    check=_check_restore,
)
def cmd_restore(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    """Redis 7.0's restoreCommand, in its order: options, BUSYKEY, TTL, footer, body."""
    parsed = _parse_restore_options(args)
    if type(parsed) is ReplyError:
        return parsed
    replace, absttl = parsed
    key = args[1]
    if not replace and ks.get_for_write(key, ts) is not None:
        return BUSYKEY
    ttl = parse_int(args[2])
    if ttl is None:
        return NOT_AN_INTEGER
    if ttl < 0:
        return BAD_TTL
    value = load_payload(args[3])
    if type(value) is ReplyError:
        return value
    deleted = replace and ks.delete(key)  # then added: "new" even when it replaced a key, as in Redis
    deadline = ttl if absttl or not ttl else ttl + ts
    # A deadline already past (ABSTTL in the past, or ttl + now beyond int64, which Redis' signed
    # addition wraps to a negative time) deletes instead: OK, and no key.
    if ttl and (deadline <= ts or deadline > INT64_MAX):
        if deleted:
            ks.notify(GENERIC, b"del", key)
        return OK
    ks.put(key, value)
    if ttl:
        ks.set_deadline(key, deadline)
    ks.notify(GENERIC, b"restore", key)
    return OK
