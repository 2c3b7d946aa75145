"""Messages that cannot be true: the reasons an engine drops a peer message, and their count.

An engine trusts its peers to run the same protocol, not to be right about
everything they say. Peer authentication (the transport's handshake) keeps
strangers out; what reaches step() may still be a bug's output, a corrupted
frame that decoded, or a replay. Before acting on a message an engine checks
it against its own state, and a message that no correct peer could have sent
is dropped and counted here, never acted on and never a crash:

    not_member         from a node outside the configuration, or from ourselves
    misrouted          addressed to another node
    malformed          impossible whatever our state: a negative or absurd
                       number, entries that do not follow each other, an
                       entry's epoch above its message's, a chunk number past
                       the snapshot's chunk count, an unknown enum value
    beyond_log         acknowledges or rejects a position we never sent (past
                       our last index, past the chunks of the snapshot)
    not_leader         claims to lead an epoch in which we know another leader
                       (or lead ourselves); or only our leader sends it
                       (TimeoutNow, a read answer, a proposal) and the sender
                       is not our leader
    not_campaigning    a vote granted for an election we did not run
    conflicts_commit   contradicts an entry we hold as committed
    snapshot_mismatch  a snapshot stream whose chunks do not add up to its meta
    out_of_phase       (ZAB) a message no correct peer sends in our state

Stale messages are not counted: an old term, a duplicate or a reordered
answer is what a lossy network delivers, and the engines already ignore what
it no longer means. Only what cannot be true counts, so a non-zero counter
is worth a look (a buggy or hostile peer), and is exported as
`replicator_peer_messages_dropped_total{reason}`.

Pure: stdlib and replicator.types only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from replicator.types import Entry

NOT_MEMBER = "not_member"
MISROUTED = "misrouted"
MALFORMED = "malformed"
BEYOND_LOG = "beyond_log"
NOT_LEADER = "not_leader"
NOT_CAMPAIGNING = "not_campaigning"
CONFLICTS_COMMIT = "conflicts_commit"
SNAPSHOT_MISMATCH = "snapshot_mismatch"
OUT_OF_PHASE = "out_of_phase"

REASONS = (
    NOT_MEMBER,
    MISROUTED,
    MALFORMED,
    BEYOND_LOG,
    NOT_LEADER,
    NOT_CAMPAIGNING,
    CONFLICTS_COMMIT,
    SNAPSHOT_MISMATCH,
    OUT_OF_PHASE,
)

# Terms, epochs and indexes fit 63 bits: the hard state and the log keys are
# unsigned 64-bit, and a term adopted from a peer must leave room for +1.
FIELD_MAX = (1 << 63) - 1


def valid_number(value: int) -> bool:
    """Whether a term, epoch, index or count from a peer is in range."""
    return 0 <= value <= FIELD_MAX


def misaddressed(msg, me: int, members: Collection[int]) -> str | None:
    """Why a message cannot be for us from a member (MISROUTED, NOT_MEMBER), or None.
    A message in our own name is a stranger's too: no node sends to itself, and a
    forged self-ack would count the leader before its own write."""
    if msg.dst != me:
        return MISROUTED
    if msg.src not in members or msg.src == me:
        return NOT_MEMBER
    return None


def entries_extend(prev_index: int, prev_epoch: int, epoch_max: int, entries: Sequence[Entry]) -> bool:
    """Whether `entries` can follow (prev_index, prev_epoch) in a log written by
    a leader of epoch `epoch_max`: contiguous indexes from prev_index + 1,
    epochs that never decrease, none above `epoch_max` (no leader sends an
    entry of a later epoch than its own)."""
    index = prev_index
    epoch = prev_epoch
    for entry in entries:
        index += 1
        e = entry.epoch
        if entry.index != index or e < epoch or e > epoch_max:
            return False
        epoch = e
    return True


class DropCounter(dict):
    """Dropped messages by reason (a dict: reason -> count), for status and metrics."""

    __slots__ = ()

    def count(self, reason: str) -> None:
        self[reason] = self.get(reason, 0) + 1


__all__ = [
    "BEYOND_LOG",
    "CONFLICTS_COMMIT",
    "FIELD_MAX",
    "MALFORMED",
    "MISROUTED",
    "NOT_CAMPAIGNING",
    "NOT_LEADER",
    "NOT_MEMBER",
    "OUT_OF_PHASE",
    "REASONS",
    "SNAPSHOT_MISMATCH",
    "DropCounter",
    "entries_extend",
    "misaddressed",
    "valid_number",
]
