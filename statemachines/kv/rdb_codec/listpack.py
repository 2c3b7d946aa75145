"""Listpacks (Redis 7.0 src/listpack.c): the encoding of small hashes and sorted sets and of a
quicklist's nodes.

    <total bytes u32 LE> <element count u16 LE, 65535 = unknown> <entry>... <0xFF>
    entry = <encoding + data> <backlen: the size of encoding + data, 1-5 bytes>

An element is stored as an integer when its text is one (string2ll), in the smallest of the
7-bit unsigned, 13, 16, 24, 32 and 64-bit signed forms; otherwise as a string with a 6, 12 or
32-bit length. `build` makes the bytes Redis' lpAppend makes for the same elements.
"""

from __future__ import annotations

from collections.abc import Iterable

from statemachines import parse_int
from statemachines.kv.rdb_codec.reader import BadData

HEADER_BYTES = 6
COUNT_UNKNOWN = 65535
EOF_BYTE = 0xFF

_INT_WIDTHS = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}


def _backlen(size: int) -> bytes:
    """lpEncodeBacklen: the entry's size, 7 bits a byte, stored to be read from the right."""
    if size <= 127:
        return bytes((size,))
    if size < 16383:
        return bytes((size >> 7, (size & 127) | 128))
    if size < 2097151:
        return bytes((size >> 14, ((size >> 7) & 127) | 128, (size & 127) | 128))
    if size < 268435455:
        return bytes((size >> 21, ((size >> 14) & 127) | 128, ((size >> 7) & 127) | 128, (size & 127) | 128))
    return bytes(
        (
            size >> 28,
            ((size >> 21) & 127) | 128,
            ((size >> 14) & 127) | 128,
            ((size >> 7) & 127) | 128,
            (size & 127) | 128,
        )
    )


def _decode_backlen(blob: bytes, end: int) -> int | None:
    """lpDecodeBacklen: read 7 bits a byte from `end` leftwards while the high bit is set. As in
    Redis, the walk may run into the entry's own bytes (a backlen byte 0x81 after an entry byte 0
    reads as 1), which is what lpValidateIntegrity accepts."""
    value = shift = 0
    while True:
        byte = blob[end]
        value |= (byte & 127) << shift
        if not byte & 128:
            return value
        shift += 7
        end -= 1
        if shift > 28:
            return None


def parse(blob: bytes) -> list[int | bytes]:
    """The elements (int for integer-encoded ones, bytes for strings); BadData if malformed
    (lpValidateIntegrity with deep checks: sizes, every backlen as Redis decodes it, the count,
    the end byte)."""
    total = len(blob)
    if total < HEADER_BYTES + 1 or int.from_bytes(blob[:4], "little") != total or blob[-1] != EOF_BYTE:
        raise BadData("listpack header or end")
    count = int.from_bytes(blob[4:6], "little")
    last = total - 1  # the end byte's position
    pos = HEADER_BYTES
    out: list[int | bytes] = []
    append = out.append
    while pos < last:
        start = pos
        first = blob[pos]
        if first < 0x80:  # 7-bit unsigned: the most common entry, checked inline
            if blob[pos + 1] != 1 and _decode_backlen(blob, pos + 1) != 1:
                raise BadData("listpack backlen")
            append(first)
            pos += 2
            continue
        if first < 0xC0:  # 6-bit string length
            size = first & 0x3F
            pos += 1 + size
            if pos >= last or (blob[pos] != size + 1 and _decode_backlen(blob, pos) != size + 1):
                raise BadData("listpack entry beyond the end or backlen")
            append(blob[start + 1 : pos])
            pos += 1
            continue
        if first < 0xE0:  # 13-bit signed
            if pos + 2 > last:
                raise BadData("listpack entry truncated")
            raw = ((first & 0x1F) << 8) | blob[pos + 1]
            value: int | bytes = raw - (1 << 13) if raw >= 1 << 12 else raw
            pos += 2
        elif first < 0xF0:  # 12-bit string length
            if pos + 2 > last:
                raise BadData("listpack entry truncated")
            size = ((first & 0x0F) << 8) | blob[pos + 1]
            pos += 2 + size
            value = blob[start + 2 : pos]
        elif first == 0xF0:  # 32-bit string length
            if pos + 5 > last:
                raise BadData("listpack entry truncated")
            size = int.from_bytes(blob[pos + 1 : pos + 5], "little")
            pos += 5 + size
            value = blob[start + 5 : pos]
        elif first in _INT_WIDTHS:
            width = _INT_WIDTHS[first]
            pos += 1 + width
            value = int.from_bytes(blob[start + 1 : pos], "little", signed=True)
        else:
            raise BadData(f"listpack encoding {first:#x}")
        size = pos - start
        pos += len(_backlen(size))
        if pos > last or _decode_backlen(blob, pos - 1) != size:
            raise BadData("listpack entry beyond the end or backlen")
        append(value)
    if pos != last or (count != COUNT_UNKNOWN and count != len(out)):
        raise BadData("listpack element count or end")
    return out


def as_bytes(element: int | bytes) -> bytes:
    return element if type(element) is bytes else b"%d" % element


_DIGIT_LEAD = frozenset(b"-0123456789")
_SMALL = [bytes((v, 1)) for v in range(128)]  # the 7-bit integer entries, backlen included


def encode(element: bytes) -> bytes:
    """One listpack entry as lpAppend writes it: encoding, data and backlen."""
    size = len(element)
    if size <= 20 and size and element[0] in _DIGIT_LEAD:
        value = parse_int(element)
        if value is not None:
            if 0 <= value <= 127:
                return _SMALL[value]
            if -4096 <= value <= 4095:
                value &= 0x1FFF
                return bytes(((value >> 8) | 0xC0, value & 0xFF, 2))
            if -(1 << 15) <= value < 1 << 15:
                return b"\xf1" + value.to_bytes(2, "little", signed=True) + b"\x03"
            if -(1 << 23) <= value < 1 << 23:
                return b"\xf2" + value.to_bytes(3, "little", signed=True) + b"\x04"
            if -(1 << 31) <= value < 1 << 31:
                return b"\xf3" + value.to_bytes(4, "little", signed=True) + b"\x05"
            return b"\xf4" + value.to_bytes(8, "little", signed=True) + b"\x09"
    if size < 64:
        return bytes((0x80 | size,)) + element + bytes((size + 1,))
    if size < 4096:
        return bytes((0xE0 | (size >> 8), size & 0xFF)) + element + _backlen(size + 2)
    return b"\xf0" + size.to_bytes(4, "little") + element + _backlen(size + 5)


def build(elements: Iterable[bytes]) -> bytes:
    """The listpack Redis' lpAppend builds from these elements, in order."""
    return build_encoded(list(map(encode, elements)))


def build_encoded(entries: list[bytes]) -> bytes:
    """A listpack of entries already made by `encode`."""
    body = b"".join(entries)
    total = HEADER_BYTES + len(body) + 1
    return total.to_bytes(4, "little") + min(len(entries), COUNT_UNKNOWN).to_bytes(2, "little") + body + b"\xff"


def entry_bytes(element: bytes) -> int:
    """The bytes one element takes in a listpack (for size estimates)."""
    return len(encode(element))
