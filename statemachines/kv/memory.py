"""MEMORY USAGE key [SAMPLES count]: an estimate of the bytes a key and its value would take in
Redis 7.0 (object.c objectComputeSize), computed from the value's size, not measured.

Python's own objects are larger than Redis' and shared between replicas' representations in ways
no per-key number describes, so the figure follows Redis' layout instead: the key's sds string
and dict entry, the value's robj, and per type its listpack, intset or hash table / skiplist
(chosen by Redis' default thresholds, as DUMP chooses: rdb.py), each allocation rounded up to
jemalloc's size classes. Like Redis, a collection stored as a hash table is estimated from its
first `count` elements (default 5, 0 = all) times its length, so the work is bounded by SAMPLES.

The frontend owns MEMORY (frontends/resp/commands/memory.py: STATS, DOCTOR, ...); its USAGE
subcommand is this machine read, so the table entry below is reached through it.
"""

from __future__ import annotations

from itertools import islice

from statemachines import NOT_AN_INTEGER, ReplyError, Result
from statemachines.kv.hashes import Hash
from statemachines.kv.keyspace import SYNTAX, Keyspace, parse_int
from statemachines.kv.lists import List
from statemachines.kv.rdb import (
    HASH_MAX_LISTPACK_ENTRIES,
    HASH_MAX_LISTPACK_VALUE,
    LIST_NODE_BYTES_MAX,
    SET_MAX_INTSET_ENTRIES,
    ZSET_MAX_LISTPACK_ENTRIES,
    ZSET_MAX_LISTPACK_VALUE,
    dump_payload,
    score_text,
)
from statemachines.kv.rdb_codec import listpack
from statemachines.kv.sets import Set
from statemachines.kv.table import command
from statemachines.kv.zsets import ZSet

DEFAULT_SAMPLES = 5  # OBJ_COMPUTE_SIZE_DEF_SAMPLES
ROBJ, DICT_ENTRY, DICT, QUICKLIST, QUICKLIST_NODE, ZSET, SKIPLIST = 16, 24, 56, 40, 32, 16, 32
# A skiplist node: member pointer, score, backward pointer, 16 bytes per level. Levels are random
# (p = 1/4): jemalloc serves 48 bytes for one level (3/4 of nodes), 64 for two (3/16), 80, 96...
SKIPLIST_NODE = 53
SKIPLIST_HEAD_NODE = 24 + 16 * 32  # zslCreate's header node has all ZSKIPLIST_MAXLEVEL levels
INT_STRING_DIGITS_MAX = 20


def jemalloc(size: int) -> int:
    """The size class jemalloc serves `size` bytes from (8, 16, 32, ... 128, then 4 per doubling)."""
    if size <= 8:
        return 8
    if size <= 128:
        return (size + 15) & ~15
    step = 1 << ((size - 1).bit_length() - 3)
    return (size + step - 1) & ~(step - 1)


def sds(length: int) -> int:
    """sdsZmallocSize of an sds string of `length` bytes (header, bytes, NUL)."""
    header = 3 if length < 1 << 8 else 5 if length < 1 << 16 else 9 if length < 1 << 32 else 17
    return jemalloc(header + length + 1)


def _slots(n: int) -> int:
    return 1 << max(n - 1, 3).bit_length() if n else 0


def _sampled(items, count: int, samples: int, size) -> int:
    """Redis' estimate: the mean size of the first `samples` items times `count`."""
    taken = [size(item) for item in islice(items, min(samples, count))]
    return sum(taken) * count // len(taken) if taken else 0


