"""What a client's request may end as, and the handle the core answers it through.

The node core never blocks and never owns a waiter: a batch arrives with an
`Answers` object made by whoever drives the core (the trio runtime's
BatchWaiter, the simulator's client), and the core decides each of its slots
with `set(slot, value, index)`. Calling the batch's own `set` keeps the hot
path to one method call per answer; a returned "answer batch N slot K" command
would cost an object and a lookup per write for the same effect.

The errors carry the client-visible text (Redis' prefixes first); frontends
send `str(err)` as it is.
"""

from __future__ import annotations

import enum
from typing import Protocol

from statemachines import Result


class ReadConsistency(enum.Enum):
    LINEARIZABLE = "linearizable"  # read barrier first (ReadIndex / sync): sees every acked write
    LEASE = "lease"  # leader serves locally while its lease holds (clock-bound)
    SEQUENTIAL = "sequential"  # local replica, never older than this connection has seen
    STALE = "stale"  # local replica, any age


class RequestError(Exception):
    """Base: `str(err)` is the text a client should see (Redis-style prefix first)."""


class NoLeader(RequestError):
    def __init__(self) -> None:
        super().__init__("CLUSTERDOWN no leader elected; try again")


class Removed(RequestError):
    """This node is not in the configuration in force: it serves no clients (stale reads
    aside) and should be stopped; the others serve them."""

    def __init__(self) -> None:
        super().__init__("CLUSTERDOWN this node was removed from the cluster; connect to another member")


class OutcomeUnknown(RequestError):
    """The write left this node but no answer came back: it may or may not apply."""

    def __init__(self, why: str) -> None:
        super().__init__(f"TRYAGAIN outcome unknown: {why}")


class TimedOut(RequestError):
    def __init__(self, what: str) -> None:
        super().__init__(f"TRYAGAIN {what} timed out")


class EntryTooLarge(RequestError):
    """A command bigger than max_entry_bytes: refused where it arrives, nothing proposed."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"ERR command of {size} bytes exceeds max_entry_bytes ({limit})")


class Moved(RequestError):
    """Redirect mode: the client should send its write to the leader itself."""

    def __init__(self, leader: int, host: str, port: int) -> None:
        super().__init__(f"MOVED 0 {host}:{port}")
        self.leader = leader


class Answers(Protocol):
    """One batch of requests as the core sees it: where each slot's answer goes.

    `set` decides one slot with the machine's Result or a RequestError, and the
    log index it was applied or served at (read-your-writes); later answers for a
    decided slot are ignored. `started` and `deadline` are on the core's clock:
    a batch past its deadline is no longer dispatched (its owner has stopped
    waiting and answered TimedOut itself)."""

    started: float
    deadline: float

    def set(self, slot: int, value: Result | RequestError, index: int = 0) -> None: ...
