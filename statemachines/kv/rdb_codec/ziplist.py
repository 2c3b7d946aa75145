"""Ziplists (Redis 6 src/ziplist.c), read only: RDB 9 and older payloads (RDB_TYPE_LIST_QUICKLIST,
*_ZIPLIST types) hold them, and Redis 7.0 still loads them; it never writes them.

    <zlbytes u32 LE> <zltail u32 LE> <zllen u16 LE, 65535 = unknown> <entry>... <0xFF>
    entry = <prevlen: 1 byte, or 0xFE + u32 LE> <encoding> <data>
"""

from __future__ import annotations

from statemachines.kv.rdb_codec.reader import BadData

HEADER_BYTES = 10
COUNT_UNKNOWN = 65535

_INTS = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}


def parse(blob: bytes) -> list[int | bytes]:
    """The elements (int or bytes); BadData unless every size, prevlen, the tail offset, the count
    and the end byte agree (ziplistValidateIntegrity with deep checks)."""
    total = len(blob)
    if total < HEADER_BYTES + 1 or int.from_bytes(blob[:4], "little") != total or blob[-1] != 0xFF:
        raise BadData("ziplist header or end")
    tail = int.from_bytes(blob[4:8], "little")
    count = int.from_bytes(blob[8:10], "little")
    last = total - 1
    pos = HEADER_BYTES
    previous_size = 0
    previous_start = HEADER_BYTES
    out: list[int | bytes] = []
    while pos < last:
        start = pos
        if blob[pos] < 254:
            prevlen = blob[pos]
            pos += 1
        elif blob[pos] == 254 and pos + 5 <= last:
            prevlen = int.from_bytes(blob[pos + 1 : pos + 5], "little")
            pos += 5
        else:
            raise BadData("ziplist prevlen")
        if prevlen != previous_size or pos >= last:
            raise BadData("ziplist prevlen mismatch")
        encoding = blob[pos]
        kind = encoding >> 6
        if kind == 0:
            size = encoding & 0x3F
            pos += 1
        elif kind == 1:
            if pos + 2 > last:
                raise BadData("ziplist entry truncated")
            size = ((encoding & 0x3F) << 8) | blob[pos + 1]
            pos += 2
        elif encoding == 0x80:
            if pos + 5 > last:
                raise BadData("ziplist entry truncated")
            size = int.from_bytes(blob[pos + 1 : pos + 5], "big")
            pos += 5
        else:
            size = -1
        if size >= 0:
            value: int | bytes = blob[pos : pos + size]
            pos += size
        elif encoding in _INTS:
            width = _INTS[encoding]
            value = int.from_bytes(blob[pos + 1 : pos + 1 + width], "little", signed=True)
            pos += 1 + width
        elif 0xF1 <= encoding <= 0xFD:
            value = (encoding & 0x0F) - 1
            pos += 1
        else:
            raise BadData(f"ziplist encoding {encoding:#x}")
        if pos > last:
            raise BadData("ziplist entry beyond the end")
        previous_size = pos - start
        previous_start = start
        out.append(value)
    if pos != last or (count != COUNT_UNKNOWN and count != len(out)) or tail != previous_start:
        raise BadData("ziplist count, tail or end")
    return out
