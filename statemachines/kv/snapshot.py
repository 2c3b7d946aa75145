"""Snapshot encoding of the kv keyspace: msgpack chunks of about 1 MiB.

Chunk 0 is a header: ["replicator-kv", FORMAT_VERSION, key count]. Every later
chunk is one flat msgpack array of records, four items each:
key, type code, encoded value, deadline in ms (nil when the key has no TTL).
Keys are never split across chunks; a single value larger than CHUNK_BYTES
makes one large chunk rather than being split.

A type module registers its value class with `register_codec` (code, class,
encode, decode); the string type (code 0) is registered here.

Point in time: `dump` copies the two dicts (shallow, C speed) before it
returns, so the caller may keep applying while it consumes the chunks. That is
safe because string values are immutable bytes; a module that adds a mutable
value type must make its values copy-on-write or give `encode` a frozen view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import msgspec

from statemachines.kv.keyspace import Keyspace

MAGIC = "replicator-kv"
FORMAT_VERSION = 1
CHUNK_BYTES = 1 << 20
RECORD_OVERHEAD_BYTES = 16  # msgpack framing per record, roughly

_ENCODERS: dict[type, tuple[int, Callable[[object], object]]] = {}
_DECODERS: dict[int, Callable[[object], object]] = {}

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


def register_codec(
    code: int, cls: type, encode: Callable[[object], object], decode: Callable[[object], object]
) -> None:
    assert code not in _DECODERS and cls not in _ENCODERS, (code, cls)
    _ENCODERS[cls] = (code, encode)
    _DECODERS[code] = decode


def _identity(value: object) -> object:
    return value


register_codec(0, bytes, _identity, _identity)


def dump(ks: Keyspace, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Chunks of the keyspace as it is now (see the module docstring)."""
    data = ks.data.copy()
    expires = ks.expires.copy()
    return _chunks(data, expires, chunk_bytes)


def _chunks(data: dict, expires: dict, chunk_bytes: int) -> Iterator[bytes]:
    yield _encode([MAGIC, FORMAT_VERSION, len(data)])
    batch: list = []
    size = 0
    encoders = _ENCODERS
    for key, value in data.items():
        code, encode = encoders[type(value)]
        payload = encode(value)
        batch += (key, code, payload, expires.get(key))
        size += len(key) + (len(payload) if type(payload) is bytes else 64) + RECORD_OVERHEAD_BYTES
        if size >= chunk_bytes:
            yield _encode(batch)
            batch = []
            size = 0
    if batch:
        yield _encode(batch)


def load(ks: Keyspace, chunks: Iterable[bytes]) -> None:
    """Replace the keyspace with the one the chunks describe."""
    it = iter(chunks)
    header = _decode(next(it))
    if not (isinstance(header, list) and len(header) == 3 and header[0] == MAGIC):
        raise ValueError("not a kv snapshot")
    if header[1] != FORMAT_VERSION:
        raise ValueError(f"kv snapshot format {header[1]} is not supported (this build reads {FORMAT_VERSION})")
    ks.clear()
    data, expires, decoders = ks.data, ks.expires, _DECODERS
    for chunk in it:
        records = _decode(chunk)
        for i in range(0, len(records), 4):
            key, code, payload, deadline = records[i : i + 4]
            data[key] = decoders[code](payload)
            if deadline is not None:
                expires[key] = deadline
    if len(data) != header[2]:
        raise ValueError(f"kv snapshot is truncated: {len(data)} of {header[2]} keys")
    ks.rebuild_index()
