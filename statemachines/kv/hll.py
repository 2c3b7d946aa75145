"""Redis 7.0's HyperLogLog representation (src/hyperloglog.c), byte for byte.

An HLL is a Redis string: a 16-byte header (b"HYLL", encoding, three unused bytes, the cached
cardinality: 8 bytes little endian whose top bit says "stale") and then 16384 6-bit registers,
either dense (12288 bytes, register i at bit 6*i, LSB first) or sparse (run-length opcodes:
ZERO 00xxxxxx = 1-64 zero registers, XZERO 01xxxxxx yyyyyyyy = 1-16384 zero registers,
VAL 1vvvvvxx = 1-4 registers of value 1-32). Everything here reproduces Redis' functions
exactly, because the bytes are visible (GET, DUMP) and the sparse form is not canonical:
`hllSparseSet` merges neighbouring VAL opcodes only within a window of five opcodes, so the
bytes depend on the order of the updates and only replaying Redis' own edit gives its bytes.
Redis' behaviour on corrupted input is reproduced as well: an XZERO cut at the end reads the
string's 0 terminator, and opcodes past the 16384th register make the HLL corrupted for every
reader, as in the redis-server 7.0 builds that carry the CVE-2025-32023 fix, which the oracle
tests run against (7.0.15's source let run lengths overflow its int index). One exception: when
a PFADD splits an XZERO cut at the very end of a forged string, Redis writes the last byte of
the new opcodes past the string's end, where the rest of that PFADD reads it (here too) and
where later commands still find it in Redis' buffer (here they read the terminator, 0): GET
shows the same bytes, but a later PFDEBUG DECODE or PFADD of that forged HLL may not.

Speed (pure Python; bench/hll_speed.py has the figures): the hash is MurmurHash64A on Python
ints, a few microseconds. A PFADD on a sparse HLL does not decode it per element:
`SparseEditor` keeps the running register count at each byte (`cum`), so the opcode that holds
a register is a bisection, and an edit rewrites only the entries of the opcodes it touched (the
counts after them do not change: an edit never changes how many registers the opcodes before a
position cover, only where they sit). Dense registers are unpacked and packed with
bytes.translate over the three byte lanes (4096 bytes each), sparse ones a stretch of one-byte
opcodes at a time, and register-wise maxima are big-integer arithmetic: no Python step per
register anywhere.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right
from itertools import accumulate

P = 14
REGISTERS = 1 << P  # 16384
Q = 64 - P  # bits of the hash that feed the run of zeros
HEADER = 16
DENSE_SIZE = HEADER + REGISTERS * 6 // 8  # 12304
DENSE, SPARSE = 0, 1
SPARSE_MAX_BYTES = 3000  # hll-sparse-max-bytes (Redis' default; this machine has no CONFIG for it)
VAL_MAX_VALUE = 32
VAL_MAX_LEN = 4
ZERO_MAX_LEN = 64
ALPHA_INF = 0.721347520444481703680  # 0.5 / ln(2)
SEED = 0xADC83B19
_M = 0xC6A4A7935BD1E995
_MASK = (1 << 64) - 1
INT64_MIN = -(1 << 63)

CACHE_STALE = 0x80  # in byte 15, the top byte of the cached cardinality

# A new HLL: sparse, one XZERO covering all 16384 registers, cached cardinality 0.
EMPTY = b"HYLL" + bytes([SPARSE, 0, 0, 0]) + bytes(8) + b"\x7f\xff"


# --- hashing ---------------------------------------------------------------------------------
_WORDS = struct.Struct("<Q")


def murmur64a(data: bytes, seed: int = SEED) -> int:
    """MurmurHash64A as Redis has it (endian neutral: words read little endian)."""
    n = len(data)
    h = (seed ^ (n * _M)) & _MASK
    whole = n - (n & 7)
    for (k,) in _WORDS.iter_unpack(data[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> 47
        h ^= (k * _M) & _MASK
        h = (h * _M) & _MASK
    if n & 7:
        h ^= int.from_bytes(data[whole:], "little")
        h = (h * _M) & _MASK
    h ^= h >> 47
    h = (h * _M) & _MASK
    return h ^ (h >> 47)


def pattern(element: bytes) -> tuple[int, int]:
    """hllPatLen: (register index, length of the 000..1 run in the remaining bits, 1..Q+1)."""
    h = murmur64a(element)
    rest = (h >> P) | (1 << Q)
    return h & (REGISTERS - 1), (rest & -rest).bit_length()


# --- validation ------------------------------------------------------------------------------
def is_hll(value: bytes) -> bool:
    """isHLLObjectOrReply's checks on a string: magic, known encoding, exact dense length."""
    return (
        len(value) >= HEADER
        and value[:4] == b"HYLL"
        and value[4] <= SPARSE
        and (value[4] == SPARSE or len(value) == DENSE_SIZE)
    )


