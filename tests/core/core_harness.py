"""A cluster of node cores (replicator/core/node.py) on one thread, for tests that drive
them by hand: real engines, in-memory stores, the simulator's `registers` machine, and
messages carried between cores by the test, so each case says exactly what arrives when.

Used by test_node_core.py (direct assertions) and transcript.py (the transcripts). A
crashed core is rebuilt over the same MemoryStore, as a restarted process reopens its
data directory; the clocks are injected (`now`, `wall_ms`) and every rng is seeded.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from replicator.core.node import CoreConfig, NodeCore
from replicator.incarnations import Incarnations
from replicator.node import NodeHost
from replicator.protocol import EngineConfig
from replicator.protocols import engine_factory
from replicator.sim import registers as reg
from replicator.storage.memory_store import MemoryStore
from replicator.types import Role

PROTOCOLS = ("raft", "zab")
ELECTION_TICKS = 10


class Answers:
    """A client's batch as the core sees it (core/requests.py). `on_set(slot)` hears
    each slot decided (the first time: later answers for a decided slot are ignored)."""

    def __init__(self, size: int, on_set: Callable[[int], None] | None = None) -> None:
        self.values = [None] * size
        self.indexes = [0] * size
        self.decided = 0
        self.done = [False] * size
        self.started = 0.0
        self.deadline = float("inf")
        self.on_set = on_set

    def set(self, slot, value, index=0):
        if not self.done[slot]:
            self.done[slot] = True
            self.values[slot] = value
            self.indexes[slot] = index
            self.decided += 1
            if self.on_set is not None:
                self.on_set(slot)


class Cores:
    """Cores of a cluster on one thread: `settle()` carries messages until all are quiet.

    `send` (optional) sees every message a core sends, with the sender's id, before it
    joins `wire`; `on_ready` sees every Ready a core takes, with the core's id."""

    def __init__(
        self,
        protocol: str,
        n: int = 3,
        write_mode: str = "forward",
        *,
        send: Callable[[int, object], None] | None = None,
        on_ready: Callable[[int, object], None] | None = None,
    ) -> None:
        self.protocol = protocol
        self.write_mode = write_mode
        self.ids = tuple(range(1, n + 1))
        self.wire: list = []  # messages sent and not delivered yet
        self.stores = {i: MemoryStore() for i in self.ids}
        self.cores: dict[int, NodeCore] = {}
        self.down: set[int] = set()
        self.restarts = dict.fromkeys(self.ids, 0)
        self.now = 0.0  # the cores' monotonic clock (seconds)
        self.wall = 0  # the cores' wall clock (ms): stamped into entries
        self._send_hook = send
        self._ready_hook = on_ready
        for i in self.ids:
            self.cores[i] = self._build(i)

    def _build(self, i: int) -> NodeCore:
        """Node i's core over its store: what a process (re)starting on that disk builds."""
        store, generation = self.stores[i], self.restarts[i]
        engine = engine_factory(self.protocol)(
            EngineConfig(node_id=i, voters=self.ids, election_ticks=ELECTION_TICKS),
            store,
            random.Random(i + 1000 * generation),
        )
        host = NodeHost(i, engine, store, {"registers": reg.Registers()}, voters=self.ids)

        def send(msg) -> None:
            if self._send_hook is not None:
                self._send_hook(i, msg)
            self.wire.append(msg)

        core = NodeCore(
            CoreConfig(i, self.ids, {j: ("127.0.0.1", 7000 + j) for j in self.ids}, self.write_mode),
            host,
            Incarnations(i, store, engine),
            send=send,
            clock=lambda: self.now,
            wall_ms=lambda: self.wall,
            pipeline_machines=("registers",),
            # A restarted node must not reuse its last run's request ids (NodeCore.__init__).
            first_id=1 + 1000 * generation,
        )
        if self._ready_hook is not None:
            core.on_ready = lambda rd: self._ready_hook(i, rd)
        return core

    def crash(self, i: int) -> None:
        """Node i stops: its core is gone (what it had not answered stays unanswered)."""
        self.down.add(i)

    def restart(self, i: int) -> None:
        """Node i starts again over its store, with a new core, engine and machines."""
        self.down.discard(i)
        self.restarts[i] += 1
        self.cores[i] = self._build(i)

    def live(self) -> list[NodeCore]:
        return [c for i, c in self.cores.items() if i not in self.down]

    def process(self, core: NodeCore) -> None:
        """Step a core's queued inputs and carry out its Readies, writes in line."""
        core.step()
        while core.run_ready():
            pass

    def settle(self, rounds: int = 200, tick: bool = True, drop=lambda msg: False) -> None:
        for _ in range(rounds):
            for core in self.live():
                if tick:
                    core.tick()
                self.process(core)
            wire, self.wire[:] = list(self.wire), []
            for msg in wire:
                if not drop(msg) and msg.dst not in self.down:
                    self.cores[msg.dst].receive(msg)

    def leader(self) -> NodeCore:
        self.settle()
        (leader,) = [c for c in self.live() if c.host.role == Role.LEADER]
        return leader

    def follower(self) -> NodeCore:
        return next(c for c in self.live() if c.host.role != Role.LEADER)
