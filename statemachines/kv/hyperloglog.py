"""HyperLogLog commands (Redis hyperloglog.c): PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST.

An HLL is a plain string value (bytes) in Redis' own representation (statemachines/kv/hll.py),
so GET, SET, APPEND, DUMP and the snapshot see it as Redis would, and an HLL written by
redis-server and SET here counts the same. Every write replays Redis' edit exactly, so the
bytes GET returns after PFADD, PFMERGE or PFDEBUG are redis-server's.

The cached cardinality, and the one place the bytes differ
-----------------------------------------------------------
Redis keeps the last computed count in the header (bytes 8-15, little endian; the top bit of
byte 15 marks it stale). Writes only set the stale bit. A single-key PFCOUNT that finds it stale
recomputes the count and *writes it back* (valid), although PFCOUNT is a read-only command.
Here PFCOUNT is a read served by any node without the log, so it cannot write. Choice: every
write keeps Redis' bytes exactly (stale bit set, the old count's other bits kept), and PFCOUNT
never caches. So GET is byte-identical to redis-server for any sequence of writes, and for reads
of keys never counted one at a time; after a single-key PFCOUNT that found the cache stale,
Redis' header holds the fresh count (valid) where ours still holds the old one (stale), and
that difference in bytes 8-15 lasts (later writes only set the stale bit on either side). The
registers and every count are identical either way (a valid cache here is one written by SET
or by Redis, and is honoured as Redis honours it). The alternative, computing the cache on
every write, would make GET differ after every PFADD instead, and cost a full count (a few
hundred microseconds on a dense HLL) per PFADD on the serial apply path. Related: Redis' PFCOUNT
touches the key for WATCH when it refreshes the cache; here it does not.

Other departures: PFSELFTEST runs the same two checks as Redis' but with a bounded number of
rounds (Redis' takes over a second of C time, and a node serves other clients meanwhile);
hll-sparse-max-bytes is fixed at Redis' default 3000.

Cost, from bench/hll_speed.py on the shared 2-core development machine under a load average
of about 8 (so upper figures; medians of five rounds): PFADD of one element to a sparse HLL of
300-2200 bytes 14-16 us when the key's register index is kept from its previous PFADD (the
usual case: _SparseEditors), 120-220 us when it must be rebuilt; 100 elements 2-2.5 ms; PFADD
to a dense HLL 7-9 us; PFCOUNT of one HLL whose cache is stale 0.5-1.5 ms the first time and
under 1 us again while it is unchanged (a local memo); PFCOUNT of two dense HLLs and PFMERGE of
two about 0.9 ms. Redis does each in microseconds.
"""

from __future__ import annotations

import math
import random

from statemachines import ReplyError, Result
from statemachines.keyevents import STRING
from statemachines.kv import hll
from statemachines.kv.keyspace import OK, WRONGTYPE, Keyspace
from statemachines.kv.table import command

NOT_HLL = ReplyError("WRONGTYPE Key is not a valid HyperLogLog string value.")
CORRUPTED = ReplyError("INVALIDOBJ Corrupted HLL object detected")
NO_KEY = ReplyError("ERR The specified key does not exist")
NOT_SPARSE = ReplyError("ERR HLL encoding is not sparse")


def _checked(value: object) -> ReplyError | None:
    """isHLLObjectOrReply: the type error for a non-string, NOT_HLL for a string that is no HLL."""
    if type(value) is not bytes:
        return WRONGTYPE
    return None if hll.is_hll(value) else NOT_HLL


class _Editor:
    """One HLL being updated by a command: sparse edits in place until Redis would promote it,
    dense register sets after."""

    __slots__ = ("sparse", "dense")

    def __init__(self, value: bytes, sparse: hll.SparseEditor | None = None) -> None:
        if sparse is None and value[4] == hll.SPARSE:
            sparse = hll.SparseEditor(value)
        self.sparse = sparse
        self.dense = None if sparse is not None else bytearray(value)

    def set(self, index: int, count: int) -> int:
        """hllSparseSet / hllDenseSet: 1 changed, 0 unchanged, -1 corrupted."""
        if self.sparse is None:
            return hll.dense_set(self.dense, index, count)
        done = self.sparse.set(index, count)
        if done is not None:
            return done
        dense = hll.promote(self.sparse, index, count)
        if dense is None:
            return -1
        self.sparse, self.dense = None, dense
        return 1

    def value(self) -> bytes:
        return self.sparse.value() if self.sparse is not None else bytes(self.dense)


