"""A small deterministic in-memory cluster of engines, for either protocol.

Each node is the protocol's engine (replicator/protocols.py picks it by name)
over a MemoryStore, with a toy state machine: the list of applied NORMAL
payloads. Every Ready goes through `carry_out`, the order of protocol/ready.py
written down once for all engine tests. Messages travel through one FIFO queue;
links can be cut, nodes crashed and restarted. No randomness except the
engines' seeded rngs, so a seed replays a run message for message.

RaftCluster and ZabCluster add what only one protocol has (a Raft node can be
told to campaign; a ZAB node serves only once in BROADCAST). The randomized
simulator lives in replicator/sim; this is the unit-test twin.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import msgspec

from replicator.protocol import EngineConfig
from replicator.protocol.ready import Ready
from replicator.protocols import engine_factory, message_types
from replicator.storage.memory_store import MemoryStore
from replicator.types import MEMBERSHIP, EntryKind, Membership, Payload, ReadState, Role, Snapshot, SnapshotMeta


def blank_ready(number: int, **fields) -> Ready:
    """A Ready with every field empty except those given (to compare whole Readies)."""
    base = dict(
        number=number,
        hard_state=None,
        entries=(),
        snapshot=None,
        must_sync=False,
        messages=(),
        messages_after_persist=(),
        committed=(),
        read_states=(),
        soft_state=None,
    )
    base.update(fields)
    return Ready(**base)


def writes(rd: Ready) -> bool:
    """Whether a Ready holds anything for the store. A driver writes only when
    rd.must_sync; the harness also keeps commit-only hard states (a MemoryStore
    write is free), so a restarted node resumes at its last known commit index."""
    return rd.must_sync or rd.hard_state is not None or bool(rd.entries) or rd.snapshot is not None


def carry_out(
    rd: Ready,
    *,
    send: Callable[[Iterable[Any]], None],
    persist: Callable[[Ready], None],
    apply: Callable[[Ready], None],
    advance: Callable[[Ready], None],
) -> None:
    """Carry out one Ready in the order of protocol/ready.py: messages out, the
    durable write, acks out, apply (snapshot, committed entries, read states),
    advance. Every engine test goes through here (as NodeHost.run_ready does for
    the simulator), so a change to the order is made in one place. `persist` may
    raise to model a crash before the write: nothing after it happens."""
    send(rd.messages)
    if writes(rd):
        persist(rd)
    send(rd.messages_after_persist)
    apply(rd)
    advance(rd)


def run_lone(engine, store: MemoryStore) -> Ready:
    """Carry out one Ready of an engine with no peers (its messages are dropped) and return it."""
    rd = engine.ready()
    carry_out(rd, send=lambda msgs: None, persist=store.save, apply=lambda rd: None, advance=engine.advance)
    return rd


class Crashed(Exception):
    """Raised by a persist step to model a node that dies before its write lands."""


class Node:
    def __init__(self, protocol: str, config: EngineConfig, store: MemoryStore, seed: int) -> None:
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
        self.engine = engine_factory(protocol)(config, store, random.Random(seed))

    def apply(self, rd: Ready) -> None:
        """Step 4-5 of ready.py for the toy machine: install the snapshot, apply, note the reads."""
        if rd.snapshot is not None:
            self.applied = list(rd.snapshot.chunks)
            self.applied_index = rd.snapshot.meta.index
        for entry in rd.committed:
            if rd.snapshot is not None and entry.index <= rd.snapshot.meta.index:
                continue  # covered by the snapshot installed above
            assert entry.index == self.applied_index + 1, (self.config.node_id, entry.index, self.applied_index)
            self.applied_index = entry.index
            if entry.kind is EntryKind.NORMAL:
                self.applied.append(entry.data)
        self.reads.extend(rd.read_states)

    def take_snapshot(self) -> Snapshot:
        """Host-style: snapshot the state machine at applied_index (one chunk per item).
        Like NodeHost, it records no zxid in the meta."""
        index = self.applied_index
        members = self.engine.log.configs.committed_config(index)
        if not members.voters:  # an engine that keeps no configurations in its log
            members = self.config.bootstrap_membership()
        meta = SnapshotMeta(
            index=index,
            epoch=self.store.term(index),
            voters=members.voters,
            observers=members.non_voters,
            chunk_count=len(self.applied),
            size_bytes=sum(map(len, self.applied)),
            membership=members,
        )
        return Snapshot(meta, tuple(self.applied))


class Cluster:
    protocol = ""  # set by each protocol's subclass

    def __init__(self, n: int = 3, *, observers: int = 0, seed: int = 0, **overrides) -> None:
        voters = tuple(range(1, n + 1))
        obs = tuple(range(n + 1, n + observers + 1))
        self.ids = voters + obs
        self.overrides = overrides
        self.wire_types = frozenset(message_types(self.protocol).values())
        self.nodes: dict[int, Node] = {}
        for i in self.ids:
            config = EngineConfig(node_id=i, voters=voters, observers=obs, **overrides)
            self.nodes[i] = Node(self.protocol, config, MemoryStore(), seed * 1000 + i)
        self.queue: list = []  # messages in flight, FIFO
        self.cut: set[tuple[int, int]] = set()  # (src, dst) links that drop
        self.down: set[int] = set()
        self.delivered: list = []  # every message delivered, for assertions
        self.drop = None  # optional predicate: a message it accepts is lost
        # Told of every Ready carried out, watch("ready", node, rd), and every message
        # lost, watch("lost", msg, why): how transcripts (tests/protocol/transcript.py) print a run.
        self.watch: Callable[..., None] | None = None

    # --- access -------------------------------------------------------------
    def __getitem__(self, i: int):
        return self.nodes[i].engine

    def applied(self, i: int) -> list[bytes]:
        return self.nodes[i].applied

    def leader(self) -> int | None:
        """The live leader of the highest term/epoch (at most one per term/epoch)."""
        leaders = [i for i in self.ids if i not in self.down and self[i].status().role is Role.LEADER]
        epochs = [self[i].status().epoch for i in leaders]
        assert len(set(epochs)) == len(epochs), "two leaders in one term"
        return max(leaders, key=lambda i: self[i].status().epoch) if leaders else None

    def serving(self, i: int) -> bool:
        """Whether node i takes part in replication now (ZAB: only once synced)."""
        return True

    def sent(self, kind: type, dst: int | None = None) -> list:
        """The delivered messages of one type (to one node)."""
        return [m for m in self.delivered if type(m) is kind and (dst is None or m.dst == dst)]

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
        self.nodes[i] = Node(self.protocol, config, node.store, node.seed + 7)
        self.down.discard(i)

    # --- driving ------------------------------------------------------------
    def process_ready(self, i: int, *, persist: bool = True) -> Ready | None:
        """Carry out one Ready of node i. With persist=False the node crashes after
        sending `messages`, before its write: the Ready is lost (the scenario of a
        leader that dies mid-write)."""
        node = self.nodes[i]
        engine = node.engine
        if i in self.down or not engine.has_ready():
            return None
        rd = engine.ready()
        node.readies.append(rd)

        def save(rd: Ready) -> None:
            if not persist:
                raise Crashed
            node.store.save(rd)

        try:
            carry_out(rd, send=self.queue.extend, persist=save, apply=node.apply, advance=engine.advance)
        except Crashed:
            self.crash(i)
        if self.watch is not None:
            self.watch("ready", i, rd)
        return rd

    def deliver(self, filter=None) -> int:
        """Deliver the queued messages (those `filter` accepts); returns how many."""
        queue, self.queue = self.queue, []
        count = 0
        for msg in queue:
            if filter is not None and not filter(msg):
                self.queue.append(msg)
                continue
            why = self._lost(msg)
            if why is not None:
                if self.watch is not None:
                    self.watch("lost", msg, why)
                continue
            assert type(msg) in self.wire_types, msg  # only what the codec can carry
            self.delivered.append(msg)
            self.nodes[msg.dst].engine.step(msg)
            count += 1
        return count

    def _lost(self, msg) -> str | None:
        if msg.dst not in self.nodes:
            return "no such node"  # a member that was added but never started
        if msg.dst in self.down:
            return "down"
        if (msg.src, msg.dst) in self.cut:
            return "cut"
        if self.drop is not None and self.drop(msg):
            return "dropped"
        return None

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
        """Tick until one leader is followed by every live node of `nodes` (all by
        default), every one of them serving; return it."""
        group = [i for i in (nodes or self.ids) if i not in self.down]
        for _ in range(limit):
            self.stabilize()
            leaders = [i for i in group if self[i].status().role is Role.LEADER]
            if len(leaders) == 1 and all(self[i].leader == leaders[0] and self.serving(i) for i in group):
                return leaders[0]
            self.tick(nodes=nodes)
        raise AssertionError("no leader elected: " + ", ".join(repr(self[i]) for i in group))

    def propose(self, i: int, *datas: bytes) -> list[int]:
        indexes = [self[i].propose(d) for d in datas]
        self.stabilize()
        return indexes

    # --- membership -----------------------------------------------------------
    def add_node(self, i: int, membership: Membership, seed: int = 0) -> None:
        """Start node i with an empty store, bootstrapped with `membership` (what
        `replicator member add` prints for it); it learns the real one from the log."""
        config = EngineConfig(node_id=i, voters=membership.voters, membership=membership, **self.overrides)
        self.nodes[i] = Node(self.protocol, config, MemoryStore(), seed * 1000 + i)
        self.ids = (*self.ids, i)

    def change_config(self, i: int, membership: Membership) -> int:
        """Node i (the leader) proposes `membership` as the new configuration."""
        return self[i].propose_config(config_data(membership))


def config_data(membership: Membership, origin: int = 0, seq: int = 0) -> bytes:
    """A CONFIG entry's data, as NodeHost builds it."""
    return msgspec.msgpack.encode(Payload(0, origin, seq, MEMBERSHIP, membership.encode()))


class RaftCluster(Cluster):
    protocol = "raft"

    def campaign(self, i: int) -> int:
        """Make node i campaign now (no timeout) and settle; it must win."""
        self[i].campaign()
        self.stabilize()
        assert self[i].role is Role.LEADER, self[i]
        return i


class ZabCluster(Cluster):
    protocol = "zab"

    def serving(self, i: int) -> bool:
        return self.broadcasting(i)

    def broadcasting(self, i: int) -> bool:
        return self[i].status().extra["phase"] == "broadcast"


CLUSTERS: dict[str, type[Cluster]] = {"raft": RaftCluster, "zab": ZabCluster}
