"""Bitmap commands (Redis bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.

A bitmap is a plain string (bytes): bit 0 is the most significant bit of byte 0. Every reply,
error and its order of checks follows Redis 7.0's bitops.c, quirks included, because clients
and tests compare against it:

- offsets: `string2ll`, then refused when negative or when `offset >> 3` reaches
  proto-max-bulk-len (512 MiB), so the largest bit offset is 2^32 - 1; BITFIELD's `#N` form is
  N * width computed in int64 and wrapping as the C code does (`#2305843009213693952` with u8 is
  offset 0 on redis-server too);
- BITCOUNT answers 0 for a missing key before it reads its range, and 0 for `start < 0 and
  end < 0 and start > end` before it reads BIT/BYTE; BITPOS reads its bit argument first;
- BITFIELD's overflow checks are ports of checkSignedBitfieldOverflow and
  checkUnsignedBitfieldOverflow with int64 arithmetic: `SET i8 0 -9223372036854775808` under
  OVERFLOW SAT stores 127 there as it does in Redis;
- options compared with strcasecmp stop at a NUL byte (`c_string`), as the C strings do.

Work is bounded by the data: SETBIT and BITFIELD copy the value once (values are immutable
bytes; snapshots rely on it, as APPEND and SETRANGE do) and may grow it up to proto-max-bulk-len
as Redis does, a BITFIELD's ops are limited by its arguments, BITCOUNT and BITPOS read the range
once, and BITOP combines its sources chunk by chunk, each chunk from the sources that reach it,
so its cost is the sum of their sizes (Redis' own loop is sources x longest; here missing and
empty sources cost nothing).

A write that changes nothing (SETBIT of a bit already so) does not move the key's WATCH version,
as Redis does not signal it; a BITFIELD that only creates or grows the key (every op failing
under OVERFLOW FAIL) does move it, where Redis would not signal the grown key.
"""

from __future__ import annotations

from statemachines import NOT_AN_INTEGER, ReplyError, Result
from statemachines.keyevents import GENERIC, STRING
from statemachines.kv.keyspace import INT64_MAX, SYNTAX, WRONGTYPE, Keyspace, parse_int
from statemachines.kv.strings import STRING_BYTES_MAX
from statemachines.kv.table import command, refusal

BIT_OFFSET = ReplyError("ERR bit offset is not an integer or out of range")
BIT_VALUE = ReplyError("ERR bit is not an integer or out of range")
BIT_ARGUMENT = ReplyError("ERR The bit argument must be 1 or 0.")
BITFIELD_TYPE = ReplyError(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
)
OVERFLOW_TYPE = ReplyError("ERR Invalid OVERFLOW type specified")
RO_ONLY_GET = ReplyError("ERR BITFIELD_RO only supports the GET subcommand")
NOT_ONE_SOURCE = ReplyError("ERR BITOP NOT must be called with a single source key.")

MASK64 = (1 << 64) - 1
_NOT_TABLE = bytes(255 - i for i in range(256))


def c_string(raw: bytes) -> bytes:
    """What strcasecmp sees of an argument: the bytes before its first NUL."""
    nul = raw.find(b"\0")
    return raw if nul < 0 else raw[:nul]


def _int64(value: int) -> int:
    """A Python int wrapped to int64, as C's two's complement arithmetic leaves it."""
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


_CHUNK = 1 << 16  # scans go chunk by chunk: no copy of a range, no integer of its size
_RUNS = {0: bytes(_CHUNK), 0xFF: b"\xff" * _CHUNK}


def popcount(data: bytes, start: int, end: int) -> int:
    """The set bits of data[start:end]."""
    return sum(int.from_bytes(data[i : min(i + _CHUNK, end)], "big").bit_count() for i in range(start, end, _CHUNK))


def parse_bit_offset(raw: bytes, width: int = 0) -> int | None:
    """getBitOffsetFromArgument: a bit offset, `#N` meaning N * width when width > 0; None if bad."""
    hashed = width > 0 and raw[:1] == b"#"
    offset = parse_int(raw[1:] if hashed else raw)
    if offset is None:
        return None
    if hashed:
        offset = _int64(offset * width)
    if offset < 0 or offset >> 3 >= STRING_BYTES_MAX:
        return None
    return offset


