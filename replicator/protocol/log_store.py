"""The log-store contract: what an engine may read of the durable log, and how a node writes it.

It lives in the protocol package because the engines read through it; the
stores (replicator/storage: LmdbStore for real nodes, MemoryStore for the
simulator and tests) implement it and import it from here, so the dependency
points one way: storage -> protocol, never back.

Reads (`first_index` .. `snapshot_chunk`) are what an engine may call. Writes
come in three shapes, each one durable transaction:
- `save(ready)`: hard state + received snapshot + appended entries of one Ready;
- `save_snapshot(snapshot)`: a snapshot this node took of its own state machine;
- `compact(index)`: drop log entries <= index (index <= the snapshot's index).

Integrity: a store verifies what it reads (LmdbStore: a checksum on every value)
and raises `Damaged` (replicator/storage) rather than return wrong data; the
node stops with its message. `incarnation`, `peers()` and `save_peer()` keep
what a node knows of disks, its own and its peers' (replicator/incarnations.py).

Log positions: the log holds entries first_index..last_index, and term() also
answers for first_index - 1 (the last compacted entry, or a received
snapshot's index). A locally taken snapshot at s leaves the log alone until
compact(); the log may then keep entries at and below s. An empty log without
snapshot has first_index 1, last_index 0, and term(0) == 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from replicator.protocol.ready import Ready
from replicator.types import Entry, Snapshot, SnapshotMeta


class StorageError(Exception):
    """Base of the errors below."""


class Compacted(StorageError):
    """The index is below first_index - 1: only a snapshot covers it now."""


class Unavailable(StorageError):
    """The index is beyond last_index."""


class LogStore(Protocol):
    # --- reads: what an engine may call -------------------------------
    def first_index(self) -> int: ...

    def last_index(self) -> int: ...

    def term(self, index: int) -> int:
        """Epoch of the entry at index; raises Compacted or Unavailable."""

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries lo..hi-1; at least one if lo < hi, then as many as fit max_bytes.
        Raises Compacted if lo < first_index, Unavailable if hi > last_index + 1."""

    def hard_state(self) -> bytes | None: ...

    def snapshot_meta(self) -> SnapshotMeta | None: ...

    def snapshot_chunk(self, i: int) -> bytes:
        """Chunk i (0-based) of the current snapshot."""

    # --- writes: each one a durable transaction -----------------------
    def save(self, ready: Ready) -> None: ...

    def save_snapshot(self, snapshot: Snapshot) -> None: ...

    def compact(self, index: int) -> None: ...

    def close(self) -> None: ...

    # --- what this node knows of disks: its own and its peers' --------
    incarnation: int
    """Random id drawn when the store was created: a node that lost its disk comes back
    with a new one, and its peers notice (runtime/incarnations.py)."""

    def peers(self) -> dict[int, tuple[int, int]]:
        """peer -> (its incarnation as first seen, suspect-until index or 0)."""

    def save_peer(self, peer: int, incarnation: int, suspect_until: int) -> None:
        """Durably record what we know of a peer's disk."""


def snapshot_chunks(store: LogStore) -> Iterator[bytes]:
    """Every chunk of the store's current snapshot, in order, one at a time."""
    meta = store.snapshot_meta()
    if meta is not None:
        for i in range(meta.chunk_count):
            yield store.snapshot_chunk(i)
