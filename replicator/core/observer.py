"""What a running node reports as it works: the hooks behind metrics and logs.

The node core calls these at the moments operators care about; the base class
ignores them. frontends/metrics.py implements them with Prometheus metrics, so
the runtime never imports prometheus_client. Every hook is cheap and
synchronous: it runs on the engine task.
"""

from __future__ import annotations

from replicator.types import Membership, NodeId, Role


class NodeObserver:
    def persisted(self, seconds: float, entries: int, payload_bytes: int) -> None:
        """One durable write (one fsync) of a Ready with `entries` entries."""

    def write_done(self, seconds: float, outcome: str, writes: int = 1) -> None:
        """Client writes proposed by this node ended after `seconds`: "ok", "unknown"
        or "error" (one call for the writes of a batch that ended alike)."""

    def forwarded(self, writes: int) -> None:
        """Client writes went to the leader over the peer transport (one message)."""

    def read_barrier(self, consistency: str, reads: int) -> None:
        """One read barrier started, shared by `reads` client reads."""

    def role_changed(self, role: Role, leader: NodeId | None, epoch: int) -> None: ...

    def snapshot_taken(self, index: int, size_bytes: int, seconds: float) -> None: ...

    def snapshot_installed(self, index: int, size_bytes: int) -> None:
        """A snapshot received from the leader replaced this node's state."""

    def message_received(self, peer: NodeId) -> None:
        """A message from `peer` arrived (metrics: the peer's last contact). Called per message."""

    def membership_changed(self, membership: Membership) -> None:
        """The configuration in force here changed (appended, truncated away, or installed
        with a snapshot)."""
