"""What a leader knows of one follower's log, and how it sends to it.

After etcd-io/raft `tracker/progress.go` (drawn in its design.md). A follower
is in one of three states:

PROBE      The leader does not know where the follower's log ends. It sends
           one append at a time (`probe_sent` pauses it) and walks `next` back
           on each rejection (fast: by the follower's conflict hint).
REPLICATE  The follower accepted an append: the leader streams appends
           optimistically (`next` jumps past what was sent) under an in-flight
           window of `Inflights.capacity` unacknowledged messages.
SNAPSHOT   The entries the follower needs are compacted away: the leader
           streams the snapshot chunk by chunk and sends no appends until the
           follower reports the snapshot installed.

Pure bookkeeping: no messages are built here.
"""

from __future__ import annotations

import enum
from collections import deque

from replicator.types import SnapshotMeta


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Inflights:
    """A FIFO of the last index carried by each unacknowledged append."""

    __slots__ = ("capacity", "_last")

    def __init__(self, capacity: int) -> None:
        assert capacity > 0
        self.capacity = capacity
        self._last: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._last)

    def full(self) -> bool:
        return len(self._last) >= self.capacity

    def add(self, last_index: int) -> None:
        assert not self._last or self._last[-1] < last_index, "appends go out in index order"
        self._last.append(last_index)

    def free_le(self, index: int) -> None:
        """An ack up to `index` frees every append that ended at or before it."""
        last = self._last
        while last and last[0] <= index:
            last.popleft()

    def free_first_one(self) -> None:
        if self._last:
            self._last.popleft()

    def reset(self) -> None:
        self._last.clear()


class Progress:
    """One peer as its leader sees it. Invariant: match < next."""

    __slots__ = (
        "match",
        "next",
        "state",
        "probe_sent",
        "recent_active",
        "inflights",
        "is_observer",
        "pending_snapshot",
        "snap_meta",
        "snap_next_chunk",
        "snap_acked",
        "snap_rewind_end",
        "snap_stall_ticks",
        "sent_commit",
        "lost_suspect",
        "acked_round",
        "dirty",
        "send_empty",
    )

    def __init__(self, next_index: int, max_inflight: int, *, is_observer: bool = False) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.probe_sent = False  # PROBE: one append is out, wait for its answer
        self.recent_active = True  # heard from it since the last check-quorum round
        self.inflights = Inflights(max_inflight)
        self.is_observer = is_observer
        # SNAPSHOT state: which snapshot, and the chunk stream's position.
        self.pending_snapshot = 0
        self.snap_meta: SnapshotMeta | None = None
        self.snap_next_chunk = 0  # next chunk to send
        self.snap_acked = 0  # chunks the follower holds, in order
        self.snap_rewind_end = 0  # rejections of chunks below this predate the last rewind
        self.snap_stall_ticks = 0  # ticks since the follower last acknowledged a chunk
        # Engine bookkeeping (not part of the state machine above).
        self.sent_commit = 0  # commit index last told to the peer in an append
        self.lost_suspect = 0  # a probe at this acked index was refused once (data loss?)
        self.acked_round = 0  # newest heartbeat round the peer answered (ReadIndex, lease)
        self.dirty = False  # something may be sendable: look at it in the next flush
        self.send_empty = False  # send an append even if it carries no entries

    def __repr__(self) -> str:
        return (
            f"Progress({self.state.value}, match={self.match}, next={self.next}, "
            f"inflight={len(self.inflights)}, active={self.recent_active})"
        )

    # --- state changes ----------------------------------------------------
    def become_probe(self) -> None:
        # After a snapshot, the follower holds at least the snapshot's index.
        if self.state is ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self._reset_state(ProgressState.PROBE)

    def become_replicate(self) -> None:
        self.next = self.match + 1
        self._reset_state(ProgressState.REPLICATE)

    def become_snapshot(self, meta: SnapshotMeta) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = meta.index
        self.snap_meta = meta

    def reset_after_data_loss(self, probe_from: int) -> None:
        """The peer lost entries it had acknowledged (its disk was wiped or
        damaged): nothing it matched is known any more. Probe from
        `probe_from` + 1 (its rejection's hint); rejections walk `next` back
        from there, down to 1 if need be, or to a snapshot.

        Without this, a follower that acked index m and then lost it is probed
        at m + 1 forever: maybe_decr_to never moves `next` below `match + 1`.
        """
        self.match = 0
        self.acked_round = 0
        self.sent_commit = 0
        self.lost_suspect = 0
        self._reset_state(ProgressState.PROBE)
        self.next = max(probe_from, 0) + 1

    def _reset_state(self, state: ProgressState) -> None:
        self.state = state
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snap_meta = None
        self.snap_next_chunk = self.snap_acked = self.snap_rewind_end = self.snap_stall_ticks = 0
        self.inflights.reset()

    # --- events -----------------------------------------------------------
    def is_paused(self) -> bool:
        """Whether the leader must hold appends back from this peer now."""
        state = self.state
        if state is ProgressState.REPLICATE:
            return self.inflights.full()
        if state is ProgressState.PROBE:
            return self.probe_sent
        return True  # SNAPSHOT: chunks flow instead

    def sent_entries(self, last_index: int | None) -> None:
        """An append went out; `last_index` is its last entry's index (None if empty)."""
        if self.state is ProgressState.REPLICATE:
            if last_index is not None:
                self.next = last_index + 1  # optimistic: pipelining (thesis §10.2.1)
                self.inflights.add(last_index)
        elif self.state is ProgressState.PROBE:
            self.probe_sent = True
        else:  # pragma: no cover - guarded by is_paused
            raise AssertionError(f"append sent in state {self.state}")

    def maybe_update(self, index: int) -> bool:
        """The peer holds our log up to `index`; False if that is old news."""
        updated = False
        if index >= self.lost_suspect:
            self.lost_suspect = 0  # it holds what it acked: that refusal was old
        if self.match < index:
            self.match = index
            updated = True
            self.probe_sent = False
        if self.next < index + 1:
            self.next = index + 1
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The peer rejected an append whose previous index was `rejected`.

        `match_hint` is the highest index at which the logs may agree (from the
        follower's conflict hint). Returns False when the rejection is stale.
        """
        if self.state is ProgressState.REPLICATE:
            if rejected < self.match:
                return False  # an old append; we already know better
            # rejected == match: either a reordered refusal of an append sent
            # before the ack of match, or a follower that lost what it acked;
            # a probe at match tells (Raft engine: reset_progress).
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False  # not the probe we sent last
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True


__all__ = ["Inflights", "Progress", "ProgressState"]
