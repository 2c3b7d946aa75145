"""Intsets (Redis src/intset.c): a sorted array of distinct integers, all of one width.

<encoding u32 LE: 2, 4 or 8 bytes per value> <length u32 LE> <values, LE, ascending>
"""

from __future__ import annotations

from collections.abc import Iterable

from statemachines.kv.rdb_codec.reader import BadData

HEADER_BYTES = 8


def parse(blob: bytes) -> list[int]:
    """The values; BadData unless the sizes agree and the values strictly ascend
    (intsetValidateIntegrity with deep checks)."""
    if len(blob) < HEADER_BYTES:
        raise BadData("intset header")
    width = int.from_bytes(blob[:4], "little")
    count = int.from_bytes(blob[4:8], "little")
    if width not in (2, 4, 8) or HEADER_BYTES + width * count != len(blob) or count == 0:
        raise BadData("intset size")
    values = [int.from_bytes(blob[i : i + width], "little", signed=True) for i in range(HEADER_BYTES, len(blob), width)]
    if any(a >= b for a, b in zip(values, values[1:])):
        raise BadData("intset not strictly ascending")
    return values


def build(values: Iterable[int]) -> bytes:
    """The intset holding these values, in the narrowest width that fits them all."""
    ordered = sorted(values)
    low, high = ordered[0], ordered[-1]
    if -(1 << 15) <= low and high < 1 << 15:
        width = 2
    elif -(1 << 31) <= low and high < 1 << 31:
        width = 4
    else:
        width = 8
    body = b"".join(v.to_bytes(width, "little", signed=True) for v in ordered)
    return width.to_bytes(4, "little") + len(ordered).to_bytes(4, "little") + body