def cached_count(value: bytes) -> int | None:
    """The cached cardinality, or None when it is marked stale."""
    if value[15] & CACHE_STALE:
        return None
    return int.from_bytes(value[8:16], "little")


def with_stale_cache(value: bytes | bytearray) -> bytes:
    """HLL_INVALIDATE_CACHE: set the stale bit, keep the old count's other bits."""
    if value[15] & CACHE_STALE:
        return bytes(value)
    out = bytearray(value)
    out[15] |= CACHE_STALE
    return bytes(out)


# --- dense registers ---------------------------------------------------------------------------
def _table(f) -> bytes:
    return bytes(f(b) & 0xFF for b in range(256))


_LOW6 = _table(lambda b: b & 63)
_SHR6 = _table(lambda b: b >> 6)
_SHR4 = _table(lambda b: b >> 4)
_SHR2 = _table(lambda b: b >> 2)
_LOW4_SHL2 = _table(lambda b: (b & 15) << 2)
_LOW2_SHL4 = _table(lambda b: (b & 3) << 4)
_LOW2_SHL6 = _table(lambda b: (b & 3) << 6)
_LOW4_SHL4 = _table(lambda b: (b & 15) << 4)
_SHL2 = _table(lambda b: b << 2)


def _or(a: bytes, b: bytes) -> bytes:
    """Bytewise OR of two equally long strings whose set bits never overlap."""
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(len(a), "little")


def dense_to_raw(value: bytes | bytearray) -> bytearray:
    """The 16384 registers of a dense HLL, one byte each. Three bytes hold four registers:
    r0 = b0 & 63, r1 = b0 >> 6 | (b1 & 15) << 2, r2 = b1 >> 4 | (b2 & 3) << 4, r3 = b2 >> 2."""
    b0, b1, b2 = bytes(value[HEADER::3]), bytes(value[HEADER + 1 :: 3]), bytes(value[HEADER + 2 :: 3])
    raw = bytearray(REGISTERS)
    raw[0::4] = b0.translate(_LOW6)
    raw[1::4] = _or(b0.translate(_SHR6), b1.translate(_LOW4_SHL2))
    raw[2::4] = _or(b1.translate(_SHR4), b2.translate(_LOW2_SHL4))
    raw[3::4] = b2.translate(_SHR2)
    return raw


def raw_to_dense(raw: bytes | bytearray) -> bytearray:
    """16384 registers of at most 63 -> the 12288 dense register bytes (dense_to_raw's inverse)."""
    r0, r1, r2, r3 = bytes(raw[0::4]), bytes(raw[1::4]), bytes(raw[2::4]), bytes(raw[3::4])
    out = bytearray(DENSE_SIZE - HEADER)
    out[0::3] = _or(r0, r1.translate(_LOW2_SHL6))
    out[1::3] = _or(r1.translate(_SHR2), r2.translate(_LOW4_SHL4))
    out[2::3] = _or(r2.translate(_SHR4), r3.translate(_SHL2))
    return out


def dense_get(value: bytes | bytearray, index: int) -> int:
    byte = HEADER + (index * 6 >> 3)
    fb = index * 6 & 7
    b1 = value[byte + 1] if byte + 1 < len(value) else 0  # past the end: the string's 0 terminator
    return ((value[byte] >> fb) | (b1 << (8 - fb))) & 63


def dense_put(value: bytearray, index: int, count: int) -> None:
    """HLL_DENSE_SET_REGISTER: register `index` = `count` (0..63)."""
    byte = HEADER + (index * 6 >> 3)
    fb = index * 6 & 7
    value[byte] = (value[byte] & ~(63 << fb) | count << fb) & 0xFF
    if byte + 1 < len(value):  # the last register's high bits would land in the terminator: none
        value[byte + 1] = (value[byte + 1] & ~(63 >> (8 - fb)) | count >> (8 - fb)) & 0xFF


def dense_set(value: bytearray, index: int, count: int) -> int:
    """hllDenseSet: raise register `index` to `count`; 1 if it changed, else 0."""
    if count <= dense_get(value, index):
        return 0
    dense_put(value, index, count)
    return 1


