"""The node test_resp_adversarial.py attacks, in a child process so that a hang cannot stall the
test: a FakeNode running kv, znodes and locks behind serve_resp on a free port (printed on the
first line of stdout). On "check" from stdin it verifies what it applied and prints "OK" or what
is wrong: every machine's state survives snapshot and restore, and replaying the applied log
(each entry with its ts_ms) on fresh machines gives the same state, so apply is deterministic."""

from __future__ import annotations

import sys
from functools import partial

import trio
from fake_node import FakeNode

from frontends.resp.server import serve_resp
from replicator.transactions import Transactions
from replicator.types import MEMBERSHIP
from statemachines import PUBSUB, TRANSACTIONS
from statemachines.acl import ACL, AclMachine
from statemachines.kv import KVMachine
from statemachines.locks import LocksMachine
from statemachines.znodes import ZnodesMachine


def machines() -> dict:
    return {"kv": KVMachine(), "znodes": ZnodesMachine(), "locks": LocksMachine(), ACL: AclMachine()}


class RecordingNode(FakeNode):
    """A FakeNode that logs every applied entry with the ts_ms it was applied at."""

    def __init__(self) -> None:
        super().__init__(batched=True)
        self.machines = machines()
        self.acl = self.machines[ACL]  # the node's ACL users (ACL SETUSER is attacked too)
        self.transactions = Transactions(self.machines, published=self._published)
        self.log: list[tuple[str, bytes, int]] = []
        self._last_ts = 0  # entries that read no clock (PUBLISH) log the last one
        wall = self.clock_ms
        self.clock_ms = lambda: self._stamp(wall())

    def _stamp(self, ts: int) -> int:
        self._last_ts = ts
        return ts

    def _apply(self, machine, command, waiter, slot) -> None:
        super()._apply(machine, command, waiter, slot)
        self.log.append((machine, command, self._last_ts))


def verdict(node: RecordingNode) -> str:
    replay = machines()
    transactions = Transactions(replay)
    for index, (machine, command, ts) in enumerate(node.log, 1):
        if machine not in (MEMBERSHIP, PUBSUB):  # the node's own entries, no machine's
            (transactions if machine == TRANSACTIONS else replay[machine]).apply(index, command, ts)
    for name, machine in node.machines.items():
        chunks = list(machine.snapshot())
        if chunks != list(replay[name].snapshot()):
            return f"{name}: replaying the {len(node.log)} applied entries gave another state"
        restored = type(machine)()
        restored.restore(chunks)
        if list(restored.snapshot()) != chunks:
            return f"{name}: snapshot and restore changed the state"
    return "OK"


async def main() -> None:
    node = RecordingNode()
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        port = await nursery.start(partial(serve_resp, node, "127.0.0.1", 0, machines=["znodes", "locks"]))
        print(port, flush=True)
        await trio.to_thread.run_sync(sys.stdin.readline)
        print(verdict(node), flush=True)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main)
