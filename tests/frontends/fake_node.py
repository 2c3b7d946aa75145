"""A NodeAPI test double: one KVMachine, a log in a list, no replication.

Requests to TRANSACTIONS (EXEC, WATCH's read) go to the node's transaction
executor over the machines, as on a real node.

Two modes:
- immediate (default): submit applies at once and read serves at once; the
  waiter is already resolved when it is returned.
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

import time
from collections import deque

import trio

from replicator.runtime.api import ReadConsistency, RequestError
from replicator.transactions import Transactions, decode_transaction, decode_watch_read
from replicator.types import PeerProgress, Role, Status
from statemachines import TRANSACTIONS, Result, decode_args
from statemachines.kv import KVMachine


class FakeWaiter:
    __slots__ = ("_event", "_result", "_error", "index")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._result: Result = None
        self._error: RequestError | None = None
        self.index = 0

    def resolve(self, result: Result, index: int) -> None:
        self._result, self.index = result, index
        self._event.set()

    def fail(self, error: RequestError) -> None:
        self._error = error
        self._event.set()

    def result_nowait(self) -> Result:
        if not self._event.is_set():
            raise trio.WouldBlock
        if self._error is not None:
            raise self._error
        return self._result

    async def wait(self) -> Result:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._result


class FakeNode:
    node_id = 1

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
        self.machines = {"kv": KVMachine()}
        self.transactions = Transactions(self.machines)
        self.batched = batched
        self.apply_delay_s = apply_delay_s
        self.linearizable_reads = linearizable_reads
        self.clock_ms = clock_ms
        self.resp_address = resp_address
        self.submitted: list[list[bytes]] = []  # every write, decoded, in submission order
        self.reads: list[tuple[list[bytes], ReadConsistency, int]] = []
        self.applied = 0
        self.fail_with: RequestError | None = None  # fail every request while set
        self._queue: deque[tuple[str, bytes, FakeWaiter]] = deque()
        self._barriers: list[tuple[int, str, bytes, FakeWaiter]] = []
        self._wakeup = trio.Event()
        self.max_batch = 0

    # --- NodeAPI ---------------------------------------------------------------------
    def submit(self, machine: str, command: bytes) -> FakeWaiter:
        self.submitted.append(decode_transaction(command) if machine == TRANSACTIONS else decode_args(command))
        waiter = FakeWaiter()
        if self.fail_with is not None:
            waiter.fail(self.fail_with)
        elif self.batched:
            self._queue.append((machine, command, waiter))
            self._wakeup.set()
        else:
            self._apply(machine, command, waiter)
        return waiter

    def read(self, machine: str, request: bytes, consistency: ReadConsistency, min_index: int = 0) -> FakeWaiter:
        self.reads.append((decode_watch_read(request) if machine == TRANSACTIONS else decode_args(request),
                           consistency, min_index))  # fmt: skip
        waiter = FakeWaiter()
        if self.fail_with is not None:
            waiter.fail(self.fail_with)
            return waiter
        if self.batched and self.linearizable_reads:
            if consistency in (ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE):
                need = self.applied + len(self._queue)  # every write submitted before this read
            elif consistency is ReadConsistency.SEQUENTIAL:
                need = min_index
            else:
                need = 0
            if need > self.applied:
                self._barriers.append((need, machine, request, waiter))
                return waiter
        self._serve(machine, request, waiter)
        return waiter

    def status(self) -> Status:
        progress = {2: PeerProgress(match=self.applied, next=self.applied + 1, state="replicate"),
                    3: PeerProgress(match=max(self.applied - 1, 0), next=self.applied, state="probe",
                                    recent_active=False)}  # fmt: skip
        if self.role is not Role.LEADER:
            progress = {}
        return Status(node_id=1, role=self.role, leader=1 if self.role is Role.LEADER else 2, epoch=7, commit=self.applied, applied=self.applied,
                      first_index=1, last_index=self.applied + len(self._queue), progress=progress,
                      extra={"protocol": "raft"})  # fmt: skip

    def leader_address(self) -> tuple[str, int] | None:
        return self.resp_address

    def members(self) -> list[tuple[int, tuple[str, int], str]]:
        return [(1, ("127.0.0.1", 6379), "voter"), (2, ("127.0.0.1", 6380), "voter"), (3, ("127.0.0.1", 6381), "observer")]

    # --- machinery -------------------------------------------------------------------
    def _apply(self, machine: str, command: bytes, waiter: FakeWaiter) -> None:
        self.applied += 1
        target = self.transactions if machine == TRANSACTIONS else self.machines[machine]
        result = target.apply(self.applied, command, self.clock_ms())
        waiter.resolve(result, self.applied)

    def _serve(self, machine: str, request: bytes, waiter: FakeWaiter) -> None:
        target = self.transactions if machine == TRANSACTIONS else self.machines[machine]
        waiter.resolve(target.query(request, self.clock_ms()), self.applied)

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
            for machine, command, waiter in batch:
                self._apply(machine, command, waiter)
            ready = [b for b in self._barriers if b[0] <= self.applied]
            self._barriers = [b for b in self._barriers if b[0] > self.applied]
            for _, machine, request, waiter in ready:
                self._serve(machine, request, waiter)
