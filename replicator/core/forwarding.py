"""Writes that travel between a follower and the leader (ForwardRequest / ForwardReply).

A follower sends a client's burst to the leader in parts of about FORWARD_BYTES
(a burst of large writes in one frame could exceed the peer frame limit; the
parts travel in order on one link). The leader proposes each part and answers it
in one ForwardReply once every slot is decided; what it could not propose
(it stopped leading) comes back in `retry`, to be sent again once a leader is
known.
"""

from __future__ import annotations

from replicator.codec import encode_result
from replicator.core.messages import ForwardRequest
from replicator.core.requests import RequestError
from statemachines import Result

FORWARD_BYTES = 1 << 20  # a follower's ForwardRequest carries about this much (one command more at most)
# The results of one ForwardReply: half the peer frame limit (codec.MAX_FRAME_BYTES, 256 MiB),
# which a reply larger than that would break, losing the link to the leader.
FORWARD_REPLY_BYTES_MAX = 128 << 20


class ForwardedBatch:
    """A follower's forwarded batch on the leader: answered in one ForwardReply once
    every slot is decided. Has the Answers' `set`, so proposals treat both alike."""

    __slots__ = ("node", "req_id", "results", "errors", "indexes", "retry", "started", "deadline", "_left", "_send")

    def __init__(self, msg: ForwardRequest, send, now: float) -> None:
        size = len(msg.commands)
        self.node, self.req_id = msg.src, msg.req_id
        self.results = [b""] * size
        self.errors = [""] * size
        self.indexes = [0] * size
        self.retry: list[int] = []
        self.started = now
        self.deadline = float("inf")  # the follower keeps the client's deadline
        self._left = size
        self._send = send

    def set(self, slot: int, value: Result | RequestError, index: int = 0) -> None:
        if isinstance(value, RequestError):
            self.errors[slot] = str(value)
        else:
            self.results[slot] = encode_result(value)
            self.indexes[slot] = index
        self._done_one()

    def not_proposed(self, slot: int) -> None:
        self.retry.append(slot)
        self._done_one()

    def _done_one(self) -> None:
        self._left -= 1
        if not self._left:
            fit_forward_reply(self)
            self._send(self)


def forward_parts(items: list[tuple[int, str, bytes]]) -> list[list[tuple[int, str, bytes]]]:
    """Consecutive runs of items of about FORWARD_BYTES of commands each (at least one item)."""
    parts, part, size = [], [], 0
    for item in items:
        if part and size + len(item[2]) > FORWARD_BYTES:
            parts.append(part)
            part, size = [], 0
        part.append(item)
        size += len(item[2])
    parts.append(part)
    return parts


def fit_forward_reply(batch: ForwardedBatch) -> None:
    """Keep a ForwardReply under FORWARD_REPLY_BYTES_MAX: the largest results (a GETDEL of a
    huge value, an LPOP of a long list) become errors until it fits. Their writes were
    applied; only the reply cannot travel, and the error says so."""
    results = batch.results
    total = sum(map(len, results))
    if total <= FORWARD_REPLY_BYTES_MAX:
        return
    for slot in sorted(range(len(results)), key=lambda i: len(results[i]), reverse=True):
        size = len(results[slot])
        results[slot] = b""
        batch.errors[slot] = (
            f"ERR the reply of {size} bytes is too large to forward from the leader "
            "(the write was applied); send it to the leader"
        )
        total -= size
        if total <= FORWARD_REPLY_BYTES_MAX:
            return
