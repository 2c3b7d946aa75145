"""The one output of an engine, and the order in which a driver must carry it out.

A driver (the trio runtime, the simulator) takes `rd = engine.ready()` and then,
strictly in this order (except that step 4 may overlap steps 2 and 3, see there):

1. Sends `rd.messages`. These are safe to send before anything is durable: a
   leader's AppendEntries/PROPOSALs may overlap its own fsync (Raft thesis
   §10.2.1); the leader counts itself in a quorum only after advance().
2. If `rd.must_sync`, persists `rd.hard_state` (if not None), `rd.snapshot`
   (if not None) and `rd.entries` in ONE durable write (LogStore.save). An
   entry at index i replaces every stored entry at index >= i. A snapshot
   replaces the whole log. A Ready without must_sync holds nothing that must
   survive a crash (at most a hard state whose only change is the commit
   index, which is learned again after a restart), so the driver skips the
   write and its fsync: otherwise every commit advance would cost one.
3. Sends `rd.messages_after_persist`: votes, append acks, ACKEPOCH, ACK. A peer
   that counts our ack before our disk has it could commit an entry we lose on
   restart (thesis §3.8), so these wait for step 2.
4. Restores the state machine from `rd.snapshot` if set, then applies
   `rd.committed` in order. Committed means durable on a quorum (every member,
   the leader too, counts itself only once its own write is done), so a driver
   may apply - and answer clients - while this Ready's step 2 is still under
   way (thesis §10.2.1); only a snapshot must be durable here before it is
   installed.
5. Serves `rd.read_states` once the applied index reaches each one's index.
6. Reports `rd.soft_state` (role/leader change) to metrics, waiters, redirects.
7. Calls `engine.advance(rd)`.

Only then may it ask for the next Ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from replicator.types import Entry, ReadState, Snapshot, SoftState


@dataclass(frozen=True, slots=True)
class Ready:
    number: int  # increases by one per Ready; lets a driver check it advances in order
    hard_state: bytes | None  # opaque to storage (Raft: term/vote/commit; ZAB: epochs)
    entries: tuple[Entry, ...]  # to append durably; entries[0].index truncates the tail
    snapshot: Snapshot | None  # a snapshot received from the leader, to install
    must_sync: bool  # False: nothing here must survive a crash; skip the write (see step 2)
    messages: tuple[Any, ...]  # send now; each message has int fields `src` and `dst`
    messages_after_persist: tuple[Any, ...]  # send only after step 2 is durable
    committed: tuple[Entry, ...]  # apply in order (NOOP/CONFIG entries included: skip them)
    read_states: tuple[ReadState, ...]  # serve when applied >= index
    soft_state: SoftState | None  # set when role, leader or epoch changed