# --- sparse registers --------------------------------------------------------------------------
# The run length of each one-byte opcode (ZERO: low 6 bits + 1, VAL: low 2 bits + 1); 0 stands in
# for an XZERO's first byte, whose length needs the next byte too.
_SPAN = bytes(((b & 63) + 1) if b < 0x40 else 0 if b < 0x80 else (b & 3) + 1 for b in range(256))
# 1 where a byte could start an XZERO (01xxxxxx), so bytes.find (memchr) jumps between them.
_XZERO_MARK = bytes(1 if 0x40 <= b < 0x80 else 0 for b in range(256))
# The registers of each one-byte opcode: zeros for a ZERO, the value run-length times for a VAL.
_RUN = [
    bytes((b & 63) + 1) if b < 0x40 else b"" if b < 0x80 else bytes([((b >> 2) & 31) + 1]) * ((b & 3) + 1)
    for b in range(256)
]


def _xzero_len(hi: int, lo: int) -> int:
    return ((hi & 63) << 8 | lo) + 1


def _val(value: int, run: int) -> int:
    return (value - 1) << 2 | (run - 1) | 0x80


def _zeros(run: int) -> bytes:
    """The opcode for `run` zero registers, as hllSparseSet writes it when splitting."""
    if run > ZERO_MAX_LEN:
        return bytes([(run - 1) >> 8 | 0x40, (run - 1) & 0xFF])
    return bytes([run - 1])


def sparse_walk(value: bytes | bytearray, end: int | None = None) -> bytearray | None:
    """The registers of a sparse HLL, one byte each, or None when its opcodes do not cover
    exactly 16384 registers. One verdict serves every reader (hllSparseToDense, hllMerge,
    hllSparseRegHisto): redis-server 7.0 as shipped with the CVE-2025-32023 fix refuses an HLL
    whose runs pass register 16383 anywhere, trailing opcodes after a full set included
    (7.0.15's source accepted a VAL there). `end`: the string's length when `value` is an
    editor's buffer, whose byte at `end` stands for the terminator.

    Decoded a stretch of one-byte opcodes at a time (between two XZEROs: bytes.find), each
    opcode expanded by table: no Python step per opcode. Every opcode covers at least one
    register, so the walk gives up after 16384 of them whatever the string's length."""
    n = len(value) if end is None else end
    ops = bytes(value[HEADER:n])
    past = value[n] if n < len(value) else 0
    marks = ops.translate(_XZERO_MARK)
    parts = []
    total = pos = 0
    while True:
        j = marks.find(1, pos)
        stretch = ops[pos:] if j < 0 else ops[pos:j]
        if len(stretch) > REGISTERS:
            return None
        total += sum(stretch.translate(_SPAN))
        if total > REGISTERS:
            return None
        parts.append(b"".join(map(_RUN.__getitem__, stretch)))
        if j < 0:
            break
        run = _xzero_len(ops[j], ops[j + 1] if j + 1 < len(ops) else past)
        total += run
        if total > REGISTERS:
            return None
        parts.append(bytes(run))
        pos = j + 2
    return bytearray(b"".join(parts)) if total == REGISTERS else None


def sparse_to_dense(value: bytes | bytearray, end: int | None = None) -> bytes | None:
    """hllSparseToDense: the dense HLL (header copied, cached count included), None if corrupted."""
    raw = sparse_walk(value, end)
    if raw is None:
        return None
    header = bytearray(value[:HEADER])
    header[4] = DENSE
    return bytes(header + raw_to_dense(raw))


def registers(value: bytes | bytearray) -> bytearray | None:
    """One byte per register, as hllMerge reads an HLL (None: a corrupted sparse one)."""
    return dense_to_raw(value) if value[4] == DENSE else sparse_walk(value)


def decode_sparse(value: bytes) -> bytes:
    """PFDEBUG DECODE's text: z:len (ZERO), Z:len (XZERO), v:value,len (VAL)."""
    parts = []
    n = len(value)
    p = HEADER
    while p < n:
        b = value[p]
        if b < 0x40:
            parts.append(b"z:%d" % ((b & 63) + 1))
            p += 1
        elif b < 0x80:
            parts.append(b"Z:%d" % _xzero_len(b, value[p + 1] if p + 1 < n else 0))
            p += 2
        else:
            parts.append(b"v:%d,%d" % (((b >> 2) & 31) + 1, (b & 3) + 1))
            p += 1
    return b" ".join(parts)


