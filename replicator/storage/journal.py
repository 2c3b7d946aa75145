"""The journal: the log's newest writes in one append-only file, made durable with ONE flush each.

Why it exists. An fsync'd LMDB commit flushes the device twice (the data pages, then the meta
page that points at them), and a single client's write waits for that on the leader and on a
follower: it was half of the write's latency. etcd's WAL pays one fdatasync per append. This
file gives the store the same: a Ready's hard state and entries are appended here as one record
and flushed once; LmdbStore keeps them in memory (its tail) and moves them into LMDB in one
fsync'd transaction, a checkpoint, when the journal fills up or before any write that is not an
append (snapshots, compaction, a truncation below the tail). LMDB stays the store of record;
the journal only ever holds what the last checkpoint has not.

Format. The file is overwritten from offset 0 after each checkpoint, so records are told apart
by the checkpoint generation that wrote them (LMDB's meta holds the current one). A record:

    header   magic b"RPLJ", generation u64, sequence u32, payload length u32   (big-endian)
    xxh3_64 of the header
    payload  msgpack [hard_state | nil, [entry, ...]]
    xxh3_64 of the payload

Sequences count 0, 1, 2... within a generation. The file is zero-filled ahead of the writes
(in GROW_BYTES steps), so that flushing a record is an overwrite of blocks the file already
has, which fdatasync flushes without a filesystem-journal commit (measured here: 220 us against
310 us for an append that grows the file, and 470 us for an fsync'd LMDB commit).

Recovery (`read_records`). Records of the current generation are read from offset 0 in
sequence. The first one that fails (bad header, bad payload, wrong generation or sequence)
ends the journal: the last write may have been torn by a crash, and it was not acknowledged
since its flush never returned. If a valid header of the current generation with a LATER
sequence exists beyond that point, the failure cannot be a torn last write: the journal is
damaged, and that is an error, never a silently shorter log.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import msgspec
from xxhash import xxh3_64_digest as _digest

from replicator.types import Entry

JOURNAL_FILE = "journal.wal"
MAGIC = b"RPLJ"
_HEADER = struct.Struct(">4sQII")  # magic, generation, sequence, payload length
_SUM = 8
HEADER_BYTES = _HEADER.size + _SUM
GROW_BYTES = 1 << 20  # zero-fill ahead of the writes by this much at a time


class Record(msgspec.Struct, array_like=True):
    """One journal record: what one Ready made durable (no snapshot: those go to LMDB)."""

    hard_state: bytes | None
    entries: list[Entry]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Record)


class JournalDamaged(Exception):
    """The journal fails its checks somewhere other than a torn last write."""


def encode_record(generation: int, sequence: int, record: Record) -> bytes:
    """The bytes of one record, ready to be written in one call."""
    payload = _encoder.encode(record)
    header = _HEADER.pack(MAGIC, generation, sequence, len(payload))
    return b"".join((header, _digest(header), payload, _digest(payload)))


def read_records(data: bytes, generation: int) -> tuple[list[Record], int]:
    """The records of `generation` at the start of `data` (a journal file's contents), and the
    offset where the next record goes. Raises JournalDamaged (see the module docstring)."""
    records: list[Record] = []
    position = 0
    while True:
        record, end = _record_at(data, position, generation, len(records))
        if record is None:
            break
        records.append(record)
        position = end
    later = _later_record(data, position + 1, generation, len(records))
    if later is not None:
        raise JournalDamaged(
            f"record {len(records)} at offset {position} fails its checks, but record {later} of the "
            f"same generation follows it: this is damage, not a write torn by a crash"
        )
    return records, position


def _record_at(data: bytes, position: int, generation: int, sequence: int) -> tuple[Record | None, int]:
    """The record with this generation and sequence at `position`, or (None, position)."""
    header_end = position + _HEADER.size
    if header_end + _SUM > len(data):
        return None, position
    header = data[position:header_end]
    magic, gen, seq, length = _HEADER.unpack(header)
    if (
        magic != MAGIC
        or gen != generation
        or seq != sequence
        or _digest(header) != data[header_end : header_end + _SUM]
    ):
        return None, position
    start = header_end + _SUM
    end = start + length + _SUM
    if end > len(data):
        return None, position
    payload = data[start : start + length]
    if _digest(payload) != data[start + length : end]:
        return None, position
    try:
        return _decoder.decode(payload), end
    except msgspec.DecodeError:
        return None, position


def _later_record(data: bytes, start: int, generation: int, sequence: int) -> int | None:
    """The sequence of a valid header of `generation` with a sequence above `sequence` found at
    or after `start`, or None. C-speed find() of the magic and generation, then a header check."""
    needle = MAGIC + generation.to_bytes(8, "big")
    at = data.find(needle, start)
    while at >= 0:
        header_end = at + _HEADER.size
        if header_end + _SUM <= len(data):
            header = data[at:header_end]
            _, _, seq, _ = _HEADER.unpack(header)
            if seq > sequence and _digest(header) == data[header_end : header_end + _SUM]:
                return seq
        at = data.find(needle, at + 1)
    return None


class Journal:
    """The open journal file: appends records and flushes them, one flush per append.

    Single writer, like the store that owns it. `position` is where the next record goes;
    `reset(generation)` starts again at offset 0 after a checkpoint."""

    def __init__(self, path: Path, fd: int, generation: int, sequence: int, position: int, fsync: bool) -> None:
        self.path = path
        self._fd = fd
        self.generation = generation
        self.sequence = sequence
        self.position = position
        self._fsync = fsync
        self._zeroed = os.fstat(fd).st_size

    @classmethod
    def open(cls, path: Path, generation: int, fsync: bool, create: bool) -> tuple[Journal, list[Record]]:
        """Open the journal in `path` and read its records of `generation`. `create`: a store
        that never had a journal (a new one, or one written before journals) gets an empty one;
        otherwise a missing journal is damage (its records were acknowledged writes)."""
        file = path / JOURNAL_FILE
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        try:
            fd = os.open(file, flags, 0o600)
        except FileNotFoundError:
            raise JournalDamaged(f"{file} is missing: the writes it held since the last checkpoint are lost") from None
        try:
            if create:
                os.ftruncate(fd, 0)
                os.fsync(fd)
                _fsync_dir(path)
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read()
            records, position = read_records(data, generation)
        except BaseException:
            os.close(fd)
            raise
        return cls(file, fd, generation, len(records), position, fsync), records

    def encode(self, record: Record) -> bytes:
        """`record` as the next record of this journal: write() it next."""
        return encode_record(self.generation, self.sequence, record)

    def write(self, raw: bytes) -> None:
        """Write the next record and flush it: one fdatasync. If this raises, the record
        is not in the journal (a part of it may be, and the next write overwrites it)."""
        end = self.position + len(raw)
        if end > self._zeroed:
            self._grow(end)
        written = os.pwrite(self._fd, raw, self.position)
        if written != len(raw):
            raise OSError(f"short write to {self.path}: {written} of {len(raw)} bytes")
        if self._fsync:
            os.fdatasync(self._fd)
        self.position = end
        self.sequence += 1

    def fits(self, size: int, limit: int) -> bool:
        """Whether `size` more bytes keep the journal within `limit`."""
        return self.position + size <= limit

    def reset(self, generation: int) -> None:
        """Start generation `generation` at offset 0: the checkpoint that made it current
        moved every record of the previous one into LMDB, so they may be overwritten."""
        self.generation, self.sequence, self.position = generation, 0, 0

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def _grow(self, end: int) -> None:
        """Zero-fill the file up to past `end`, so records overwrite blocks it already has. No
        flush of its own: the fdatasync of the record that follows carries the new size too."""
        target = max(end, self._zeroed + GROW_BYTES)
        os.pwrite(self._fd, bytes(target - self._zeroed), self._zeroed)
        self._zeroed = target


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
