"""A NodeAPI test double: one KVMachine, a log in a list, no replication.

Requests to TRANSACTIONS (EXEC, WATCH's read) go to the node's transaction
executor over the machines, as on a real node.

Two modes:
- immediate (default): submit_batch applies at once and read_batch serves at
  once; the waiter is already resolved when it is returned.
- batched (`batched=True`, and `run` started in a nursery): submissions queue
  up and a background task applies them after `apply_delay_s` (or the next
  checkpoint), like a leader that groups a pipeline into one append. Reads
  are served immediately from whatever is applied ("stale" for every level)
  unless `linearizable_reads=True`, in which case a LINEARIZABLE/LEASE read
  waits until every write submitted before it is applied (a read barrier),
  and a SEQUENTIAL read waits for min_index.

Everything the frontend sent is recorded in `submitted` and `reads` so tests
can assert that invalid commands never reached the node: argument lists, or
for TRANSACTIONS the decoded Transaction / WatchRead.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from pathlib import Path

import trio

from replicator.config import Config, Member
from replicator.convert import offline_host
from replicator.members import changed_membership, decode_change
from replicator.node import CAPTURE_SNAPSHOT
from replicator.protocol.membership import MembershipChangeRefused
from replicator.runtime.api import ReadConsistency, RequestError
from replicator.storage.memory_store import MemoryStore
from replicator.transactions import Transactions, decode_transaction, decode_watch_read
from replicator.types import MEMBERSHIP, ClusterMember, Membership, PeerProgress, Role, Snapshot, Status
from statemachines import PUBSUB, TRANSACTIONS, ReplyError, Result, decode_args
from statemachines.acl import ACL, AclMachine
from statemachines.hooks import set_key_changed, set_keyspace_events, set_script_permissions
from statemachines.kv import KVMachine


class FakeWaiter:
    """A batch's waiter: each slot ends as a Result or a RequestError."""

    __slots__ = ("_event", "results", "_left", "index", "on_done")

    def __init__(self, size: int) -> None:
        self._event = trio.Event()
        self.results: list = [None] * size
        self._left = size
        self.index = 0
        self.on_done = None
        if not size:
            self._event.set()

    def resolve(self, slot: int, result: Result | RequestError, index: int = 0) -> None:
        self.results[slot] = result
        self.index = max(self.index, index)
        self._left -= 1
        if not self._left:
            if self.on_done is not None:
                self.on_done(self.results)
            self._event.set()

    async def wait(self) -> list:
        await self._event.wait()
        return self.results


