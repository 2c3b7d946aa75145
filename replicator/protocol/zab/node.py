"""What a ZAB role (leader.py's Leader, learner.py's Learner) uses of the node it plays for.

The node (engine.py's ZabEngine) creates its role objects and owns what outlives
a role: the log, the durable epochs, the outboxes, the Ready. A role reaches
them through this protocol, which ZabEngine implements, so the roles import
this page and the engine imports the roles: the dependency points one way
(tests/test_layers.py refuses import cycles). The underscored members are the
engine's internals that only its roles share.
"""

from __future__ import annotations

from typing import Protocol

from replicator.protocol import EngineConfig
from replicator.protocol.log import LogView
from replicator.protocol.log_store import LogStore
from replicator.protocol.lost_data import LostData
from replicator.protocol.ready_builder import ReadyBuilder
from replicator.protocol.zab.election import PeerState
from replicator.protocol.zab.ensemble import Ensemble
from replicator.protocol.zab.messages import Notification
from replicator.protocol.zab.phase import ZabPhase
from replicator.protocol.zab.zxid import LogPos
from replicator.types import NodeId, ReadState


class ZabNode(Protocol):
    # --- who the node is and whom it counts --------------------------------------
    id: NodeId
    config: EngineConfig
    ensemble: Ensemble  # whom it counts: every quorum in play (ensemble.py)
    _voters: tuple[NodeId, ...]  # everyone who counts in one of them
    _voter_set: frozenset[NodeId]
    _members: frozenset[NodeId]  # every member of a configuration in play
    _peers: tuple[NodeId, ...]
    _participant: bool  # a voter (False: a learner or an observer)
    state: PeerState
    lost_data: LostData

    # --- its durable state and log ---------------------------------------------------
    store: LogStore
    log: LogView
    accepted_epoch: int
    accepted_leader: NodeId
    current_epoch: int
    _hs_durable: tuple[int, int, int, int]  # (accepted_epoch, accepted_leader, current_epoch, commit)

    # --- where it stands, its timers and counters -----------------------------------------
    phase: ZabPhase
    _resend_ticks: int
    _stall_ticks: int
    _init_ticks: int
    _session_nonce: int
    _session_seq: int
    progress_resets: int
    _ticks: int  # since construction: lease arithmetic

    # --- its outboxes (ready() empties them in place) --------------------------------------
    _msgs: list
    _read_states: list[ReadState]
    _ready: ReadyBuilder  # the leader's uncommitted budget: admit(), reset_uncommitted()

    def _send(self, msg) -> None: ...

    def _notification(self, dst: NodeId) -> Notification: ...

    def _drop(self, reason: str) -> None: ...

    def _become_looking(self) -> None: ...

    def _lease_hold(self) -> bool:
        """A node that just started may have acked a leader's lease before it restarted:
        it honours that lease for one election timeout (no vote, no leading)."""

    def _last_pos(self) -> LogPos: ...

    def _zxid_at(self, index: int) -> int: ...
