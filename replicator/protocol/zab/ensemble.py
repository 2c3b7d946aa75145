"""Whom a ZAB node counts: the configurations of its own log, as quorums.

ZooKeeper 3.5's reconfig keeps two QuorumVerifiers: the committed one and,
while a change is in flight, the `lastSeenQuorumVerifier`. Every quorum the
protocol needs - an ack quorum for a proposal at or after the change, an
election (FastLeaderElection's `hasAllQuorums`), the ACKEPOCH and NEWLEADER
quorums of a new leader, a read round - is then a quorum of BOTH ensembles.
That is what makes any change safe, several voters at once included: before
the change commits, the old ensemble alone can still elect and commit (a
quorum of it holds everything the new one committed, since nothing committed
without it); once it commits, a quorum of the new ensemble holds it, and only
the new ensemble counts.

`Ensemble.of(configs, committed)` reads that off a ConfigHistory
(protocol/membership.py): the configuration at or below `committed` and, if
the newest one is later, that one too. Learners and observers are members
(they receive the log) and count in no quorum, as ZooKeeper's observers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping

from replicator.protocol.membership import ConfigHistory
from replicator.protocol.quorum import majority, quorum_index
from replicator.types import Membership, NodeId


class Ensemble:
    """The quorums in play: `quorums[0]` the committed configuration's voters,
    `quorums[1]` (only while a change is pending and changes the voters) the
    newest one's. `pending_at` is the index of the pending configuration's
    entry (0: none), `members` every node of either configuration and `voters`
    every node that counts in one of the quorums."""

    __slots__ = ("quorums", "voters", "members", "pending_at")

    def __init__(self, quorums: tuple[tuple[NodeId, ...], ...], members: frozenset[NodeId], pending_at: int) -> None:
        self.quorums = quorums
        self.voters: tuple[NodeId, ...] = tuple(sorted({v for q in quorums for v in q}))
        self.members = members
        self.pending_at = pending_at

    @classmethod
    def of(cls, configs: ConfigHistory, committed: int) -> Ensemble:
        latest = configs.latest
        if not configs.pending(committed):
            return cls((latest.voters,), latest.ids(), 0)
        old = configs.committed_config(committed)
        quorums = (old.voters,) if old.voters == latest.voters else (old.voters, latest.voters)
        return cls(quorums, old.ids() | latest.ids(), configs.latest_index)

    def has_quorums(self, ids: Collection[NodeId]) -> bool:
        """Whether `ids` holds a majority of every quorum in play (hasAllQuorums)."""
        return all(sum(1 for v in q if v in ids) >= majority(len(q)) for q in self.quorums)

    def agreed(self, values: Mapping[NodeId, int]) -> int:
        """The highest value a majority of every quorum reaches (a missing voter: 0)."""
        return min(quorum_index([values.get(v, 0) for v in q]) for q in self.quorums)

    def commit_index(self, match: Mapping[NodeId, int]) -> int:
        """The highest index whose entry is acked as ZooKeeper's processAck
        requires: entries before a pending configuration need the committed
        ensemble's quorum, the configuration itself and every entry after it
        a quorum of both (one stream: an entry commits with all before it)."""
        old = quorum_index([match.get(v, 0) for v in self.quorums[0]])
        if len(self.quorums) == 1 or old < self.pending_at:
            return old
        new = quorum_index([match.get(v, 0) for v in self.quorums[1]])
        return max(self.pending_at - 1, min(old, new))

    def __repr__(self) -> str:
        return f"Ensemble(quorums={self.quorums}, members={sorted(self.members)}, pending_at={self.pending_at})"


def config_digest(membership: Membership) -> int:
    """A 62-bit digest of a configuration (never 0), for Notification.config_digest:
    equal digests are taken for equal configurations."""
    digest = int.from_bytes(hashlib.blake2b(membership.encode(), digest_size=8).digest(), "big")
    return (digest >> 2) or 1


__all__ = ["Ensemble", "config_digest"]
