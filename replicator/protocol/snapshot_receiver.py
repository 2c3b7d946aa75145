"""SnapshotReceiver: a snapshot streamed by a leader, assembled chunk by chunk.

Raft's InstallSnapshot and ZAB's SNAP carry a snapshot the same way: chunks
0..chunk_count-1 of one SnapshotMeta, sent under a window, acknowledged with
the receiver's position (how many chunks it holds), refused when one arrives
out of order so that the leader goes back to that position (go-back-N). This
object owns that assembly for both; the engines keep what their protocol
decides around it: whether the snapshot is wanted at all (Raft: our log
already holds its last entry; ZAB: the same, plus the sync session and phase),
what to answer (InstallSnapshotResp / SnapAck) and what installing it means
(Raft answers with an append ack; ZAB moves `synced_to` and owes an ACK).

A stream is one `key` (who sends it in which term/epoch, and for ZAB which
registration session) and one meta: a chunk of another stream starts over
only at chunk 0, so a delayed chunk of an older stream never mixes with the
current one.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable

from replicator.types import Snapshot, SnapshotMeta


class Received(enum.Enum):
    REFUSED = "refused"  # out of order: answer with `held`, the position to resend from
    PARTIAL = "partial"  # kept: answer with `held`, the chunks held now
    MISMATCH = "mismatch"  # the last chunk came, but the sizes do not add up to the meta
    COMPLETE = "complete"  # the snapshot is assembled


class SnapshotReceiver:
    __slots__ = ("_key", "_meta", "_chunks")

    def __init__(self) -> None:
        self._key: Hashable = None
        self._meta: SnapshotMeta | None = None
        self._chunks: list[bytes] = []

    def reset(self) -> None:
        """Forget a partly received stream (a new leader or term, or the log covers it)."""
        self._key = None
        self._meta = None
        self._chunks = []

    def receive(
        self, key: Hashable, meta: SnapshotMeta, chunk_index: int, data: bytes
    ) -> tuple[Received, int, Snapshot | None]:
        """Take chunk `chunk_index` of the stream (`key`, `meta`): the outcome,
        the chunks held of that stream, and the snapshot once COMPLETE."""
        if self._meta is None or self._key != key or self._meta != meta:
            if chunk_index != 0:
                return Received.REFUSED, 0, None
            # A new stream starts. (A duplicate chunk 0 of the stream being
            # received is refused below like any other chunk out of order.)
            self._key = key
            self._meta = meta
            self._chunks = []
        chunks = self._chunks
        held = len(chunks)
        if chunk_index != held:
            return Received.REFUSED, held, None
        chunks.append(data)
        held += 1
        if held < max(meta.chunk_count, 1):
            return Received.PARTIAL, held, None
        self.reset()
        if meta.size_bytes and sum(map(len, chunks)) != meta.size_bytes:
            # Install nothing; the leader's stall timer streams it again from chunk 0.
            return Received.MISMATCH, held, None
        return Received.COMPLETE, held, Snapshot(meta, tuple(chunks) if meta.chunk_count else ())


__all__ = ["Received", "SnapshotReceiver"]
