"""LmdbStore beyond the shared contract: restart, identity, bad directories,
full map, threads, and the cost of one fsync'd save."""

from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from pathlib import Path

import lmdb
import msgspec
import pytest
import trio

from replicator.protocol.log_store import StorageError, snapshot_chunks
from replicator.storage import Damaged, DataDirMismatch
from replicator.storage.lmdb_store import (
    FORMAT_VERSION,
    LmdbStore,
    _seal,
    decode_entry,
    decode_snapshot_meta,
    encode_entry,
    encode_snapshot_meta,
)
from replicator.types import Entry, EntryKind, Snapshot, SnapshotMeta
from tests.storage.support import make_ready, open_lmdb, state_of


def ents(lo: int, hi: int, epoch: int, size: int = 16) -> tuple[Entry, ...]:
    return tuple(Entry(i, epoch, os.urandom(size), EntryKind.NORMAL, (epoch << 32) | i) for i in range(lo, hi))


def listing(path: Path) -> dict[str, bytes]:
    """Names and contents of a directory's files; lock.mdb is LMDB's reader
    table, rewritten by every reader, so only its presence counts."""
    return {p.name: b"" if p.name == "lock.mdb" else p.read_bytes() for p in sorted(path.iterdir())}


# --- encoding ------------------------------------------------------------


def test_entry_encoding_round_trip() -> None:
    entry = Entry(42, 2**63, b"payload", EntryKind.CONFIG, 2**64 - 1)
    raw = encode_entry(entry)
    assert raw == msgspec.msgpack.encode([42, 2**63, b"payload", 2, 2**64 - 1])  # the wire's array
    assert decode_entry(raw) == entry and type(decode_entry(raw).kind) is EntryKind
    assert decode_entry(memoryview(raw)) == entry


def test_snapshot_meta_encoding_round_trip() -> None:
    meta = SnapshotMeta(10, 3, (1, 2, 3), (7,), (3 << 32) | 5, 4, 12345)
    assert decode_snapshot_meta(encode_snapshot_meta(meta)) == meta


# --- reopen --------------------------------------------------------------


def test_reopen_recovers_everything(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    store = open_lmdb(path)
    store.save(make_ready(ents(1, 101, 1), b"hs-1"))
    store.save_snapshot(Snapshot(SnapshotMeta(60, 1, (1, 2, 3), (), 0, 2, 6), (b"abc", b"def")))
    store.compact(50)
    store.save(make_ready(ents(90, 120, 2), b"hs-2"))  # overwrite tail
    before = state_of(store)
    store.close()
    store.close()  # idempotent
    with open_lmdb(path) as again:
        assert state_of(again) == before
        assert again.term(50) == 1  # term of the compaction point survives
        assert list(snapshot_chunks(again)) == [b"abc", b"def"]
        assert (again.first_index(), again.last_index(), again.hard_state()) == (51, 119, b"hs-2")


def test_reopen_after_snapshot_install(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    with open_lmdb(path) as store:
        store.save(make_ready(ents(1, 10, 1)))
        store.save(make_ready(ents(501, 503, 5), b"hs", Snapshot(SnapshotMeta(500, 5), (b"s",))))
        before = state_of(store)
    with open_lmdb(path) as store:
        assert state_of(store) == before
        assert store.term(500) == 5


def test_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = open_lmdb(tmp_path / "n1")
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.save(make_ready(ents(1, 2, 1)))


# --- identity ------------------------------------------------------------


def test_first_open_creates_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "n1"
    with open_lmdb(path) as store:
        assert store.last_index() == 0
    assert {"data.mdb", "lock.mdb"} <= set(os.listdir(path))


def test_empty_directory_is_initialised(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    path.mkdir()
    with open_lmdb(path):
        pass
    with open_lmdb(path):
        pass


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"protocol": "zab"},
            "belongs to protocol 'raft', not 'zab'; convert it with `replicator convert` or use a fresh directory",
        ),
        ({"cluster_id": "other"}, "belongs to cluster 'crash-test', not 'other'"),
        ({"node_id": 2}, "belongs to node 1, not 2"),
    ],
)
def test_identity_mismatch(tmp_path: Path, override: dict, message: str) -> None:
    path = tmp_path / "n1"
    with open_lmdb(path) as store:
        store.save(make_ready(ents(1, 4, 1), b"hs"))
    with pytest.raises(DataDirMismatch) as info:
        open_lmdb(path, **override)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    with open_lmdb(path) as store:  # the refused open changed nothing
        assert store.last_index() == 3


