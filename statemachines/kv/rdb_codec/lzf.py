"""LZF decompression (liblzf's lzf_d.c, which Redis uses for RDB_ENC_LZF strings).

The compressed stream is a sequence of control bytes: below 32, a literal run of ctrl+1 bytes
follows; otherwise a back reference of length (ctrl >> 5) + 2 (7 means: add the next byte) at
distance ((ctrl & 31) << 8) + next byte + 1 behind the output's end. Redis knows the decompressed
length in advance and refuses a stream that does not produce exactly that many bytes.

Work is bounded by the output, which the caller bounds (see reader.py): each step writes at least
one byte, and a back reference can only copy what is already there.
"""

from __future__ import annotations


class LzfError(ValueError):
    """The stream is not valid LZF, or does not decompress to the announced length."""


def decompress(data: bytes, size: int) -> bytes:
    """The `size` bytes `data` decompresses to; LzfError unless exactly that (as lzf_decompress
    returning a different length, or 0 for E2BIG/EINVAL, makes Redis refuse it)."""
    out = bytearray()
    i, end = 0, len(data)
    while i < end:
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            run = ctrl + 1
            if i + run > end or len(out) + run > size:
                raise LzfError("literal run beyond the input or the output")
            out += data[i : i + run]
            i += run
            continue
        length = ctrl >> 5
        if length == 7:
            if i >= end:
                raise LzfError("truncated back reference")
            length += data[i]
            i += 1
        if i >= end:
            raise LzfError("truncated back reference")
        distance = ((ctrl & 0x1F) << 8) + data[i] + 1
        i += 1
        length += 2
        start = len(out) - distance
        if start < 0 or len(out) + length > size:
            raise LzfError("back reference before the start or beyond the output")
        if distance >= length:
            out += out[start : start + length]
        else:  # overlapping: the pattern of `distance` bytes repeats
            pattern = bytes(out[start:])
            out += (pattern * (length // distance + 1))[:length]
    if len(out) != size:
        raise LzfError(f"decompressed to {len(out)} bytes, {size} announced")
    return bytes(out)