# --- SETBIT / GETBIT --------------------------------------------------------------------------


def _parse_setbit(args: list[bytes]) -> tuple[int, int] | ReplyError:
    offset = parse_bit_offset(args[2])
    if offset is None:
        return BIT_OFFSET
    on = parse_int(args[3])
    if on is None or on & ~1:
        return BIT_VALUE
    return offset, on


@command(
    "setbit",
    4,
    "write denyoom",
    group="bitmap",
    syntax="key offset value",
    summary="Sets or clears the bit at offset in the string value stored at key",
    check=refusal(_parse_setbit),
)
def cmd_setbit(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = _parse_setbit(args)
    if type(parsed) is ReplyError:
        return parsed
    offset, on = parsed
    key = args[1]
    old = ks.get_for_write(key, ts)
    if old is not None and type(old) is not bytes:
        return WRONGTYPE
    byte, shift = offset >> 3, 7 - (offset & 7)
    if old is None:  # Redis creates the key even to clear a bit
        ks.put(key, b"".join((bytes(byte), bytes((on << shift,)))))
        ks.notify(STRING, b"setbit", key)
        return 0
    if byte >= len(old):
        ks.put_keep_ttl(key, b"".join((old, bytes(byte - len(old)), bytes((on << shift,)))))
        ks.notify(STRING, b"setbit", key)
        return 0
    current = old[byte]
    was = (current >> shift) & 1
    if was != on:
        changed = (current & ~(1 << shift)) | (on << shift)
        view = memoryview(old)  # one copy of the value, not a slice and then a join
        ks.put_keep_ttl(key, b"".join((view[:byte], bytes((changed,)), view[byte + 1 :])))
        ks.notify(STRING, b"setbit", key)
    return was


@command(
    "getbit",
    3,
    "readonly fast",
    group="bitmap",
    syntax="key offset",
    summary="Returns the bit value at offset in the string value stored at key",
    check=lambda args: BIT_OFFSET if parse_bit_offset(args[2]) is None else None,
)
def cmd_getbit(ks: Keyspace, args: list[bytes], now: int) -> Result:
    offset = parse_bit_offset(args[2])
    if offset is None:
        return BIT_OFFSET
    value = ks.get(args[1], now)
    if value is None:
        return 0
    if type(value) is not bytes:
        return WRONGTYPE
    byte = offset >> 3
    if byte >= len(value):
        return 0
    return (value[byte] >> (7 - (offset & 7))) & 1


# --- BITCOUNT / BITPOS --------------------------------------------------------------------------


def _unit_is_bit(raw: bytes) -> bool | None:
    unit = c_string(raw).lower()
    if unit == b"bit":
        return True
    if unit == b"byte":
        return False
    return None


def _clamp(start: int, end: int, total: int) -> tuple[int, int]:
    """Negative indexes from the end, then clamped to [0, total - 1] (the bitops.c way)."""
    if start < 0:
        start += total
    if end < 0:
        end += total
    start = max(start, 0)
    end = max(end, 0)
    if end >= total:
        end = total - 1
    return start, end


def _edge_masks(start: int, end: int) -> tuple[int, int, int, int]:
    """A bit range -> (first byte, last byte, mask of the first byte's bits before the range,
    mask of the last byte's bits after it)."""
    first_mask = ~((1 << (8 - (start & 7))) - 1) & 0xFF
    last_mask = (1 << (7 - (end & 7))) - 1
    return start >> 3, end >> 3, first_mask, last_mask


@command(
    "bitcount",
    -2,
    "readonly",
    group="bitmap",
    syntax="key [start end [BYTE | BIT]]",
    summary="Count set bits in a string",
)
def cmd_bitcount(ks: Keyspace, args: list[bytes], now: int) -> Result:
    value = ks.get(args[1], now)
    if value is None:
        return 0  # before the range is even parsed, as Redis
    if type(value) is not bytes:
        return WRONGTYPE
    n, size = len(args), len(value)
    first_mask = last_mask = 0
    if n in (4, 5):
        start, end = parse_int(args[2]), parse_int(args[3])
        if start is None or end is None:
            return NOT_AN_INTEGER
        if start < 0 and end < 0 and start > end:
            return 0
        is_bit = False
        if n == 5:
            is_bit = _unit_is_bit(args[4])
            if is_bit is None:
                return SYNTAX
        start, end = _clamp(start, end, size * 8 if is_bit else size)
        if is_bit and start <= end:
            start, end, first_mask, last_mask = _edge_masks(start, end)
    elif n == 2:
        start, end = 0, size - 1
    else:
        return SYNTAX
    if start > end:
        return 0
    count = popcount(value, start, end + 1)
    if first_mask:
        count -= (value[start] & first_mask).bit_count()
    if last_mask:
        count -= (value[end] & last_mask).bit_count()
    return count


def first_bit(data: bytes, bit: int, start: int = 0, end: int | None = None) -> int:
    """redisBitpos over data[start:end]: the position (from start) of the first `bit`; -1 if no
    1 is there; for a 0 not found, the position just past the range (the string is zero padded
    on the right). Whole chunks of the byte to skip are compared, not stripped byte by byte."""
    end = len(data) if end is None else end
    skip = 0 if bit else 0xFF
    run = _RUNS[skip]
    pos = start
    while pos < end:
        piece = data[pos : min(pos + _CHUNK, end)]
        if piece != run[: len(piece)]:
            rest = piece.lstrip(bytes((skip,)))
            byte = rest[0] if bit else ~rest[0] & 0xFF
            return (pos - start + len(piece) - len(rest)) * 8 + 8 - byte.bit_length()
        pos += len(piece)
    return -1 if bit else (end - start) * 8


def _bitpos_in(value: bytes, bit: int, start: int, end: int, first_mask: int, last_mask: int, end_given: bool) -> int:
    """The search of bitposCommand over bytes start..end with the edge masks of a BIT range."""
    count = end - start + 1
    pos = -1
    done = False
    if first_mask:
        edge = value[start] & ~first_mask if bit else value[start] | first_mask
        if last_mask and count == 1:
            edge = edge & ~last_mask if bit else edge | last_mask
        pos = first_bit(bytes((edge & 0xFF,)), bit)
        done = count == 1 or (pos != -1 and pos != 8)
        if not done:
            start += 1
            count -= 1
    if not done:
        middle = count - (1 if last_mask else 0)
        if middle > 0:
            pos = first_bit(value, bit, start, start + middle)
            done = count == middle or (pos != -1 and pos != middle * 8)
            if not done:
                start += middle
                count -= middle
    if not done:
        edge = value[end] & ~last_mask if bit else value[end] | last_mask
        pos = first_bit(bytes((edge & 0xFF,)), bit)
    if end_given and bit == 0 and pos == count * 8:
        return -1  # a clear bit past an explicit end is not in the range
    return pos + start * 8 if pos != -1 else -1


def _parse_bit(raw: bytes) -> int | ReplyError:
    bit = parse_int(raw)
    if bit is None:
        return NOT_AN_INTEGER
    if bit not in (0, 1):
        return BIT_ARGUMENT
    return bit


@command(
    "bitpos",
    -3,
    "readonly",
    group="bitmap",
    syntax="key bit [start [end [BYTE | BIT]]]",
    summary="Find first bit set or clear in a string",
    check=lambda args: (lambda bit: bit if type(bit) is ReplyError else None)(_parse_bit(args[2])),
)
def cmd_bitpos(ks: Keyspace, args: list[bytes], now: int) -> Result:
    bit = _parse_bit(args[2])
    if type(bit) is ReplyError:
        return bit
    value = ks.get(args[1], now)
    if value is None:
        return -1 if bit else 0  # an infinite run of zeros
    if type(value) is not bytes:
        return WRONGTYPE
    n, size = len(args), len(value)
    end_given = False
    first_mask = last_mask = 0
    if n in (4, 5, 6):
        start = parse_int(args[3])
        if start is None:
            return NOT_AN_INTEGER
        is_bit = False
        if n == 6:
            is_bit = _unit_is_bit(args[5])
            if is_bit is None:
                return SYNTAX
        if n >= 5:
            end = parse_int(args[4])
            if end is None:
                return NOT_AN_INTEGER
            end_given = True
        else:
            end = size - 1
        start, end = _clamp(start, end, size * 8 if is_bit else size)
        if is_bit and start <= end:
            start, end, first_mask, last_mask = _edge_masks(start, end)
    elif n == 3:
        start, end = 0, size - 1
    else:
        return SYNTAX
    if start > end:
        return -1
    return _bitpos_in(value, bit, start, end, first_mask, last_mask, end_given)


# --- BITOP --------------------------------------------------------------------------------------

_OPERATIONS = (b"and", b"or", b"xor", b"not")


def _check_bitop(args: list[bytes]) -> ReplyError | None:
    operation = c_string(args[1]).lower()
    if operation not in _OPERATIONS:
        return SYNTAX
    if operation == b"not" and len(args) != 4:
        return NOT_ONE_SOURCE
    return None


_BITOP_CHUNK = 1 << 20


def combine(operation: bytes, sources: list[bytes]) -> bytes:
    """BITOP AND/OR/XOR/NOT of strings zero-padded on the right to the longest one.

    Chunk by chunk (1 MiB), as little-endian integers, so no integer or copy the size of a
    whole string is made. A chunk of OR or XOR reads only the sources that reach it (sorted
    longest first, they are a prefix), so the work is the sum of the sources' sizes, not
    sources x longest; AND needs only the common prefix (the rest is zeros)."""
    longest = max(map(len, sources))
    if operation == b"not":
        return sources[0].translate(_NOT_TABLE)
    parts = []
    if operation == b"and":
        common = min(map(len, sources))
        for pos in range(0, common, _BITOP_CHUNK):
            stop = min(pos + _BITOP_CHUNK, common)
            acc = -1
            for source in sources:
                acc &= int.from_bytes(source[pos:stop], "little")
            parts.append(acc.to_bytes(stop - pos, "little"))
        parts.append(bytes(longest - common))
        return b"".join(parts)
    live = sorted((source for source in sources if source), key=len, reverse=True)
    xor = operation == b"xor"
    for pos in range(0, longest, _BITOP_CHUNK):
        stop = min(pos + _BITOP_CHUNK, longest)
        acc = 0
        for source in live:
            if len(source) <= pos:
                break
            chunk = int.from_bytes(source[pos:stop], "little")
            acc = acc ^ chunk if xor else acc | chunk
        parts.append(acc.to_bytes(stop - pos, "little"))
    return b"".join(parts)


@command(
    "bitop",
    -4,
    "write denyoom",
    (2, -1, 1),
    group="bitmap",
    syntax="operation destkey key [key ...]",
    summary="Perform bitwise operations between strings",
    check=_check_bitop,
)
def cmd_bitop(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    error = _check_bitop(args)
    if error is not None:
        return error
    sources = []
    for key in args[3:]:
        value = ks.get(key, ts)
        if value is None:
            sources.append(b"")
        elif type(value) is not bytes:
            return WRONGTYPE
        else:
            sources.append(value)
    target = args[2]
    result = combine(c_string(args[1]).lower(), sources)
    if result:
        ks.get_for_write(target, ts)  # setKey's lookup (an expired key is deleted, and says so)
        ks.put(target, result)  # setKey: the target's TTL goes
        ks.notify(STRING, b"set", target)
    elif ks.get_for_write(target, ts) is not None:
        ks.delete(target)
        ks.notify(GENERIC, b"del", target)
    return len(result)


# --- BITFIELD -----------------------------------------------------------------------------------

GET, SET, INCRBY = 0, 1, 2
WRAP, SAT, FAIL = 0, 1, 2
_OVERFLOWS = {b"wrap": WRAP, b"sat": SAT, b"fail": FAIL}
_OPCODES = {b"get": (GET, 2), b"set": (SET, 3), b"incrby": (INCRBY, 3)}

Op = tuple[int, bool, int, int, int, int]  # opcode, signed, width, offset, value, overflow


def parse_bitfield_type(raw: bytes) -> tuple[bool, int] | None:
    """getBitfieldTypeFromArgument: i1..i64 or u1..u63 (case-sensitive) -> (signed, width)."""
    if raw[:1] == b"i":
        signed = True
    elif raw[:1] == b"u":
        signed = False
    else:
        return None
    width = parse_int(c_string(raw[1:]))  # string2ll over strlen(): a NUL ends the number
    if width is None or width < 1 or width > (64 if signed else 63):
        return None
    return signed, width


def parse_bitfield(args: list[bytes], readonly: bool) -> tuple[list[Op], int] | ReplyError:
    """BITFIELD's subcommands -> (ops, highest bit written, -1 if none), in bitfieldGeneric's
    order of checks; BITFIELD_RO's refusal of writes comes after the whole parse, as in Redis."""
    ops: list[Op] = []
    overflow = WRAP
    highest = -1
    j, n = 2, len(args)
    while j < n:
        more = n - j - 1
        name = c_string(args[j]).lower()
        if name == b"overflow" and more >= 1:
            kind = _OVERFLOWS.get(c_string(args[j + 1]).lower())
            if kind is None:
                return OVERFLOW_TYPE
            overflow = kind
            j += 2
            continue
        opcode, needs = _OPCODES.get(name, (None, 0))
        if opcode is None or more < needs:
            return SYNTAX
        parsed = parse_bitfield_type(args[j + 1])
        if parsed is None:
            return BITFIELD_TYPE
        signed, width = parsed
        offset = parse_bit_offset(args[j + 2], width)
        if offset is None:
            return BIT_OFFSET
        value = 0
        if opcode != GET:
            highest = max(highest, offset + width - 1)
            value = parse_int(args[j + 3])
            if value is None:
                return NOT_AN_INTEGER
        ops.append((opcode, signed, width, offset, value, overflow))
        j += needs + 1
    if readonly and highest >= 0:
        return RO_ONLY_GET
    return ops, highest


def read_field(data: bytes | bytearray, offset: int, width: int, signed: bool) -> int:
    """The width-bit integer at a bit offset; bits past the end of data read as zeros."""
    byte = offset >> 3
    window = int.from_bytes(data[byte : byte + 9].ljust(9, b"\0"), "big")
    value = (window >> (72 - (offset & 7) - width)) & ((1 << width) - 1)
    if signed and value >> (width - 1):
        value -= 1 << width
    return value


def write_field(data: bytearray, offset: int, width: int, value: int) -> None:
    """setUnsignedBitfield: the low `width` bits of value at a bit offset (data is long enough)."""
    first, last = offset >> 3, (offset + width + 7) >> 3
    size = last - first
    shift = size * 8 - (offset & 7) - width
    mask = ((1 << width) - 1) << shift
    window = int.from_bytes(data[first:last], "big")
    window = (window & ~mask) | ((value << shift) & mask)
    data[first:last] = window.to_bytes(size, "big")


def _signed_overflow(value: int, incr: int, width: int, kind: int) -> tuple[int, int]:
    """checkSignedBitfieldOverflow, int64 wrap-arounds included -> (1 over, -1 under or 0, the
    value to store for WRAP or SAT)."""
    top = INT64_MAX if width == 64 else (1 << (width - 1)) - 1
    bottom = -top - 1
    max_incr = _int64(top - value)
    min_incr = _int64(bottom - value)
    if value > top or (width != 64 and incr > max_incr) or (value >= 0 and incr > 0 and incr > max_incr):
        direction, saturated = 1, top
    elif value < bottom or (width != 64 and incr < min_incr) or (value < 0 and incr < 0 and incr < min_incr):
        direction, saturated = -1, bottom
    else:
        return 0, 0
    if kind == SAT:
        return direction, saturated
    wrapped = (value + incr) & MASK64
    if width < 64:  # keep the low bits, sign-extended from the field's top bit
        wrapped &= (1 << width) - 1
        if wrapped >> (width - 1):
            wrapped -= 1 << width
        return direction, wrapped
    return direction, _int64(wrapped)


def _unsigned_overflow(value: int, incr: int, width: int, kind: int) -> tuple[int, int]:
    """checkUnsignedBitfieldOverflow (value is the uint64 bit pattern) -> (direction, store)."""
    top = (1 << width) - 1
    if value > top or (incr > 0 and incr > _int64(top - value)):
        direction, saturated = 1, top
    elif incr < 0 and incr < _int64(-value):
        direction, saturated = -1, 0
    else:
        return 0, 0
    return direction, (saturated if kind == SAT else (value + incr) & top)


def _apply_op(data: bytearray, op: Op) -> tuple[int | None, bool]:
    """One SET or INCRBY on data -> (its reply, whether it changed the field)."""
    opcode, signed, width, offset, value, overflow = op
    old = read_field(data, offset, width, signed)
    if signed:
        if opcode == INCRBY:
            direction, limit = _signed_overflow(old, value, width, overflow)
            new = limit if direction else old + value
            reply = new
        else:
            direction, limit = _signed_overflow(value, 0, width, overflow)
            new = limit if direction else value
            reply = old
    else:
        if opcode == INCRBY:
            direction, limit = _unsigned_overflow(old, value, width, overflow)
            new = limit if direction else old + value
            reply = new
        else:
            pattern = value & MASK64  # a negative SET value is a huge uint64 (always an overflow)
            direction, limit = _unsigned_overflow(pattern, 0, width, overflow)
            new = limit if direction else pattern
            reply = old
    if direction and overflow == FAIL:
        return None, False
    write_field(data, offset, width, new)
    return reply, (new - old) & ((1 << width) - 1) != 0


def _bitfield(ks: Keyspace, args: list[bytes], ms: int, readonly: bool) -> Result:
    parsed = parse_bitfield(args, readonly)
    if type(parsed) is ReplyError:
        return parsed
    ops, highest = parsed
    key = args[1]
    if highest < 0:  # GETs only: a read, the key is neither created nor grown
        value = ks.get(key, ms)
        if value is not None and type(value) is not bytes:
            return WRONGTYPE
        data = value or b""
        return [read_field(data, offset, width, signed) for _, signed, width, offset, _, _ in ops]
    old = ks.get_for_write(key, ms)
    if old is not None and type(old) is not bytes:
        return WRONGTYPE
    data = bytearray(old or b"")
    size = (highest >> 3) + 1
    changed = old is None or len(data) < size
    if len(data) < size:
        data.extend(bytes(size - len(data)))
    replies: list[int | None] = []
    dirty = changed  # created or grown
    changes = False  # Redis' "changes": a SET or INCRBY that ran (not OVERFLOW FAIL) on a dirty key or changed it
    for op in ops:
        if op[0] == GET:
            replies.append(read_field(data, op[3], op[2], op[1]))
            continue
        reply, wrote = _apply_op(data, op)
        replies.append(reply)
        changed = changed or wrote
        changes = changes or (reply is not None and (dirty or wrote))
    if old is None:
        ks.put(key, bytes(data))
    elif changed:
        ks.put_keep_ttl(key, bytes(data))
    if changes:
        ks.notify(STRING, b"setbit", key)
    return replies


def _check_bitfield(readonly: bool):
    def check(args: list[bytes]) -> ReplyError | None:
        parsed = parse_bitfield(args, readonly)
        return parsed if type(parsed) is ReplyError else None

    return check


@command(
    "bitfield",
    -2,
    "write denyoom",
    group="bitmap",
    syntax="key [GET encoding offset | [OVERFLOW WRAP | SAT | FAIL] SET encoding offset value | "
    "[OVERFLOW WRAP | SAT | FAIL] INCRBY encoding offset increment ...]",
    summary="Perform arbitrary bitfield integer operations on strings",
    check=_check_bitfield(False),
)
def cmd_bitfield(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _bitfield(ks, args, ts, readonly=False)


@command(
    "bitfield_ro",
    -2,
    "readonly fast",
    group="bitmap",
    syntax="key [GET encoding offset [GET encoding offset ...]]",
    summary="Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
    check=_check_bitfield(True),
)
def cmd_bitfield_ro(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return _bitfield(ks, args, now, readonly=True)