class FakeNode:
    node_id = 1
    pipeline_machines: frozenset[str] = frozenset()  # no pipeline entries: reads and writes go as batches
    config = Config(
        node_id=1,
        members=(Member(1, ("127.0.0.1", 7101), ("127.0.0.1", 6379)),),
        data_dir=Path("fake"),
        resp=("127.0.0.1", 6379),
        peer=("127.0.0.1", 7101),
        cluster_id="fake",
    )

    def __init__(
        self,
        *,
        batched: bool = False,
        apply_delay_s: float = 0.0,
        linearizable_reads: bool = True,
        clock_ms=lambda: int(time.time() * 1000),
        resp_address: tuple[str, int] = ("127.0.0.1", 6379),
        role: Role = Role.LEADER,
    ) -> None:
        self.role = role
        self.acl = AclMachine()  # the node's ACL users, as a real node serves them (statemachines/acl.py)
        self.machines = {"kv": KVMachine(), ACL: self.acl}
        self.transactions = Transactions(self.machines, published=self._published)
        self.batched = batched
        self.apply_delay_s = apply_delay_s
        self.linearizable_reads = linearizable_reads
        self.clock_ms = clock_ms
        self.resp_address = resp_address
        self.submitted: list[list[bytes]] = []  # every write, decoded, in submission order
        self.reads: list[tuple[list[bytes], ReadConsistency, int]] = []
        self.slow_batches: list[bool] = []  # read_batch's `slow`, per batch
        self.applied = 0
        self.fail_with: RequestError | None = None  # fail every request while set
        self.batches: list[int] = []  # the size of every write batch the frontend submitted
        self._queue: deque[tuple[str, bytes, FakeWaiter, int]] = deque()
        self._barriers: list[tuple[int, str, bytes, FakeWaiter, int]] = []
        self._wakeup = trio.Event()
        self.max_batch = 0
        self.on_published = None  # subscribe_published's callback

    def subscribe_published(self, callback) -> None:
        self.on_published = callback

    def subscribe_key_changes(self, callback) -> None:
        set_key_changed(self.machines.values(), callback)

    def subscribe_keyspace_events(self, callback) -> None:
        set_keyspace_events(self.machines.values(), callback)

    def set_script_permissions(self, permissions) -> None:
        set_script_permissions(self.machines.values(), permissions)

    def _published(self, payload: bytes) -> None:
        if self.on_published is not None:
            self.on_published(payload)

    # --- NodeAPI ---------------------------------------------------------------------
    def submit_batch(self, writes) -> FakeWaiter:
        waiter = FakeWaiter(len(writes))
        self.batches.append(len(writes))
        for slot, (machine, command) in enumerate(writes):
            if machine == TRANSACTIONS:
                self.submitted.append(decode_transaction(command))
            else:
                self.submitted.append(decode_change(command) if machine == MEMBERSHIP else decode_args(command))
            if self.fail_with is not None:
                waiter.resolve(slot, self.fail_with)
            elif self.batched:
                self._queue.append((machine, command, waiter, slot))
                self._wakeup.set()
            else:
                self._apply(machine, command, waiter, slot)
        return waiter

    def read_batch(self, reads, consistency: ReadConsistency, min_index: int = 0, slow: bool = False) -> FakeWaiter:
        waiter = FakeWaiter(len(reads))
        self.slow_batches.append(slow)
        for slot, (machine, request) in enumerate(reads):
            self.reads.append(
                (
                    _decode_read(machine, request),
                    consistency,
                    min_index,
                )
            )
            if self.fail_with is not None:
                waiter.resolve(slot, self.fail_with)
                continue
            if self.batched and self.linearizable_reads:
                if consistency in (ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE):
                    need = self.applied + len(self._queue)  # every write submitted before this read
                elif consistency is ReadConsistency.SEQUENTIAL:
                    need = min_index
                else:
                    need = 0
                if need > self.applied:
                    self._barriers.append((need, machine, request, waiter, slot))
                    continue
            self._serve(machine, request, waiter, slot)
        return waiter

    def status(self) -> Status:
        progress = {
            2: PeerProgress(match=self.applied, next=self.applied + 1, state="replicate"),
            3: PeerProgress(match=max(self.applied - 1, 0), next=self.applied, state="probe", recent_active=False),
        }
        if self.role is not Role.LEADER:
            progress = {}
        return Status(
            node_id=1,
            role=self.role,
            leader=1 if self.role is Role.LEADER else 2,
            epoch=7,
            commit=self.applied,
            applied=self.applied,
            first_index=1,
            last_index=self.applied + len(self._queue),
            progress=progress,
            extra={"protocol": "raft"},
        )

    def leader_address(self) -> tuple[str, int] | None:
        return self.resp_address

    def members(self) -> list[tuple[int, tuple[str, int], str]]:
        return [(m.id, _address(m.resp), m.role) for m in self._membership.members]

    def membership(self) -> Membership:
        return self._membership

    def last_contact_s(self, peer: int) -> float | None:
        return 0.01 if peer != self.node_id else None

    _membership = Membership(
        (
            ClusterMember(1, "voter", "127.0.0.1:16379", "127.0.0.1:6379"),
            ClusterMember(2, "voter", "127.0.0.1:16380", "127.0.0.1:6380"),
            ClusterMember(3, "observer", "127.0.0.1:16381", "127.0.0.1:6381"),
        )
    )

    # --- machinery -------------------------------------------------------------------
    def _apply(self, machine: str, command: bytes, waiter: FakeWaiter, slot: int) -> None:
        self.applied += 1
        if machine == MEMBERSHIP:  # as a leader whose learners have all caught up
            try:
                self._membership = changed_membership(self._membership, decode_change(command), match={}, last_index=0)
            except MembershipChangeRefused as refused:
                waiter.resolve(slot, ReplyError(f"ERR {refused}"), self.applied)
                return
            rows = [[m.id, m.role, m.peer, m.resp] for m in self._membership.members]
            waiter.resolve(slot, rows, self.applied)
            return
        if machine == PUBSUB:  # as NodeHost: hand the message to the subscriber, answer nothing
            self._published(command)
            waiter.resolve(slot, None, self.applied)
            return
        target = self.transactions if machine == TRANSACTIONS else self.machines[machine]
        result = target.apply(self.applied, command, self.clock_ms())
        waiter.resolve(slot, result, self.applied)

    def _serve(self, machine: str, request: bytes, waiter: FakeWaiter, slot: int) -> None:
        if machine == TRANSACTIONS and request == CAPTURE_SNAPSHOT:  # REPLICATOR.BACKUP, as NodeHost.query
            waiter.resolve(slot, self._capture(), self.applied)
            return
        target = self.transactions if machine == TRANSACTIONS else self.machines[machine]
        waiter.resolve(slot, target.query(request, self.clock_ms()), self.applied)

    def _capture(self):
        """NodeHost.capture_snapshot over these machines, at this node's applied index."""
        encode = offline_host("raft", self.node_id, MemoryStore(), self.machines, (1,)).capture_snapshot()
        applied = self.applied

        def at_applied() -> Snapshot:
            snapshot = encode()
            return Snapshot(dataclasses.replace(snapshot.meta, index=applied, epoch=7), snapshot.chunks)

        return at_applied

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """The batched mode's apply loop."""
        task_status.started()
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            if self.apply_delay_s:
                await trio.sleep(self.apply_delay_s)
            else:
                await trio.sleep(0)
            batch, self._queue = self._queue, deque()
            self.max_batch = max(self.max_batch, len(batch))
            for machine, command, waiter, slot in batch:
                self._apply(machine, command, waiter, slot)
            ready = [b for b in self._barriers if b[0] <= self.applied]
            self._barriers = [b for b in self._barriers if b[0] > self.applied]
            for _, machine, request, waiter, slot in ready:
                self._serve(machine, request, waiter, slot)


def _decode_read(machine: str, request: bytes):
    """What `reads` records: the arguments, WATCH's WatchRead, or the capture request as is."""
    if machine != TRANSACTIONS:
        return decode_args(request)
    return request if request == CAPTURE_SNAPSHOT else decode_watch_read(request)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)
