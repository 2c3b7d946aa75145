"""An in-memory LogStore with the same semantics as LmdbStore.

Used by the simulator and by engine tests. Every write method is "durable" the
moment it returns: the simulator models a crash by dropping a Ready that was
not yet saved, so the store itself never needs to lose data.
"""

from __future__ import annotations

from replicator.protocol.log_store import Compacted, Unavailable
from replicator.protocol.ready import Ready
from replicator.types import Entry, Snapshot, SnapshotMeta


class MemoryStore:
    def __init__(self, incarnation: int = 1) -> None:
        # The simulator passes a fresh one (from its seeded rng) when it wipes a node's disk.
        self.incarnation = incarnation
        self._peers: dict[int, tuple[int, int]] = {}
        self._entries: list[Entry] = []  # contiguous, _entries[0].index == _offset + 1
        self._offset = 0  # index of the last entry compacted away (first_index - 1)
        self._offset_epoch = 0  # epoch of the entry at _offset, still answered by term()
        self._hard_state: bytes | None = None
        self._snapshot: Snapshot | None = None
        self.saves = 0  # how many durable writes happened (tests count fsyncs)

    # --- reads ----------------------------------------------------------
    def first_index(self) -> int:
        return self._offset + 1

    def last_index(self) -> int:
        return self._offset + len(self._entries)

    def term(self, index: int) -> int:
        if index == self._offset:
            return self._offset_epoch
        if index < self._offset:
            raise Compacted(index)
        if index > self.last_index():
            raise Unavailable(index)
        return self._entries[index - self._offset - 1].epoch

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        if lo <= self._offset:
            raise Compacted(lo)
        if hi > self.last_index() + 1:
            raise Unavailable(hi)
        out = self._entries[lo - self._offset - 1 : hi - self._offset - 1]
        if max_bytes is None:
            return out
        size = 0
        for n, entry in enumerate(out):
            size += len(entry.data)
            if size > max_bytes and n > 0:
                return out[:n]
        return out

    def hard_state(self) -> bytes | None:
        return self._hard_state

    def snapshot_meta(self) -> SnapshotMeta | None:
        return self._snapshot.meta if self._snapshot else None

    def snapshot_chunk(self, i: int) -> bytes:
        assert self._snapshot is not None, "no snapshot"
        return self._snapshot.chunks[i]

    # --- writes ---------------------------------------------------------
    def save(self, ready: Ready) -> None:
        if ready.hard_state is not None:
            self._hard_state = ready.hard_state
        if ready.snapshot is not None:
            self._install(ready.snapshot)
        if ready.entries:
            self._append(ready.entries)
        self.saves += 1

    def save_snapshot(self, snapshot: Snapshot) -> None:
        meta = snapshot.meta
        assert self._offset <= meta.index <= self.last_index(), (meta, self._offset)
        self._snapshot = snapshot
        self.saves += 1

    def compact(self, index: int) -> None:
        assert self._snapshot is not None and index <= self._snapshot.meta.index
        if index <= self._offset:
            return
        if index > self.last_index():
            self._offset_epoch = self._snapshot.meta.epoch
            self._entries = []
        else:
            self._offset_epoch = self._entries[index - self._offset - 1].epoch
            del self._entries[: index - self._offset]
        self._offset = index
        self.saves += 1

    def close(self) -> None:
        pass

    def peers(self) -> dict[int, tuple[int, int]]:
        return dict(self._peers)

    def save_peer(self, peer: int, incarnation: int, suspect_until: int) -> None:
        self._peers[peer] = (incarnation, suspect_until)
        self.saves += 1

    # --- helpers --------------------------------------------------------
    def _install(self, snapshot: Snapshot) -> None:
        # A received snapshot replaces the whole log (storage contract).
        self._snapshot = snapshot
        self._entries = []
        self._offset = snapshot.meta.index
        self._offset_epoch = snapshot.meta.epoch

    def _append(self, entries: tuple[Entry, ...]) -> None:
        first = entries[0].index
        assert self._offset < first <= self.last_index() + 1, (first, self._offset, self.last_index())
        del self._entries[first - self._offset - 1 :]
        for expected, entry in enumerate(entries, start=first):
            assert entry.index == expected, "entries must be contiguous"
        self._entries.extend(entries)
