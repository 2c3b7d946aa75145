"""What a frontend may ask of a running node, and the errors it may get back.

Frontends (RESP, embedding) depend on this module only, never on the driver's
internals. Both calls are non-blocking submissions that return a Waiter, so a
connection can hand a whole pipeline to the node at once and then await the
replies in order: that is how many requests share one log append and fsync.
"""

from __future__ import annotations

import enum
from typing import Protocol

from replicator.types import Status
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


class OutcomeUnknown(RequestError):
    """The write left this node but no answer came back: it may or may not apply."""

    def __init__(self, why: str) -> None:
        super().__init__(f"TRYAGAIN outcome unknown: {why}")


class TimedOut(RequestError):
    def __init__(self, what: str) -> None:
        super().__init__(f"TRYAGAIN {what} timed out")


class Waiter(Protocol):
    async def wait(self) -> Result:
        """The state machine's result; raises RequestError."""

    def result_nowait(self) -> Result:
        """The result if it is already in (raises RequestError as wait() does), else
        raises trio.WouldBlock. Saves a trip through the scheduler per pipelined reply."""

    @property
    def index(self) -> int:
        """Log index the request was applied at (0 until known)."""


class NodeAPI(Protocol):
    node_id: int

    def submit(self, machine: str, command: bytes) -> Waiter:
        """Propose a write (forwarded to the leader if needed). `machine` may be
        statemachines.TRANSACTIONS, with an encoded transaction (replicator/transactions.py)."""

    def read(self, machine: str, request: bytes, consistency: ReadConsistency, min_index: int = 0) -> Waiter:
        """Serve a read at the given consistency; at least min_index applied. `machine` may
        be statemachines.TRANSACTIONS, with an encoded WatchRead (WATCH's versions)."""

    def status(self) -> Status: ...

    def members(self) -> list[tuple[int, tuple[str, int], str]]:
        """Every member: (node id, client (RESP) address, "voter" or "observer")."""

    def leader_address(self) -> tuple[str, int] | None:
        """The leader's client (RESP) address, if known, for redirects and INFO."""
