"""ReadyBuilder: how an engine's state becomes a Ready, and what advance() does to it.

After etcd-io/raft `rawnode.go`, which does this for `raft.go`. Raft and ZAB
differ in what they say to peers, not in how their output leaves: both fill
the same three outboxes, hand their log's unstable tail and pending snapshot
to storage, hand committed entries to the state machine, and report hard and
soft state when they change. This object owns that, once:

* The outboxes: `msgs` (send now), `msgs_after` (send after this Ready's write:
  Rule 1 of both engines) and `read_states`. The engines (and ZAB's roles)
  append to these lists directly; ready() empties them in place, so a role
  holding a reference keeps writing into the right list.
* The hard state diff. An engine's hard state is a tuple whose LAST field is
  the commit index and whose other fields must never be lost (Raft: term and
  vote; ZAB: acceptedEpoch, the accepted leader and currentEpoch). A change of
  any of those forces `must_sync`; a commit-only change does not (the commit
  index is learned again after a restart), so the driver skips the fsync.
  `hard_durable` is the tuple storage holds once the Ready is advance()d.
* The soft state diff: (role, leader, epoch), reported when it changes.
* Committed entries, at most `max_apply_bytes` of payload per Ready, and the
  leader's budget of uncommitted bytes (etcd's uncommitted size limit):
  admit() charges a proposal, a Ready's committed entries refund it.
* The Ready number and the check that advance() acknowledges the last Ready;
  on advance() the log learns what is durable (stable_to,
  stable_snapshot_to) and applied (applied_to).

What stays in each engine is what only its protocol knows, run around these
calls: building messages for followers before a Ready is taken (both), ZAB's
cumulative ACK of what the Ready makes durable, Raft's own vote counted once
the Ready carrying it is advance()d (`next_number` names that Ready), and the
leader counting its own write toward a quorum after advance(). Validation of
peer messages is not here: it happens at the door, in step() (drops.py). A
snapshot streamed by a leader is assembled by snapshot_receiver.py and reaches
this builder as the log's pending snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from replicator.protocol.log import LogView
from replicator.protocol.ready import Ready
from replicator.types import NodeId, ProposalDropped, ReadState, SoftState


class ReadyBuilder:
    __slots__ = (
        "log",
        "msgs",
        "msgs_after",
        "read_states",
        "number",
        "hard_durable",
        "uncommitted_bytes",
        "_encode_hard_state",
        "_hard_handed",
        "_soft_handed",
        "_max_apply_bytes",
        "_max_uncommitted_bytes",
        "_node_id",
    )

    def __init__(
        self,
        log: LogView,
        *,
        node_id: NodeId,
        hard_state: tuple[int, ...],
        encode_hard_state: Callable[..., bytes],
        soft_state: tuple[Any, NodeId | None, int] | None,
        max_apply_bytes: int,
        max_uncommitted_bytes: int,
    ) -> None:
        """`hard_state` is what storage holds at start; `soft_state` what the
        engine counts as already reported (None: the first Ready reports it)."""
        self.log = log
        self.msgs: list = []
        self.msgs_after: list = []
        self.read_states: list[ReadState] = []
        self.number = 0  # of the last Ready handed out
        self._encode_hard_state = encode_hard_state
        self._hard_handed = hard_state  # what storage holds or will hold
        self.hard_durable = hard_state  # what storage holds (advance() of its Ready)
        self._soft_handed = soft_state
        self._max_apply_bytes = max_apply_bytes
        self._max_uncommitted_bytes = max_uncommitted_bytes
        self._node_id = node_id
        self.uncommitted_bytes = 0

    @property
    def next_number(self) -> int:
        """The number of the Ready that will carry what the engine does now."""
        return self.number + 1

    # --- the leader's budget of uncommitted bytes --------------------------
    def admit(self, size: int) -> None:
        """Charge a proposal of `size` payload bytes; ProposalDropped past the
        limit (a first proposal always fits, however large)."""
        uncommitted = self.uncommitted_bytes
        if uncommitted and uncommitted + size > self._max_uncommitted_bytes:
            raise ProposalDropped(self._node_id)
        self.uncommitted_bytes = uncommitted + size

    def reset_uncommitted(self) -> None:
        """A new leadership starts with nothing uncommitted of its own."""
        self.uncommitted_bytes = 0

    # --- the Ready cycle ----------------------------------------------------
    # The engine passes its hard and soft state as tuples built inline: has_ready()
    # runs after every input, and a callback per call would cost more than the tuples.
    def has_ready(self, hard: tuple[int, ...], soft: tuple[Any, NodeId | None, int]) -> bool:
        log = self.log
        return bool(
            self.msgs
            or self.msgs_after
            or self.read_states
            or log.has_entries_to_persist()
            or log.has_snapshot_to_persist()
            or log.has_next_committed()
            or hard != self._hard_handed
            or soft != self._soft_handed
        )

    def ready(self, hard: tuple[int, ...], soft: tuple[Any, NodeId | None, int]) -> Ready:
        log = self.log
        entries = log.take_entries_to_persist() if log.has_entries_to_persist() else ()
        snapshot = log.take_snapshot_to_persist()
        must_sync = bool(entries) or snapshot is not None
        hard_state = None
        handed = self._hard_handed
        if hard != handed:
            hard_state = self._encode_hard_state(*hard)
            # A commit-only change may be lost in a crash (it is recomputed):
            # no fsync for it alone. Every other field must never be lost.
            if hard[:-1] != handed[:-1]:
                must_sync = True
            self._hard_handed = hard
        committed = log.take_next_committed(self._max_apply_bytes) if log.has_next_committed() else ()
        if committed and self.uncommitted_bytes:
            self.uncommitted_bytes = max(0, self.uncommitted_bytes - sum(len(e.data) for e in committed))
        soft_state = None
        if soft != self._soft_handed:
            soft_state = SoftState(*soft)
            self._soft_handed = soft
        self.number += 1
        # Emptied in place (a role may hold the lists); most Readies leave some empty.
        msgs, after, reads = self.msgs, self.msgs_after, self.read_states
        out_msgs = out_after = out_reads = ()
        if msgs:
            out_msgs = tuple(msgs)
            msgs.clear()
        if after:
            out_after = tuple(after)
            after.clear()
        if reads:
            out_reads = tuple(reads)
            reads.clear()
        return Ready(
            number=self.number,
            hard_state=hard_state,
            entries=entries,
            snapshot=snapshot,
            must_sync=must_sync,
            messages=out_msgs,
            messages_after_persist=out_after,
            committed=committed,
            read_states=out_reads,
            soft_state=soft_state,
        )

    def advance(self, rd: Ready) -> None:
        """The driver carried `rd` out: its writes are durable, its committed
        entries applied. The engine runs its own consequences after this."""
        assert rd.number == self.number, f"advance({rd.number}) but the last Ready was {self.number}"
        log = self.log
        if rd.snapshot is not None:
            log.stable_snapshot_to(rd.snapshot.meta.index)
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.epoch)
        if rd.hard_state is not None:
            self.hard_durable = self._hard_handed  # the one Ready out is the last one handed
        if rd.committed:
            log.applied_to(rd.committed[-1].index)
        elif rd.snapshot is not None:
            log.applied_to(rd.snapshot.meta.index)


__all__ = ["ReadyBuilder"]
