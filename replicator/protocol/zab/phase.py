"""Where a ZAB node stands in the protocol (the ZAB paper's phases).

The node's PeerState (election.py) says which role it plays; the phase says how
far that role got: a LOOKING node is in ELECTION; a leader and each learner
move through DISCOVERY and SYNCHRONIZATION to BROADCAST.
"""

from __future__ import annotations

import enum


class ZabPhase(enum.Enum):
    ELECTION = "election"
    DISCOVERY = "discovery"
    SYNCHRONIZATION = "synchronization"
    BROADCAST = "broadcast"


__all__ = ["ZabPhase"]
