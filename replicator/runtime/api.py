"""What a frontend may ask of a running node, and the errors it may get back.

Frontends (RESP, embedding) depend on this module only, never on the driver's
internals. Both calls are non-blocking submissions of a batch that return one
Waiter, so a connection hands a whole pipeline burst to the node at once and
then awaits its replies with one wake-up: that is how many requests share one
log append and fsync, and how the per-request cost stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from replicator.core.requests import (
    EntryTooLarge,
    NoLeader,
    OutcomeUnknown,
    ReadConsistency,
    RequestError,
    TimedOut,
)
from replicator.types import Membership, Status

if TYPE_CHECKING:
    from replicator.config import Config
    from statemachines.hooks import ScriptPermissions

# The request errors and read levels are the core's (core/requests.py); frontends take
# them from here, the one module of the node they depend on.
__all__ = [
    "EntryTooLarge",
    "NoLeader",
    "NodeAPI",
    "OutcomeUnknown",
    "ReadConsistency",
    "RequestError",
    "TimedOut",
    "Waiter",
]


class Waiter(Protocol):
    """One batch of requests: a client's pipeline burst costs one waiter."""

    async def wait(self) -> list:
        """Per request of the batch, in order: the state machine's Result, or the
        RequestError that ended it (never raised: one failure does not hide the
        others' results). Returns at once, without a scheduler trip, when all are in."""

    @property
    def index(self) -> int:
        """The highest log index the batch's requests were applied or served at."""

    # Set by the waiting frontend, or None: called once with what wait() returns, on the node's
    # task, as the last request's answer comes in. A connection answers its client from
    # there without waiting for its own task to be scheduled (RESP: _Connection._answer_now).
    # It must not raise, and must not call the node.
    on_done: Callable[[list], None] | None


class NodeAPI(Protocol):
    node_id: int
    config: Config  # the node's configuration: cluster id, protocol, machines (REPLICATOR.BACKUP's header)

    def submit_batch(self, writes: Sequence[tuple[str, bytes]]) -> Waiter:
        """Propose writes, each (machine, command), in order (forwarded to the leader
        if needed); they go into the same log append when the node can manage it. A
        machine may be statemachines.TRANSACTIONS, with an encoded transaction
        (replicator/transactions.py). A command longer than the node's max_entry_bytes
        is answered EntryTooLarge at once."""

    def read_batch(
        self, reads: Sequence[tuple[str, bytes]], consistency: ReadConsistency, min_index: int = 0, slow: bool = False
    ) -> Waiter:
        """Serve reads, each (machine, request), at the given consistency; with at
        least min_index applied. They share one read barrier. A machine may be
        statemachines.TRANSACTIONS, with an encoded WatchRead (WATCH's versions).
        `slow`: some read may touch much data (a command without Redis' `fast`
        flag, e.g. KEYS, SMEMBERS): the node serves the batch off its event loop,
        so heartbeats and votes never wait for it (costs a thread hand-off)."""

    # The machines (statemachines with `pipeline_entries`) whose writes and reads
    # submit_pipeline takes; may be empty (frontends then use the batches above).
    pipeline_machines: frozenset[str]

    def submit_pipeline(self, requests: Sequence[tuple[str, bytes, bool]]) -> Waiter:
        """A burst mixing writes and reads, each (machine, command, write), of
        pipeline_machines, in order: proposed as pipeline entries (usually one), each read
        answered at its place in the entry's apply (read-your-writes; linearizable, since
        the log orders it). One proposal and one wait, forwarded like any write."""

    def subscribe_published(self, callback: Callable[[bytes], None]) -> None:
        """Call callback(payload) for each entry proposed to statemachines.PUBSUB (PUBLISH,
        SPUBLISH) as this node applies it, in log order, on the node's task. Optional: a
        frontend serves pub/sub only where the node has it."""

    def subscribe_key_changes(self, callback: Callable[[int | None, bytes | None], None] | None) -> None:
        """Call callback(db, key) for each key this node's apply changes (statemachines.hooks.KeyEvents:
        (db, None) a whole database, (None, None) everything), on the node's task; None stops.
        Optional: blocking commands and client tracking are served only where the node has it."""

    def subscribe_keyspace_events(self, callback: Callable[[int, int, bytes, bytes], None] | None) -> None:
        """Call callback(db, event class, event name, key) for each keyspace event emitted as this
        node applies (keyspace notifications); None stops. Optional, as above."""

    def set_script_permissions(self, permissions: ScriptPermissions | None) -> None:
        """Have this node's machines that run scripts check each redis.call at apply with
        `permissions` (statemachines.hooks; the RESP frontend's ACL users). It must be set
        before the node applies its first entry: every replica must decide alike. Optional."""

    def status(self) -> Status: ...

    def members(self) -> list[tuple[int, tuple[str, int], str]]:
        """Every member: (node id, client (RESP) address, "voter", "learner" or "observer")."""

    def membership(self) -> Membership:
        """The configuration in force on this node, with addresses."""

    def last_contact_s(self, peer: int) -> float | None:
        """Seconds since this node last heard from `peer` (None: never)."""

    def leader_address(self) -> tuple[str, int] | None:
        """The leader's client (RESP) address, if known, for redirects and INFO."""
