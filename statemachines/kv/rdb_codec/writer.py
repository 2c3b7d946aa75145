"""RDB lengths and strings as Redis 7.0 writes them (rdbSaveLen, rdbSaveRawString without LZF)."""

from __future__ import annotations

from statemachines import parse_int


def rdb_len(n: int) -> bytes:
    if n < 1 << 6:
        return bytes((n,))
    if n < 1 << 14:
        return bytes(((n >> 8) | 0x40, n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


def rdb_string(s: bytes) -> bytes:
    """rdbSaveRawString: an integer that fits 32 bits as RDB_ENC_INT*, else length + bytes.
    Redis then tries LZF above 20 bytes; we store verbatim (valid, and what Redis emits with
    rdbcompression no): a compressor's output depends on its uninitialised hash table in Redis
    (lzf_c.c with INIT_HTAB 0), so no encoder could promise Redis' bytes anyway."""
    if len(s) <= 11:
        value = parse_int(s)
        if value is not None:
            if -(1 << 7) <= value < 1 << 7:
                return b"\xc0" + value.to_bytes(1, "little", signed=True)
            if -(1 << 15) <= value < 1 << 15:
                return b"\xc1" + value.to_bytes(2, "little", signed=True)
            if -(1 << 31) <= value < 1 << 31:
                return b"\xc2" + value.to_bytes(4, "little", signed=True)
    return rdb_len(len(s)) + s
