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

Format 3 adds databases: the header is ["replicator-kv", 3, key count of all
databases, database count], and each database (0 always, the others when they
hold keys, versions or a raised version floor) is a map chunk {b"db": [number, key count, version floor,
tombstone count]} followed by its records and tombstones as in format 2.
Format 2 snapshots (database 0 only) still load.

The Lua script cache (Databases.scripts, scripting.py), when not empty, is one last map chunk
{b"scripts": [sha, body, ...]} sorted by sha (replicas at one index give the same bytes). A
format 3 snapshot without it (every one written before scripting) loads with an empty cache;
one with it needs a reader that knows the chunk (a build with scripting).

The function libraries (Databases.functions, functions.py), when there are any, follow as map
chunks {b"functions": [name, code, [[function, description or nil, flag bits], ...], ...]} of about
CHUNK_BYTES each (whole libraries), in library name order; a snapshot without them loads with no
libraries. The functions' metadata is stored, so a restore runs no Lua.

Point in time: `dump` copies the dicts (shallow, C speed) and encodes every
mutable value (hash, list, set, zset) before it returns, so the caller may keep
applying while it consumes the chunks: strings are immutable bytes, the rest
is already a fresh encoded copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import msgspec

from statemachines.kv.databases import Databases
from statemachines.kv.keyspace import Keyspace
from statemachines.kv.libraries import Library

MAGIC = "replicator-kv"
FORMAT_VERSION = 3
READABLE_FORMATS = (2, 3)
DB_NUMBER_MAX = 1 << 31  # a database number is a C int in Redis
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


def dump(databases: Databases, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Chunks of every database as they are now (see the module docstring)."""
    # A database made by a read only (floor 0, nothing in it) is left out: replicas that
    # never read it must produce the same bytes. One a FLUSHDB or SWAPDB emptied keeps its floor.
    sections = [_copy(ks) for ks in databases.in_use() if ks.db == 0 or ks.data or ks.versions or ks.version_floor]
    header = [MAGIC, FORMAT_VERSION, sum(len(section[1]) for section in sections), len(sections)]
    scripts = sorted(databases.scripts.items())
    libraries = [
        item
        for lib in databases.functions.in_order()
        for item in (lib.name, lib.code, [[fn.name, fn.description, fn.flags] for fn in lib.functions])
    ]
    return _chunks(header, sections, chunk_bytes, scripts, libraries)


def _copy(ks: Keyspace) -> tuple:
    """One database's point-in-time copy: (db header, data, expires, versions, tombstones)."""
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
    db_header = {b"db": [ks.db, len(data), ks.version_floor, len(tombstones)]}
    return db_header, data, ks.expires.copy(), versions, tombstones


def _chunks(header: list, sections: list[tuple], chunk_bytes: int, scripts: list, libraries: list) -> Iterator[bytes]:
    yield _encode(header)
    for db_header, data, expires, versions, tombstones in sections:
        yield _encode(db_header)
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
    if scripts:
        yield _encode({b"scripts": [item for pair in scripts for item in pair]})
    batch, size = [], 0
    for i in range(0, len(libraries), 3):  # chunks of about chunk_bytes, whole libraries each
        name, code, functions = libraries[i : i + 3]
        batch += (name, code, functions)
        size += len(name) + len(code) + sum(len(fn[0]) + len(fn[1] or b"") + 16 for fn in functions)
        if size >= chunk_bytes:
            yield _encode({b"functions": batch})
            batch, size = [], 0
    if batch:
        yield _encode({b"functions": batch})


def load(databases: Databases, chunks: Iterable[bytes]) -> None:
    """Fill `databases` (fresh) with the ones the chunks describe (format 2: database 0 only)."""
    it = iter(chunks)
    header = _decode(next(it))
    if not (isinstance(header, list) and len(header) >= 4 and header[0] == MAGIC):
        raise ValueError("not a kv snapshot")
    if header[1] not in READABLE_FORMATS:
        raise ValueError(f"kv snapshot format {header[1]} is not supported (this build reads {READABLE_FORMATS})")
    loaded: list[tuple[Keyspace, list]] = []
    ks: Keyspace | None = None
    if header[1] == 2:  # one database: [MAGIC, 2, keys, version floor, tombstones]
        ks = databases.get(0)
        ks.version_floor = header[3]
        loaded.append((ks, [0, header[2], header[3], header[4]]))
    decoders = _DECODERS
    for chunk in it:
        records = _decode(chunk)
        if type(records) is dict and b"db" in records:
            db_header = records[b"db"]
            number = db_header[0]
            if not (type(number) is int and 0 <= number < DB_NUMBER_MAX):
                raise ValueError(f"kv snapshot names database {number!r}")
            ks = databases.get(number)
            ks.version_floor = db_header[2]
            loaded.append((ks, db_header))
            continue
        if type(records) is dict and b"scripts" in records:
            flat = records[b"scripts"]
            databases.scripts.update(zip(flat[0::2], flat[1::2], strict=True))
            continue
        if type(records) is dict and b"functions" in records:
            flat = records[b"functions"]
            for name, code, functions in zip(flat[0::3], flat[1::3], flat[2::3], strict=True):
                databases.functions.link(Library(name, code, [tuple(fn) for fn in functions]))
            continue
        if ks is None:
            raise ValueError("kv snapshot has keys before its first database")
        if type(records) is dict:
            flat = records[b"t"]
            versions = ks.versions
            for i in range(0, len(flat), 2):
                versions[flat[i]] = flat[i + 1]
            continue
        data, expires, versions = ks.data, ks.expires, ks.versions
        for i in range(0, len(records), 5):
            key, code, payload, deadline, version = records[i : i + 5]
            data[key] = decoders[code](payload)
            if deadline is not None:
                expires[key] = deadline
            if version is not None:
                versions[key] = version
    if header[1] != 2 and len(loaded) != header[3]:
        raise ValueError(f"kv snapshot is truncated: {len(loaded)} of {header[3]} databases")
    for ks, (number, keys, _floor, tombstones) in loaded:
        if len(ks.data) != keys or len(ks.versions) - sum(1 for k in ks.versions if k in ks.data) != tombstones:
            raise ValueError(f"kv snapshot is truncated: database {number} has {len(ks.data)} of {keys} keys")
        ks.rebuild_index()
