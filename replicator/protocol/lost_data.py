"""Peers that lost their disk: their votes do not count until they have caught up.

A node whose data directory was wiped comes back with an empty log and a new
incarnation id (storage). Its peers notice the new id (runtime/incarnations.py)
and tell their engine `peer_lost_data(peer, until_index)`, `until_index` being
their own last index at that moment: entries up to there may have been
committed with the help of that peer's lost copy. Until the peer has shown it
holds the log up to there, its votes are not counted (an empty voter would grant
any candidate, and could elect one that lacks committed entries), and a leader
replicates to it from scratch. Both engines share this bookkeeping.

Shown means: seen by a leader, a match index >= until_index and past everything
the leader held when elected (so every committed entry). Not a vote request with
a last index that far: a follower's log and commit index may lag the cluster's,
and a peer that caught up only to them may still lack entries committed with its
lost copy; counting its vote could then elect a leader without them (the
simulator's wiped-disks profile found this, ZAB seed 140). Followers take the
leader's word instead (replicator/incarnations.py, CaughtUp -> forgive). The cost:
a cluster whose only up-to-date node is down waits for it, rather than electing
one that lacks committed entries.
"""

from __future__ import annotations

from replicator.types import NodeId


class LostData:
    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until: dict[NodeId, int] = {}  # peer -> the index it must show it holds

    def __bool__(self) -> bool:
        return bool(self.until)

    def mark(self, peer: NodeId, until_index: int) -> None:
        self.until[peer] = max(until_index, self.until.get(peer, 0))

    def counts_vote(self, peer: NodeId) -> bool:
        return peer not in self.until

    def forgive(self, peer: NodeId) -> None:
        """The leader saw the peer catch up (incarnations.CaughtUp)."""
        self.until.pop(peer, None)

    def showed(self, peer: NodeId, index: int) -> None:
        """The peer showed it holds the log up to `index`: forgive it if that is enough."""
        until = self.until.get(peer)
        if until is not None and index >= until:
            del self.until[peer]
