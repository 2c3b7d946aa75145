"""The LogStore contract, run against MemoryStore, LmdbStore and a restarting LmdbStore."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import pytest

from replicator.protocol.log_store import Compacted, Unavailable, snapshot_chunks
from replicator.storage.memory_store import MemoryStore
from replicator.types import Entry, EntryKind, Snapshot, SnapshotMeta
from tests.storage.support import (
    ReopeningStore,
    apply,
    describe_difference,
    make_ready,
    open_lmdb,
    state_of,
    workload,
)


def ents(lo: int, hi: int, epoch: int, size: int = 4) -> tuple[Entry, ...]:
    """Entries lo..hi-1 with the given epoch and `size`-byte payloads."""
    return tuple(Entry(i, epoch, bytes([i % 256]) * size) for i in range(lo, hi))


def snap(index: int, epoch: int, chunks: tuple[bytes, ...] = (b"c0", b"c1")) -> Snapshot:
    meta = SnapshotMeta(index, epoch, (1, 2, 3), (4,), 0, len(chunks), sum(map(len, chunks)))
    return Snapshot(meta, chunks)


def append(store: Any, lo: int, hi: int, epoch: int, **kw: Any) -> tuple[Entry, ...]:
    entries = ents(lo, hi, epoch, **kw)
    store.save(make_ready(entries))
    return entries


# --- empty store ---------------------------------------------------------


def test_empty_store(store: Any) -> None:
    assert (store.first_index(), store.last_index()) == (1, 0)
    assert store.term(0) == 0
    with pytest.raises(Unavailable):
        store.term(1)
    assert store.entries(1, 1) == []
    with pytest.raises(Unavailable):
        store.entries(1, 2)
    assert store.hard_state() is None
    assert store.snapshot_meta() is None
    assert list(snapshot_chunks(store)) == []
    with pytest.raises(AssertionError):
        store.snapshot_chunk(0)


def test_empty_ready_changes_nothing(store: Any) -> None:
    append(store, 1, 4, 1)
    before = state_of(store)
    store.save(make_ready())
    assert state_of(store) == before


# --- append and overwrite ------------------------------------------------


def test_append(store: Any) -> None:
    a = append(store, 1, 6, 1)
    b = append(store, 6, 9, 2)
    assert (store.first_index(), store.last_index()) == (1, 8)
    assert store.entries(1, 9) == list(a + b)
    assert store.entries(3, 7) == list(a[2:] + b[:1])
    assert [store.term(i) for i in range(0, 9)] == [0, 1, 1, 1, 1, 1, 2, 2, 2]


def test_entry_fields_round_trip(store: Any) -> None:
    entries = (
        Entry(1, 1, b"", EntryKind.NOOP, 0),
        Entry(2, 2**40, b"\x00\xff" * 3000, EntryKind.NORMAL, (7 << 32) | 99),
        Entry(3, 2**40, b"cfg", EntryKind.CONFIG, 2**64 - 1),
    )
    store.save(make_ready(entries))
    got = store.entries(1, 4)
    assert got == list(entries)
    assert [type(e.kind) for e in got] == [EntryKind] * 3
    assert all(type(e.data) is bytes for e in got)


def test_overwrite_tail(store: Any) -> None:
    old = append(store, 1, 11, 1)
    new = append(store, 6, 8, 2)  # replaces 6..10, log ends at 7
    assert store.last_index() == 7
    assert store.entries(1, 8) == list(old[:5] + new)
    with pytest.raises(Unavailable):
        store.term(8)
    with pytest.raises(Unavailable):
        store.entries(1, 9)
    again = append(store, 1, 3, 3)  # replaces the whole log
    assert store.last_index() == 2
    assert store.entries(1, 3) == list(again)
    assert store.term(2) == 3


def test_overwrite_longer_than_tail(store: Any) -> None:
    old = append(store, 1, 6, 1)
    new = append(store, 4, 20, 2)
    assert store.entries(1, 20) == list(old[:3] + new)
    assert store.term(19) == 2


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: ents(7, 9, 1), id="gap"),
        pytest.param(lambda: (Entry(6, 1), Entry(8, 1)), id="hole-inside"),
        pytest.param(lambda: ents(0, 2, 1), id="index-0"),
    ],
)
def test_bad_append_is_refused(store: Any, store_kind: str, bad: Any) -> None:
    append(store, 1, 6, 1)
    before = state_of(store)
    with pytest.raises(AssertionError):
        store.save(make_ready(bad(), hard_state=b"hs"))
    assert store.entries(1, 6) == before["entries"]
    if store_kind != "memory":  # LmdbStore validates first: the whole save is refused
        assert state_of(store) == before


def test_append_at_or_below_compaction_point_is_refused(store: Any) -> None:
    append(store, 1, 11, 1)
    store.save_snapshot(snap(5, 1))
    store.compact(5)
    with pytest.raises(AssertionError):
        store.save(make_ready(ents(5, 7, 2)))
    assert store.entries(6, 11) == list(ents(6, 11, 1))


# --- reads: max_bytes, boundaries ----------------------------------------


@pytest.mark.parametrize(
    ("max_bytes", "count"),
    [(None, 6), (0, 1), (9, 1), (10, 1), (25, 2), (30, 3), (59, 5), (60, 6), (10**9, 6)],
)
def test_entries_max_bytes(store: Any, max_bytes: int | None, count: int) -> None:
    entries = append(store, 1, 7, 1, size=10)
    assert store.entries(1, 7, max_bytes) == list(entries[:count])


def test_entries_max_bytes_counts_from_lo(store: Any) -> None:
    entries = append(store, 1, 11, 1, size=10)
    assert store.entries(4, 11, 35) == list(entries[3:6])
    assert store.entries(4, 5, 0) == [entries[3]]


def test_entries_bounds(store: Any) -> None:
    append(store, 1, 11, 1)
    store.save_snapshot(snap(4, 1))
    store.compact(4)
    assert store.entries(5, 5) == []
    assert store.entries(11, 11) == []
    with pytest.raises(Compacted):
        store.entries(4, 6)
    with pytest.raises(Compacted):
        store.entries(1, 11)
    with pytest.raises(Unavailable):
        store.entries(5, 12)
    assert [e.index for e in store.entries(5, 11)] == list(range(5, 11))


def test_term_boundaries(store: Any) -> None:
    append(store, 1, 6, 1)
    append(store, 6, 11, 2)
    store.save_snapshot(snap(7, 2))
    store.compact(7)
    assert store.term(7) == 2  # the snapshot's epoch
    assert store.term(8) == 2
    assert store.term(10) == 2
    with pytest.raises(Compacted):
        store.term(6)
    with pytest.raises(Compacted):
        store.term(0)
    with pytest.raises(Unavailable):
        store.term(11)


# --- snapshots -----------------------------------------------------------


def test_install_snapshot_replaces_log(store: Any) -> None:
    append(store, 1, 11, 1)
    s = snap(20, 3, (b"a" * 100, b"", b"c"))
    store.save(make_ready(snapshot=s, hard_state=b"hs3"))
    assert (store.first_index(), store.last_index()) == (21, 20)
    assert store.term(20) == 3
    with pytest.raises(Compacted):
        store.term(19)
    with pytest.raises(Unavailable):
        store.term(21)
    assert store.entries(21, 21) == []
    assert store.snapshot_meta() == s.meta
    assert list(snapshot_chunks(store)) == list(s.chunks)
    assert store.hard_state() == b"hs3"
    tail = append(store, 21, 24, 3)
    assert store.entries(21, 24) == list(tail)


def test_install_snapshot_behind_log_still_replaces_it(store: Any) -> None:
    append(store, 1, 11, 1)
    store.save(make_ready(snapshot=snap(5, 1)))
    assert (store.first_index(), store.last_index()) == (6, 5)
    with pytest.raises(Unavailable):
        store.term(6)


def test_install_snapshot_with_entries_in_one_ready(store: Any) -> None:
    append(store, 1, 4, 1)
    tail = ents(31, 34, 4)
    store.save(make_ready(tail, b"hs", snap(30, 4)))
    assert (store.first_index(), store.last_index()) == (31, 33)
    assert store.entries(31, 34) == list(tail)
    assert store.term(30) == 4


def test_install_snapshot_then_bad_entries_is_refused(store: Any, store_kind: str) -> None:
    append(store, 1, 4, 1)
    before = state_of(store)
    with pytest.raises(AssertionError):
        store.save(make_ready(ents(4, 6, 2), None, snap(30, 4)))  # not right after 30
    if store_kind != "memory":  # MemoryStore has installed the snapshot by then
        assert state_of(store) == before


def test_save_snapshot_keeps_log_and_compact_drops_prefix(store: Any) -> None:
    entries = append(store, 1, 11, 1)
    s = snap(7, 1, (b"x" * 5000, b"y"))
    store.save_snapshot(s)
    assert (store.first_index(), store.last_index()) == (1, 10)
    assert store.entries(1, 11) == list(entries)
    assert store.snapshot_meta() == s.meta
    assert store.snapshot_chunk(0) == b"x" * 5000
    assert store.snapshot_chunk(1) == b"y"
    store.compact(7)
    assert (store.first_index(), store.last_index()) == (8, 10)
    assert store.term(7) == 1
    assert store.entries(8, 11) == list(entries[7:])
    store.compact(3)  # behind the compaction point: nothing to do
    store.compact(7)
    assert store.first_index() == 8


def test_save_snapshot_replaces_previous_chunks(store: Any) -> None:
    append(store, 1, 11, 1)
    store.save_snapshot(snap(5, 1, (b"a", b"b", b"c")))
    store.save_snapshot(snap(9, 1, (b"z",)))
    assert store.snapshot_meta().index == 9
    assert list(snapshot_chunks(store)) == [b"z"]
    assert store.snapshot_chunk(0) == b"z"
    with pytest.raises(IndexError):
        store.snapshot_chunk(1)


def test_save_snapshot_with_no_chunks(store: Any) -> None:
    append(store, 1, 3, 1)
    store.save_snapshot(snap(2, 1, ()))
    assert store.snapshot_meta().chunk_count == 0
    assert list(snapshot_chunks(store)) == []


def test_save_snapshot_outside_log_is_refused(store: Any) -> None:
    append(store, 1, 11, 1)
    with pytest.raises(AssertionError):
        store.save_snapshot(snap(11, 1))
    store.save_snapshot(snap(6, 1))
    store.compact(6)
    with pytest.raises(AssertionError):
        store.save_snapshot(snap(5, 1))
    store.save_snapshot(snap(6, 1, (b"again",)))  # at the offset itself: allowed
    assert store.snapshot_chunk(0) == b"again"


def test_compact_needs_a_snapshot_covering_it(store: Any) -> None:
    append(store, 1, 11, 1)
    with pytest.raises(AssertionError):
        store.compact(3)
    store.save_snapshot(snap(5, 1))
    with pytest.raises(AssertionError):
        store.compact(6)
    assert store.first_index() == 1


def test_compact_below_snapshot_keeps_term_of_compaction_point(store: Any, store_kind: str) -> None:
    append(store, 1, 4, 1)
    append(store, 4, 8, 2)
    append(store, 8, 11, 3)
    store.save_snapshot(snap(9, 3))
    store.compact(5)  # keep a tail behind the snapshot for slow followers
    assert (store.first_index(), store.last_index()) == (6, 10)
    with pytest.raises(Compacted):
        store.term(4)
    assert store.term(5) == 2


def test_term_zero_stays_zero_after_local_snapshot(store: Any, store_kind: str) -> None:
    append(store, 1, 6, 2)
    store.save_snapshot(snap(3, 2))
    assert store.first_index() == 1
    assert store.term(0) == 0


# --- hard state ----------------------------------------------------------


def test_hard_state_round_trip(store: Any) -> None:
    assert store.hard_state() is None
    store.save(make_ready(hard_state=b"term=1"))
    assert store.hard_state() == b"term=1"
    store.save(make_ready(ents(1, 3, 1)))  # None: keep the old one
    assert store.hard_state() == b"term=1"
    store.save(make_ready(ents(3, 4, 2), hard_state=b"term=2 vote=3"))
    assert store.hard_state() == b"term=2 vote=3"
    store.save(make_ready(hard_state=b""))  # empty is a value, not None
    assert store.hard_state() == b""
    store.save(make_ready(snapshot=snap(9, 4)))
    assert store.hard_state() == b""


# --- differential: random writes, MemoryStore as the oracle --------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_writes_match_memory_store(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    memory = MemoryStore()
    lmdb_store: Any = open_lmdb(tmp_path / "data")
    try:
        for n, op in enumerate(itertools.islice(workload(seed), 150)):
            apply(memory, op)
            apply(lmdb_store, op)
            if rng.random() < 0.1:
                lmdb_store.close()
                lmdb_store = open_lmdb(tmp_path / "data")
            expected, actual = state_of(memory), state_of(lmdb_store)
            assert expected == actual, f"seed {seed} op {n}: {describe_difference(expected, actual)}"
    finally:
        lmdb_store.close()


def test_reopening_proxy_really_reopens(tmp_path: Path) -> None:
    s = ReopeningStore(tmp_path / "data")
    first = s._store
    append(s, 1, 2, 1)
    assert s._store is not first
    s.close()
