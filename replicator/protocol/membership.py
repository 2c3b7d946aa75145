"""The configurations a log holds, and the one a node uses: the newest.

A membership change is a CONFIG entry whose payload is the whole new Membership
(types.py). As in the Raft dissertation (§4.1) and ZooKeeper's reconfig, a node
uses the newest configuration in its log whether or not it has committed, so a
configuration takes effect on every node the moment that node appends it; when
a leader's log truncates the entry away, the node falls back to the one before.
`ConfigHistory` keeps exactly what that needs: the configuration at the log's
base (the snapshot's, or the bootstrap one at index 0) and one per CONFIG entry
after it. The engines decide what a configuration means for them (Raft: one
voter changed at a time; ZAB: the old and the new ensemble both ack while the
change is pending).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from replicator.protocol.log_store import LogStore
from replicator.types import Entry, EntryKind, Membership, config_entry_membership

_CONFIG = EntryKind.CONFIG
_RECOVERY_READ_BYTES = 4 << 20  # log bytes read at a time when recovering the configurations


class MembershipChangeRefused(ValueError):
    """Engine.propose_config refused a change: `args[0]` says why, for the client."""


class ConfigHistory:
    """(index, Membership) pairs in index order; the first is the log's base.

    `on_change(latest)` is called whenever the newest configuration changes
    (an append, a truncation, a snapshot): the engine recomputes its voters and
    peers there.
    """

    __slots__ = ("_configs", "on_change")

    def __init__(self, base_index: int, base: Membership) -> None:
        self._configs: list[tuple[int, Membership]] = [(base_index, base)]
        self.on_change: Callable[[Membership], None] | None = None

    @classmethod
    def recover(cls, store: LogStore, bootstrap: Membership) -> ConfigHistory:
        """The configurations of a node's own store: its snapshot's, then every CONFIG
        entry after it. `bootstrap` (the config file's members) counts only where the
        store holds none: a new cluster, or a new member that has received nothing yet."""
        meta = store.snapshot_meta()
        base_index, base = 0, bootstrap
        if meta is not None:
            base_index = meta.index
            stored = meta.members()
            if stored.voters:
                base = stored
        history = cls(base_index, base)
        lo, hi = max(store.first_index(), base_index + 1), store.last_index() + 1
        while lo < hi:
            entries = store.entries(lo, hi, _RECOVERY_READ_BYTES)
            history._add(entries)
            lo = entries[-1].index + 1
        return history

    @property
    def latest(self) -> Membership:
        return self._configs[-1][1]

    @property
    def latest_index(self) -> int:
        """Index of the newest configuration's entry (the base's index for the base)."""
        return self._configs[-1][0]

    def all_ids(self) -> frozenset[int]:
        """Every member of every configuration held here."""
        return frozenset().union(*(membership.ids() for _, membership in self._configs))

    def pending(self, committed: int) -> bool:
        """Whether the newest configuration is not committed yet."""
        return self._configs[-1][0] > committed

    def committed_config(self, committed: int) -> Membership:
        """The newest configuration at or below `committed`."""
        for index, membership in reversed(self._configs):
            if index <= committed:
                return membership
        return self._configs[0][1]

    def appended(self, entries: Iterable[Entry]) -> None:
        """Entries were appended after everything this history knows of."""
        if self._add(entries):
            self._changed()

    def truncated(self, first: int) -> None:
        """The log's entries from `first` on were replaced."""
        configs = self._configs
        if configs[-1][0] < first or len(configs) == 1:
            return
        while len(configs) > 1 and configs[-1][0] >= first:
            configs.pop()
        self._changed()

    def restored(self, index: int, membership: Membership) -> None:
        """A snapshot at `index` became the log's base."""
        if not membership.voters:
            membership = self.committed_config(index)  # a snapshot from before memberships
        before = self.latest
        self._configs = [(index, membership)]
        if membership != before:
            self._changed()

    def forget_before(self, committed: int) -> None:
        """Drop configurations no truncation can bring back: all but the newest committed."""
        configs = self._configs
        keep = 0
        for i, (index, _) in enumerate(configs):
            if index <= committed:
                keep = i
        if keep:
            del configs[:keep]

    def _add(self, entries: Iterable[Entry]) -> bool:
        added = False
        for entry in entries:
            if entry.kind == _CONFIG:
                membership = config_entry_membership(entry.data)
                if membership is not None:
                    self._configs.append((entry.index, membership))
                    added = True
        return added

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.latest)

    def __len__(self) -> int:
        return len(self._configs)


__all__ = ["ConfigHistory", "MembershipChangeRefused"]
