"""A bounded cursor over an RDB object serialization (Redis' rdbLoadLen, rdbGenericLoadStringObject,
rdbLoad*DoubleValue).

Every read checks the bytes present first, so a length a client wrote into the payload can never
make us allocate or loop beyond the payload itself. The one expansion is LZF: a string may
decompress to at most LZF_RATIO_MAX times its compressed size (the format cannot do more), and
the decompressed bytes of one payload are capped at DECODED_BYTES_MAX in total.
"""

from __future__ import annotations

import re
import struct

from statemachines.kv.rdb_codec.lzf import LzfError, decompress

RDB_6BITLEN, RDB_14BITLEN, RDB_ENCVAL = 0, 1, 3
RDB_32BITLEN, RDB_64BITLEN = 0x80, 0x81
RDB_ENC_INT8, RDB_ENC_INT16, RDB_ENC_INT32, RDB_ENC_LZF = 0, 1, 2, 3

LZF_RATIO_MAX = 88  # a 3-byte back reference copies at most 264 bytes
DECODED_BYTES_MAX = 512 << 20  # Redis' proto-max-bulk-len: no value here may be larger anyway

_DOUBLE = struct.Struct("<d")
INF = float("inf")
_STRTOD_PREFIX = re.compile(
    rb"[ \t\n\v\f\r]*[+-]?(?:inf(?:inity)?|nan|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    rb"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)",
    re.IGNORECASE,
)


def strtod_prefix(text: bytes) -> float | None:
    """The number C's strtod reads at the start of `text` (junk after it ignored; an overflow is
    +-inf), or None when it reads none. Linear in the text: one regex match, one conversion."""
    found = _STRTOD_PREFIX.match(text)
    if found is None:
        return None
    number = found.group().strip()
    try:
        return float.fromhex(number.decode()) if b"x" in number.lower() else float(number)
    except OverflowError:  # strtod: HUGE_VAL
        return -INF if number.startswith(b"-") else INF


class BadData(ValueError):
    """The payload is not a valid serialization (RESTORE answers "ERR Bad data format")."""


class Reader:
    __slots__ = ("data", "pos", "end", "decoded_budget")

    def __init__(self, data: bytes, end: int | None = None) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data) if end is None else end
        self.decoded_budget = DECODED_BYTES_MAX

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.end - self.pos:
            raise BadData(f"{n} bytes wanted, {self.end - self.pos} left")
        start = self.pos
        self.pos = start + n
        return self.data[start : self.pos]

    def u8(self) -> int:
        if self.pos >= self.end:
            raise BadData("truncated")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def length_or_encoding(self) -> tuple[int, bool]:
        """(length, False) or (RDB_ENC_* code, True): rdbLoadLenByRef."""
        first = self.u8()
        kind = first >> 6
        if kind == RDB_ENCVAL:
            return first & 0x3F, True
        if kind == RDB_6BITLEN:
            return first & 0x3F, False
        if kind == RDB_14BITLEN:
            return ((first & 0x3F) << 8) | self.u8(), False
        if first == RDB_32BITLEN:
            return int.from_bytes(self.take(4), "big"), False
        if first == RDB_64BITLEN:
            return int.from_bytes(self.take(8), "big"), False
        raise BadData(f"unknown length encoding {first:#x}")

    def length(self) -> int:
        """rdbLoadLen(rdb, NULL): an encoded-value byte where a length belongs reads as its 6 bits."""
        return self.length_or_encoding()[0]

    def count(self, min_item_bytes: int = 1) -> int:
        """A collection's element count: refused when the bytes left cannot hold that many."""
        n = self.length()
        if n * min_item_bytes > self.remaining:
            raise BadData(f"{n} elements announced, {self.remaining} bytes left")
        return n

    def string(self) -> bytes:
        """A string: raw, integer-encoded (as its decimal text) or LZF-compressed."""
        value, encoded = self.length_or_encoding()
        if not encoded:
            return self.take(value)
        if value == RDB_ENC_INT8:
            return b"%d" % int.from_bytes(self.take(1), "little", signed=True)
        if value == RDB_ENC_INT16:
            return b"%d" % int.from_bytes(self.take(2), "little", signed=True)
        if value == RDB_ENC_INT32:
            return b"%d" % int.from_bytes(self.take(4), "little", signed=True)
        if value == RDB_ENC_LZF:
            compressed_size = self.length()
            size = self.length()
            compressed = self.take(compressed_size)
            if size == 0:
                return b""  # lzf_decompress into no room returns 0, which is the length Redis wanted
            if size > LZF_RATIO_MAX * compressed_size or size > self.decoded_budget:
                raise BadData("LZF string larger than its compressed form can hold")
            self.decoded_budget -= size
            try:
                return decompress(compressed, size)
            except LzfError as e:
                raise BadData(str(e)) from None
        raise BadData(f"unknown string encoding {value}")

    def binary_double(self) -> float:
        return _DOUBLE.unpack(self.take(8))[0]

    def string_double(self) -> float:
        """RDB_TYPE_ZSET's scores: a length byte (253 nan, 254 +inf, 255 -inf), then "%.17g" text."""
        size = self.u8()
        if size == 253:
            return float("nan")
        if size == 254:
            return INF
        if size == 255:
            return -INF
        score = strtod_prefix(self.take(size))
        if score is None:  # sscanf "%lg" matched nothing
            raise BadData("not a double")
        return score
