"""LogView: the log as an engine sees it - durable store + unstable tail + cursors.

After etcd-io/raft `log.go` / `log_unstable.go`. The log is split in two:

    store (durable, read-only here)      unstable tail (engine memory)
    [first_index ............ offset-1]  [offset ............ last_index]

* Entries at index >= `offset` live in `_unstable` (a list): appended by the
  leader or received from it, and not yet acknowledged as durable by
  advance(). The store may still hold *older* entries at those indexes (a
  conflict truncated them here first): the store is never read at or past
  `offset`.
* `_in_progress` entries at the head of the tail have been handed out in a
  Ready and await advance(); the rest are new.
* A snapshot received from a leader stays `pending_snapshot` until advance()d;
  meanwhile it is the log's base (offset == its index + 1).

`first_index` is never cached: the host compacts the store behind our back
after it snapshots its state machine, and the engine notices through the
store's `Compacted` error. `last_index` needs no store read: the engine is
the only writer of entries, so `offset - 1` is always the last durable index.

Cursors, with the invariant applied <= applying <= committed <= last_index:
`committed` is the highest index known committed; `applying` the highest
handed out for apply in a Ready; `applied` the highest acknowledged applied.
"""

from __future__ import annotations

from collections.abc import Sequence

from replicator.protocol.log_store import Compacted, LogStore, Unavailable
from replicator.protocol.membership import ConfigHistory
from replicator.types import Entry, EntryKind, Membership, Snapshot

_CONFIG = EntryKind.CONFIG

RECENT_ENTRIES_MAX = 4096  # durable entries kept in memory for reads (see LogView._recent)


def limit_size(entries: list[Entry], max_bytes: int | None) -> list[Entry]:
    """The longest prefix whose payloads fit `max_bytes`; at least one entry."""
    if max_bytes is None:
        return entries
    size = 0
    for n, entry in enumerate(entries):
        size += len(entry.data)
        if size > max_bytes and n > 0:
            return entries[:n]
    return entries


