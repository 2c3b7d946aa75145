"""The `cmsgpack` and `struct` Lua libraries as Redis 7.0 bundles them (deps/lua/src/lua_cmsgpack.c,
lua_struct.c), written in Python for the sandbox (lua_sandbox.py wires them in; lupa cannot load C
modules).

Behaviour is the C code's on x86-64 (little endian, 8-byte long and size_t, out-of-range double ->
integer casts giving INT64_MIN), errors included: a C library raises a plain string (luaL_error,
luaL_argerror), positioned at its Lua caller ("user_script:1: bad argument #1 to 'pack' (...)"),
which the script's error handler turns into "ERR ..." as for any runtime error; `LibraryError`
carries such a string (lua_sandbox raises it into Lua as a string, so a script's pcall sees what it
sees in Redis).

Bounded work: everything here is linear in the bytes given or made, and each call charges its work
to the script's instruction budget (`charge`) as it goes. The C libraries have two limits that keep
that true and that are reproduced exactly: cmsgpack.pack encodes tables nested deeper than 16 as nil
(so a table that contains itself ends), and unpacking stops with "stack overflow (too many return
values at once; ...)" where the Lua C stack (LUAI_MAXCSTACK, 8000 slots) runs out: about 8000 values
or 4000 levels of nesting. Beyond Redis: pack's output may not outgrow the sandbox's memory limit (a
table referring 16 levels deep to a wide table would otherwise expand exponentially).
"""

from __future__ import annotations

import math
import re
import struct as _struct
from collections.abc import Callable
from typing import Any

from lupa import lua51

LUAI_MAXCSTACK = 8000  # luaconf.h: the slots a C function may use
MAX_NESTING = 16  # LUACMSGPACK_MAX_NESTING
MAXINTSIZE = 32  # lua_struct.c: the largest integral size
MAXALIGN = 8  # lua_struct.c on x86-64: max(offsetof double in struct {char; double}, sizeof(int))
INT_MAX = (1 << 31) - 1
INT64_MIN = -(1 << 63)
# Budget instructions charged (lua_sandbox's INSTRUCTIONS_MAX is about a second of plain Lua): per
# call as redis.call is, per value or format option handled (measured: about 1 us of Python, a few
# hundred Lua instructions), plus one per byte
CALL_COST = 1_000
ELEMENT_COST = 300
UNPACK_OVERFLOW = "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"


class LibraryError(Exception):
    """A C library's error: a plain string, raised into Lua as it is (see the module docstring)."""


class _Context:
    """What the errors need: the failing call's name and its caller's position (luaL_where)."""

    __slots__ = ("charge", "context", "memory_max", "table")

    def __init__(self, table: Callable, charge: Callable[[int], None], context: Callable, memory_max: int) -> None:
        self.table, self.charge, self.context, self.memory_max = table, charge, context, memory_max

    def release(self) -> None:
        """Drop the references into the Lua state (it holds us: see lua_sandbox's run)."""
        self.table = self.context = None

    def error(self, message: str) -> LibraryError:
        """luaL_error: the message at the caller's position."""
        position, _name, _namewhat = self.context()
        return LibraryError(position.decode("utf-8", "surrogateescape") + message)

    def argerror(self, narg: int, message: str) -> LibraryError:
        """luaL_argerror."""
        position, name, namewhat = self.context()
        where = position.decode("utf-8", "surrogateescape")
        name = name.decode("utf-8", "surrogateescape") if name else "?"
        if namewhat == b"method":
            narg -= 1
            if narg == 0:
                return LibraryError(f"{where}calling '{name}' on bad self ({message})")
        return LibraryError(f"{where}bad argument #{narg} to '{name}' ({message})")


def type_name(args: tuple, i: int) -> str:
    """luaL_typename of argument i (1-based)."""
    if i > len(args):
        return "no value"
    value = args[i - 1]
    if value is None:
        return "nil"
    kind = type(value)
    if kind is bytes:
        return "string"
    if kind is bool:
        return "boolean"
    if kind is int or kind is float:
        return "number"
    lua_type = lua51.lua_type(value)
    if lua_type is not None:
        return lua_type
    return "function" if callable(value) else "userdata"  # our Python callables are C functions to Lua


