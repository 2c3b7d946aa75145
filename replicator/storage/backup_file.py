"""The backup file: one node's state at a linearizable point, as `replicator backup` writes it
and `replicator restore` reads it.

    MAGIC (8 bytes)  "RPLBACKU"
    u32 big-endian   length of the header
    header           msgpack of BackupHeader (a map: readers ignore fields they do not know)
    chunks           the snapshot's chunks, back to back, of the lengths header.chunk_sizes gives
    sha256 (32)      of every byte before it

The chunks are NodeHost's snapshot framing (replicator/node.py), so a restore hands them to
the same restore path a node uses for a snapshot from its leader. The header says where the
state sits in the source cluster's log (index, epoch), which cluster and protocol it came
from and the membership in force then (informative: a restore installs the NEW cluster's
members), and carries the server's own sha256 of the chunks, so that what the client
received is checked against what the node sent before the file is kept.

Files are written to FILE.tmp, fsynced, renamed over FILE and the directory fsynced: FILE
is either absent, an earlier file, or a whole backup. `read_backup` verifies everything
(magic, format, lengths, both checksums) before it returns anything.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable
from pathlib import Path

import msgspec

from replicator.types import Membership

MAGIC = b"RPLBACKU"
FORMAT = 1
HEADER_BYTES_MAX = 16 << 20  # a header is small (membership, machine names, chunk sizes)
DIGEST_BYTES = 32
_LENGTH = struct.Struct(">I")


class BackupError(Exception):
    """The file is not a usable backup (or cannot be written); the text says why."""


class BackupHeader(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    format: int = FORMAT
    cluster_id: str
    protocol: str  # of the cluster it was taken from
    node_id: int  # the node that served it
    taken_ms: int  # that node's wall clock when it captured the state
    index: int  # the state is every entry up to this log index applied
    epoch: int  # the term (Raft) or epoch (ZAB) of the entry at `index`
    membership: Membership  # the source cluster's configuration at `index`
    machines: tuple[str, ...]  # whose state the chunks hold, in order
    chunk_sizes: tuple[int, ...]
    chunks_sha256: bytes  # as the serving node computed it

    @property
    def size_bytes(self) -> int:
        return sum(self.chunk_sizes)


_header_decoder = msgspec.msgpack.Decoder(BackupHeader)


def encode_header(header: BackupHeader) -> bytes:
    return msgspec.msgpack.encode(header)


def decode_header(data: bytes) -> BackupHeader:
    """Raises BackupError on bytes that are not a header of a format this reader knows."""
    try:
        header = _header_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise BackupError(f"its header is unreadable ({e})") from None
    if header.format != FORMAT:
        raise BackupError(f"it is of backup format {header.format}; this replicator reads format {FORMAT}")
    if (
        header.index < 1
        or header.epoch < 0
        or any(size < 0 for size in header.chunk_sizes)
        or len(header.chunks_sha256) != DIGEST_BYTES
    ):
        raise BackupError(
            f"its header is inconsistent (index {header.index}, epoch {header.epoch}, "
            f"{len(header.chunk_sizes)} chunk sizes, a checksum of {len(header.chunks_sha256)} bytes)"
        )
    return header


def chunks_digest(chunks: Iterable[bytes]) -> bytes:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.digest()


class BackupWriter:
    """Writes FILE.tmp as the parts arrive; `commit()` checks the chunks against the header's
    checksum, appends the file's, fsyncs and renames it over FILE. `abort()` removes FILE.tmp."""

    def __init__(self, path: Path, header: BackupHeader, header_bytes: bytes) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.header = header
        self._chunks = hashlib.sha256()
        self._file = hashlib.sha256()
        try:
            self._out = open(self.tmp, "wb")
        except OSError as e:
            raise BackupError(f"cannot write {self.tmp}: {e.strerror}") from None
        self._write(MAGIC + _LENGTH.pack(len(header_bytes)) + header_bytes)

    def _write(self, data: bytes) -> None:
        self._file.update(data)
        try:
            self._out.write(data)
        except OSError as e:
            self.abort()
            raise BackupError(f"cannot write {self.tmp}: {e.strerror}") from None

    def chunk_part(self, data: bytes) -> None:
        self._chunks.update(data)
        self._write(data)

    def commit(self) -> None:
        if self._chunks.digest() != self.header.chunks_sha256:
            self.abort()
            raise BackupError("the data received does not match the checksum the node sent; nothing was kept")
        self._write(self._file.digest())
        try:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            os.replace(self.tmp, self.path)
            fsync_dir(self.path.parent)
        except OSError as e:
            self.abort()
            raise BackupError(f"cannot write {self.path}: {e.strerror}") from None

    def abort(self) -> None:
        self._out.close()
        self.tmp.unlink(missing_ok=True)


def read_backup(path: Path) -> tuple[BackupHeader, list[bytes]]:
    """The header and chunks of the backup in `path`, all verified; BackupError otherwise."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BackupError(f"cannot read {path}: {e.strerror}") from None
    view = memoryview(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise BackupError(f"{path} is not a replicator backup (it does not start with {MAGIC.decode()})")
    at = len(MAGIC)
    if len(data) < at + _LENGTH.size + DIGEST_BYTES:
        raise BackupError(f"{path} is truncated ({len(data)} bytes)")
    (header_len,) = _LENGTH.unpack_from(data, at)
    at += _LENGTH.size
    if header_len > HEADER_BYTES_MAX or at + header_len + DIGEST_BYTES > len(data):
        raise BackupError(f"{path} is truncated or damaged (its header claims {header_len} bytes)")
    body_end = len(data) - DIGEST_BYTES
    if hashlib.sha256(view[:body_end]).digest() != data[body_end:]:
        raise BackupError(f"{path} is damaged or truncated: its checksum does not match its contents")
    try:
        header = decode_header(bytes(view[at : at + header_len]))
    except BackupError as e:
        raise BackupError(f"{path}: {e}") from None
    at += header_len
    if at + header.size_bytes != body_end:
        raise BackupError(
            f"{path} is damaged: its chunks take {body_end - at} bytes, its header says {header.size_bytes}"
        )
    chunks = []
    for size in header.chunk_sizes:
        chunks.append(bytes(view[at : at + size]))
        at += size
    if chunks_digest(chunks) != header.chunks_sha256:
        raise BackupError(f"{path} is damaged: its chunks do not match the checksum the node sent")
    return header, chunks


def read_header(path: Path) -> BackupHeader:
    """The header of the backup in `path`, read without the rest (nothing verified but the
    header itself: read_backup checks the whole file)."""
    try:
        with open(path, "rb") as f:
            start = f.read(len(MAGIC) + _LENGTH.size)
            if len(start) < len(MAGIC) + _LENGTH.size or start[: len(MAGIC)] != MAGIC:
                raise BackupError(f"{path} is not a replicator backup (it does not start with {MAGIC.decode()})")
            (header_len,) = _LENGTH.unpack_from(start, len(MAGIC))
            data = f.read(min(header_len, HEADER_BYTES_MAX))
    except OSError as e:
        raise BackupError(f"cannot read {path}: {e.strerror}") from None
    if len(data) != header_len:
        raise BackupError(f"{path} is truncated or damaged (its header claims {header_len} bytes)")
    try:
        return decode_header(data)
    except BackupError as e:
        raise BackupError(f"{path}: {e}") from None


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` durable (the directory entry itself)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
