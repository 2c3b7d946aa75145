"""ReadIndex and lease reads on the leader (thesis §6.4, §6.4.1).

A linearizable read needs a point in the log after which serving from the
local state machine is safe. ReadIndex gets it without writing to the log:

1. The leader must have committed an entry of its own term (its NOOP), so its
   commit index is at least every index committed before it led (§6.4 step 1).
   Reads that arrive earlier wait for that (`RaftEngine` keeps them).
2. It records read_index = its commit index.
3. It confirms it is still the leader: a heartbeat round sent *after* the
   request must be answered by a majority (§6.4 step 3). Heartbeats carry a
   round number (`ctx`); a majority answering round r confirms every request
   waiting on a round <= r, so one broadcast serves a whole batch of reads.
4. The read is served once the state machine has applied read_index
   (the driver's job: Ready.read_states).

Lease read (opt-in, EngineConfig.lease_read): with check-quorum, a follower
that heard from its leader within election_ticks rejects votes, so after a
majority answered a heartbeat sent at tick t, no other leader can exist before
tick t + election_ticks as counted by those followers. The leader serves reads
without a round until tick t + election_ticks - 1 (one tick of margin for tick
phase). This trusts the tick rates of the nodes to agree (bounded clock drift):
that is why it is opt-in.
"""

from __future__ import annotations

from collections import deque

from replicator.types import NodeId

# (index, requester, ctx): requester None = this node's own read
PendingRead = tuple[int, NodeId | None, int]


class ReadOnly:
    """Heartbeat rounds and the reads waiting on them. Pure bookkeeping."""

    __slots__ = ("round", "acked_round", "lease_until_tick", "_unassigned", "_queue", "_round_ticks")

    def __init__(self) -> None:
        self.round = 0  # last heartbeat round sent (monotonic for the engine's life)
        self.acked_round = 0  # newest round a majority answered (this leadership)
        self.lease_until_tick = 0  # lease reads are safe while ticks < this
        self._unassigned: list[PendingRead] = []  # waiting for the next round to be sent
        self._queue: deque[tuple[int, int, NodeId | None, int]] = deque()  # (round, index, requester, ctx)
        self._round_ticks: deque[tuple[int, int]] = deque()  # (round, tick it was sent)

    def __len__(self) -> int:
        return len(self._unassigned) + len(self._queue)

    def add(self, index: int, requester: NodeId | None, ctx: int) -> None:
        self._unassigned.append((index, requester, ctx))

    def needs_round(self) -> bool:
        return bool(self._unassigned)

    def new_round(self, now_tick: int) -> int:
        """A heartbeat broadcast is going out now: its round confirms the reads waiting."""
        self.round += 1
        rnd = self.round
        if self._unassigned:
            queue = self._queue
            for index, requester, ctx in self._unassigned:
                queue.append((rnd, index, requester, ctx))
            self._unassigned.clear()
        self._round_ticks.append((rnd, now_tick))
        return rnd

    def acknowledge(self, quorum_round: int, lease_ticks: int) -> list[PendingRead]:
        """A majority answered rounds up to `quorum_round`: release the reads
        it confirms and extend the lease from the time that round was sent."""
        if quorum_round <= self.acked_round:
            return []
        self.acked_round = quorum_round
        sent_tick = None
        ticks = self._round_ticks
        while ticks and ticks[0][0] <= quorum_round:
            sent_tick = ticks.popleft()[1]
        if sent_tick is not None:
            self.lease_until_tick = max(self.lease_until_tick, sent_tick + lease_ticks)
        released: list[PendingRead] = []
        queue = self._queue
        while queue and queue[0][0] <= quorum_round:
            _, index, requester, ctx = queue.popleft()
            released.append((index, requester, ctx))
        return released

    def reset(self) -> None:
        """Leadership ended or began: pending reads are dropped (callers have deadlines)."""
        self.acked_round = self.round
        self.lease_until_tick = 0
        self._unassigned.clear()
        self._queue.clear()
        self._round_ticks.clear()


__all__ = ["ReadOnly"]