def lua_number_text(value: int | float) -> bytes:
    """lua_tolstring of a number (LUAI_NUMFFORMAT "%.14g")."""
    value = float(value)
    if value != value:
        return b"nan" if math.copysign(1.0, value) > 0 else b"-nan"
    if value in (math.inf, -math.inf):
        return b"inf" if value > 0 else b"-inf"
    return b"%.14g" % value


_DECIMAL = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = re.compile(rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?")
_SPECIAL = re.compile(rb"[+-]?(?:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)", re.IGNORECASE)
_C_SPACE = b" \t\n\r\x0b\x0c"


def str_to_number(raw: bytes) -> float | None:
    """luaO_str2d: strtod (glibc: decimal, hex, inf, nan), then only spaces; the C string ends at a NUL."""
    nul = raw.find(b"\0")
    if nul >= 0:
        raw = raw[:nul]
    text = raw.lstrip(_C_SPACE)
    for pattern in (_HEX, _DECIMAL, _SPECIAL):
        match = pattern.match(text)
        if match is None:
            continue
        token = match.group()
        if text[match.end() :].strip(_C_SPACE):
            return None
        if pattern is _HEX:
            sign = -1.0 if token[:1] == b"-" else 1.0
            try:
                return sign * float.fromhex(token.lstrip(b"+-").decode())
            except OverflowError:
                return sign * math.inf
        return float(token)
    return None


def _to_integer(value: float) -> int:
    """(lua_Integer) of a double: truncation; x86 makes NaN and out-of-range values INT64_MIN."""
    if value != value or not -9.223372036854775808e18 <= value < 9.223372036854775808e18:
        return INT64_MIN
    return int(value)


def _check_number(ctx: _Context, args: tuple, i: int, pack_marker: bool = False) -> float:
    """luaL_checknumber of argument i. `pack_marker`: struct.pack pushed a nil after its arguments,
    so argument len(args) + 1 reads as nil there."""
    value = args[i - 1] if i <= len(args) else None
    kind = type(value)
    if kind is int or kind is float:
        return float(value)
    if kind is bytes:
        number = str_to_number(value)
        if number is not None:
            return number
    raise ctx.argerror(i, f"number expected, got {_got(args, i, pack_marker)}")


def _got(args: tuple, i: int, pack_marker: bool) -> str:
    return "nil" if pack_marker and i == len(args) + 1 else type_name(args, i)


def _check_string(ctx: _Context, args: tuple, i: int, pack_marker: bool = False) -> bytes:
    """luaL_checklstring of argument i (a number is converted)."""
    value = args[i - 1] if i <= len(args) else None
    kind = type(value)
    if kind is bytes:
        return value
    if kind is int or kind is float:
        return lua_number_text(value)
    raise ctx.argerror(i, f"string expected, got {_got(args, i, pack_marker)}")


def _opt_integer(ctx: _Context, args: tuple, i: int, default: int) -> int:
    if i > len(args) or args[i - 1] is None:
        return default
    return _to_integer(_check_number(ctx, args, i))


# --- struct ---------------------------------------------------------------------------------------
class _Format:
    """A struct format string being read (lua_struct.c's `fmt` pointer and Header)."""

    __slots__ = ("align", "ctx", "fmt", "little", "pos")

    def __init__(self, ctx: _Context, fmt: bytes) -> None:
        nul = fmt.find(b"\0")
        self.fmt = fmt if nul < 0 else fmt[:nul]  # a C string
        self.pos = 0
        self.ctx = ctx
        self.little, self.align = True, 1  # defaultoptions: native (x86: little) endian, no alignment

    def next_option(self) -> int | None:
        if self.pos >= len(self.fmt):
            return None
        opt = self.fmt[self.pos]
        self.pos += 1
        return opt

    def number(self, default: int) -> int:
        """getnum"""
        fmt = self.fmt
        if self.pos >= len(fmt) or not 48 <= fmt[self.pos] <= 57:
            return default
        a = 0
        while self.pos < len(fmt) and 48 <= fmt[self.pos] <= 57:
            digit = fmt[self.pos] - 48
            if a > INT_MAX // 10 or a * 10 > INT_MAX - digit:
                raise self.ctx.error("integral size overflow")
            a = a * 10 + digit
            self.pos += 1
        return a

    def size(self, opt: int) -> int:
        """optsize"""
        if opt in b"BbcHhLlTfdxIi":
            if opt in b"Bb":
                return 1
            if opt in b"Hh":
                return 2
            if opt in b"LlTd":
                return 8
            if opt == ord("f"):
                return 4
            if opt == ord("x"):
                return 1
            if opt == ord("c"):
                return self.number(1)
            size = self.number(4)
            if size > MAXINTSIZE:
                raise self.ctx.error(f"integral size {size} is larger than limit of {MAXINTSIZE}")
            return size
        return 0

    def to_align(self, length: int, opt: int, size: int) -> int:
        """gettoalign"""
        if size == 0 or opt == ord("c"):
            return 0
        size = min(size, self.align)
        return (size - (length & (size - 1))) & (size - 1)

    def control(self, opt: int, fn_arg_error: Callable[[str], LibraryError]) -> None:
        """controloptions"""
        if opt == ord(" "):
            return
        if opt == ord(">"):
            self.little = False
        elif opt == ord("<"):
            self.little = True
        elif opt == ord("!"):
            a = self.number(MAXALIGN)
            if not (a > 0 and a & (a - 1) == 0):
                raise self.ctx.error(f"alignment {a} is not a power of 2")
            self.align = a
        else:
            raise fn_arg_error(f"invalid format option '{chr(opt)}'")


def _integer_bytes(n: float, size: int, little: bool) -> bytes:
    """putinteger: the double as (unsigned long) (negative: through long), `size` bytes."""
    if n < 0:
        value = _to_integer(n) & 0xFFFFFFFFFFFFFFFF
    elif n != n or n >= 18446744073709551616.0:
        value = 0x8000000000000000 if n != n else 0  # x86's conversions of NaN and 2^64 and above
    else:
        value = int(n)
    raw = bytes((value >> (8 * i)) & 0xFF if i < 8 else 0 for i in range(size))
    return raw if little else raw[::-1]


def _integer_value(raw: bytes, little: bool, signed: bool) -> float:
    """getinteger: only the low 8 bytes survive the shifts of a 64-bit accumulator."""
    size = len(raw)
    value = int.from_bytes(raw, "little" if little else "big") & 0xFFFFFFFFFFFFFFFF
    if signed:
        mask = (0xFFFFFFFFFFFFFFFF << ((size * 8 - 1) % 64)) & 0xFFFFFFFFFFFFFFFF  # x86 masks the shift
        if value & mask:
            value |= mask
        if value & 0x8000000000000000:
            value -= 1 << 64
    return float(value)


def _float32(value: float) -> bytes:
    """(float)value as C converts it: rounded, out of range -> infinity."""
    try:
        return _struct.pack("<f", value)
    except OverflowError:
        return _struct.pack("<f", math.copysign(math.inf, value))


def struct_pack(ctx: _Context, args: tuple) -> bytes:
    fmt = _Format(ctx, _check_string(ctx, args, 1))
    out = bytearray()
    arg = 2
    total = 0

    def arg_error(message: str) -> LibraryError:
        return ctx.argerror(1, message)

    while True:
        opt = fmt.next_option()
        if opt is None:
            break
        size = fmt.size(opt)
        pad = fmt.to_align(total, opt, size)
        total += pad
        out += b"\0" * pad
        if opt in b"bBhHlLTiI":
            out += _integer_bytes(_check_number(ctx, args, arg, pack_marker=True), size, fmt.little)
            arg += 1
        elif opt == ord("x"):
            out += b"\0"
        elif opt == ord("f") or opt == ord("d"):
            number = _check_number(ctx, args, arg, pack_marker=True)
            arg += 1
            raw = _float32(number) if opt == ord("f") else _struct.pack("<d", number)
            out += raw if fmt.little else raw[::-1]
        elif opt == ord("c") or opt == ord("s"):
            text = _check_string(ctx, args, arg, pack_marker=True)
            arg += 1
            if size == 0:
                size = len(text)
            if len(text) < size:
                raise ctx.argerror(arg, "string too short")
            out += text[:size]
            if opt == ord("s"):
                out += b"\0"
                size += 1
        else:
            fmt.control(opt, arg_error)
        total += size
        ctx.charge(ELEMENT_COST + size)
    return bytes(out)


def struct_unpack(ctx: _Context, args: tuple) -> tuple:
    fmt = _Format(ctx, _check_string(ctx, args, 1))
    data = _check_string(ctx, args, 2)
    pos = _opt_integer(ctx, args, 3, 1)
    if pos == 0:  # size_t: a negative offset wraps to a huge one, too large for the data (below)
        raise ctx.argerror(3, "offset must be 1 or greater")
    pos = (pos - 1) & 0xFFFFFFFFFFFFFFFF
    ld = len(data)
    results: list = []
    slots = len(args)  # the arguments' stack slots, then the results'

    def arg_error(message: str) -> LibraryError:
        return ctx.argerror(1, message)

    while True:
        opt = fmt.next_option()
        if opt is None:
            break
        size = fmt.size(opt)
        pos += fmt.to_align(pos, opt, size)
        if not (size <= ld and pos <= ld - size):
            raise ctx.argerror(2, "data string too short")
        if slots + len(results) + 2 > LUAI_MAXCSTACK:
            raise ctx.error("stack overflow (too many results)")
        if opt in b"bBhHlLTiI":
            results.append(_integer_value(data[pos : pos + size], fmt.little, signed=opt in b"bhlti"))
        elif opt == ord("x"):
            pass
        elif opt == ord("f"):
            raw = data[pos : pos + 4]
            results.append(_struct.unpack("<f", raw if fmt.little else raw[::-1])[0])
        elif opt == ord("d"):
            raw = data[pos : pos + 8]
            results.append(_struct.unpack("<d", raw if fmt.little else raw[::-1])[0])
        elif opt == ord("c"):
            if size == 0:
                previous = results[-1] if results else None
                if type(previous) is bytes:
                    previous = str_to_number(previous)
                if previous is None:
                    raise ctx.error("format 'c0' needs a previous size")
                results.pop()
                size = _to_integer(previous) & 0xFFFFFFFFFFFFFFFF
                if not (size <= ld and pos <= ld - size):
                    raise ctx.argerror(2, "data string too short")
            results.append(data[pos : pos + size])
        elif opt == ord("s"):
            end = data.find(b"\0", pos)
            if end < 0:
                raise ctx.error("unfinished string in data")
            size = end - pos + 1
            results.append(data[pos:end])
        else:
            fmt.control(opt, arg_error)
        pos += size
        ctx.charge(ELEMENT_COST + size)
    results.append(pos + 1)
    return tuple(results)


def struct_size(ctx: _Context, args: tuple) -> int:
    fmt = _Format(ctx, _check_string(ctx, args, 1))
    pos = 0

    def arg_error(message: str) -> LibraryError:
        return ctx.argerror(1, message)

    while True:
        opt = fmt.next_option()
        if opt is None:
            break
        size = fmt.size(opt)
        pos += fmt.to_align(pos, opt, size)
        if opt == ord("s"):
            raise arg_error("option 's' has no fixed size")
        if opt == ord("c") and size == 0:
            raise arg_error("option 'c0' has no fixed size")
        if not (48 <= opt <= 57 or 65 <= opt <= 90 or 97 <= opt <= 122):  # !isalnum
            fmt.control(opt, arg_error)
        pos += size
        ctx.charge(ELEMENT_COST)
    return pos


# --- cmsgpack -------------------------------------------------------------------------------------
def _encode_int(n: int) -> bytes:
    if n >= 0:
        if n <= 127:
            return bytes((n,))
        if n <= 0xFF:
            return b"\xcc" + bytes((n,))
        if n <= 0xFFFF:
            return b"\xcd" + n.to_bytes(2, "big")
        if n <= 0xFFFFFFFF:
            return b"\xce" + n.to_bytes(4, "big")
        return b"\xcf" + n.to_bytes(8, "big")
    if n >= -32:
        return (n & 0xFF).to_bytes(1, "big")
    if n >= -128:
        return b"\xd0" + (n & 0xFF).to_bytes(1, "big")
    if n >= -32768:
        return b"\xd1" + (n & 0xFFFF).to_bytes(2, "big")
    if n >= -2147483648:
        return b"\xd2" + (n & 0xFFFFFFFF).to_bytes(4, "big")
    return b"\xd3" + (n & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")


def _encode_number(value: float) -> bytes:
    """mp_encode_lua_number: an integral double within int64 as an integer, else a float if it
    survives the float round trip, else a double."""
    if not math.isinf(value) and _to_integer(value) == value:
        return _encode_int(_to_integer(value))
    f = _float32(value)
    if _struct.unpack("<f", f)[0] == value:
        return b"\xca" + f[::-1]
    return b"\xcb" + _struct.pack(">d", value)


def _encode_bytes(s: bytes) -> bytes:
    n = len(s)
    if n < 32:
        head = bytes((0xA0 | n,))
    elif n <= 0xFF:
        head = b"\xd9" + bytes((n,))
    elif n <= 0xFFFF:
        head = b"\xda" + n.to_bytes(2, "big")
    else:
        head = b"\xdb" + (n & 0xFFFFFFFF).to_bytes(4, "big")
    return head + s


def _collection_head(n: int, fix: int, head16: bytes, head32: bytes) -> bytes:
    if n <= 15:
        return bytes((fix | n,))
    if n <= 0xFFFF:
        return head16 + n.to_bytes(2, "big")
    return head32 + (n & 0xFFFFFFFF).to_bytes(4, "big")


def _is_array(items: list) -> bool:
    """table_is_an_array: keys exactly 1..N (numbers that are positive C ints)."""
    top = 0
    for key, _ in items:
        if type(key) is bool or type(key) not in (int, float):
            return False
        if key <= 0 or math.isinf(key) or int(key) != key or not -(1 << 31) <= key < 1 << 31:
            return False
        top = max(top, int(key))
    return top == len(items)


def msgpack_pack(ctx: _Context, args: tuple) -> bytes:
    if not args:
        raise ctx.argerror(0, "MessagePack pack needs input.")
    out = bytearray()
    limit = ctx.memory_max

    def encode(value: Any, level: int) -> None:
        # recursion is at most MAX_NESTING deep: a deeper table is nil
        kind = type(value)
        ctx.charge(ELEMENT_COST)
        if kind is bytes:
            ctx.charge(len(value))
            out.extend(_encode_bytes(value))
        elif kind is bool:
            out.append(0xC3 if value else 0xC2)
        elif kind is int or kind is float:
            out.extend(_encode_number(float(value)))
        elif value is not None and level < MAX_NESTING and lua51.lua_type(value) == "table":
            items = list(value.items())  # lua_next: raw, in Lua's own order
            ctx.charge(len(items))
            if _is_array(items):
                by_index = dict(items)
                out.extend(_collection_head(len(items), 0x90, b"\xdc", b"\xdd"))
                for j in range(1, len(items) + 1):
                    encode(by_index.get(j, by_index.get(float(j))), level + 1)
            else:
                out.extend(_collection_head(len(items), 0x80, b"\xde", b"\xdf"))
                for key, item in items:
                    encode(key, level + 1)
                    encode(item, level + 1)
        else:
            out.append(0xC0)
        if len(out) > limit:
            raise MemoryError

    for value in args:
        encode(value, 0)
    return bytes(out)


class _Decoder:
    """mp_decode_to_lua_type over a cursor, iteratively, counting the Lua stack slots the C code
    would hold so it stops where Redis does (see the module docstring)."""

    __slots__ = ("ctx", "data", "pos")

    def __init__(self, ctx: _Context, data: bytes, pos: int) -> None:
        self.ctx, self.data, self.pos = ctx, data, pos

    def value(self, slots: int) -> tuple[Any, str | None]:
        """One value decoded with `slots` stack slots in use; (value, None) or (None, "eof"/"badfmt")."""
        data, ctx, table = self.data, self.ctx, self.ctx.table
        # the open collections, innermost last: [table, items left, is map, pending key, next index];
        # each holds its table and, while an element decodes, an index or key: 2 slots (1 while a
        # map's key decodes)
        open_: list[list] = []
        while True:
            if self.pos >= len(data):
                return None, "eof"
            if slots + 1 > LUAI_MAXCSTACK:
                raise ctx.error(UNPACK_OVERFLOW)
            ctx.charge(ELEMENT_COST)
            item, collection, error = self._scalar()
            if error is not None:
                return None, error
            if collection is not None:
                kind, n = collection
                item = table()
                if kind == "array" and slots + 2 > LUAI_MAXCSTACK:  # its own luaL_checkstack
                    raise ctx.error("stack overflow (in function mp_decode_to_lua_array)")
                if n:
                    open_.append([item, n, kind == "map", _NO_KEY, 1])
                    slots += 1 if kind == "map" else 2
                    continue
            # attach the finished item to its parent, closing every collection it completes
            while open_:
                top = open_[-1]
                t, left, is_map, key, index = top
                if is_map and key is _NO_KEY:
                    top[3] = item
                    slots += 1
                    break
                if is_map:
                    if key is None:
                        raise LibraryError("table index is nil")
                    if type(key) is float and key != key:
                        raise LibraryError("table index is NaN")
                    t[key] = item
                    top[3] = _NO_KEY
                    slots -= 1
                else:
                    t[index] = item
                    top[4] = index + 1
                top[1] = left - 1
                if top[1]:
                    break
                open_.pop()
                slots -= 1 if is_map else 2
                item = t
            else:
                return item, None

    def _scalar(self) -> tuple[Any, tuple[str, int] | None, str | None]:
        """The item at the cursor: (value, None, None), (None, (kind, count), None) for a collection
        header, or (None, None, error)."""
        data, p = self.data, self.pos
        left = len(data) - p
        b = data[p]
        fixed = _FIXED.get(b)
        if fixed is not None:
            need, convert = fixed
            if left < need:
                return None, None, "eof"
            self.pos = p + need
            return convert(data[p + 1 : p + need]), None, None
        if b in _RAW:
            head = _RAW[b]
            if left < 1 + head:
                return None, None, "eof"
            n = int.from_bytes(data[p + 1 : p + 1 + head], "big")
            if left < 1 + head + n:
                return None, None, "eof"
            self.pos = p + 1 + head + n
            self.ctx.charge(n)
            return data[p + 1 + head : self.pos], None, None
        if b in _COLLECTIONS:
            kind, head = _COLLECTIONS[b]
            if left < 1 + head:
                return None, None, "eof"
            self.pos = p + 1 + head
            return None, (kind, int.from_bytes(data[p + 1 : p + 1 + head], "big")), None
        if b & 0x80 == 0:
            self.pos = p + 1
            return b, None, None
        if b & 0xE0 == 0xE0:
            self.pos = p + 1
            return b - 256, None, None
        if b & 0xE0 == 0xA0:
            n = b & 0x1F
            if left < 1 + n:
                return None, None, "eof"
            self.pos = p + 1 + n
            return data[p + 1 : self.pos], None, None
        if b & 0xF0 == 0x90:
            self.pos = p + 1
            return None, ("array", b & 0xF), None
        if b & 0xF0 == 0x80:
            self.pos = p + 1
            return None, ("map", b & 0xF), None
        return None, None, "badfmt"


_NO_KEY = object()
_FIXED: dict[int, tuple[int, Callable[[bytes], Any]]] = {
    0xCC: (2, lambda r: r[0]),
    0xD0: (2, lambda r: int.from_bytes(r, "big", signed=True)),
    0xCD: (3, lambda r: int.from_bytes(r, "big")),
    0xD1: (3, lambda r: int.from_bytes(r, "big", signed=True)),
    0xCE: (5, lambda r: int.from_bytes(r, "big")),
    0xD2: (5, lambda r: int.from_bytes(r, "big", signed=True)),
    # lua_pushinteger of a uint64: (lua_Integer) wraps to negative above 2^63, then a double
    0xCF: (9, lambda r: float(int.from_bytes(r, "big", signed=True))),
    0xD3: (9, lambda r: float(int.from_bytes(r, "big", signed=True))),
    0xC0: (1, lambda r: None),
    0xC3: (1, lambda r: True),
    0xC2: (1, lambda r: False),
    0xCA: (5, lambda r: _struct.unpack(">f", r)[0]),
    0xCB: (9, lambda r: _struct.unpack(">d", r)[0]),
}
_RAW = {0xD9: 1, 0xDA: 2, 0xDB: 4}
_COLLECTIONS = {0xDC: ("array", 2), 0xDD: ("array", 4), 0xDE: ("map", 2), 0xDF: ("map", 4)}


def _unpack_full(ctx: _Context, data: bytes, limit: int, offset: int, slots: int) -> tuple:
    """mp_unpack_full: `slots` are the stack slots the arguments hold."""
    decode_all = limit == 0 and offset == 0
    if offset < 0 or limit < 0:
        raise ctx.error(f"Invalid request to unpack with offset of {_c_int(offset)} and limit of {_c_int(len(data))}.")
    if offset > len(data):
        raise ctx.error(f"Start offset {_c_int(offset)} greater than input length {_c_int(len(data))}.")
    if decode_all:
        limit = INT_MAX
    decoder = _Decoder(ctx, data, offset)
    values: list = []
    while decoder.pos < len(data) and len(values) < limit:
        value, error = decoder.value(slots + len(values))
        if error == "eof":
            raise ctx.error("Missing bytes in input.")
        if error == "badfmt":
            raise ctx.error("Bad data format in input.")
        values.append(value)
    if decode_all:
        return tuple(values)
    if slots + len(values) + 1 > LUAI_MAXCSTACK:
        raise ctx.error("stack overflow (in function mp_unpack_full)")
    return (-1 if decoder.pos == len(data) else decoder.pos, *values)


def _c_int(n: int) -> int:
    """(int) of a 64-bit integer: its low 32 bits, signed."""
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n & 0x80000000 else n


def msgpack_unpack(ctx: _Context, args: tuple) -> tuple:
    data = _check_string(ctx, args, 1)
    return _unpack_full(ctx, data, 0, 0, max(len(args), 1))


def msgpack_unpack_one(ctx: _Context, args: tuple) -> tuple:
    offset = _opt_integer(ctx, args, 2, 0)
    return _unpack_full(ctx, _check_string(ctx, args, 1), 1, offset, 1)


def msgpack_unpack_limit(ctx: _Context, args: tuple) -> tuple:
    limit = _to_integer(_check_number(ctx, args, 2))
    offset = _opt_integer(ctx, args, 3, 0)
    return _unpack_full(ctx, _check_string(ctx, args, 1), limit, offset, 1)


FUNCTIONS: dict[str, dict[str, Callable[[_Context, tuple], Any]]] = {
    "struct": {"pack": struct_pack, "unpack": struct_unpack, "size": struct_size},
    "cmsgpack": {
        "pack": msgpack_pack,
        "unpack": msgpack_unpack,
        "unpack_one": msgpack_unpack_one,
        "unpack_limit": msgpack_unpack_limit,
    },
}


def context(table: Callable, charge: Callable[[int], None], where: Callable, memory_max: int) -> _Context:
    return _Context(table, charge, where, memory_max)