@command(
    "pfadd",
    -2,
    "write denyoom fast",
    group="hyperloglog",
    syntax="key [element [element ...]]",
    summary="Adds the specified elements to the specified HyperLogLog.",
)
def cmd_pfadd(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    key = args[1]
    old = ks.get_for_write(key, ts)
    if old is None:
        value, updated = hll.EMPTY, 1
    else:
        error = _checked(old)
        if error is not None:
            return error
        value, updated = old, 0
    editor = None
    if len(args) > 2:
        editor = _Editor(value, _EDITORS.take(key, value))
        for element in args[2:]:
            index, count = hll.pattern(element)
            done = editor.set(index, count)
            if done < 0:  # Redis keeps what the earlier elements changed, and says nothing else
                if (changed := editor.value()) != old:
                    ks.put_keep_ttl(key, changed)
                return CORRUPTED
            updated += done
        if updated:
            value = editor.value()
    if updated:
        value = hll.with_stale_cache(value)
        ks.put_keep_ttl(key, value)
        ks.notify(STRING, b"pfadd", key)
    if editor is not None:
        _EDITORS.keep(key, value, editor.sparse)  # the stored value: new, or the unchanged old one
    return 1 if updated else 0


class _SparseEditors:
    """The SparseEditor of the last few sparse HLLs PFADD wrote, so the next PFADD to one of them
    skips rebuilding its register index (most of a one-element PFADD's cost). Keyed by key and
    checked by identity of the value object, so an editor is only reused for the very string it
    describes; a speed-up only, local to the process, never changing a result."""

    SIZE = 32

    def __init__(self) -> None:
        self.editors: dict[bytes, tuple[bytes, hll.SparseEditor]] = {}

    def take(self, key: bytes, value: bytes) -> hll.SparseEditor | None:
        kept = self.editors.pop(key, None)
        return kept[1] if kept is not None and kept[0] is value else None

    def keep(self, key: bytes, value: bytes, editor: hll.SparseEditor | None) -> None:
        if editor is None or editor.s[editor.end] or editor.end > hll.SPARSE_MAX_BYTES:
            return  # dense, Redis' quirk left a byte past the end, or a forged string of any size
        editor.s[15] = value[15]
        if len(self.editors) >= self.SIZE:
            del self.editors[next(iter(self.editors))]
        self.editors[key] = (value, editor)


_EDITORS = _SparseEditors()


def _union(ks: Keyspace, keys: list[bytes], now: int) -> tuple[bytes | bytearray, bool] | ReplyError:
    """The register-wise maximum of the HLLs at `keys` (missing ones count as empty), and whether
    any of them is dense; the first invalid or corrupted one's error instead, as hllMerge."""
    union: bytearray | None = None
    any_dense = False
    for key in keys:
        value = ks.get(key, now)
        if value is None:
            continue
        error = _checked(value)
        if error is not None:
            return error
        any_dense = any_dense or value[4] == hll.DENSE
        regs = hll.registers(value)
        if regs is None:
            return CORRUPTED
        union = regs if union is None else hll.union(union, regs)
    return (union if union is not None else bytes(hll.REGISTERS)), any_dense


@command(
    "pfcount",
    -2,
    "readonly",
    (1, -1, 1),
    group="hyperloglog",
    syntax="key [key ...]",
    summary="Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
)
def cmd_pfcount(ks: Keyspace, args: list[bytes], now: int) -> Result:
    if len(args) > 2:
        union = _union(ks, args[1:], now)
        if type(union) is ReplyError:
            return union
        return hll.estimate(hll.histogram(union[0]))
    value = ks.get(args[1], now)
    if value is None:
        return 0
    error = _checked(value)
    if error is not None:
        return error
    cached = hll.cached_count(value)
    if cached is not None:
        return cached
    counted = _COUNTS.get(value)
    if counted is None:
        counted = hll.count(value)
        if counted is None:
            return CORRUPTED
        if len(value) <= hll.DENSE_SIZE:  # every HLL Redis writes; a forged one is counted each time
            _remember(value, counted)
    return counted


# Counts of recently counted HLLs, by content: Redis caches the count in the value, which a read
# cannot do here (see the module docstring), so repeated PFCOUNTs of an unchanged HLL are
# answered from this local memo instead. Bounded; reads may run on worker threads, hence the
# tolerant eviction.
_COUNTS: dict[bytes, int] = {}
COUNTS_KEPT = 256


def _remember(value: bytes, counted: int) -> None:
    if len(_COUNTS) >= COUNTS_KEPT:
        try:
            _COUNTS.pop(next(iter(_COUNTS)), None)
        except (RuntimeError, StopIteration):  # changed by another reader meanwhile
            _COUNTS.clear()
    _COUNTS[value] = counted


@command(
    "pfmerge",
    -2,
    "write denyoom",
    (1, -1, 1),
    group="hyperloglog",
    syntax="destkey [sourcekey [sourcekey ...]]",
    summary="Merge N different HyperLogLogs into a single one.",
)
def cmd_pfmerge(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    union = _union(ks, args[1:], ts)  # the destination is merged in too
    if type(union) is ReplyError:
        return union
    regs, any_dense = union
    key = args[1]
    old = ks.get_for_write(key, ts)
    value = hll.EMPTY if old is None else old
    if any_dense and value[4] == hll.SPARSE:
        value = hll.sparse_to_dense(value)  # validated above: it merged
    editor = _Editor(value)
    if editor.sparse is not None:
        for index, count in enumerate(regs):
            if count and editor.set(index, count) and editor.sparse is None:
                break  # promoted: the remaining registers only go up to the union, as below
    if editor.sparse is None:  # every register ends at the union: the destination was part of it
        header = editor.dense[: hll.HEADER]
        editor.dense = header + hll.raw_to_dense(regs)
    value = hll.with_stale_cache(editor.value())
    if old is None:
        ks.put(key, value)
    else:
        ks.put_keep_ttl(key, value)
    ks.notify(STRING, b"pfadd", key)  # Redis: "a mass-add of elements"
    return OK


def _c_text(raw: bytes) -> str:
    """A client's bytes as C's %s prints them: up to the first NUL (kept byte for byte)."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


@command(
    "pfdebug",
    3,
    "write denyoom admin",
    (2, 2, 1),
    group="hyperloglog",
    syntax="subcommand key",
    summary="Internal commands for debugging HyperLogLog values",
)
def cmd_pfdebug(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    sub, key = args[1].lower(), args[2]
    value = ks.get_for_write(key, ts)
    if value is None:
        return NO_KEY
    error = _checked(value)
    if error is not None:
        return error
    if sub in (b"getreg", b"todense"):
        converted = value[4] == hll.SPARSE
        if converted:
            value = hll.sparse_to_dense(value)
            if value is None:
                return CORRUPTED
            ks.put_keep_ttl(key, value)
        if sub == b"todense":
            return int(converted)
        return list(hll.dense_to_raw(value))
    if sub == b"decode":
        if value[4] != hll.SPARSE:
            return NOT_SPARSE
        return hll.decode_sparse(value)
    if sub == b"encoding":
        return "sparse" if value[4] == hll.SPARSE else "dense"
    return ReplyError(f"ERR Unknown PFDEBUG subcommand '{_c_text(args[1])}'")


SELFTEST_CYCLES = 1  # Redis: 1000 rounds of setting every register at random
SELFTEST_ELEMENTS = 1000  # Redis: 10 million; the checkpoints are the powers of ten up to it


def selftest(rng: random.Random) -> ReplyError | None:
    """pfselftestCommand's two checks, bounded: dense registers keep the values set (and their
    neighbours'), and sparse and dense HLLs fed the same elements agree, stay sparse while small,
    and estimate within six standard errors at each power of ten."""
    dense = bytearray(hll.DENSE_SIZE)
    for _ in range(SELFTEST_CYCLES):
        values = [rng.randrange(64) for _ in range(hll.REGISTERS)]
        for i, v in enumerate(values):
            hll.dense_put(dense, i, v)
        for i, v in enumerate(values):
            got = hll.dense_get(dense, i)
            if got != v:
                return ReplyError(f"TESTFAILED Register {i} should be {v} but is {got}")
        if list(hll.dense_to_raw(dense)) != values or hll.raw_to_dense(bytes(values)) != dense[hll.HEADER :]:
            return ReplyError("TESTFAILED register packing disagrees with register access")
    dense = bytearray(b"HYLL" + bytes(hll.DENSE_SIZE - 4))
    sparse = _Editor(hll.EMPTY)
    relerr = 1.04 / hll.REGISTERS**0.5
    seed = rng.getrandbits(64)
    checkpoint = 1
    for j in range(1, SELFTEST_ELEMENTS + 1):
        element = (j ^ seed).to_bytes(8, "little")
        index, count = hll.pattern(element)
        hll.dense_set(dense, index, count)
        sparse.set(index, count)
        if j != checkpoint:
            continue
        if j < hll.SPARSE_MAX_BYTES // 2 and sparse.sparse is None:
            return ReplyError("TESTFAILED sparse encoding not used")
        estimated = hll.count(bytes(dense))
        if estimated != hll.count(sparse.value()):
            return ReplyError("TESTFAILED dense/sparse disagree")
        maxerr = 1 if j == 10 else math.ceil(relerr * 6 * checkpoint)
        if abs(checkpoint - estimated) > maxerr:
            return ReplyError(f"TESTFAILED Too big error. card:{checkpoint} abserr:{abs(checkpoint - estimated)}")
        checkpoint *= 10
    return None


_selftest_rng = random.Random()


@command(
    "pfselftest",
    1,
    "readonly admin",
    (0, 0, 0),
    group="hyperloglog",
    syntax="",
    summary="An internal command for testing HyperLogLog values",
)
def cmd_pfselftest(ks: Keyspace, args: list[bytes], now: int) -> Result:
    failed = selftest(_selftest_rng)
    return OK if failed is None else failed