class SparseEditor:
    """hllSparseSet, replayed on a bytearray, for a run of updates to one sparse HLL.

    `s` holds the string plus one trailing byte that stands for the sds terminator (an XZERO
    cut at the end reads it; Redis may even write into it, and so does this). `end` is the
    string's length. `cum[i]` is the number of registers covered by the opcodes up to and
    including the one at byte HEADER + i (the second byte of an XZERO repeats its first's
    count), so the opcode holding register r is the first byte whose count exceeds r. `cum`
    may stop short of the end: it indexes the first INDEXED_BYTES bytes only, which hold the
    opcodes of register 16383 whenever the string has them (each opcode covers at least one
    register in at most two bytes), so a forged string of megabytes costs no index of that size.
    """

    __slots__ = ("s", "end", "cum")

    INDEXED_BYTES = 2 * REGISTERS + 2

    def __init__(self, value: bytes) -> None:
        self.s = bytearray(value)
        self.s.append(0)
        self.end = len(value)
        ops = value[HEADER : HEADER + self.INDEXED_BYTES]
        spans = list(ops.translate(_SPAN))
        marks = ops.translate(_XZERO_MARK)
        j = marks.find(1)
        while j >= 0:  # every byte before the next XZERO is a one-byte opcode
            spans[j] = _xzero_len(ops[j], self.s[HEADER + j + 1])  # the terminator past the end
            if j + 1 < len(ops):
                spans[j + 1] = 0
            j = marks.find(1, j + 2)
        self.cum = list(accumulate(spans))

    def value(self) -> bytes:
        return bytes(self.s[: self.end])

    def set(self, index: int, count: int) -> int | None:
        """Raise register `index` to `count`: 1 if changed, 0 if not, -1 if the HLL is corrupted
        (no opcode covers the register), None if Redis would promote it to dense instead (a
        value over 32, or the string would grow past SPARSE_MAX_BYTES): see `promote`."""
        if count > VAL_MAX_VALUE:
            return None
        s, cum = self.s, self.cum
        at = bisect_right(cum, index)
        if at >= len(cum):
            return -1
        p = HEADER + at
        first = cum[at - 1] if at else 0
        run = cum[at] - first
        prev = None
        if at:
            q = at - 1
            if q and cum[q] == cum[q - 1]:  # the second byte of an XZERO
                q -= 1
            prev = HEADER + q
        b = s[p]
        is_xzero = 0x40 <= b < 0x80
        end = self.end
        nxt: int | None = p + (2 if is_xzero else 1)
        if nxt >= end:
            nxt = None
        touched = p + 1
        if b >= 0x80:
            old = ((b >> 2) & 31) + 1
            if old >= count:
                return 0
            if run == 1:
                s[p] = _val(count, 1)
                return self._merge(prev, touched)
        if b < 0x40 and run == 1:
            s[p] = _val(count, 1)
            return self._merge(prev, touched)
        last = first + run - 1
        if b < 0x80:  # split a ZERO or an XZERO
            seq = (_zeros(index - first) if index != first else b"") + bytes([_val(count, 1)])
            if index != last:
                seq += _zeros(last - index)
        else:  # split a VAL run
            old = ((b >> 2) & 31) + 1
            seq = bytes([_val(old, index - first)]) if index != first else b""
            seq += bytes([_val(count, 1)])
            if index != last:
                seq += bytes([_val(old, last - index)])
        delta = len(seq) - (2 if is_xzero else 1)
        if delta > 0 and end + delta > SPARSE_MAX_BYTES:
            return None
        if nxt is None:  # the last opcode: the tail is the terminator
            del s[p:]
            s += seq
            end += delta
            if len(s) == end:
                s.append(0)
        else:
            s[p:nxt] = seq
            end += delta
            s[end] = 0
        self.end = end
        return self._merge(prev, p + len(seq), delta)

    def _merge(self, prev: int | None, touched: int, delta: int = 0) -> int:
        """Step 4 of hllSparseSet (merge equal adjacent VALs, scanning five opcodes from the one
        before the edit), then mark the cached count stale and bring `cum` up to date."""
        s = self.s
        start = p = prev if prev is not None else HEADER
        scan = 5
        while p < self.end and scan:
            scan -= 1
            b = s[p]
            if b < 0x80:
                p += 2 if b >= 0x40 else 1
                continue
            if p + 1 < self.end and s[p + 1] >= 0x80:
                c = s[p + 1]
                if (b >> 2) & 31 == (c >> 2) & 31:
                    run = (b & 3) + (c & 3) + 2
                    if run <= VAL_MAX_LEN:
                        s[p + 1] = _val(((b >> 2) & 31) + 1, run)
                        del s[p]
                        self.end -= 1
                        s[self.end] = 0
                        delta -= 1
                        touched = max(touched, p + 1)
                        continue
            p += 1
        s[15] |= CACHE_STALE
        self._recount(start, touched, delta)
        return 1

    def _recount(self, start: int, touched: int, delta: int) -> None:
        """Recompute `cum` for the opcodes from `start` through byte `touched` - 1 (new
        positions); the string grew by `delta` there and is unchanged (shifted) after it."""
        s, end, cum = self.s, self.end, self.cum
        i = start - HEADER
        total = cum[i - 1] if i else 0
        fresh = []
        p = start
        while p < touched and p < end:  # whole opcodes, so p stops on a boundary (or past the end)
            b = s[p]
            if b < 0x40:
                total += (b & 63) + 1
                fresh.append(total)
                p += 1
            elif b < 0x80:
                total += _xzero_len(b, s[p + 1])
                fresh.append(total)
                if p + 1 < end:
                    fresh.append(total)
                p += 2
            else:
                total += (b & 3) + 1
                fresh.append(total)
                p += 1
        stop = min(p, end)
        cum[i : stop - HEADER - delta] = fresh
        last = len(cum) - 1
        if last == end - HEADER - 1 and 0x40 <= s[end - 1] < 0x80 and (last == 0 or cum[last] != cum[last - 1]):
            # an XZERO cut at the end reads the byte past it, which this edit may have changed
            cum[last] = (cum[last - 1] if last else 0) + _xzero_len(s[end - 1], s[end])


