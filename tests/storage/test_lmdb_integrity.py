"""A damaged store is refused, never served (issue 10, finding 3): checksums, LMDB's
own metadata before mapping, and a page walk in a child process."""

from __future__ import annotations

import os
from pathlib import Path

import lmdb
import pytest

from replicator.storage import Damaged
from replicator.storage.lmdb_file import LmdbFileDamaged, check_data_file, walk_in_child
from replicator.types import Entry, Snapshot, SnapshotMeta
from tests.storage.support import make_ready, open_lmdb


def store_with_snapshot(path: Path) -> None:
    """Entries 1..300, a snapshot at 200 (two chunks), hard state; closed."""
    with open_lmdb(path) as store:
        store.save(make_ready([Entry(i, 1, b"v%d" % i) for i in range(1, 301)], b"hard"))
        store.save_snapshot(Snapshot(SnapshotMeta(200, 1, (1, 2, 3), (), 0, 2, 6), (b"abc", b"def")))


def rewrite(path: Path, db: bytes, key: bytes, change) -> None:
    with lmdb.open(str(path), map_size=1 << 30, max_dbs=4) as env:
        handle = env.open_db(db)
        with env.begin(write=True) as txn:
            value = txn.get(key, db=handle)
            txn.put(key, change(value), db=handle)


def flip_last_payload_byte(value: bytes) -> bytes:
    return value[:-9] + bytes([value[-9] ^ 1]) + value[-8:]


@pytest.mark.parametrize(
    "db, key, damage",
    [
        (b"meta", b"hard_state", "its metadata 'hard_state' fails its checksum"),
        (b"meta", b"snapshot", "its metadata 'snapshot' fails its checksum"),
        (b"meta", b"cluster_id", "its metadata 'cluster_id' fails its checksum"),
        (b"snap", (1).to_bytes(8, "big"), "snapshot chunk 1 fails its checksum"),
        (b"log", (250).to_bytes(8, "big"), "log entry 250 fails its checksum"),
    ],
)
def test_a_value_that_fails_its_checksum_is_refused_at_open(tmp_path, db, key, damage):
    path = tmp_path / "n1"
    store_with_snapshot(path)
    rewrite(path, db, key, flip_last_payload_byte)
    with pytest.raises(Damaged, match=f"{path} is damaged: {damage}.*On a follower: move it away"):
        open_lmdb(path)


def test_an_entry_below_the_snapshot_is_checked_when_read(tmp_path):
    """Open checks what the node replays (from the snapshot on); older entries are
    only sent to followers, and checked when read."""
    path = tmp_path / "n1"
    store_with_snapshot(path)
    rewrite(path, b"log", (100).to_bytes(8, "big"), flip_last_payload_byte)
    with open_lmdb(path) as store:
        assert store.entries(150, 160)[0].index == 150
        with pytest.raises(Damaged, match="log entry 100 fails its checksum"):
            store.entries(95, 105)
        with pytest.raises(Damaged, match="log entry 100 fails its checksum"):
            store.term(100)


def test_a_value_moved_under_another_key_fails_its_checksum(tmp_path):
    path = tmp_path / "n1"
    store_with_snapshot(path)
    with lmdb.open(str(path), map_size=1 << 30, max_dbs=4) as env:
        log_db = env.open_db(b"log")
        with env.begin(write=True) as txn:
            txn.put((250).to_bytes(8, "big"), txn.get((251).to_bytes(8, "big"), db=log_db), db=log_db)
    with pytest.raises(Damaged, match="log entry 250 fails its checksum"):
        open_lmdb(path)


def test_a_truncated_data_file_is_refused_before_lmdb_maps_it(tmp_path):
    path = tmp_path / "n1"
    store_with_snapshot(path)
    data = path / "data.mdb"
    os.truncate(data, data.stat().st_size // 2)
    with pytest.raises(Damaged, match=r"data.mdb: it is \d+ bytes but its metadata says it holds \d+ pages"):
        open_lmdb(path)  # LMDB itself would die of SIGBUS reading past the end
    os.truncate(data, 4100)  # page 0 whole, page 1 cut
    with pytest.raises(Damaged, match="too short to hold LMDB's second meta page"):
        open_lmdb(path)


def test_an_empty_data_file_is_a_new_store_with_a_new_incarnation(tmp_path):
    """A disk that lost everything: the store starts afresh, and its new incarnation
    tells the peers (replicator/incarnations.py)."""
    path = tmp_path / "n1"
    with open_lmdb(path) as store:
        store.save(make_ready([Entry(1, 1, b"x")]))
        old = store.incarnation
    os.truncate(path / "data.mdb", 0)
    with open_lmdb(path) as store:
        assert store.last_index() == 0 and store.incarnation not in (0, old)


def test_disagreeing_meta_pages_are_refused(tmp_path):
    path = tmp_path / "n1"
    store_with_snapshot(path)
    data = path / "data.mdb"
    psize = int.from_bytes(data.read_bytes()[40:44], "little")
    with open(data, "r+b") as f:
        f.seek(psize + 16 + 128 + 5)  # meta page 1: a high byte of its transaction id
        f.write(b"\x7f")
    with pytest.raises(LmdbFileDamaged, match="its two meta pages disagree"):
        check_data_file(data)
    with pytest.raises(Damaged, match="its two meta pages disagree"):
        open_lmdb(path)


def test_the_page_walk_reports_a_damaged_b_tree_instead_of_crashing(tmp_path):
    path = tmp_path / "n1"
    store_with_snapshot(path)
    assert walk_in_child(path) is None
    data = path / "data.mdb"
    raw = bytearray(data.read_bytes())
    psize = int.from_bytes(raw[40:44], "little")
    leaves = [n for n in range(2, len(raw) // psize) if raw[n * psize + 10] & 0x02]
    for n in leaves:  # the node offsets of every leaf page
        raw[n * psize + 16 : n * psize + 32] = b"\xff" * 16
    data.write_bytes(bytes(raw))
    problem = walk_in_child(path)
    assert problem is not None and ("LMDB" in problem or "records" in problem), problem
    with pytest.raises(Damaged, match="is damaged: .*data.mdb: "):
        open_lmdb(path, walk_pages=True)


def test_what_the_node_knows_of_its_peers_survives_a_restart(tmp_path):
    path = tmp_path / "n1"
    with open_lmdb(path) as store:
        incarnation = store.incarnation
        store.save_peer(2, 77, 0)
        store.save_peer(3, 88, 120)
    with open_lmdb(path) as store:
        assert store.incarnation == incarnation
        assert store.peers() == {2: (77, 0), 3: (88, 120)}
