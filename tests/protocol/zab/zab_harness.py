"""A small deterministic in-memory cluster of ZabEngines for engine tests.

The twin of tests/protocol/raft/raft_harness.py. Each node is a ZabEngine over
a MemoryStore with a toy state machine (the list of applied NORMAL payloads).
A Ready is carried out in the driver's order (ready.py): messages out,
store.save, messages_after_persist out, apply, advance. Messages travel
through one FIFO queue; links can be cut, nodes crashed and restarted.
No randomness except the engines' seeded rngs.

The randomized simulator lives in replicator/sim; this is the unit-test twin.
"""

from __future__ import annotations

import random
from dataclasses import replace

from replicator.protocol import EngineConfig
from replicator.protocol.ready import Ready
from replicator.protocol.zab.engine import ZabEngine, ZabPhase
from replicator.storage.memory_store import MemoryStore
from replicator.types import EntryKind, ReadState, Role, Snapshot, SnapshotMeta


class Node:
    def __init__(self, config: EngineConfig, store: MemoryStore, seed: int) -> None:
        self.config = config
        self.store = store
        self.seed = seed
        self.applied: list[bytes] = []  # the toy state machine
        self.applied_index = config.applied
        self.reads: list[ReadState] = []
        self.readies: list[Ready] = []
        meta = store.snapshot_meta()
        if meta is not None:
            self.applied = [store.snapshot_chunk(i) for i in range(meta.chunk_count)]
            self.applied_index = meta.index
        self.engine = ZabEngine(config, store, random.Random(seed))

    def take_snapshot(self) -> Snapshot:
        """Host-style: snapshot the state machine at applied_index (one chunk per
        item). Like NodeHost, it records no zxid in the meta."""
        index = self.applied_index
        meta = SnapshotMeta(
            index=index,
            epoch=self.store.term(index),
            voters=self.config.voters,
            observers=self.config.observers,
            chunk_count=len(self.applied),
            size_bytes=sum(map(len, self.applied)),
        )
        return Snapshot(meta, tuple(self.applied))


class Cluster:
    def __init__(self, n: int = 3, *, observers: int = 0, seed: int = 0, **overrides) -> None:
        voters = tuple(range(1, n + 1))
        obs = tuple(range(n + 1, n + observers + 1))
        self.ids = voters + obs
        self.nodes: dict[int, Node] = {}
        for i in self.ids:
            config = EngineConfig(node_id=i, voters=voters, observers=obs, **overrides)
            self.nodes[i] = Node(config, MemoryStore(), seed * 1000 + i)
        self.queue: list = []  # messages in flight, FIFO
        self.cut: set[tuple[int, int]] = set()  # (src, dst) links that drop
        self.down: set[int] = set()
        self.delivered: list = []  # every message delivered, for assertions
        self.drop = None  # optional predicate: a message it accepts is lost

    # --- access -------------------------------------------------------------
    def __getitem__(self, i: int) -> ZabEngine:
        return self.nodes[i].engine

    def leader(self) -> int | None:
        """The live established leader of the highest epoch (at most one per epoch)."""
        leaders = [i for i in self.ids if i not in self.down and self[i].status().role is Role.LEADER]
        epochs = [self[i].accepted_epoch for i in leaders]
        assert len(set(epochs)) == len(epochs), "two leaders in one epoch"
        return max(leaders, key=lambda i: self[i].accepted_epoch) if leaders else None

    def broadcasting(self, i: int) -> bool:
        return self[i].phase is ZabPhase.BROADCAST

    # --- faults -------------------------------------------------------------
    def isolate(self, i: int) -> None:
        for j in self.ids:
            if j != i:
                self.cut.add((i, j))
                self.cut.add((j, i))

    def partition(self, *groups: tuple[int, ...]) -> None:
        for a in groups:
            for b in groups:
                if a is not b:
                    for i in a:
                        for j in b:
                            self.cut.add((i, j))

    def heal(self) -> None:
        self.cut.clear()

    def crash(self, i: int) -> None:
        """Stop node i. MemoryStore writes were synchronous, so nothing durable is lost."""
        self.down.add(i)
        self.queue = [m for m in self.queue if m.dst != i]

    def restart(self, i: int) -> None:
        node = self.nodes[i]
        meta = node.store.snapshot_meta()
        config = replace(node.config, applied=meta.index if meta else 0)
        self.nodes[i] = Node(config, node.store, node.seed + 7)
        self.down.discard(i)

    # --- driving ------------------------------------------------------------
    def process_ready(self, i: int, *, persist: bool = True) -> Ready | None:
        """Carry out one Ready of node i in the driver's order. With
        persist=False the node crashes after sending `messages`, before its
        write: the Ready is lost (the scenario of a leader that dies mid-write)."""
        node = self.nodes[i]
        engine = node.engine
        if i in self.down or not engine.has_ready():
            return None
        rd = engine.ready()
        node.readies.append(rd)
        self.queue.extend(rd.messages)
        if not persist:
            self.crash(i)
            return rd
        if rd.must_sync or rd.hard_state is not None or rd.entries or rd.snapshot is not None:
            node.store.save(rd)
        self.queue.extend(rd.messages_after_persist)
        if rd.snapshot is not None:
            node.applied = list(rd.snapshot.chunks)
            node.applied_index = rd.snapshot.meta.index
        for entry in rd.committed:
            if entry.index <= node.applied_index:
                continue  # covered by a snapshot installed above
            assert entry.index == node.applied_index + 1, (i, entry.index, node.applied_index)
            node.applied_index = entry.index
            if entry.kind is EntryKind.NORMAL:
                node.applied.append(entry.data)
        node.reads.extend(rd.read_states)
        engine.advance(rd)
        return rd

    def deliver(self, filter=None) -> int:
        """Deliver the queued messages (those `filter` accepts); returns how many."""
        queue, self.queue = self.queue, []
        count = 0
        for msg in queue:
            if filter is not None and not filter(msg):
                self.queue.append(msg)
                continue
            if msg.dst in self.down or (msg.src, msg.dst) in self.cut:
                continue
            if self.drop is not None and self.drop(msg):
                continue
            self.delivered.append(msg)
            self.nodes[msg.dst].engine.step(msg)
            count += 1
        return count

    def stabilize(self, max_rounds: int = 1000) -> None:
        """Process readies and deliver messages until nothing moves."""
        for _ in range(max_rounds):
            moved = False
            for i in self.ids:
                while self.process_ready(i) is not None:
                    moved = True
            if self.deliver():
                moved = True
            if not moved:
                return
        raise AssertionError("cluster did not stabilize")

    def tick(self, n: int = 1, nodes=None) -> None:
        for _ in range(n):
            for i in nodes or self.ids:
                if i not in self.down:
                    self.nodes[i].engine.tick()
            self.stabilize()

    def elect(self, limit: int = 200, nodes=None) -> int:
        """Tick until one established leader in BROADCAST is followed by every live node of `nodes`."""
        group = [i for i in (nodes or self.ids) if i not in self.down]
        for _ in range(limit):
            self.stabilize()
            leader = self.leader()
            if (
                leader is not None
                and leader in group
                and self.broadcasting(leader)
                and all(self[i].leader == leader and self.broadcasting(i) for i in group)
            ):
                return leader
            self.tick(nodes=nodes)
        raise AssertionError("no leader elected: " + ", ".join(repr(self[i]) for i in group))

    def propose(self, i: int, *datas: bytes) -> list[int]:
        indexes = [self[i].propose(d) for d in datas]
        self.stabilize()
        return indexes

    def applied(self, i: int) -> list[bytes]:
        return self.nodes[i].applied