def test_directory_with_other_files_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    path.mkdir()
    (path / "notes.txt").write_text("mine")
    (path / "db.sqlite").write_bytes(b"SQLite format 3\0")
    before = listing(path)
    with pytest.raises(DataDirMismatch, match="holds other files"):
        open_lmdb(path)
    assert listing(path) == before


@pytest.mark.parametrize("garbage", [os.urandom(100_000), b"hello\n", b"\0" * 8192])
def test_garbage_data_file_is_refused_untouched(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "n1"
    path.mkdir()
    (path / "data.mdb").write_bytes(garbage)
    before = listing(path)
    with pytest.raises(DataDirMismatch, match="not an LMDB file"):
        open_lmdb(path)
    assert listing(path) == before


def test_foreign_lmdb_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    with lmdb.open(str(path), map_size=1 << 20) as env, env.begin(write=True) as txn:
        txn.put(b"user:1", b"alice")
    before = listing(path)
    with pytest.raises(DataDirMismatch, match="not a replicator store"):
        open_lmdb(path)
    assert listing(path) == before


def test_foreign_lmdb_with_a_meta_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    with lmdb.open(str(path), map_size=1 << 20, max_dbs=2) as env:
        meta = env.open_db(b"meta")
        with env.begin(write=True) as txn:
            txn.put(b"owner", b"someone else", db=meta)
    before = listing(path)
    with pytest.raises(DataDirMismatch, match="without replicator metadata"):
        open_lmdb(path)
    assert listing(path) == before


def test_foreign_lmdb_with_a_plain_meta_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    with lmdb.open(str(path), map_size=1 << 20) as env, env.begin(write=True) as txn:
        txn.put(b"meta", b"not a database")
    with pytest.raises(DataDirMismatch):
        open_lmdb(path)


@pytest.mark.parametrize(
    "delta, refusal", [(1, "newer than this.*upgrade replicator"), (-2, "older than this.*empty data directory")]
)
def test_another_storage_format_is_refused_with_what_to_do(tmp_path: Path, delta: int, refusal: str) -> None:
    path = tmp_path / "n1"
    with open_lmdb(path):
        pass
    with lmdb.open(str(path), map_size=1 << 30, max_dbs=4) as env:
        meta = env.open_db(b"meta")
        with env.begin(write=True) as txn:
            txn.put(b"format", (FORMAT_VERSION + delta).to_bytes(4, "big"), db=meta)
    with pytest.raises(DataDirMismatch, match=refusal):
        open_lmdb(path)


def ten_entries_then(path: Path, tamper) -> None:
    """A store holding entries 1..10, closed; then tamper(txn, log_db) on its LMDB file directly."""
    with open_lmdb(path) as store:
        store.save(make_ready(ents(1, 11, 1)))
    with lmdb.open(str(path), map_size=1 << 30, max_dbs=4) as env:
        log_db = env.open_db(b"log")
        with env.begin(write=True) as txn:
            tamper(txn, log_db)


KEY5 = (5).to_bytes(8, "big")


@pytest.mark.parametrize(
    "value, damage",
    [
        (b"\xc1garbage", "log entry 5 fails its checksum"),
        (encode_entry(Entry(5, 1, b"x")), "log entry 5 fails its checksum"),  # written without its sum
        (_seal(KEY5, b"\xc1garbage"), r"log entry 5 is unreadable"),
        (_seal(KEY5, encode_entry(Entry(99, 1, b"x"))), "log slot 5 holds entry 99"),
    ],
    ids=["garbage", "unsealed", "sealed-garbage", "wrong-index"],
)
def test_an_unreadable_or_misplaced_entry_is_refused_at_open(tmp_path: Path, value: bytes, damage: str) -> None:
    path = tmp_path / "n1"
    ten_entries_then(path, lambda txn, log_db: txn.put(KEY5, value, db=log_db))
    with pytest.raises(Damaged, match=f"data directory {path} is damaged: {damage}.*On a follower: move it away"):
        open_lmdb(path)


def test_hole_in_the_log_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    ten_entries_then(path, lambda txn, log_db: txn.delete(KEY5, db=log_db))
    with pytest.raises(Damaged, match="damaged: its log holds 9 entries from 1 to 10"):
        open_lmdb(path)


def test_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    path.write_text("x")
    with pytest.raises(DataDirMismatch, match="not a directory"):
        open_lmdb(path)


def test_leftovers_of_a_crashed_first_open_are_reused(tmp_path: Path) -> None:
    # A crash inside the first open can leave an environment with nothing in it.
    path = tmp_path / "n1"
    with lmdb.open(str(path), map_size=1 << 20):
        pass
    with open_lmdb(path) as store:
        store.save(make_ready(ents(1, 2, 1)))
    empty = tmp_path / "n2"
    empty.mkdir()
    (empty / "data.mdb").write_bytes(b"")
    with open_lmdb(empty):
        pass


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LmdbStore.open(tmp_path, cluster_id="", node_id=1, protocol="raft")
    with pytest.raises(ValueError):
        LmdbStore.open(tmp_path, cluster_id="c", node_id=-1, protocol="raft")
    with pytest.raises(ValueError):
        LmdbStore.open(tmp_path, cluster_id="c", node_id=1, protocol="")
    assert list(tmp_path.iterdir()) == []


def test_directory_in_use_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    with open_lmdb(path), pytest.raises(StorageError, match="in use"):
        open_lmdb(path)
    with open_lmdb(path):  # released on close
        pass


# --- fsync off, map full -------------------------------------------------


def test_fsync_off_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="replicator.storage.lmdb_store"):
        store = open_lmdb(tmp_path / "n1", fsync=False)
    assert "acknowledged writes can be lost" in caplog.text
    assert store._env.flags()["sync"] is False
    store.save(make_ready(ents(1, 3, 1)))
    store.close()
    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="replicator.storage.lmdb_store"),
        open_lmdb(tmp_path / "n1") as store,
    ):
        assert store._env.flags()["sync"] is True
        assert store.last_index() == 2
    assert caplog.text == ""


