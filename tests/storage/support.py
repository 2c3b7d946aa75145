"""A seeded stream of LogStore writes, a state comparison, and the crash child.

`workload(seed)` yields valid write operations (appends, tail overwrites, hard
state, snapshot installs, local snapshots, compactions, empty Readies). It is
deterministic: the crash test's parent regenerates exactly what the child wrote.

Run as a module, it is the child of the SIGKILL test:
    python -m tests.storage.support DATA_DIR SEED
opens an LmdbStore, applies the workload forever, and after each write has
returned writes "n\\n" (the count of acknowledged operations) to stdout.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from replicator.protocol.log_store import snapshot_chunks
from replicator.protocol.ready import Ready
from replicator.storage.memory_store import MemoryStore
from replicator.types import Entry, EntryKind, Snapshot, SnapshotMeta

IDENTITY = {"cluster_id": "crash-test", "node_id": 1, "protocol": "raft"}

Op = tuple[str, Any]  # ("save", Ready) | ("save_snapshot", Snapshot) | ("compact", int)


def make_ready(
    entries: tuple[Entry, ...] | list[Entry] = (),
    hard_state: bytes | None = None,
    snapshot: Snapshot | None = None,
    number: int = 1,
) -> Ready:
    entries = tuple(entries)
    return Ready(
        number=number,
        hard_state=hard_state,
        entries=entries,
        snapshot=snapshot,
        must_sync=bool(entries or hard_state is not None or snapshot is not None),
        messages=(),
        messages_after_persist=(),
        committed=(),
        read_states=(),
        soft_state=None,
    )


def apply(store: Any, op: Op) -> None:
    kind, arg = op
    if kind == "save":
        store.save(arg)
    elif kind == "save_snapshot":
        store.save_snapshot(arg)
    else:
        assert kind == "compact"
        store.compact(arg)


def _entries(rng: random.Random, first: int, count: int, epoch: int) -> tuple[Entry, ...]:
    out = []
    for index in range(first, first + count):
        size = rng.choice((0, 8, 8, 40, 40, 300, 300, 5000))
        kind = rng.choice((EntryKind.NORMAL,) * 8 + (EntryKind.NOOP, EntryKind.CONFIG))
        zxid = (epoch << 32) | index
        out.append(Entry(index, epoch, rng.randbytes(size), kind, zxid))
    return tuple(out)


def _snapshot(rng: random.Random, index: int, epoch: int) -> Snapshot:
    chunks = tuple(rng.randbytes(rng.randint(0, 3000)) for _ in range(rng.randint(0, 3)))
    meta = SnapshotMeta(
        index=index,
        epoch=epoch,
        voters=(1, 2, 3),
        observers=(rng.randint(4, 9),),
        zxid=(epoch << 32) | index,
        chunk_count=len(chunks),
        size_bytes=sum(map(len, chunks)),
    )
    return Snapshot(meta, chunks)


def workload(seed: int) -> Iterator[Op]:
    """An endless, deterministic stream of valid writes."""
    rng = random.Random(seed)
    model = MemoryStore()
    epoch = 1
    n = 0
    while True:
        n += 1
        offset, last = model.first_index() - 1, model.last_index()
        snap = model.snapshot_meta()
        r = rng.random()
        hard_state = b"hs-%d-%d" % (epoch, n) if rng.random() < 0.5 else None
        op: Op
        if r < 0.50:
            op = (
                "save",
                make_ready(_entries(rng, last + 1, rng.randint(1, 40), epoch), hard_state, number=n),
            )
        elif r < 0.62:
            epoch += 1
            first = rng.randint(max(offset + 1, last - 8), last + 1)
            op = (
                "save",
                make_ready(_entries(rng, first, rng.randint(1, 10), epoch), hard_state, number=n),
            )
        elif r < 0.70:
            op = ("save", make_ready((), b"hs-%d-%d" % (epoch, n), number=n))
        elif r < 0.80 and last >= max(offset, 1):
            index = rng.randint(max(offset, 1), last)
            op = ("save_snapshot", _snapshot(rng, index, model.term(index)))
        elif r < 0.90 and snap is not None and snap.index > offset:
            op = ("compact", rng.randint(offset + 1, snap.index))
        elif r < 0.96:
            epoch += 1
            index = max(1, last + rng.randint(-5, 30))
            entries = _entries(rng, index + 1, rng.randint(0, 5), epoch)
            op = ("save", make_ready(entries, hard_state, _snapshot(rng, index, epoch), number=n))
        else:
            op = ("save", make_ready((), None, number=n))
        apply(model, op)
        yield op


def state_of(store: Any) -> dict[str, Any]:
    """Everything a LogStore lets an engine observe, as one comparable dict."""
    first, last = store.first_index(), store.last_index()
    meta = store.snapshot_meta()
    state: dict[str, Any] = {
        "first": first,
        "last": last,
        "hard_state": store.hard_state(),
        "snapshot_meta": meta,
        "chunks": list(snapshot_chunks(store)),
        "entries": store.entries(first, last + 1),
        "terms": [store.term(i) for i in range(first, last + 1)],
    }
    # term(first - 1) is well defined in both stores only at these points
    # (MemoryStore answers the snapshot's epoch for any compaction point).
    offset = first - 1
    if (meta is None and offset == 0) or (meta is not None and meta.index == offset):
        state["offset_term"] = store.term(offset)
    return state


def describe_difference(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    lines = []
    for key in expected.keys() | actual.keys():
        a, b = expected.get(key), actual.get(key)
        if a != b:
            if isinstance(a, list) and isinstance(b, list):
                lines.append(f"{key}: len {len(a)} vs {len(b)}")
            else:
                lines.append(f"{key}: {str(a)[:200]} vs {str(b)[:200]}")
    return "; ".join(sorted(lines))


def open_lmdb(path: Path | str, **overrides: Any) -> Any:
    from replicator.storage.lmdb_store import LmdbStore

    return LmdbStore.open(path, **{**IDENTITY, **overrides})


class ReopeningStore:
    """An LmdbStore proxy that closes and reopens the store after each write."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._store = open_lmdb(path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _reopen(self) -> None:
        self._store.close()
        self._store = open_lmdb(self._path)

    def save(self, ready: Ready) -> None:
        try:
            self._store.save(ready)
        finally:
            self._reopen()

    def save_snapshot(self, snapshot: Snapshot) -> None:
        try:
            self._store.save_snapshot(snapshot)
        finally:
            self._reopen()

    def compact(self, index: int) -> None:
        try:
            self._store.compact(index)
        finally:
            self._reopen()

    def close(self) -> None:
        self._store.close()