def value_bytes(value: object, samples: int) -> int:
    kind = type(value)
    if kind is bytes:
        if len(value) <= INT_STRING_DIGITS_MAX and parse_int(value) is not None:
            return ROBJ
        if len(value) <= 44:  # EMBSTR: robj and sds in one allocation
            return jemalloc(ROBJ + 3 + len(value) + 1)
        return ROBJ + sds(len(value))
    n = len(value)
    if kind is List:
        entries = _sampled(iter(value), n, max(min(samples, n) * 64, 1), listpack.entry_bytes)  # ~a node a sample
        nodes = max(1, -(-entries // LIST_NODE_BYTES_MAX))
        return ROBJ + QUICKLIST + nodes * (QUICKLIST_NODE + jemalloc(entries // nodes + listpack.HEADER_BYTES + 1))
    if kind is Set:
        numbers = [parse_int(m) for m in value] if n <= SET_MAX_INTSET_ENTRIES else [None]
        if None not in numbers:
            low, high = min(numbers), max(numbers)
            width = 2 if -(1 << 15) <= low and high < 1 << 15 else 4 if -(1 << 31) <= low and high < 1 << 31 else 8
            return ROBJ + jemalloc(8 + width * n)
        return ROBJ + DICT + 8 * _slots(n) + _sampled(iter(value), n, samples, lambda m: DICT_ENTRY + sds(len(m)))
    if kind is Hash:
        if n <= HASH_MAX_LISTPACK_ENTRIES and all(
            len(f) <= HASH_MAX_LISTPACK_VALUE and len(v) <= HASH_MAX_LISTPACK_VALUE for f, v in value.items()
        ):
            return ROBJ + jemalloc(sum(listpack.entry_bytes(f) + listpack.entry_bytes(v) for f, v in value.items()) + 7)
        return (
            ROBJ
            + DICT
            + 8 * _slots(n)
            + _sampled(iter(value.items()), n, samples, lambda fv: DICT_ENTRY + sds(len(fv[0])) + sds(len(fv[1])))
        )
    if kind is ZSet:
        if n <= ZSET_MAX_LISTPACK_ENTRIES and all(len(m) <= ZSET_MAX_LISTPACK_VALUE for m in value.scores):
            packed = sum(listpack.entry_bytes(m) + listpack.entry_bytes(score_text(s)) for m, s in value.scores.items())
            return ROBJ + jemalloc(packed + 7)
        per = _sampled(iter(value.scores), n, samples, lambda m: DICT_ENTRY + SKIPLIST_NODE + sds(len(m)))
        return ROBJ + ZSET + DICT + 8 * _slots(n) + SKIPLIST + jemalloc(SKIPLIST_HEAD_NODE) + per
    payload = dump_payload(value)  # a type this module does not know: twice its serialized size
    return ROBJ + 2 * len(payload) if payload is not None else ROBJ


def parse_samples(args: list[bytes]) -> int | ReplyError:
    """MEMORY USAGE's options (Redis' order: SAMPLES must have a value, a count >= 0; 0 = all)."""
    samples = DEFAULT_SAMPLES
    i = 3
    while i < len(args):
        if args[i].lower() == b"samples" and i + 1 < len(args):
            count = parse_int(args[i + 1])
            if count is None:
                return NOT_AN_INTEGER
            if count < 0:
                return SYNTAX
            samples = count or (1 << 62)
            i += 2
        else:
            return SYNTAX
    return samples


@command(
    "memory",
    -2,
    "readonly",
    (2, 2, 1),
    group="server",
    syntax="USAGE key [SAMPLES count]",
    summary="Estimate the memory usage of a key (MEMORY USAGE; the frontend serves the other subcommands)",
)
def cmd_memory(ks: Keyspace, args: list[bytes], now: int) -> Result:
    if args[1].lower() != b"usage":
        return ReplyError(f"ERR unknown subcommand '{args[1][:128].decode('utf-8', 'replace')}'. Try MEMORY HELP.")
    if len(args) < 3:
        return ReplyError("ERR wrong number of arguments for 'memory|usage' command")
    samples = parse_samples(args)
    if type(samples) is ReplyError:
        return samples
    value = ks.peek(args[2], now)
    if value is None:
        return None
    return value_bytes(value, samples) + sds(len(args[2])) + DICT_ENTRY