def test_map_full_is_a_clear_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    store = open_lmdb(path, map_size=1 << 20)
    store.save(make_ready(ents(1, 11, 1), b"hs"))
    before = state_of(store)
    with pytest.raises(StorageError, match="disk/map full") as info:
        store.save(make_ready(ents(11, 3000, 1, size=2000), b"hs-2"))
    assert not isinstance(info.value, lmdb.Error)
    assert state_of(store) == before  # atomic: nothing of the failed save
    store.save(make_ready(ents(11, 12, 1), b"hs-3"))  # still usable
    store.close()
    with open_lmdb(path, map_size=1 << 20) as again:
        assert again.last_index() == 11
        assert again.hard_state() == b"hs-3"


# --- threads ---------------------------------------------------------------


async def test_saves_in_worker_threads_reads_in_trio_thread(tmp_path: Path) -> None:
    store = open_lmdb(tmp_path / "n1")
    writers: set[int] = set()

    def save(rd: object) -> None:
        writers.add(threading.get_ident())
        store.save(rd)

    try:
        expected: list[Entry] = []
        for n in range(60):
            batch = ents(len(expected) + 1, len(expected) + 6, 1 + n // 10)
            await trio.to_thread.run_sync(save, make_ready(batch, b"hs-%d" % n))
            expected.extend(batch)
            # Read in this thread right after a write in another one.
            assert store.last_index() == len(expected)
            assert store.term(len(expected) - 3) == batch[0].epoch
            assert store.entries(len(expected) - 7 if n else 1, len(expected) + 1)[-1] == batch[-1]
            assert store.hard_state() == b"hs-%d" % n
        assert store.entries(1, len(expected) + 1) == expected
        assert threading.get_ident() not in writers
    finally:
        store.close()


# --- cost ------------------------------------------------------------------


@pytest.mark.parametrize("fsync", [True, False])
def test_measure_save_of_100_small_entries(tmp_path: Path, fsync: bool) -> None:
    """Measured, not asserted: run with -s to see the numbers."""
    store = open_lmdb(tmp_path / "n1", fsync=fsync)
    rounds = 150
    latencies_ms = []
    try:
        for n in range(rounds):
            lo = n * 100 + 1
            rd = make_ready(ents(lo, lo + 100, 1, size=32), b"hs-%d" % n)
            t0 = time.perf_counter()
            store.save(rd)
            latencies_ms.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        reads = 0
        for lo in range(1, rounds * 100, 100):
            reads += len(store.entries(lo, lo + 100))
        read_us = (time.perf_counter() - t0) * 1e6 / reads
        t0 = time.perf_counter()
        for i in range(1, 5001):
            store.term(i)
        term_us = (time.perf_counter() - t0) * 1e6 / 5000
    finally:
        store.close()
    latencies_ms.sort()
    print(
        f"\nLmdbStore.save(100 x 32-byte entries), fsync={fsync}: "
        f"median {statistics.median(latencies_ms):.3f} ms, "
        f"p99 {latencies_ms[int(len(latencies_ms) * 0.99) - 1]:.3f} ms, "
        f"max {latencies_ms[-1]:.3f} ms over {rounds} saves; "
        f"entries() {read_us:.2f} us/entry, term() {term_us:.2f} us"
    )
    assert reads == rounds * 100