class LogView:
    __slots__ = (
        "store",
        "_unstable",
        "_offset",
        "_in_progress",
        "pending_snapshot",
        "_snapshot_in_progress",
        "_recent",
        "committed",
        "applying",
        "applied",
        "configs",
    )

    def __init__(self, store: LogStore, *, committed: int, applied: int, configs: ConfigHistory | None = None) -> None:
        self.store = store
        # The configurations this log holds, kept in step with every append, truncation
        # and snapshot here (membership.py); None: a log without any (LogView's own tests).
        self.configs = configs if configs is not None else ConfigHistory(0, Membership(()))
        self._unstable: list[Entry] = []
        # The newest durable entries, ending at _offset - 1. Entries are applied and
        # sent to followers soon after they become durable: serving those reads from
        # memory spares decoding them back out of the store on the hot path.
        self._recent: list[Entry] = []
        self._offset = store.last_index() + 1
        self._in_progress = 0
        self.pending_snapshot: Snapshot | None = None
        self._snapshot_in_progress = False
        first = store.first_index()
        if applied < first - 1:
            raise ValueError(
                f"applied={applied} is behind the store's snapshot (first index {first}): "
                "restore the state machine from the stored snapshot and pass its index"
            )
        assert applied <= committed <= self._offset - 1, (applied, committed, self._offset - 1)
        self.committed = committed
        self.applying = applied
        self.applied = applied

    def __repr__(self) -> str:
        return (
            f"LogView(offset={self._offset}, unstable={len(self._unstable)}, in_progress={self._in_progress}, "
            f"committed={self.committed}, applied={self.applied})"
        )

    # --- positions ----------------------------------------------------------
    def first_index(self) -> int:
        if self.pending_snapshot is not None:
            return self.pending_snapshot.meta.index + 1
        return self.store.first_index()

    def last_index(self) -> int:
        return self._offset + len(self._unstable) - 1

    def stable_last_index(self) -> int:
        """Last index durable in the store (and part of this log)."""
        return self._offset - 1

    def term(self, index: int) -> int:
        """Term of the entry at `index`; raises Compacted or Unavailable."""
        offset = self._offset
        if index >= offset:
            i = index - offset
            if i < len(self._unstable):
                return self._unstable[i].epoch
            raise Unavailable(index)
        snap = self.pending_snapshot
        if snap is not None:
            if index == snap.meta.index:
                return snap.meta.epoch
            raise Compacted(index)
        return self.store.term(index)

    def last_term(self) -> int:
        if self._unstable:
            return self._unstable[-1].epoch
        return self.term(self._offset - 1)

    def match_term(self, index: int, term: int) -> bool:
        try:
            return self.term(index) == term
        except (Compacted, Unavailable):
            return False

    def may_hold(self, index: int, term: int) -> bool:
        """Whether (index, term) may be an entry of this log: it is, or index is
        compacted or past the log, where we cannot tell. False only when our
        entry at index has another term: proof that a peer's claim is wrong."""
        try:
            return self.term(index) == term
        except (Compacted, Unavailable):
            return True

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a log ending at (last_index, last_term) is at least as new as ours (§5.4.1)."""
        ours = self.last_term()
        return last_term > ours or (last_term == ours and last_index >= self.last_index())

    # --- reads --------------------------------------------------------------
    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries lo..hi-1, at least one if lo < hi, as many as fit max_bytes.

        Raises Compacted if lo is below the first index, Unavailable if hi is
        past last_index + 1. The result may be a list shared with nobody: the
        caller owns it.
        """
        if lo >= hi:
            return []
        offset = self._offset
        unstable = self._unstable
        if hi > offset + len(unstable):
            raise Unavailable(hi)
        if lo >= offset:
            return limit_size(unstable[lo - offset : hi - offset], max_bytes)
        if self.pending_snapshot is not None:
            raise Compacted(lo)
        stable_hi = min(hi, offset)
        recent = self._recent
        recent_lo = offset - len(recent)
        if recent and lo >= recent_lo and lo >= self.store.first_index():
            ents = limit_size(recent[lo - recent_lo : stable_hi - recent_lo], max_bytes)
        else:
            ents = self.store.entries(lo, stable_hi, max_bytes)
        if hi <= offset or len(ents) < stable_hi - lo:
            return ents  # all from the store, or the size limit already hit
        tail = unstable[: hi - offset]
        if max_bytes is None:
            return ents + tail
        room = max_bytes - sum(len(e.data) for e in ents)
        size = 0
        for n, entry in enumerate(tail):
            size += len(entry.data)
            if size > room:
                return ents + tail[:n]
        return ents + tail

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index <= `index` whose term is <= `term`, with its term.

        Used both by a follower building its rejection hint and by the leader
        reading one (fast backtracking, thesis §5.3 note / etcd): every index
        whose term exceeds `term` cannot match, so a whole term is skipped per
        round trip. An index we cannot read (compacted) is returned as is.
        """
        if index > self.last_index():
            return index, 0
        while index > 0:
            try:
                t = self.term(index)
            except Compacted:
                return index, 0
            if t <= term:
                return index, t
            index -= 1
        return 0, 0

    # --- writes (to the unstable tail) --------------------------------------
    def append(self, entry: Entry) -> None:
        """Leader: append one new entry at last_index + 1."""
        self._unstable.append(entry)
        if entry.kind == _CONFIG:
            self.configs.appended((entry,))

    def maybe_append(self, prev_index: int, prev_term: int, commit: int, entries: Sequence[Entry]) -> int | None:
        """Follower: apply an AppendEntries. Returns the last index it vouches
        for (prev_index + len(entries)), or None if prev does not match (§5.3)."""
        if not self.match_term(prev_index, prev_term):
            return None
        last_new = prev_index + len(entries)
        conflict = self._find_conflict(entries)
        if conflict:
            # Never truncate a committed entry: that would break State Machine Safety.
            assert conflict > self.committed, f"conflict at {conflict} <= committed {self.committed}"
            self.truncate_and_append(entries[conflict - prev_index - 1 :])
        self.commit_to(min(commit, last_new))
        return last_new

    def _find_conflict(self, entries: Sequence[Entry]) -> int:
        """Index of the first entry that is new or disagrees with ours, else 0."""
        if not entries:
            return 0
        last = self.last_index()
        if entries[0].index > last:
            return entries[0].index  # the common case: all new
        for entry in entries:
            if entry.index > last or not self.match_term(entry.index, entry.epoch):
                return entry.index
        return 0

    def truncate_and_append(self, entries: Sequence[Entry]) -> None:
        """Entries[0] replaces our entry at its index and everything after it."""
        first = entries[0].index
        configs = self.configs
        configs.truncated(first)
        for entry in entries:
            if entry.kind == _CONFIG:
                configs.appended(entries)
                break
        offset = self._offset
        unstable = self._unstable
        if first == offset + len(unstable):
            unstable.extend(entries)
        elif first <= offset:
            # Storage replaces stored entries >= first when it saves these.
            recent_lo = offset - len(self._recent)
            del self._recent[max(0, first - recent_lo) :]
            self._offset = first
            self._unstable = list(entries)
            self._in_progress = 0
        else:
            cut = first - offset
            del unstable[cut:]
            unstable.extend(entries)
            self._in_progress = min(self._in_progress, cut)

    def commit_to(self, index: int) -> bool:
        if index <= self.committed:
            return False
        assert index <= self.last_index(), f"commit {index} past last index {self.last_index()}"
        self.committed = index
        if len(self.configs) > 1:
            self.configs.forget_before(index)
        return True

    def restore(self, snapshot: Snapshot) -> None:
        """Follower: a leader's snapshot replaces the whole log."""
        index = snapshot.meta.index
        assert index > self.committed
        self.pending_snapshot = snapshot
        self._snapshot_in_progress = False
        self._offset = index + 1
        self._unstable = []
        self._recent = []
        self._in_progress = 0
        self.committed = index
        self.applying = index  # the driver restores the state machine from it
        self.configs.restored(index, snapshot.meta.members())

    # --- the Ready cycle ----------------------------------------------------
    def has_entries_to_persist(self) -> bool:
        return self._in_progress < len(self._unstable)

    def take_entries_to_persist(self) -> tuple[Entry, ...]:
        unstable = self._unstable
        start = self._in_progress
        self._in_progress = len(unstable)
        if start == 0:
            return tuple(unstable)
        return tuple(unstable[start:])

    def has_snapshot_to_persist(self) -> bool:
        return self.pending_snapshot is not None and not self._snapshot_in_progress

    def take_snapshot_to_persist(self) -> Snapshot | None:
        if self.pending_snapshot is None or self._snapshot_in_progress:
            return None
        self._snapshot_in_progress = True
        return self.pending_snapshot

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to (index, term) are durable; forget them unless they
        were replaced meanwhile (a later Ready carries the replacement)."""
        i = index - self._offset
        unstable = self._unstable
        if i < 0 or i >= len(unstable) or unstable[i].epoch != term:
            return
        recent = self._recent
        recent.extend(unstable[: i + 1])
        if len(recent) > RECENT_ENTRIES_MAX:
            del recent[: len(recent) - RECENT_ENTRIES_MAX]
        del unstable[: i + 1]
        self._offset = index + 1
        self._in_progress = max(0, self._in_progress - (i + 1))

    def stable_snapshot_to(self, index: int) -> None:
        snap = self.pending_snapshot
        if snap is not None and snap.meta.index == index and self._snapshot_in_progress:
            self.pending_snapshot = None
            self._snapshot_in_progress = False

    def has_next_committed(self) -> bool:
        return self.applying < self.committed

    def take_next_committed(self, max_bytes: int | None) -> tuple[Entry, ...]:
        lo = self.applying + 1
        hi = self.committed + 1
        if lo >= hi:
            return ()
        ents = self.entries(lo, hi, max_bytes)
        self.applying = ents[-1].index
        return tuple(ents)

    def applied_to(self, index: int) -> None:
        assert index <= self.applying, (index, self.applying)
        if index > self.applied:
            self.applied = index


__all__ = ["LogView", "limit_size"]
