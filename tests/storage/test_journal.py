"""The journal (replicator/storage/journal.py) as a crash and a damaged disk leave it.

Each case writes through an LmdbStore, copies its files as a killed process leaves them
(no checkpoint), changes the copy's journal as a crash or a bad disk would, and opens it.
"""

from __future__ import annotations

from pathlib import Path

import lmdb
import pytest

from replicator.storage import Damaged
from replicator.storage.journal import HEADER_BYTES, JOURNAL_FILE
from replicator.storage.lmdb_store import FORMAT_VERSION, UPGRADABLE_FORMAT
from replicator.types import Entry
from tests.storage.support import abandon, copy_as_killed, make_ready, open_lmdb


def three_appends(tmp_path: Path) -> tuple[Path, list[int]]:
    """A store's copy after three journaled appends (entries 1-2, 3-4, 5-6, each with a hard
    state), and where each record starts in its journal."""
    store = open_lmdb(tmp_path / "live")
    starts = []
    for i in range(3):
        starts.append(store._journal.position)
        entries = (Entry(2 * i + 1, 1, b"a" * 40), Entry(2 * i + 2, 1, b"b" * 40))
        store.save(make_ready(entries, b"hs%d" % i))
    copy = tmp_path / "copy"
    copy_as_killed(tmp_path / "live", copy)
    abandon(store)
    return copy, starts


def flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x40]))


def test_journaled_appends_survive_a_kill(tmp_path: Path) -> None:
    copy, _ = three_appends(tmp_path)
    with open_lmdb(copy) as store:
        assert (store.last_index(), store.hard_state()) == (6, b"hs2")
        assert [e.index for e in store.entries(1, 7)] == [1, 2, 3, 4, 5, 6]


def test_a_torn_last_record_is_the_write_that_never_returned(tmp_path: Path) -> None:
    copy, starts = three_appends(tmp_path)
    journal = copy / JOURNAL_FILE
    data = bytearray(journal.read_bytes())
    end = starts[2] + HEADER_BYTES + 30  # the crash cut the third record's payload short
    data[end:] = bytes(len(data) - end)
    journal.write_bytes(bytes(data))
    with open_lmdb(copy) as store:
        assert (store.last_index(), store.hard_state()) == (4, b"hs1")
        store.save(make_ready((Entry(5, 2, b"new"),), b"after"))  # the next write overwrites the torn one
    with open_lmdb(copy) as store:
        assert (store.last_index(), store.term(5), store.hard_state()) == (5, 2, b"after")


def test_a_damaged_record_before_good_ones_is_damage_not_a_shorter_log(tmp_path: Path) -> None:
    copy, starts = three_appends(tmp_path)
    flip(copy / JOURNAL_FILE, starts[1] + HEADER_BYTES + 5)  # inside the second record's payload
    with pytest.raises(Damaged, match="journal is damaged: record 1 at offset .* fails its checks, but record 2"):
        open_lmdb(copy)


def test_a_damaged_header_before_good_ones_is_damage(tmp_path: Path) -> None:
    copy, starts = three_appends(tmp_path)
    flip(copy / JOURNAL_FILE, starts[1] + 17)  # the second record's length field
    with pytest.raises(Damaged, match="journal is damaged"):
        open_lmdb(copy)


def test_a_missing_journal_is_damage(tmp_path: Path) -> None:
    copy, _ = three_appends(tmp_path)
    (copy / JOURNAL_FILE).unlink()
    with pytest.raises(Damaged, match="journal.wal is missing"):
        open_lmdb(copy)


def test_records_of_a_retired_generation_are_not_replayed(tmp_path: Path) -> None:
    """After a checkpoint the journal is written from offset 0 again; what lies beyond the
    new records is the old generation's, already in LMDB, and must not be applied twice."""
    store = open_lmdb(tmp_path / "live", journal_bytes=1200)
    for i in range(1, 40):
        store.save(make_ready((Entry(i, 1, b"x" * 30),), b"hs%d" % i))
    store.save(make_ready((Entry(39, 2, b"replaced"),)))  # a truncation inside the tail
    copy = tmp_path / "copy"
    copy_as_killed(tmp_path / "live", copy)
    abandon(store)
    with open_lmdb(copy) as reopened:
        assert (reopened.last_index(), reopened.term(39), reopened.term(38), reopened.hard_state()) == (
            39,
            2,
            1,
            b"hs39",
        )
        assert [e.data for e in reopened.entries(37, 40)] == [b"x" * 30, b"x" * 30, b"replaced"]


def test_a_store_from_before_the_journal_is_opened_and_given_one(tmp_path: Path) -> None:
    path = tmp_path / "n1"
    with open_lmdb(path) as store:
        store.save(make_ready((Entry(1, 1, b"old"),), b"hs"))
    (path / JOURNAL_FILE).unlink()
    with lmdb.open(str(path), map_size=1 << 30, max_dbs=4) as env:
        meta = env.open_db(b"meta")
        with env.begin(write=True) as txn:
            txn.put(b"format", UPGRADABLE_FORMAT.to_bytes(4, "big"), db=meta)
            txn.delete(b"journal_gen", db=meta)
    with open_lmdb(path) as store:
        assert (store.last_index(), store.hard_state()) == (1, b"hs")
        store.save(make_ready((Entry(2, 1, b"new"),)))
    with open_lmdb(path) as store:
        assert store.last_index() == 2
    with lmdb.open(str(path), map_size=1 << 30, max_dbs=4) as env:
        with env.begin(db=env.open_db(b"meta")) as txn:
            assert txn.get(b"format") == FORMAT_VERSION.to_bytes(4, "big")