def promote(editor: SparseEditor, index: int, count: int) -> bytearray | None:
    """The `promote:` path of hllSparseSet: the HLL as dense with the register raised, or None
    when the sparse form is corrupted."""
    dense = sparse_to_dense(editor.s, editor.end)
    if dense is None:
        return None
    out = bytearray(dense)
    dense_set(out, index, count)
    return out


# --- the estimator -----------------------------------------------------------------------------
_SINGLE = [bytes([v]) for v in range(64)]


def histogram(raw: bytes | bytearray) -> list[int]:
    """How many registers hold each value 0..63 (a value absent is found by memchr alone)."""
    return [raw.count(v) if v in raw else 0 for v in _SINGLE]


_LANES = int.from_bytes(b"\x80" * REGISTERS, "little")


def union(a: bytes | bytearray, b: bytes | bytearray) -> bytes:
    """Register-wise maximum of two one-byte-per-register arrays (values below 128): per byte,
    (a | 0x80) - b keeps its top bit exactly where a >= b, and no borrow crosses bytes."""
    x, y = int.from_bytes(a, "little"), int.from_bytes(b, "little")
    keep = (((x | _LANES) - y) & _LANES) >> 7
    keep *= 0xFF
    return ((x & keep) | (y & ~keep)).to_bytes(REGISTERS, "little")


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y = 1.0
    z = x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if previous == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y = 1.0
    z = 1 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        d = 1 - x
        z -= d * d * y  # pow(1 - x, 2): GCC emits the multiplication
        if previous == z:
            return z / 3


def estimate(reghisto: list[int]) -> int:
    """hllCount's estimate (Ertl's improved estimator) from the register histogram, as the
    64-bit integer Redis replies with, including its overflow: an estimate past 2**63 (only
    forged dense registers get there) comes out as -2**63, as llroundl and the cast give it."""
    m = float(REGISTERS)
    z = m * _tau((m - reghisto[Q + 1]) / m)
    for j in range(Q, 0, -1):
        z += reghisto[j]
        z *= 0.5
    z += m * _sigma(reghisto[0] / m)
    e = ALPHA_INF * m * m / z if z else math.inf
    if e != e or e >= 2.0**63:
        return INT64_MIN
    r = math.floor(e)
    if e - r >= 0.5:
        r += 1
    card = int(float(r))
    return card - (1 << 64) if card >= 1 << 63 else card


def count(value: bytes) -> int | None:
    """hllCount of one HLL (the stale-cache path of single-key PFCOUNT); None if corrupted."""
    if value[4] == DENSE:
        return estimate(histogram(dense_to_raw(value)))
    raw = sparse_walk(value)
    return None if raw is None else estimate(histogram(raw))
