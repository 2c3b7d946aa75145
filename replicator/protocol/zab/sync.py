"""How a leader catches a learner up: choose_sync (ZooKeeper LearnerHandler.syncFollower).

The learner reported its last logged position and its commit index
(ACKEPOCH); the leader compares them with its own log, the *window* of entries
it still holds: from `base` (the last compacted entry, or the snapshot's, or
0) to `last`. Positions are (index, epoch) pairs ordered like zxids (zxid.py).
ZooKeeper's five cases:

1. DIFF, empty   the learner ends where the leader ends.
2. TRUNC         the learner is ahead: it holds proposals the leader never
                 had (an old leader's, never committed). It truncates to the
                 leader's last entry.
3. DIFF          the learner ends inside the window, on the leader's history:
                 the leader sends the entries after it.
4. TRUNC+DIFF    the learner ends on a divergent tail (an old epoch's
                 uncommitted proposals): it truncates to the last entry it
                 provably shares with the leader, and the leader sends what
                 follows.
5. SNAP          the learner ends before the window, or the last shared entry
                 the leader can prove is before it: the leader streams its
                 snapshot, then the entries after it.

The truncation point of 2 and 4 is the highest of two entries the learner is
known to hold: (a) the leader's last entry of the learner's last epoch, when
the leader has any (both logs copy that epoch's leader's log, which the
learner holds through its last entry); (b) the learner's commit index
(committed entries sit at the same index in every later leader's log).
ZooKeeper takes the leader's last zxid below the learner's last one, which is
(a) inside one epoch; across an epoch boundary it cannot tell and sends a SNAP
("Cannot send TRUNC to peer ... peer zxid is from different epoch"). With (b)
a TRUNC+DIFF is still possible there, perhaps sending a few entries the
learner had; the learner keeps the entries it already holds.

Pure: the leader's log is seen through the small `History` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from replicator.protocol.zab.zxid import LogPos


class History(Protocol):
    """The leader's log as choose_sync sees it."""

    @property
    def base(self) -> LogPos:
        """The last position not held as an entry (compacted / snapshot), or (0, 0)."""

    @property
    def last(self) -> LogPos:
        """The last entry's position (== base when the window is empty)."""

    def epoch_at(self, index: int) -> int:
        """Epoch of the entry at `index`, for base.index <= index <= last.index."""


@dataclass(frozen=True, slots=True)
class Diff:
    """Send the entries from `start` on (none if start > the leader's last index).
    `prev` is the learner's last position, on the leader's history."""

    prev: LogPos

    @property
    def start(self) -> int:
        return self.prev.index + 1


@dataclass(frozen=True, slots=True)
class Trunc:
    """The learner truncates its log after `to` (the leader's last entry)."""

    to: LogPos


@dataclass(frozen=True, slots=True)
class TruncDiff:
    """The learner's log is known to match ours through `to` only: it
    truncates after it, and the leader sends the entries from to.index + 1 on
    (the learner keeps those it already holds)."""

    to: LogPos


@dataclass(frozen=True, slots=True)
class Snap:
    """The learner is behind the window (or the part of its log known to match
    ours is): stream the snapshot, then the rest."""


SyncPlan = Diff | Trunc | TruncDiff | Snap


def choose_sync(peer: LogPos, history: History, peer_commit: int = 0) -> SyncPlan:
    """Pick how a learner whose log ends at `peer`, with everything up to
    `peer_commit` known committed, catches up (the five cases above)."""
    base, last = history.base, history.last
    if peer.same(last):
        return Diff(last)  # 1: nothing to send
    if peer.index < base.index:
        return Snap()  # 5: it ends before the window
    if peer.index <= last.index and history.epoch_at(peer.index) == peer.epoch:
        return Diff(LogPos(peer.index, peer.epoch, peer.zxid))  # 3 (and peer == base)
    # Its last entry is not ours. (a): our last entry of its last epoch at or
    # before its last index. Epochs never decrease along a log: bisect for the
    # last index whose epoch is <= the learner's.
    lo, hi = base.index, min(peer.index, last.index)
    shared = -1
    if history.epoch_at(lo) <= peer.epoch:
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if history.epoch_at(mid) <= peer.epoch:
                lo = mid
            else:
                hi = mid - 1
        if history.epoch_at(lo) == peer.epoch:
            shared = lo
    # (b): its commit index.
    shared = max(shared, min(peer_commit, peer.index, last.index))
    if shared < base.index:
        return Snap()  # 5: what we can prove it shares is compacted here
    to = LogPos(shared, history.epoch_at(shared))
    if shared == last.index:
        return Trunc(to)  # 2: it is ahead of everything we hold
    return TruncDiff(to)  # 4


_ORIGIN = LogPos(0, 0)  # before the first entry


class ListHistory:
    """A History over plain values (tests, and small callers): `epochs[i]` is the
    epoch of index base.index + 1 + i."""

    __slots__ = ("_base", "_epochs")

    def __init__(self, epochs: list[int] | tuple[int, ...], base: LogPos = _ORIGIN) -> None:
        self._base = base
        self._epochs = tuple(epochs)
        assert all(a <= b for a, b in zip((base.epoch, *self._epochs), self._epochs)), "epochs must not decrease"

    @property
    def base(self) -> LogPos:
        return self._base

    @property
    def last(self) -> LogPos:
        if not self._epochs:
            return self._base
        return LogPos(self._base.index + len(self._epochs), self._epochs[-1])

    def epoch_at(self, index: int) -> int:
        if index == self._base.index:
            return self._base.epoch
        offset = index - self._base.index - 1
        if not 0 <= offset < len(self._epochs):
            raise IndexError(index)
        return self._epochs[offset]


__all__ = ["Diff", "History", "ListHistory", "Snap", "SyncPlan", "Trunc", "TruncDiff", "choose_sync"]
