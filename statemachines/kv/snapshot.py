"""Snapshot encoding of the kv keyspace: msgpack chunks of about 1 MiB.

Chunk 0 is a header: ["replicator-kv", FORMAT_VERSION, key count]. Every later
chunk is one flat msgpack array of records, four items each:
key, type code, encoded value, deadline in ms (nil when the key has no TTL).
Keys are never split across chunks; a single value larger than CHUNK_BYTES
makes one large chunk rather than being split.

A type module registers its value class with `register_codec` (code, class,
encode, decode); the string type (code 0) is registered here.

Format 2 adds WATCH versions: the header is ["replicator-kv", 2, key count,
version floor, tombstone count], each record has a fifth item (the key's
version, nil when it has none), and tombstones (versions of deleted keys)
follow the records as chunks of one map {b"t": [key, version, ...]}.

Point in time: `dump` copies the dicts (shallow, C speed) and encodes every
mutable value (hash, list, set, zset) before it returns, so the caller may keep
applying while it consumes the chunks: strings are immutable bytes, the rest
is already a fresh encoded copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import msgspec

from statemachines.kv.keyspace import Keyspace

MAGIC = "replicator-kv"
FORMAT_VERSION = 2
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


class _Encoded:
    __slots__ = ("code", "payload")

    def __init__(self, code: int, payload: object) -> None:
        self.code = code
        self.payload = payload


def dump(ks: Keyspace, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Chunks of the keyspace as it is now (see the module docstring)."""
    data = ks.data.copy()
    encoders = _ENCODERS
    for key, value in data.items():
        if type(value) is not bytes:
            code, encode = encoders[type(value)]
            data[key] = _Encoded(code, encode(value))
    versions = ks.versions.copy()
    # Sorted: the versions dict's order is history (a restored replica has another),
    # and replicas at one index must produce the same snapshot bytes.
    tombstones = sorted((key, v) for key, v in versions.items() if key not in data)
    header = [MAGIC, FORMAT_VERSION, len(data), ks.version_floor, len(tombstones)]
    return _chunks(header, data, ks.expires.copy(), versions, tombstones, chunk_bytes)


def _chunks(
    header: list, data: dict, expires: dict, versions: dict, tombstones: list, chunk_bytes: int
) -> Iterator[bytes]:
    yield _encode(header)
    batch: list = []
    size = 0
    for key, value in data.items():
        if type(value) is bytes:
            code, payload = 0, value
        else:
            code, payload = value.code, value.payload
        batch += (key, code, payload, expires.get(key), versions.get(key))
        size += len(key) + (len(payload) if type(payload) is bytes else 16 * len(payload)) + RECORD_OVERHEAD_BYTES
        if size >= chunk_bytes:
            yield _encode(batch)
            batch = []
            size = 0
    if batch:
        yield _encode(batch)
    for i in range(0, len(tombstones), 4096):
        flat: list = []
        for item in tombstones[i : i + 4096]:
            flat += item
        yield _encode({b"t": flat})


def load(ks: Keyspace, chunks: Iterable[bytes]) -> None:
    """Replace the keyspace with the one the chunks describe."""
    it = iter(chunks)
    header = _decode(next(it))
    if not (isinstance(header, list) and len(header) >= 3 and header[0] == MAGIC):
        raise ValueError("not a kv snapshot")
    if header[1] != FORMAT_VERSION:
        raise ValueError(f"kv snapshot format {header[1]} is not supported (this build reads {FORMAT_VERSION})")
    ks.clear()
    ks.version_floor = header[3]
    data, expires, versions, decoders = ks.data, ks.expires, ks.versions, _DECODERS
    for chunk in it:
        records = _decode(chunk)
        if type(records) is dict:
            flat = records[b"t"]
            for i in range(0, len(flat), 2):
                versions[flat[i]] = flat[i + 1]
            continue
        for i in range(0, len(records), 5):
            key, code, payload, deadline, version = records[i : i + 5]
            data[key] = decoders[code](payload)
            if deadline is not None:
                expires[key] = deadline
            if version is not None:
                versions[key] = version
    if len(data) != header[2] or len(versions) - sum(1 for k in versions if k in data) != header[4]:
        raise ValueError(f"kv snapshot is truncated: {len(data)} of {header[2]} keys")
    ks.rebuild_index()
