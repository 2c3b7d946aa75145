"""Durable log, hard state and snapshots: the stores that implement the log-store contract.

The contract (LogStore, and the Compacted / Unavailable errors an engine
handles) is replicator/protocol/log_store.py. Two implementations:
`lmdb_store.LmdbStore` (real nodes) and `memory_store.MemoryStore` (simulator
and unit tests; it can drop everything not synced, to model a crash). This
module adds the errors only a store's owner sees: a data directory that is not
this node's, or one whose contents fail their checks.
"""

from __future__ import annotations

from replicator.protocol.log_store import StorageError


class DataDirMismatch(StorageError):
    """The data directory belongs to another cluster, node or protocol, or is not ours."""


class Damaged(StorageError):
    """The data directory is ours but its contents fail their checks (a checksum, LMDB's
    own metadata, the log's shape). It is refused, never served: a follower's copy is
    worth nothing next to the leader's, so the message says how to let it rejoin."""

    def __init__(self, path: object, what: str) -> None:
        self.path, self.what = path, what
        super().__init__(
            f"this node's data directory {path} is damaged: {what}. On a follower: move it away "
            f"(mv {path} {path}.damaged) and start the node again; it rejoins from the leader"
        )