def copy_as_killed(source: Path, target: Path) -> None:
    """Copy an open store's files as a process killed now would leave them: what it wrote is
    in the page cache, so a copy sees it. Lock files are not data: a new process makes its own."""
    target.mkdir(parents=True)
    for name in ("data.mdb", "journal.wal"):
        (target / name).write_bytes((source / name).read_bytes())


def abandon(store: Any) -> None:
    """Release an open LmdbStore without the checkpoint close() makes (as a killed process)."""
    store._journal.close()
    store._env.close()
    os.close(store._lock_fd)
    store._env = store._lock_fd = None


class CrashingStore(ReopeningStore):
    """An LmdbStore proxy that "crashes" after each write: the store's files are copied as a
    killed process leaves them (what it wrote is in the page cache; no close, no checkpoint)
    and the copy is opened, so every case also checks the journal's replay. A small journal
    (`journal_bytes`) makes checkpoints and Readys too large for it happen in every case."""

    def __init__(self, path: Path, journal_bytes: int = 600) -> None:
        self._generation = 0
        self._base = path
        self._journal_bytes = journal_bytes
        self._path = self._next_path()
        self._store = open_lmdb(self._path, journal_bytes=journal_bytes)

    def _next_path(self) -> Path:
        self._generation += 1
        return self._base.with_name(f"{self._base.name}-life{self._generation}")

    def _reopen(self) -> None:
        path = self._next_path()
        copy_as_killed(self._path, path)
        abandon(self._store)
        self._path = path
        self._store = open_lmdb(path, journal_bytes=self._journal_bytes)


def _child(path: str, seed: int) -> None:
    store = open_lmdb(path)
    for n, op in enumerate(workload(seed), start=1):
        apply(store, op)
        os.write(1, b"%d\n" % n)  # acknowledged: the write returned


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]))
