"""Raft's messages: frozen, slotted dataclasses of msgspec-encodable fields.

Every message has `src`, `dst` and `term` (the sender's term; for PreVote the
term the sender would campaign in). `MESSAGE_TYPES` maps a stable wire tag
(1..31: Raft's range) to each class for the codec: never renumber a tag.

Names follow the paper (AppendEntries, RequestVote, InstallSnapshot) and the
thesis (PreVote §9.6, TimeoutNow §3.10, ReadIndex §6.4).
"""

from __future__ import annotations

from dataclasses import dataclass

from replicator.types import Entry, SnapshotMeta


@dataclass(frozen=True, slots=True)
class AppendEntries:
    """Leader -> follower: entries after (prev_index, prev_term); may be empty.

    `notice` marks an empty append that only carries a new commit index to a follower
    that has acknowledged everything up to prev_index: the follower answers it only
    with a refusal. Acknowledging it would tell the leader nothing it does not know,
    and would cost the leader a wake-up and a turn per follower per commit (under
    one client's sequential writes, just when its next write arrives). A node of an
    older version ignores the field and answers as before."""

    src: int
    dst: int
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...] = ()
    commit: int = 0  # the leader's commit index
    notice: bool = False


@dataclass(frozen=True, slots=True)
class AppendEntriesResp:
    """Follower -> leader, sent only after the follower's write is durable.

    Success: `index` is the last index the follower now shares with the leader.
    Rejection: `index` is the rejected prev_index, and (hint_index, hint_term)
    is the follower's last entry whose term is <= the leader's prev_term: the
    leader skips every index in between at once (fast backtracking).
    """

    src: int
    dst: int
    term: int
    index: int = 0
    reject: bool = False
    hint_index: int = 0
    hint_term: int = 0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Leader -> follower: "I still lead". `commit` is min(commit, follower's
    match) so a follower never commits past what it shares with the leader;
    `ctx` is the heartbeat round, echoed back (ReadIndex, lease)."""

    src: int
    dst: int
    term: int
    commit: int = 0
    ctx: int = 0


@dataclass(frozen=True, slots=True)
class HeartbeatResp:
    src: int
    dst: int
    term: int
    ctx: int = 0


@dataclass(frozen=True, slots=True)
class RequestVote:
    """Candidate -> voter (§5.2). `transfer` marks a campaign started by
    TimeoutNow: it may disturb a leader whose lease still holds."""

    src: int
    dst: int
    term: int
    last_index: int
    last_term: int
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class RequestVoteResp:
    src: int
    dst: int
    term: int
    reject: bool = False


@dataclass(frozen=True, slots=True)
class PreVote:
    """Pre-candidate -> voter (thesis §9.6): "would you vote for me in `term`?"
    The receiver changes nothing; the sender's real term is term - 1."""

    src: int
    dst: int
    term: int
    last_index: int
    last_term: int
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class PreVoteResp:
    src: int
    dst: int
    term: int
    reject: bool = False


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """Leader -> follower: chunk `chunk_index` of the snapshot `meta`
    (meta.chunk_count chunks in all; a snapshot of zero chunks travels as one
    empty message with chunk_index 0)."""

    src: int
    dst: int
    term: int
    meta: SnapshotMeta
    chunk_index: int = 0
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class InstallSnapshotResp:
    """Follower -> leader, per chunk: the follower holds chunks 0..next_chunk-1
    of the snapshot at `index`. `reject` says `chunk_index` arrived out of
    order and was dropped. The installed snapshot is acknowledged by an
    AppendEntriesResp once durable."""

    src: int
    dst: int
    term: int
    index: int
    next_chunk: int = 0
    chunk_index: int = 0
    reject: bool = False


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leader -> transferee (thesis §3.10): campaign now, skipping pre-vote."""

    src: int
    dst: int
    term: int


@dataclass(frozen=True, slots=True)
class TransferLeader:
    """Any node -> leader: please hand leadership to `target`."""

    src: int
    dst: int
    term: int
    target: int


@dataclass(frozen=True, slots=True)
class ReadIndexReq:
    """Follower -> leader (thesis §6.4): a read barrier on behalf of `ctx`."""

    src: int
    dst: int
    term: int
    ctx: int


@dataclass(frozen=True, slots=True)
class ReadIndexResp:
    """Leader -> follower: the barrier `ctx` is served once applied >= index."""

    src: int
    dst: int
    term: int
    ctx: int
    index: int


MESSAGE_TYPES: dict[int, type] = {
    1: AppendEntries,
    2: AppendEntriesResp,
    3: Heartbeat,
    4: HeartbeatResp,
    5: RequestVote,
    6: RequestVoteResp,
    7: PreVote,
    8: PreVoteResp,
    9: InstallSnapshot,
    10: InstallSnapshotResp,
    11: TimeoutNow,
    12: TransferLeader,
    13: ReadIndexReq,
    14: ReadIndexResp,
}

Message = (
    AppendEntries
    | AppendEntriesResp
    | Heartbeat
    | HeartbeatResp
    | RequestVote
    | RequestVoteResp
    | PreVote
    | PreVoteResp
    | InstallSnapshot
    | InstallSnapshotResp
    | TimeoutNow
    | TransferLeader
    | ReadIndexReq
    | ReadIndexResp
)

__all__ = [
    "MESSAGE_TYPES",
    "AppendEntries",
    "AppendEntriesResp",
    "Heartbeat",
    "HeartbeatResp",
    "InstallSnapshot",
    "InstallSnapshotResp",
    "Message",
    "PreVote",
    "PreVoteResp",
    "ReadIndexReq",
    "ReadIndexResp",
    "RequestVote",
    "RequestVoteResp",
    "TimeoutNow",
    "TransferLeader",
]
