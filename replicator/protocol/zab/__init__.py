"""ZAB (ZooKeeper Atomic Broadcast), sans-I/O: `ZabEngine` implements replicator.protocol.Engine.

    engine.py    ZabEngine: ELECTION -> DISCOVERY -> SYNCHRONIZATION -> BROADCAST; Ready/advance
    election.py  Fast Leader Election: Vote, total_order(), vote boxes, finalize wait
    ensemble.py  whom a node counts: the quorums of its committed and pending configuration
    sync.py      choose_sync() -> Diff | Trunc | TruncDiff | Snap (ZooKeeper's five cases)
    messages.py  the wire messages and their stable tags (MESSAGE_TYPES, 32..63)
    zxid.py      zxid = epoch << 32 | counter; LogPos (index, epoch)

Shared pure helpers live one level up: log.py (LogView), quorum.py (majorities).
"""

from replicator.protocol.zab.engine import ZabEngine
from replicator.protocol.zab.messages import MESSAGE_TYPES

__all__ = ["MESSAGE_TYPES", "ZabEngine"]
