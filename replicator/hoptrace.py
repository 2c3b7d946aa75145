"""An opt-in trace of where a write's time goes, hop by hop, across processes.

    REPLICATOR_HOP_TRACE=/tmp/n1.hops replicator serve --config n1.toml

makes this process record `(hop, key, ns)` for each hop a write passes (bytes read
by the RESP server, submitted, peer frames queued, sent and received, the store's
write and its fsync, reply encoded and written) and write them to that path, one
`hop key ns` line each (hop names hold no spaces), when it exits. `ns` is time.perf_counter_ns(), which is
CLOCK_MONOTONIC on Linux: stamps of different processes on one machine compare.
`key` ties the hops of one entry together: its log index where the hop knows one,
else 0. bench/trace_write.py starts a cluster with it, adds the engine task's hops
(bench/hop_node.py) and prints the median microseconds of each hop.

Off (the variable unset), a call site costs one check of the module-level TRACING
flag: `if TRACING: stamp(...)`, read with `from replicator.hoptrace import TRACING`.
On, a stamp is one list append (thread-safe under the GIL: the store's writes stamp
from their worker thread); the trace keeps at most MAX_RECORDS.
"""

from __future__ import annotations

import atexit
import os
import time

PATH = os.environ.get("REPLICATOR_HOP_TRACE") or None
TRACING = PATH is not None
MAX_RECORDS = 2_000_000

_records: list[tuple[str, int, int]] = []
_now = time.perf_counter_ns


def stamp(hop: str, key: int = 0) -> None:
    """Record that `hop` happened now (for entry `key`, or 0)."""
    if len(_records) < MAX_RECORDS:
        _records.append((hop, key, _now()))


def message_key(msg: object) -> int:
    """The log index a peer message is about: its last entry's, else its index or commit."""
    entries = getattr(msg, "entries", None)
    if entries:
        return entries[-1].index
    return getattr(msg, "index", 0) or getattr(msg, "commit", 0)


_INBOUND = frozenset(("recv", "step"))  # hops of a message from `peer`; the others are to it


def message_hop(verb: str, msg: object, peer: int) -> str:
    """A peer message's hop name: 'queue:AppendEntries>2' (to node 2), 'recv:Ack<3' (from 3); an append
    without entries (a commit notice) is told apart: 'AppendEntries(empty)'."""
    name = type(msg).__name__
    if getattr(msg, "entries", None) == ():
        name += "(empty)"
    return f"{verb}:{name}{'<' if verb in _INBOUND else '>'}{peer}"


def flush() -> None:
    """Write the records to PATH (and start a new list); runs at exit."""
    global _records
    if PATH is None:
        return
    records, _records = _records, []
    with open(PATH, "a") as out:
        out.writelines(f"{hop} {key} {ns}\n" for hop, key, ns in records)


if TRACING:
    atexit.register(flush)
