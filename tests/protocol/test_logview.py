"""LogView: stable store + unstable tail, cursors, and never caching first_index."""

import pytest

from replicator.protocol.log import LogView, limit_size
from replicator.protocol.log_store import Compacted, Unavailable
from replicator.protocol.ready import Ready
from replicator.storage.memory_store import MemoryStore
from replicator.types import Entry, Snapshot, SnapshotMeta


def ents(*terms, start=1, size=0):
    return [Entry(i, t, b"x" * size) for i, t in enumerate(terms, start=start)]


def save(store, entries=(), snapshot=None):
    store.save(Ready(0, None, tuple(entries), snapshot, True, (), (), (), (), None))


def view(stored=(), committed=0, applied=0):
    store = MemoryStore()
    if stored:
        save(store, stored)
    return store, LogView(store, committed=committed, applied=applied)


def test_reads_span_store_and_unstable_tail():
    store, log = view(ents(1, 1, 2))
    for e in ents(2, 3, start=4):
        log.append(e)
    assert (log.first_index(), log.last_index(), log.stable_last_index()) == (1, 5, 3)
    assert [log.term(i) for i in range(6)] == [0, 1, 1, 2, 2, 3]
    assert [e.index for e in log.entries(2, 6)] == [2, 3, 4, 5]
    with pytest.raises(Unavailable):
        log.term(6)
    with pytest.raises(Unavailable):
        log.entries(5, 7)


def test_entries_respect_max_bytes_across_the_boundary():
    store, log = view(ents(1, 1, size=10))
    for e in ents(1, 1, start=3, size=10):
        log.append(e)
    assert [e.index for e in log.entries(1, 5, 25)] == [1, 2]
    assert [e.index for e in log.entries(2, 5, 25)] == [2, 3]
    assert [e.index for e in log.entries(1, 5, 5)] == [1]  # at least one
    assert [e.index for e in log.entries(3, 5, 5)] == [3]
    assert limit_size(ents(1, 1, size=4), None) == ents(1, 1, size=4)


def test_first_index_is_read_from_the_store_each_time():
    store, log = view(ents(1, 1, 1, 2), committed=4, applied=4)
    assert log.first_index() == 1
    store.save_snapshot(Snapshot(SnapshotMeta(index=3, epoch=1)))
    store.compact(3)
    assert log.first_index() == 4
    assert log.term(3) == 1
    with pytest.raises(Compacted):
        log.term(2)
    with pytest.raises(Compacted):
        log.entries(2, 5)


def test_truncate_inside_the_tail_and_below_it():
    store, log = view(ents(1, 1))
    for e in ents(1, 1, start=3):
        log.append(e)
    assert log.take_entries_to_persist() == tuple(ents(1, 1, start=3))
    log.truncate_and_append(ents(2, start=4))
    assert [log.term(i) for i in (1, 2, 3, 4)] == [1, 1, 1, 2]
    assert log.take_entries_to_persist() == tuple(ents(2, start=4))
    log.truncate_and_append(ents(3, 3, start=2))  # below the tail: the store's 2 is replaced
    assert [log.term(i) for i in (1, 2, 3)] == [1, 3, 3] and log.last_index() == 3
    assert log.take_entries_to_persist() == tuple(ents(3, 3, start=2))


def test_stable_to_ignores_entries_replaced_meanwhile():
    store, log = view()
    for e in ents(1, 1):
        log.append(e)
    handed = log.take_entries_to_persist()
    log.truncate_and_append(ents(2, start=2))  # replaced before the Ready was advanced
    save(store, handed)
    log.stable_to(2, 1)  # stale: entry 2 is now term 2
    assert log.stable_last_index() == 0 and log.term(2) == 2
    save(store, log.take_entries_to_persist())
    log.stable_to(2, 2)
    assert log.stable_last_index() == 2 and log.term(2) == 2


def test_maybe_append_and_conflicts():
    store, log = view(ents(1, 1, 2, 2), committed=1)
    assert log.maybe_append(4, 3, 9, ents(3, start=5)) is None  # prev does not match
    assert log.maybe_append(2, 1, 3, ents(3, 3, start=3)) == 4  # conflict at 3 truncates
    assert [log.term(i) for i in (1, 2, 3, 4)] == [1, 1, 3, 3]
    assert log.committed == 3
    assert log.maybe_append(1, 1, 4, ents(1, start=2)) == 2  # old duplicate: no truncation
    assert log.last_index() == 4 and log.committed == 3  # commit <= last new index
    with pytest.raises(AssertionError):
        log.maybe_append(0, 0, 0, ents(9))  # would truncate a committed entry


def test_find_conflict_by_term():
    store, log = view(ents(1, 1, 2, 2, 2, 5, 5))
    assert log.find_conflict_by_term(7, 4) == (5, 2)
    assert log.find_conflict_by_term(7, 5) == (7, 5)
    assert log.find_conflict_by_term(4, 1) == (2, 1)
    assert log.find_conflict_by_term(9, 1) == (9, 0)  # beyond our log: as is
    assert log.find_conflict_by_term(7, 0) == (0, 0)


def test_restore_makes_the_snapshot_the_base_until_advanced():
    store, log = view(ents(1, 1), committed=1, applied=1)
    snap = Snapshot(SnapshotMeta(index=10, epoch=3, chunk_count=1), (b"s",))
    log.restore(snap)
    assert (log.first_index(), log.last_index(), log.committed, log.term(10)) == (11, 10, 10, 3)
    with pytest.raises(Compacted):
        log.entries(2, 3)
    assert log.take_snapshot_to_persist() is snap
    assert not log.has_next_committed()
    save(store, snapshot=snap)
    log.stable_snapshot_to(10)
    log.applied_to(10)
    assert log.pending_snapshot is None and log.first_index() == 11 and log.applied == 10


def test_committed_entries_are_handed_out_once_and_bounded():
    store, log = view(ents(1, 1, 1, size=8), committed=3)
    assert [e.index for e in log.take_next_committed(10)] == [1]
    assert [e.index for e in log.take_next_committed(None)] == [2, 3]
    assert log.take_next_committed(None) == ()
    log.applied_to(3)
    assert log.applied == 3


def test_applied_behind_the_snapshot_is_refused():
    store, _ = view(ents(1, 1, 1), committed=3, applied=3)
    store.save_snapshot(Snapshot(SnapshotMeta(index=3, epoch=1)))
    store.compact(3)
    with pytest.raises(ValueError, match="behind the store's snapshot"):
        LogView(store, committed=3, applied=0)
