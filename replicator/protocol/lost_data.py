"""Peers that lost their disk: their votes do not count until they have caught up.

A node whose data directory was wiped comes back with an empty log and a new
incarnation id (storage). Its peers notice the new id (runtime/incarnations.py)
and tell their engine `peer_lost_data(peer, until_index)`, `until_index` being
their own commit index at that moment: entries up to there may have been
committed with the help of that peer's lost copy. Until the peer has shown it
holds the log up to there, its votes are not counted (an empty voter would grant
any candidate, and could elect one that lacks committed entries), and a leader
replicates to it from scratch. Shown means: as seen by a leader, a match index
>= until_index; otherwise, a vote request (or ZAB vote for itself) whose last
index is >= until_index. Both engines share this bookkeeping.
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

    def showed(self, peer: NodeId, index: int) -> None:
        """The peer showed it holds the log up to `index`: forgive it if that is enough."""
        until = self.until.get(peer)
        if until is not None and index >= until:
            del self.until[peer]
