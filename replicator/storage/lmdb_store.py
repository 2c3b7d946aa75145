"""LmdbStore: the durable LogStore of a real node, one LMDB environment per node.

Layout of a data directory (`path`):

    data.mdb, lock.mdb   the LMDB environment
    journal.wal          the newest appends, not yet checkpointed into LMDB (storage/journal.py)
    replicator.lock      flock()ed while a process has the store open

and inside the environment three named databases:

    log    big-endian u64 index -> Entry's msgpack array
    meta   b"format" u32, b"cluster_id", b"node_id" u64, b"protocol"   (identity)
           b"incarnation" u64 (random, drawn when the directory is created)
           b"hard_state" (opaque bytes, absent = None)
           b"offset" u64, b"offset_epoch" u64   (log starts at offset + 1; term(offset))
           b"snapshot" (msgpack array of SnapshotMeta fields, absent = no snapshot)
           b"peer/" u64 -> incarnation u64, suspect-until u64 (what we know of each peer's disk)
           b"journal_gen" u64 (the journal generation whose records are not in LMDB yet)
    snap   big-endian u64 chunk number -> chunk bytes of the current snapshot

Every value except b"format" ends in an 8-byte xxh3_64 of key + value (format 3):
LMDB has no checksums of its own, so a flipped bit, a torn sector or a value
written under the wrong key would otherwise be served as data. Reads verify it
(the log, chunks), and open() verifies every value the node needs to start:
meta, the snapshot, and the log from the snapshot on (what it will replay).
b"format" stays a bare u32 so that any build can say which format it found.
A value that fails is `Damaged`: the node stops rather than serve it.

Theory of operation:
- Every write method is durable when it returns, and atomic: after a crash at any
  instant the store holds exactly the writes that returned, plus possibly the one
  in flight.
- An append (`save` of a Ready with a hard state and entries that start after the
  checkpointed log) is ONE journal record with one fdatasync (storage/journal.py
  says why: an fsync'd LMDB commit flushes twice). Its entries stay in memory, the
  tail, until a checkpoint moves the tail and the hard state into LMDB in one
  fsync'd transaction that also advances b"journal_gen", which retires every
  record of the journal at once. A checkpoint runs when the journal is full and
  before every other write (a snapshot, compaction, a truncation below the tail,
  a Ready too large for the journal), which then is one LMDB transaction as before.
  DESIGN.md's "one LMDB write transaction with fsync per Ready" departs here for
  the latency of a single write; LMDB remains the store of record.
- Opening replays the journal's records of the current generation onto LMDB's
  state: the tail and hard state are as they were when the last append returned.
- There is a single writer. first/last index, term(last), the hard state and
  the snapshot meta are cached in memory and updated only after a commit, so
  those reads are O(1) and never touch LMDB.
- Other reads open a short read transaction per call. With max_spare_txns=1
  py-lmdb renews one cached reader slot instead of allocating (~1 us), and no
  transaction outlives the call, so the store may be written in one thread
  (trio.to_thread) and read in another, as long as never at the same time.
- A directory that is not ours is refused before LMDB writes anything to it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import secrets
import struct
import sys
from pathlib import Path

import lmdb
import msgspec
from xxhash import xxh3_64_digest as _digest

from replicator.hoptrace import TRACING, stamp
from replicator.protocol.log_store import Compacted, StorageError, Unavailable
from replicator.protocol.ready import Ready
from replicator.storage import Damaged, DataDirMismatch
from replicator.storage.journal import JOURNAL_FILE, Journal, JournalDamaged, Record
from replicator.storage.lmdb_file import LmdbFileDamaged, check_data_file, walk_in_child
from replicator.types import Entry, Membership, Snapshot, SnapshotMeta

log = logging.getLogger(__name__)

FORMAT_VERSION = (
    4  # 4: the journal; 3: checksummed values, incarnation; 2: an entry is its msgpack array; 1: a struct header
)
UPGRADABLE_FORMAT = 3  # opened as 4 by giving it an empty journal (a build that knows no journal must not open a 4)
# A checkpoint runs when the journal would pass this; a Ready larger than a quarter of it goes to LMDB directly.
JOURNAL_BYTES = 16 << 20

# Sparse: LMDB only reserves address space; the file grows as data is written.
DEFAULT_MAP_SIZE = 64 << 30 if sys.maxsize > 2**32 else 1 << 30

DATA_FILE = "data.mdb"
LOCK_FILE = "lock.mdb"
DIR_LOCK_FILE = "replicator.lock"
_OUR_FILES = frozenset({DATA_FILE, LOCK_FILE, DIR_LOCK_FILE, JOURNAL_FILE})

_DB_LOG = b"log"
_DB_META = b"meta"
_DB_SNAP = b"snap"
_OUR_DBS = frozenset({_DB_LOG, _DB_META, _DB_SNAP})

_K_FORMAT = b"format"
_K_CLUSTER = b"cluster_id"
_K_NODE = b"node_id"
_K_PROTOCOL = b"protocol"
_K_HARD_STATE = b"hard_state"
_K_OFFSET = b"offset"
_K_OFFSET_EPOCH = b"offset_epoch"
_K_SNAPSHOT = b"snapshot"
_K_INCARNATION = b"incarnation"
_K_PEER = b"peer/"  # + u64 node id
_K_JOURNAL_GEN = b"journal_gen"

_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_key = _U64.pack
# An entry is stored as Entry's msgpack array, the same bytes it has on the wire.
# Encoding and decoding are then single msgspec calls that `save` can map over a
# batch at C speed: the worker thread that writes a batch barely needs the GIL,
# which the event loop is busy with.
_entry_encoder = msgspec.msgpack.Encoder()
_entry_decoder = msgspec.msgpack.Decoder(Entry)

# LMDB meta page: a 16-byte page header, then mm_magic (native u32).
_LMDB_MAGIC = struct.pack("=I", 0xBEEFC0DE)
_LMDB_MAGIC_OFFSET = 16

_SUM = 8  # bytes of xxh3_64 at the end of every stored value
_PEER = struct.Struct(">QQ")  # incarnation, suspect-until index


def _seal(key: bytes, payload: bytes) -> bytes:
    """The stored form of `payload` under `key`: the key is in the sum, so a value
    found under another key (a misdirected write, a damaged b-tree) fails too."""
    return payload + _digest(key + payload)


def _unseal(key: bytes, value: bytes | memoryview) -> bytes | memoryview | None:
    """The payload of a stored value, or None if its checksum fails."""
    payload = value[:-_SUM]
    if len(value) < _SUM or _digest(key + payload) != value[-_SUM:]:
        return None
    return payload


class _StoredSnapshotMeta(msgspec.Struct, array_like=True):
    """SnapshotMeta as stored. The membership (with addresses) came within format 3:
    a meta stored before it has 7 fields and no membership."""

    index: int
    epoch: int
    voters: tuple[int, ...]
    observers: tuple[int, ...]
    zxid: int
    chunk_count: int
    size_bytes: int
    membership: Membership | None = None


_snapshot_decoder = msgspec.msgpack.Decoder(_StoredSnapshotMeta)
_encode = msgspec.msgpack.encode


encode_entry = _entry_encoder.encode


def decode_entry(value: bytes | memoryview) -> Entry:
    return _entry_decoder.decode(value)


def encode_snapshot_meta(meta: SnapshotMeta) -> bytes:
    return _encode(
        (
            meta.index,
            meta.epoch,
            meta.voters,
            meta.observers,
            meta.zxid,
            meta.chunk_count,
            meta.size_bytes,
            *(() if meta.membership is None else (meta.membership,)),
        )
    )


def decode_snapshot_meta(value: bytes) -> SnapshotMeta:
    m = _snapshot_decoder.decode(value)
    return SnapshotMeta(m.index, m.epoch, m.voters, m.observers, m.zxid, m.chunk_count, m.size_bytes, m.membership)


class LmdbStore:
    """A LogStore in one LMDB environment, with the semantics of MemoryStore.

    Open with `LmdbStore.open(...)`; close with `close()` (or use `with`).
    Each write method is one fsync'd transaction and is atomic: if it raises,
    nothing of it is stored and the cached positions are unchanged.
    """

    def __init__(
        self,
        *,
        path: Path,
        env: lmdb.Environment,
        dbs: tuple[object, object, object],
        lock_fd: int,
        fsync: bool,
        state: _State,
        journal: Journal,
        journal_bytes: int,
    ) -> None:
        # Private: use LmdbStore.open().
        self.path = path
        self.fsync = fsync
        self._env: lmdb.Environment | None = env
        self._log, self._meta, self._snap = dbs
        self._lock_fd: int | None = lock_fd
        self._offset = state.offset  # log holds offset+1 .. last
        self._offset_epoch = state.offset_epoch  # term(offset)
        self._last = state.last
        self._last_epoch = state.last_epoch  # term(last); == offset_epoch if the log is empty
        self._hard_state = state.hard_state
        # The journal and the tail: entries checkpointed_last+1 .. last are in the journal
        # and here, not in LMDB yet; the hard state likewise while hard_state_journaled.
        self._journal = journal
        self._journal_bytes = journal_bytes
        self._tail: list[Entry] = state.tail
        self._checkpointed_last = state.last - len(state.tail)
        self._hard_state_journaled = state.hard_state_journaled
        self._snapshot_meta = state.snapshot_meta
        self.incarnation = state.incarnation
        self._peers = state.peers
        self.saves = 0  # write calls since open (MemoryStore parity: tests count them)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        cluster_id: str,
        node_id: int,
        protocol: str,
        fsync: bool = True,
        map_size: int = DEFAULT_MAP_SIZE,
        walk_pages: bool = False,
        journal_bytes: int = JOURNAL_BYTES,
    ) -> LmdbStore:
        """Open the store in directory `path`, creating it on first use.

        The first open of a missing or empty directory records cluster_id,
        node_id and protocol; every later open must give the same ones.
        Raises DataDirMismatch if the directory belongs to another cluster,
        node or protocol, or holds something that is not a replicator store;
        StorageError if it is in use by another open store or unreadable.
        `fsync=False` is for benchmarks only: acknowledged writes can be lost.
        `walk_pages=True` (a node's start) first reads every LMDB page in a child
        process, where a damaged b-tree that makes LMDB abort costs only the child.
        """
        if not isinstance(cluster_id, str) or not cluster_id:
            raise ValueError(f"cluster_id must be a non-empty string, not {cluster_id!r}")
        if not isinstance(node_id, int) or not 0 <= node_id < 2**64:
            raise ValueError(f"node_id must be an int in [0, 2**64), not {node_id!r}")
        if not isinstance(protocol, str) or not protocol:
            raise ValueError(f"protocol must be a non-empty string, not {protocol!r}")
        path = Path(path)
        _check_dir(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot create data directory {path}: {e}") from None
        # Files this call creates; removed again if the open fails, so that
        # probing a directory that is not ours leaves it as it was.
        created = [path / n for n in (DIR_LOCK_FILE, LOCK_FILE) if not (path / n).exists()]
        lock_fd = _lock_dir(path)
        try:
            if walk_pages and _has_data(path):
                problem = walk_in_child(path)
                if problem:
                    raise Damaged(path, f"{path / DATA_FILE}: {problem}")
            env = _open_env(path, fsync=fsync, map_size=map_size)
            try:
                dbs, state = _load_or_init(env, path, cluster_id, node_id, protocol)
                journal = _open_journal(env, dbs[1], path, state, fsync)
            except BaseException:
                env.close()
                raise
        except BaseException:
            for file in created:
                file.unlink(missing_ok=True)
            os.close(lock_fd)
            raise
        if state.created:
            log.info(
                "created a new store in %s (incarnation %x): a node that was a member before and lost "
                "its data rejoins without a vote until it has caught up",
                path,
                state.incarnation,
            )
        if not fsync:
            log.warning(
                "fsync is OFF for %s: acknowledged writes can be lost on a crash or power "
                "failure. Use fsync=False for benchmarks only.",
                path,
            )
        return cls(
            path=path,
            env=env,
            dbs=dbs,
            lock_fd=lock_fd,
            fsync=fsync,
            state=state,
            journal=journal,
            journal_bytes=journal_bytes,
        )

    def __repr__(self) -> str:
        return (
            f"LmdbStore({str(self.path)!r}, first={self.first_index()}, last={self._last}, "
            f"fsync={self.fsync}{'' if self._env else ', closed'})"
        )

    def __enter__(self) -> LmdbStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads ----------------------------------------------------------
    def first_index(self) -> int:
        return self._offset + 1

    def last_index(self) -> int:
        return self._last

    def term(self, index: int) -> int:
        """Epoch of the entry at index; raises Compacted or Unavailable."""
        if index == self._offset:
            return self._offset_epoch
        if index < self._offset:
            raise Compacted(index)
        if index > self._last:
            raise Unavailable(index)
        if index == self._last:
            return self._last_epoch
        if index > self._checkpointed_last:
            return self._tail[index - self._checkpointed_last - 1].epoch
        with _ReadTxn(self, self._log, buffers=True) as txn:
            value = txn.get(_key(index))
            if value is None:
                raise self._corrupt(f"log entry {index} is missing")
            return self._stored(index, value).epoch

    def _stored(self, index: int, value: bytes | memoryview) -> Entry:
        """The entry in log slot `index`, checked: a value that fails its checksum,
        does not decode, or holds another index, is damage."""
        return _stored_entry(self.path, index, value)

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries lo..hi-1; at least one if lo < hi, then as many as fit max_bytes.
        Raises Compacted if lo < first_index, Unavailable if hi > last_index + 1."""
        if lo <= self._offset:
            raise Compacted(lo)
        if hi > self._last + 1:
            raise Unavailable(hi)
        out: list[Entry] = []
        if lo >= hi:
            return out
        stable = self._checkpointed_last
        if hi - 1 > stable:  # some or all from the tail
            if lo <= stable:
                out = self.entries(lo, stable + 1, max_bytes)
                if len(out) < stable + 1 - lo:
                    return out
            size = sum(len(e.data) for e in out) if max_bytes is not None else 0
            for entry in self._tail[max(lo, stable + 1) - stable - 1 : hi - stable - 1]:
                if max_bytes is not None:
                    size += len(entry.data)
                    if size > max_bytes and out:
                        return out
                out.append(entry)
            return out
        size = 0
        index = lo
        with _ReadTxn(self, self._log) as txn:
            cursor = txn.cursor()
            if not cursor.set_key(_key(lo)):
                raise self._corrupt(f"log entry {lo} is missing")
            # Values only: the log is contiguous (checked at open, kept by every
            # write), so the n-th value from lo is entry lo + n.
            decode, path = _entry_decoder.decode, self.path
            for value in cursor.iternext(keys=False):
                # _stored_entry() inlined: catch-up and start-up replay read entries by
                # the thousand, and two calls per entry would double the cost of a read.
                payload = value[:-_SUM]
                try:
                    entry = decode(payload)
                except msgspec.DecodeError:
                    entry = None
                if entry is None or entry.index != index or _digest(_key(index) + payload) != value[-_SUM:]:
                    _stored_entry(path, index, value)  # raises, saying what is wrong
                if max_bytes is not None:
                    size += len(entry.data)
                    if size > max_bytes and out:
                        return out
                out.append(entry)
                index += 1
                if index == hi:
                    return out
        raise self._corrupt(f"log ends at {index - 1}, expected {self._last}")

    def hard_state(self) -> bytes | None:
        return self._hard_state

    def snapshot_meta(self) -> SnapshotMeta | None:
        return self._snapshot_meta

    def snapshot_chunk(self, i: int) -> bytes:
        """Chunk i (0-based) of the current snapshot."""
        assert self._snapshot_meta is not None, "no snapshot"
        if i < 0:
            raise IndexError(i)
        key = _key(i)
        with _ReadTxn(self, self._snap) as txn:
            value = txn.get(key)
        if value is None:
            if i >= self._snapshot_meta.chunk_count:
                raise IndexError(i)
            raise self._corrupt(f"snapshot chunk {i} is missing")
        chunk = _unseal(key, value)
        if chunk is None:
            raise self._corrupt(f"snapshot chunk {i} fails its checksum")
        return chunk

    def peers(self) -> dict[int, tuple[int, int]]:
        """peer -> (its incarnation as first seen, suspect-until index or 0)."""
        return dict(self._peers)

    def save_peer(self, peer: int, incarnation: int, suspect_until: int) -> None:
        """Durably record what we know of a peer's disk (one small fsync'd write)."""
        with self._write() as txn:
            _put(txn, self._meta, _K_PEER + _U64.pack(peer), _PEER.pack(incarnation, suspect_until))
        self._peers[peer] = (incarnation, suspect_until)

    # --- writes ---------------------------------------------------------
    def save(self, ready: Ready) -> None:
        """Durably store ready.hard_state, ready.snapshot and ready.entries, atomically:
        one journal record if it is an append, else one fsync'd LMDB transaction after a
        checkpoint. The snapshot replaces the whole log; entries[0].index replaces every
        stored entry at or after it."""
        hard_state, snapshot, entries = ready.hard_state, ready.snapshot, ready.entries
        if hard_state is None and snapshot is None and not entries:
            self.saves += 1
            return  # nothing durable changed: no transaction, no fsync
        if snapshot is None and (not entries or entries[0].index > self._checkpointed_last):
            if self._append(hard_state, entries):
                self.saves += 1
                return
        self._checkpoint()
        self._save_in_lmdb(hard_state, snapshot, entries)
        self.saves += 1

    def _append(self, hard_state: bytes | None, entries: list[Entry]) -> bool:
        """Journal one append; False if it is too large for the journal (it goes to LMDB)."""
        if entries:
            first = entries[0].index
            assert self._offset < first <= self._last + 1, (first, self._offset, self._last)
            assert entries[-1].index == first + len(entries) - 1, "entries must be contiguous"
        hard_state = None if hard_state is None else bytes(hard_state)
        record = Record(hard_state, entries)
        journal = self._journal
        if TRACING:
            traced = entries[-1].index if entries else 0
            stamp("save:begin", traced)
        raw = journal.encode(record)
        if len(raw) > self._journal_bytes // 4:
            return False
        if not journal.fits(len(raw), self._journal_bytes):
            self._checkpoint()
            raw = journal.encode(record)  # the generation is in the header
        if TRACING:
            stamp("save:commit", traced)
        try:
            journal.write(raw)
        except OSError as e:
            raise _journal_error(self.path, e) from None
        if TRACING:
            stamp("save:synced", traced)
        # Durable: only now does the in-memory view move.
        if hard_state is not None:
            self._hard_state = hard_state
            self._hard_state_journaled = True
        if entries:
            del self._tail[entries[0].index - self._checkpointed_last - 1 :]
            self._tail.extend(entries)
            self._last, self._last_epoch = entries[-1].index, entries[-1].epoch
        return True

    def _checkpoint(self) -> None:
        """Move the tail and a journaled hard state into LMDB, in one fsync'd transaction that
        retires the journal's generation: afterwards LMDB alone holds the whole store."""
        journal = self._journal
        if journal.position == 0:
            return
        generation = journal.generation + 1
        with self._write() as txn:
            if self._hard_state_journaled:
                _put(txn, self._meta, _K_HARD_STATE, self._hard_state)
            if self._tail:
                _put_entries(txn.cursor(self._log), self._tail)
            _put(txn, self._meta, _K_JOURNAL_GEN, _U64.pack(generation))
        journal.reset(generation)
        self._tail = []
        self._checkpointed_last = self._last
        self._hard_state_journaled = False

    def _save_in_lmdb(self, hard_state: bytes | None, snapshot: Snapshot | None, entries: list[Entry]) -> None:
        """save() as one fsync'd LMDB transaction (the journal is empty: checkpointed)."""
        offset, offset_epoch = self._offset, self._offset_epoch
        last, last_epoch = self._last, self._last_epoch
        if snapshot is not None:
            offset = last = snapshot.meta.index
            offset_epoch = last_epoch = snapshot.meta.epoch
        first = 0
        if entries:
            # Validate before writing so a bad Ready cannot leave half a log.
            first = entries[0].index
            assert offset < first <= last + 1, (first, offset, last)
            assert entries[-1].index == first + len(entries) - 1, "entries must be contiguous"
        meta, log_db = self._meta, self._log
        if TRACING:
            traced = entries[-1].index if entries else 0
            stamp("save:begin", traced)
        with self._write() as txn:
            if hard_state is not None:
                _put(txn, meta, _K_HARD_STATE, bytes(hard_state))
            if snapshot is not None:
                txn.drop(log_db, delete=False)
                self._put_snapshot(txn, snapshot)
                _put(txn, meta, _K_OFFSET, _U64.pack(offset))
                _put(txn, meta, _K_OFFSET_EPOCH, _U64.pack(offset_epoch))
            if entries:
                for index in range(first, last + 1):  # truncate the tail (rare)
                    txn.delete(_key(index), db=log_db)
                _put_entries(txn.cursor(log_db), entries)
                last, last_epoch = entries[-1].index, entries[-1].epoch
            if TRACING:
                stamp("save:commit", traced)  # what follows is LMDB's commit: its writes and fsyncs
        if TRACING:
            stamp("save:synced", traced)
        # Committed: only now does the in-memory view move.
        if hard_state is not None:
            self._hard_state = bytes(hard_state)
        if snapshot is not None:
            self._snapshot_meta = snapshot.meta
        self._offset, self._offset_epoch = offset, offset_epoch
        self._last, self._last_epoch = last, last_epoch
        self._checkpointed_last = last

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store a snapshot this node took, replacing the previous one; the log is untouched."""
        meta = snapshot.meta
        assert self._offset <= meta.index <= self._last, (meta, self._offset)
        self._checkpoint()  # LMDB must hold the log the snapshot is taken at
        with self._write() as txn:
            self._put_snapshot(txn, snapshot)
        self._snapshot_meta = meta
        self.saves += 1

    def compact(self, index: int) -> None:
        """Drop log entries <= index (index <= the snapshot's index)."""
        snapshot_meta = self._snapshot_meta
        assert snapshot_meta is not None and index <= snapshot_meta.index
        if index <= self._offset:
            return
        self._checkpoint()
        end = min(index, self._last)
        log_db = self._log
        with self._write() as txn:
            if index <= self._last:
                value = txn.get(_key(index), db=log_db)
                if value is None:
                    raise self._corrupt(f"log entry {index} is missing")
                offset_epoch = self._stored(index, value).epoch
            else:
                offset_epoch = snapshot_meta.epoch
            # term(index) must survive the entry: it is the prev_term of the
            # first AppendEntries that follows the compacted prefix.
            for i in range(self._offset + 1, end + 1):
                txn.delete(_key(i), db=log_db)
            _put(txn, self._meta, _K_OFFSET, _U64.pack(index))
            _put(txn, self._meta, _K_OFFSET_EPOCH, _U64.pack(offset_epoch))
        self._offset, self._offset_epoch = index, offset_epoch
        if self._last <= index:
            self._last, self._last_epoch = index, offset_epoch
            self._checkpointed_last = self._last
        self.saves += 1

    def close(self) -> None:
        """Checkpoint (a clean close leaves LMDB holding everything: a faster next open),
        close the environment and release the directory; idempotent. A checkpoint that
        fails is logged: the journal still holds its records."""
        if self._env is not None:
            try:
                self._checkpoint()
            except StorageError as e:
                log.warning("closing %s without a checkpoint: %s", self.path, e)
        self._journal.close()
        env, self._env = self._env, None
        if env is not None:
            if not self.fsync:
                env.sync(True)
            env.close()
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    # --- helpers --------------------------------------------------------
    def _write(self) -> _WriteTxn:
        if self._env is None:
            raise StorageError(f"store {self.path} is closed")
        return _WriteTxn(self._env, self.path)

    def _put_snapshot(self, txn: lmdb.Transaction, snapshot: Snapshot) -> None:
        txn.drop(self._snap, delete=False)
        if snapshot.chunks:
            cursor = txn.cursor(self._snap)
            cursor.putmulti(
                ((key, _seal(key, c)) for key, c in zip(map(_key, range(len(snapshot.chunks))), snapshot.chunks)),
                append=True,
            )
        _put(txn, self._meta, _K_SNAPSHOT, encode_snapshot_meta(snapshot.meta))

    def _corrupt(self, what: str) -> Damaged:
        return Damaged(self.path, what)


def _put(txn: lmdb.Transaction, db: object, key: bytes, payload: bytes) -> None:
    txn.put(key, _seal(key, payload), db=db)


def _put_entries(cursor: lmdb.Cursor, entries: list[Entry]) -> None:
    """Append contiguous entries after the last one stored. Checksums by C-level maps
    (no Python frame per entry): the writer thread barely needs the GIL."""
    first = entries[0].index
    keys = list(map(_key, range(first, first + len(entries))))
    payloads = list(map(encode_entry, entries))
    sums = map(_digest, map(bytes.__add__, keys, payloads))
    _, added = cursor.putmulti(zip(keys, map(bytes.__add__, payloads, sums)), append=True)
    assert added == len(entries), (added, len(entries))


def _journal_error(path: Path, e: OSError) -> StorageError:
    if e.errno == errno.ENOSPC:
        return StorageError(f"disk full: cannot write to data directory {path} ({e})")
    return StorageError(f"write to {path / JOURNAL_FILE} failed: {e}")


def _stored_entry(path: Path, index: int, value: bytes | memoryview) -> Entry:
    """The entry in log slot `index`, checked: a value that fails its checksum, does not
    decode, or holds another index, is damage."""
    payload = _unseal(_key(index), value)
    if payload is None:
        raise Damaged(path, f"log entry {index} fails its checksum")
    try:
        entry = decode_entry(payload)
    except msgspec.DecodeError as exc:
        raise Damaged(path, f"log entry {index} is unreadable ({exc})") from None
    if entry.index != index:
        raise Damaged(path, f"log slot {index} holds entry {entry.index}")
    return entry


class _ReadTxn:
    """A short read transaction; an LMDB error inside it (a page that is not where the
    b-tree says, a damaged page header) means the file is damaged: it becomes Damaged."""

    __slots__ = ("_store", "_db", "_buffers", "_txn")

    def __init__(self, store: LmdbStore, db: object, buffers: bool = False) -> None:
        self._store, self._db, self._buffers = store, db, buffers

    def __enter__(self) -> lmdb.Transaction:
        env = self._store._env
        if env is None:
            raise StorageError(f"store {self._store.path} is closed")
        self._txn = env.begin(db=self._db, buffers=self._buffers)
        return self._txn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self._txn.abort()
        if isinstance(exc, lmdb.Error):
            raise self._store._corrupt(f"LMDB reports {exc}") from None


class _WriteTxn:
    """One write transaction, committed on success, aborted on error; LMDB
    errors become StorageError with a message an operator can act on."""

    __slots__ = ("_env", "_path", "_txn")

    def __init__(self, env: lmdb.Environment, path: Path) -> None:
        self._env, self._path = env, path
        self._txn: lmdb.Transaction | None = None

    def __enter__(self) -> lmdb.Transaction:
        try:
            self._txn = self._env.begin(write=True)
        except lmdb.Error as e:
            raise _write_error(self._path, e) from None
        return self._txn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        txn, self._txn = self._txn, None
        assert txn is not None
        if exc_type is not None:
            txn.abort()
            if isinstance(exc, lmdb.Error):
                raise _write_error(self._path, exc) from None
            return
        try:
            txn.commit()  # the fsync happens here (env sync=True)
        except lmdb.Error as e:
            raise _write_error(self._path, e) from None


def _write_error(path: Path, e: lmdb.Error) -> StorageError:
    if isinstance(e, (lmdb.CorruptedError, lmdb.PageNotFoundError)):
        return Damaged(path, f"LMDB reports {e}")
    if isinstance(e, lmdb.MapFullError):
        return StorageError(
            f"data directory {path} is full: the LMDB map size was reached (disk/map full). "
            f"Open the store with a larger map_size, or compact the log. ({e})"
        )
    if getattr(e, "code", 0) == errno.ENOSPC or "No space left" in str(e):
        return StorageError(f"disk full: cannot write to data directory {path} ({e})")
    return StorageError(f"write to data directory {path} failed: {e}")


# --- identity ------------------------------------------------------------


def recorded_identity(path: str | os.PathLike[str]) -> tuple[str, int, str]:
    """(cluster_id, node_id, protocol) recorded in the store in directory `path`.

    Reads only: takes no lock, creates and writes nothing, so it may look at
    the directory of a running node. Raises DataDirMismatch if `path` is not
    a replicator data directory (missing, empty, or holding something else),
    StorageError if its identity is unreadable.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataDirMismatch(f"{path} is not a replicator data directory (no such directory)")
    _check_dir(path)
    if not (path / DATA_FILE).exists():
        raise DataDirMismatch(f"{path} is not a replicator data directory (it holds no {DATA_FILE})")
    try:
        # lock=True takes a reader slot in lock.mdb (safe beside a writer); without
        # lock.mdb nobody has the environment open, and reading unlocked is safe.
        env = lmdb.open(
            str(path), subdir=True, readonly=True, lock=(path / LOCK_FILE).exists(), max_dbs=len(_OUR_DBS) + 1
        )
    except (lmdb.InvalidError, lmdb.VersionMismatchError, lmdb.CorruptedError) as e:
        raise DataDirMismatch(f"{path} is not a replicator data directory ({e})") from None
    except lmdb.Error as e:
        raise StorageError(f"cannot read the store in {path}: {e}") from None
    try:
        with env.begin() as txn:
            names = [key for key, _ in txn.cursor()]
        if _DB_META not in names or not set(names) <= _OUR_DBS:
            raise DataDirMismatch(
                f"{path} is not a replicator data directory (its LMDB environment holds no replicator metadata)"
            )
        meta = env.open_db(_DB_META, create=False)
        with env.begin(db=meta) as txn:
            raw_format = txn.get(_K_FORMAT)
            if raw_format is None or len(raw_format) != _U32.size:
                raise DataDirMismatch(f"{path} is not a replicator data directory (no format version)")
            _check_format(path, _U32.unpack(raw_format)[0])
            cluster_id, node, protocol = txn.get(_K_CLUSTER), txn.get(_K_NODE), txn.get(_K_PROTOCOL)
    except lmdb.Error as e:
        raise DataDirMismatch(f"{path} is not a replicator data directory ({e})") from None
    finally:
        env.close()
    cluster_id, node, protocol = (
        None if raw is None else _unseal(key, raw)
        for key, raw in ((_K_CLUSTER, cluster_id), (_K_NODE, node), (_K_PROTOCOL, protocol))
    )
    if cluster_id is None or node is None or protocol is None or len(node) != _U64.size:
        raise Damaged(path, "its identity (cluster, node, protocol) is missing or fails its checksum")
    return _text(cluster_id), _U64.unpack(node)[0], _text(protocol)


# --- opening -------------------------------------------------------------


class _State:
    __slots__ = (
        "offset",
        "offset_epoch",
        "last",
        "last_epoch",
        "hard_state",
        "snapshot_meta",
        "incarnation",
        "peers",
        "created",
        "journal_generation",
        "tail",
        "hard_state_journaled",
    )

    def __init__(
        self,
        offset: int = 0,
        offset_epoch: int = 0,
        last: int = 0,
        last_epoch: int = 0,
        hard_state: bytes | None = None,
        snapshot_meta: SnapshotMeta | None = None,
    ) -> None:
        self.offset, self.offset_epoch = offset, offset_epoch
        self.last, self.last_epoch = last, last_epoch
        self.hard_state, self.snapshot_meta = hard_state, snapshot_meta
        self.incarnation = 0
        self.peers: dict[int, tuple[int, int]] = {}
        self.created = False  # by this open
        self.journal_generation = 0  # 0: the store has no journal yet (new, or format 3)
        self.tail: list[Entry] = []  # replayed from the journal
        self.hard_state_journaled = False


def _check_dir(path: Path) -> None:
    """Refuse, before writing anything, a path that cannot be our data directory."""
    if not path.exists():
        return
    if not path.is_dir():
        raise DataDirMismatch(f"data directory {path} is not a directory")
    try:
        names = sorted(os.listdir(path))
    except OSError as e:
        raise StorageError(f"cannot read data directory {path}: {e}") from None
    if DATA_FILE not in names:
        foreign = [n for n in names if n not in _OUR_FILES]
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise DataDirMismatch(
                f"data directory {path} holds other files ({shown}) but no replicator "
                f"store; refusing to initialise over them. Use an empty or new directory."
            )
        return
    data = path / DATA_FILE
    try:
        with open(data, "rb") as f:
            head = f.read(_LMDB_MAGIC_OFFSET + len(_LMDB_MAGIC))
    except OSError as e:
        raise StorageError(f"cannot read {data}: {e}") from None
    if head and head[_LMDB_MAGIC_OFFSET:] != _LMDB_MAGIC:
        raise DataDirMismatch(
            f"data directory {path} holds a {DATA_FILE} that is not an LMDB file; "
            f"it is not a replicator store (or it is damaged). Use a fresh directory."
        )
    if head:  # an empty data.mdb is a store that never got its first page: LMDB starts it afresh
        try:
            check_data_file(data)
        except LmdbFileDamaged as e:
            raise Damaged(path, f"{data}: {e}") from None


def _has_data(path: Path) -> bool:
    try:
        return (path / DATA_FILE).stat().st_size > 0
    except FileNotFoundError:
        return False


def _lock_dir(path: Path) -> int:
    # One process per data directory: two nodes appending to one log would
    # each believe they own it. flock() is released by the kernel on any exit.
    lock_path = path / DIR_LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise StorageError(f"cannot open {lock_path}: {e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise StorageError(
                f"data directory {path} is in use by another open store (process or LmdbStore); close it first"
            ) from None
        raise StorageError(f"cannot lock {lock_path}: {e}") from None
    return fd


def _open_env(path: Path, *, fsync: bool, map_size: int) -> lmdb.Environment:
    try:
        return lmdb.open(
            str(path),
            map_size=map_size,
            subdir=True,
            max_dbs=len(_OUR_DBS) + 1,
            sync=fsync,
            metasync=fsync,
            readahead=False,  # the log is read by index, not scanned: keep the page cache for it
            max_spare_txns=1,  # reads renew one cached reader slot instead of allocating one
            lock=True,
        )
    except (lmdb.InvalidError, lmdb.VersionMismatchError, lmdb.CorruptedError) as e:
        raise DataDirMismatch(
            f"data directory {path} does not hold a usable LMDB environment ({e}); "
            f"it is not a replicator store, or it is damaged"
        ) from None
    except lmdb.Error as e:
        raise StorageError(f"cannot open LMDB environment in {path}: {e}") from None


def _open_journal(env: lmdb.Environment, meta: object, path: Path, state: _State, fsync: bool) -> Journal:
    """The store's journal, its records replayed onto `state`. A store without one (new, or
    format 3) gets an empty journal first, then generation 1 and format 4 in LMDB: a crash
    between the two leaves a store that gets an empty journal again."""
    generation = state.journal_generation
    try:
        journal, records = Journal.open(path, max(generation, 1), fsync, create=generation == 0)
    except JournalDamaged as e:
        raise Damaged(path, f"its journal is damaged: {e}") from None
    except OSError as e:
        raise StorageError(f"cannot open {path / JOURNAL_FILE}: {e}") from None
    if generation == 0:
        try:
            with env.begin(write=True) as txn:
                txn.put(_K_FORMAT, _U32.pack(FORMAT_VERSION), db=meta)
                _put(txn, meta, _K_JOURNAL_GEN, _U64.pack(1))
        except lmdb.Error as e:
            journal.close()
            raise _write_error(path, e) from None
        state.journal_generation = 1
    try:
        for record in records:
            _replay(state, record, path)
    except BaseException:
        journal.close()
        raise
    return journal


def _replay(state: _State, record: Record, path: Path) -> None:
    """One journal record onto the state LMDB left: what save() did in memory when it wrote it."""
    if record.hard_state is not None:
        state.hard_state = record.hard_state
        state.hard_state_journaled = True
    entries = record.entries
    if not entries:
        return
    first = entries[0].index
    checkpointed = state.last - len(state.tail)
    if not checkpointed < first <= state.last + 1 or any(entry.index != first + i for i, entry in enumerate(entries)):
        raise Damaged(
            path,
            f"its journal holds entries {first}..{entries[-1].index}, which do not follow "
            f"the log (checkpointed to {checkpointed}, ending at {state.last})",
        )
    del state.tail[first - checkpointed - 1 :]
    state.tail.extend(entries)
    state.last, state.last_epoch = entries[-1].index, entries[-1].epoch


def _load_or_init(
    env: lmdb.Environment, path: Path, cluster_id: str, node_id: int, protocol: str
) -> tuple[tuple[object, object, object], _State]:
    try:
        with env.begin() as txn:
            names = [key for key, _ in txn.cursor()]  # the main db lists the named dbs
        if not names:
            state = _State()
            state.incarnation = secrets.randbits(64) or 1
            state.created = True
            return _init(env, cluster_id, node_id, protocol, state.incarnation), state
        if _DB_META not in names or not set(names) <= _OUR_DBS:
            shown = ", ".join(repr(n) for n in names[:5])
            raise DataDirMismatch(
                f"data directory {path} holds an LMDB environment that is not a replicator "
                f"store (its databases/keys: {shown}); refusing to touch it"
            )
        # Nothing is created or written until the identity says the env is ours.
        meta = env.open_db(_DB_META, create=False)
        with env.begin() as txn:
            _check_identity(txn, meta, path, cluster_id, node_id, protocol)
    except lmdb.Error as e:
        raise DataDirMismatch(
            f"data directory {path} holds an LMDB environment that replicator cannot read as its store ({e})"
        ) from None
    missing = [name.decode() for name in (_DB_LOG, _DB_SNAP) if name not in names]
    if missing:
        raise Damaged(path, f"its database(s) {missing} are missing")
    try:
        dbs = (env.open_db(_DB_LOG, create=False), meta, env.open_db(_DB_SNAP, create=False))
        with env.begin() as txn:
            state = _load_state(txn, dbs, path)
    except lmdb.Error as e:
        raise Damaged(path, f"LMDB reports {e}") from None
    return dbs, state


def _init(
    env: lmdb.Environment, cluster_id: str, node_id: int, protocol: str, incarnation: int
) -> tuple[object, object, object]:
    # Identity and databases appear in one fsync'd transaction: a crash here
    # leaves an empty environment, which the next open initialises again.
    with env.begin(write=True) as txn:
        dbs = tuple(env.open_db(name, txn=txn) for name in (_DB_LOG, _DB_META, _DB_SNAP))
        meta = dbs[1]
        txn.put(_K_FORMAT, _U32.pack(FORMAT_VERSION), db=meta)
        _put(txn, meta, _K_CLUSTER, cluster_id.encode())
        _put(txn, meta, _K_NODE, _U64.pack(node_id))
        _put(txn, meta, _K_PROTOCOL, protocol.encode())
        _put(txn, meta, _K_INCARNATION, _U64.pack(incarnation))
        _put(txn, meta, _K_OFFSET, _U64.pack(0))
        _put(txn, meta, _K_OFFSET_EPOCH, _U64.pack(0))
    return dbs  # type: ignore[return-value]


def _check_identity(
    txn: lmdb.Transaction, meta: object, path: Path, cluster_id: str, node_id: int, protocol: str
) -> None:
    raw = txn.get(_K_FORMAT, db=meta)
    if raw is None or len(raw) != _U32.size:
        raise DataDirMismatch(
            f"data directory {path} holds an LMDB environment without replicator metadata; refusing to touch it"
        )
    _check_format(path, _U32.unpack(raw)[0])
    stored_cluster = _text(_get(txn, meta, _K_CLUSTER, path))
    stored_node = _get(txn, meta, _K_NODE, path)
    stored_protocol = _text(_get(txn, meta, _K_PROTOCOL, path))
    if stored_cluster is None or stored_node is None or stored_protocol is None or len(stored_node) != 8:
        raise Damaged(path, "its identity (cluster, node, protocol) is incomplete")
    if stored_protocol != protocol:
        raise DataDirMismatch(
            f"data directory {path} belongs to protocol {stored_protocol!r}, not {protocol!r}; "
            f"convert it with `replicator convert` or use a fresh directory (with the node stopped: "
            f"replicator convert --to {protocol} --data-dir {path} --config <its config file>)"
        )
    if stored_cluster != cluster_id:
        raise DataDirMismatch(
            f"data directory {path} belongs to cluster {stored_cluster!r}, not {cluster_id!r}; "
            f"check the cluster id or use a fresh directory"
        )
    stored_node_id = _U64.unpack(stored_node)[0]
    if stored_node_id != node_id:
        raise DataDirMismatch(
            f"data directory {path} belongs to node {stored_node_id}, not {node_id}; "
            f"check the node id or use that node's own directory"
        )


def _check_format(path: Path, version: int) -> None:
    if version == UPGRADABLE_FORMAT:
        return  # opened as FORMAT_VERSION: _open_journal gives it its journal
    if version > FORMAT_VERSION:
        raise DataDirMismatch(
            f"data directory {path} has storage format {version}, newer than this "
            f"replicator's {FORMAT_VERSION}; upgrade replicator"
        )
    if version < UPGRADABLE_FORMAT:
        raise DataDirMismatch(
            f"data directory {path} has storage format {version}, older than this "
            f"replicator's {FORMAT_VERSION} (from a development build; there is no upgrade): "
            f"start this node with an empty data directory and let it catch up from the others"
        )


def _load_state(txn: lmdb.Transaction, dbs: tuple[object, object, object], path: Path) -> _State:
    """The cached view of a store, after checking what a start needs: every meta value,
    the snapshot's chunks and the log from the snapshot on (the entries this node will
    replay). Older entries are only sent to followers, and checked when read."""
    log_db, meta, snap_db = dbs
    values = _meta_values(txn, meta, path)
    state = _State()
    state.offset = _u64(values.get(_K_OFFSET))
    state.offset_epoch = _u64(values.get(_K_OFFSET_EPOCH))
    state.incarnation = _u64(values.get(_K_INCARNATION))
    if not state.incarnation:
        raise Damaged(path, "its incarnation id is missing")
    state.hard_state = values.get(_K_HARD_STATE)
    state.journal_generation = _u64(values.get(_K_JOURNAL_GEN))
    for key, value in values.items():
        if key.startswith(_K_PEER) and len(key) == len(_K_PEER) + 8 and len(value) == _PEER.size:
            state.peers[_U64.unpack(key[len(_K_PEER) :])[0]] = _PEER.unpack(value)
    raw_snapshot = values.get(_K_SNAPSHOT)
    if raw_snapshot is not None:
        try:
            state.snapshot_meta = decode_snapshot_meta(raw_snapshot)
        except (msgspec.DecodeError, TypeError, ValueError) as e:
            raise Damaged(path, f"its snapshot metadata is unreadable ({e})") from None
    _check_chunks(txn, snap_db, path, state.snapshot_meta.chunk_count if state.snapshot_meta else 0)
    cursor = txn.cursor(log_db)
    if not cursor.last():
        state.last, state.last_epoch = state.offset, state.offset_epoch
        return state
    state.last = _U64.unpack(cursor.key())[0]
    state.last_epoch = _stored_entry(path, state.last, cursor.value()).epoch
    cursor.first()
    first = _U64.unpack(cursor.key())[0]
    count = txn.stat(log_db)["entries"]
    # Cheap structural check: keys are unique and sorted, so first, last and
    # count pin down a contiguous log starting right after the offset.
    if first != state.offset + 1 or state.last - first + 1 != count:
        raise Damaged(
            path,
            f"its log holds {count} entries from {first} to {state.last}, "
            f"expected a contiguous log from {state.offset + 1}",
        )
    index = max(first, state.snapshot_meta.index if state.snapshot_meta else 0)
    cursor.set_key(_key(index))
    for value in cursor.iternext(keys=False):
        _stored_entry(path, index, value)
        index += 1
    return state


def _meta_values(txn: lmdb.Transaction, meta: object, path: Path) -> dict[bytes, bytes]:
    """Every meta value but the format, each checked against its checksum."""
    values = {}
    for key, value in txn.cursor(db=meta):
        if key == _K_FORMAT:
            continue
        payload = _unseal(key, value)
        if payload is None:
            raise Damaged(path, f"its metadata {key.decode('ascii', 'replace')!r} fails its checksum")
        values[key] = payload
    return values


def _get(txn: lmdb.Transaction, meta: object, key: bytes, path: Path) -> bytes | None:
    value = txn.get(key, db=meta)
    if value is None:
        return None
    payload = _unseal(key, value)
    if payload is None:
        raise Damaged(path, f"its metadata {key.decode('ascii', 'replace')!r} fails its checksum")
    return payload


def _check_chunks(txn: lmdb.Transaction, snap_db: object, path: Path, count: int) -> None:
    """The snapshot's chunks are 0..n-1 (n >= count, the chunks its metadata names), each intact."""
    stored = 0
    for key, value in txn.cursor(db=snap_db):
        if key != _key(stored):
            raise Damaged(path, f"its snapshot chunks are not numbered 0..{stored}")
        if _unseal(key, value) is None:
            raise Damaged(path, f"snapshot chunk {stored} fails its checksum")
        stored += 1
    if stored < count:
        raise Damaged(path, f"its snapshot has {stored} chunks, its metadata says {count}")


def _u64(raw: bytes | None) -> int:
    return 0 if raw is None else _U64.unpack(raw)[0]


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")
