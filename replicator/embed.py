"""Run a node inside your own trio program: no RESP server, no separate process.

    import replicator
    from statemachines.locks import LocksMachine

    async with replicator.open_node("n1.toml", {"locks": LocksMachine()}) as node:
        token = await node.propose("locks", [b"LOCK.ACQUIRE", b"jobs", b"worker-1", b"5000"])
        holder = await node.query("locks", [b"LOCK.HOLDER", b"jobs"])
        renewed, holder = await node.transaction([          # one log entry, several commands
            ("locks", [b"LOCK.RENEW", b"jobs", b"worker-1", b"%d" % token, b"5000"], True),
            ("locks", [b"LOCK.HOLDER", b"jobs"], False)])
        print(node.status().role)

`open_node` starts `runtime.driver.Node.run` in a nursery of its own, waits
until the node listens on its peer port, and yields an `EmbeddedNode`. Leaving
the block cancels the node (the store closes after its last write). A cluster
is N such nodes, in N processes or in one (tests/test_embed.py runs three in
one trio run over loopback).

Results are the machine's plain values (bytes, str, int, list, dict, None);
a command the machine rejects comes back as a `statemachines.ReplyError`
VALUE, exactly as a RESP client would see it. Failures of replication raise
`runtime.api.RequestError` subclasses: `OutcomeUnknown` (leadership changed
before the write's fate was known: it may or may not have applied),
`TimedOut` (no answer within request_timeout_ms, e.g. no quorum), and
`Moved` in redirect mode.

The embedding process owns the process-wide settings: `serve_node` lowers
sys.setswitchinterval for fsync throughput; an embedder may do the same.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from replicator import config as config_mod
from replicator.config import Config
from replicator.runtime.api import ReadConsistency
from replicator.runtime.driver import Node
from replicator.transactions import encode_transaction
from replicator.types import Status
from statemachines import TRANSACTIONS, Result, StateMachine, encode_args
from statemachines.registry import load_machine

Command = bytes | Sequence[bytes | str]
Machines = Mapping[str, StateMachine] | Iterable[StateMachine | str] | None


class EmbeddedNode:
    """A running node, as seen from the program that embeds it."""

    def __init__(self, node: Node) -> None:
        self.runtime = node  # the driver's Node (NodeAPI), for what this wrapper does not cover
        self.node_id = node.node_id
        self.machines = node.machines  # name -> the live StateMachine instance (read it only on this task's loop)

    async def propose(self, machine: str, command: Command) -> Result:
        """Replicate one write through the log and return the machine's result.

        `command` is the payload the machine's apply() receives: bytes as they are,
        or an argument list (encoded with statemachines.encode_args, as the RESP
        frontend does). Sent from a follower, it is forwarded to the leader.
        """
        return await self.runtime.submit(machine, _payload(command)).wait_one()

    async def query(
        self, machine: str, request: Command, consistency: str | ReadConsistency = "linearizable", *, min_index: int = 0
    ) -> Result:
        """Serve a read with the machine's query(): linearizable (a read barrier first,
        the default), lease, sequential (at least min_index applied here), or stale."""
        level = consistency if isinstance(consistency, ReadConsistency) else ReadConsistency(consistency)
        return await self.runtime.read(machine, _payload(request), level, min_index).wait_one()

    async def transaction(self, steps: Iterable[tuple[str, Command, bool]]) -> list[Result]:
        """Replicate several commands, of any machines, as one log entry: they run in
        order at one log position, none interleaved with other writes, a read
        seeing the writes before it (MULTI/EXEC). Each step is (machine, command,
        write): write True goes through the machine's apply(), False through its
        query(). Returns one result per step; a step the machine rejects is a
        ReplyError in its place, and the others still apply (as in Redis).
        """
        payload = encode_transaction((machine, _payload(command), write) for machine, command, write in steps)
        return await self.runtime.submit(TRANSACTIONS, payload).wait_one()

    def status(self) -> Status:
        """Role, leader, epoch, commit and applied positions (replicator.types.Status)."""
        return self.runtime.status()


def _payload(command: Command) -> bytes:
    if isinstance(command, (bytes, bytearray, memoryview)):
        return bytes(command)
    return encode_args(a.encode() if isinstance(a, str) else bytes(a) for a in command)


def _machines(config: Config, machines: Machines) -> dict[str, StateMachine]:
    if machines is None:
        return {name: load_machine(name) for name in config.machines}
    if isinstance(machines, Mapping):
        return dict(machines)
    out: dict[str, StateMachine] = {}
    for m in machines:
        machine = load_machine(m) if isinstance(m, str) else m
        out[machine.name] = machine
    return out


@asynccontextmanager
async def open_node(config: Config | str | os.PathLike, machines: Machines = None) -> AsyncIterator[EmbeddedNode]:
    """Start a node in this trio run; yield it; stop it when the block ends.

    config: a Config, or the path of a TOML config file (replicator.config.load).
    machines: {name: instance}; or instances and/or installed machine names (each
        instance's class `name` is its name); or None for the config's `machines`,
        loaded from the `replicator.statemachines` entry points. Every node of a
        cluster must run the same machines under the same names.
    """
    cfg = config if isinstance(config, Config) else config_mod.load(Path(config))
    node = Node(cfg, _machines(cfg, machines))
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.run)
            try:
                yield EmbeddedNode(node)
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The nursery wraps whatever the caller's block raised; give the caller back its own
        # exception, as a context manager should. Several at once stay a group.
        if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], BaseExceptionGroup):
            raise group.exceptions[0] from None
        raise
