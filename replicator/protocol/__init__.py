"""Sans-I/O replication engines: Raft and ZAB behind one interface.

Rule 1: nothing under this package does I/O, reads a clock, or uses global
randomness. It imports only the standard library and `replicator.types`.
(tests/protocol/test_purity.py enforces this with an ast scan.)

Rule 2: the only output is `ready()`, acknowledged by `advance()`; the order in
which a driver carries a Ready out is written in `ready.py`, and both engines
build their Readies with one `ReadyBuilder` (ready_builder.py).

An engine reads its durable log through the read-only half of a LogStore
(`first_index`, `last_index`, `term`, `entries`, `snapshot_meta`,
`snapshot_chunk`); every write reaches storage through a Ready. Entries the
engine handed out in a Ready but that have not been advance()d yet are its
"unstable" tail and live in the engine's memory.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from replicator.protocol.lost_data import LostData
from replicator.protocol.membership import ConfigHistory
from replicator.protocol.ready import Ready
from replicator.types import Membership, NodeId, Status


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Protocol knobs, in ticks and counts. Validated once, by the Config layer."""

    node_id: NodeId
    # The bootstrap configuration: used only where the node's store holds none (a new
    # cluster, a new member that has received nothing yet); membership.py. `membership`,
    # when given, is it with roles and addresses; else voters and observers are.
    voters: tuple[NodeId, ...]  # includes node_id unless this node is an observer
    observers: tuple[NodeId, ...] = ()
    membership: Membership | None = None
    election_ticks: int = 10  # Raft: randomized in [election_ticks, 2*election_ticks)
    heartbeat_ticks: int = 1
    max_inflight_msgs: int = 256  # per-follower pipelined appends not yet acked
    max_batch_bytes: int = 1 << 20  # payload bytes per append message
    max_uncommitted_bytes: int = 64 << 20  # a leader refuses proposals past this
    pre_vote: bool = True
    check_quorum: bool = True
    applied: int = 0  # where the state machine stands at start (the snapshot index)
    # Leases allowed: read_index(ctx, lease=True) may answer from a leader lease, and a node that
    # just started honours leases it may have granted before for one election timeout. Trusts tick
    # rates (a bounded drift, no process pauses); Raft needs check_quorum too.
    lease_read: bool = False
    max_apply_bytes: int = 64 << 20  # payload bytes of committed entries handed out per Ready

    def bootstrap_membership(self) -> Membership:
        return self.membership if self.membership is not None else Membership.of(self.voters, self.observers)


class Engine(Protocol):
    """A replication protocol as a pure state machine: feed ticks and messages,
    take work with ready(), acknowledge with advance(). Never blocks, never does I/O.

    step() never raises on what a peer sends: a message that cannot be true
    (drops.py) is dropped and counted in `dropped_messages` (reason -> count).
    `progress_resets` counts followers found to have lost entries they had
    acknowledged; `reset_progress(peer)` is the one place their progress is
    reset, for callers that learn of such a loss otherwise. `lost_data` holds
    the peers that came back without their disk (lost_data.py). The metrics
    endpoint reads these three at scrape time.
    """

    dropped_messages: Mapping[str, int]
    progress_resets: int
    lost_data: LostData

    def tick(self) -> None: ...

    def step(self, msg: Any) -> None:
        """Advance by one peer message. Effects appear in the next ready()."""

    def propose(self, data: bytes) -> int:
        """Append a client command; return its log index. Raises NotLeader."""

    def propose_config(self, data: bytes) -> int:
        """Append a CONFIG entry (a Payload whose command is the whole new Membership:
        types.config_entry_membership) and return its index; it takes effect here at
        once (membership.py). Raises NotLeader, or MembershipChangeRefused when the
        change would be unsafe now: another change not committed yet, no entry of this
        leader's term committed yet, or (Raft) more than one voter added or removed."""

    @property
    def configs(self) -> ConfigHistory:
        """The configurations of this node's log; `configs.latest` is the one in force."""

    def read_index(self, ctx: int, lease: bool = False) -> None:
        """Ask for a linearizable read point; answered by a ReadState with `ctx`
        in a later Ready. Raises NotLeader when no leader is known. A barrier
        that cannot complete (leader lost) is dropped: callers use deadlines.
        lease=True: a leader holding a valid lease (config.lease_read) answers at
        once, without a round; otherwise the ordinary barrier."""

    def transfer_leadership(self, to: NodeId) -> None: ...

    def reset_progress(self, peer: NodeId) -> None:
        """Leader: `peer` lost its durable state; forget what it acknowledged."""

    def peer_lost_data(self, peer: NodeId, until_index: int) -> None:
        """`peer` came back with a new disk (replicator/incarnations.py): its votes do not
        count until it has caught up to `until_index` (lost_data.py)."""

    def caught_up_peers(self) -> list[NodeId]:
        """As leader: the peers (not itself) it has seen hold every entry committed before
        its term, and does not suspect of a lost disk; empty unless leading. The leader
        vouches for them to the other members (replicator/incarnations.py)."""

    def report_unreachable(self, peer: NodeId) -> None:
        """The transport could not deliver to `peer`: it may have missed appends, so the
        leader restarts its stream from what it acknowledged (etcd's ReportUnreachable)."""

    def has_ready(self) -> bool: ...

    def ready(self) -> Ready: ...

    def advance(self, ready: Ready) -> None: ...

    def status(self) -> Status: ...


class EngineFactory(Protocol):
    """How a driver builds an engine: RaftEngine and ZabEngine both fit this."""

    def __call__(self, config: EngineConfig, store: Any, rng: random.Random) -> Engine: ...


__all__ = ["Engine", "EngineConfig", "EngineFactory", "Ready"]
