"""Raft, sans-I/O: `RaftEngine` implements replicator.protocol.Engine.

    engine.py      RaftEngine: term rules, then per-role handlers; Ready/advance
    messages.py    the wire messages and their stable tags (MESSAGE_TYPES, 1..31)
    read_index.py  ReadIndex rounds and the opt-in lease (thesis §6.4)

Shared pure helpers live one level up: log.py (LogView), progress.py
(per-follower Progress), quorum.py (majorities).
"""

from replicator.protocol.raft.engine import RaftEngine
from replicator.protocol.raft.messages import MESSAGE_TYPES

__all__ = ["MESSAGE_TYPES", "RaftEngine"]
