"""The node core (replicator/core/node.py) driven by hand: real engines, in-memory stores,
messages carried between cores by the test, so each case says exactly what arrives when."""

from __future__ import annotations

import random

import pytest

from replicator.core.messages import ForwardReply, ForwardRequest
from replicator.core.node import CoreConfig, NodeCore
from replicator.core.requests import Moved, OutcomeUnknown, ReadConsistency
from replicator.incarnations import Incarnations
from replicator.node import NodeHost
from replicator.protocol import EngineConfig
from replicator.protocols import engine_factory
from replicator.sim import registers as reg
from replicator.storage.memory_store import MemoryStore
from replicator.types import Role

PROTOCOLS = ("raft", "zab")


class Answers:
    """A client's batch as the core sees it (core/requests.py)."""

    def __init__(self, size: int) -> None:
        self.values = [None] * size
        self.indexes = [0] * size
        self.decided = 0
        self.started = 0.0
        self.deadline = float("inf")

    def set(self, slot, value, index=0):
        if self.values[slot] is None:
            self.values[slot] = value
            self.indexes[slot] = index
            self.decided += 1


class Cores:
    """Cores of a cluster on one thread: `run()` carries messages until all are quiet."""

    def __init__(self, protocol: str, n: int = 3, write_mode: str = "forward") -> None:
        self.ids = tuple(range(1, n + 1))
        self.wire: list = []  # messages sent and not delivered yet
        self.cores: dict[int, NodeCore] = {}
        for i in self.ids:
            store = MemoryStore()
            engine = engine_factory(protocol)(
                EngineConfig(node_id=i, voters=self.ids, election_ticks=10), store, random.Random(i)
            )
            host = NodeHost(i, engine, store, {"registers": reg.Registers()}, voters=self.ids)
            self.cores[i] = NodeCore(
                CoreConfig(i, self.ids, {j: ("127.0.0.1", 7000 + j) for j in self.ids}, write_mode),
                host,
                Incarnations(i, store, engine),
                send=self.wire.append,
                clock=lambda: 0.0,
                wall_ms=lambda: 0,
                pipeline_machines=("registers",),
            )

    def settle(self, rounds: int = 200, tick: bool = True, drop=lambda msg: False) -> None:
        for _ in range(rounds):
            for core in self.cores.values():
                if tick:
                    core.tick()
                core.step()
                while core.run_ready():
                    pass
            wire, self.wire[:] = list(self.wire), []
            for msg in wire:
                if not drop(msg):
                    self.cores[msg.dst].receive(msg)

    def leader(self) -> NodeCore:
        self.settle()
        (leader,) = [c for c in self.cores.values() if c.host.role == Role.LEADER]
        return leader

    def follower(self) -> NodeCore:
        return next(c for c in self.cores.values() if c.host.role != Role.LEADER)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_duplicated_forward_request_is_proposed_once(protocol):
    """Found by the simulator's clients (a network that duplicates): a copy of a
    ForwardRequest made the leader propose its writes again, applying a put twice."""
    cores = Cores(protocol)
    leader = cores.leader()
    request = ForwardRequest(
        cores.follower().node_id, leader.node_id, 77, ("registers",), (reg.encode_put(b"k", b"v"),)
    )
    applied = leader.host.applied
    leader.receive(request)
    leader.receive(request)
    replies: list = []
    cores.settle(20, drop=lambda msg: isinstance(msg, ForwardReply) and not replies.append(msg))
    assert len(replies) == 1 and replies[0].req_id == 77 and not replies[0].errors[0]
    assert leader.host.applied - applied == 1  # one entry: the put
    assert leader.host.query("registers", reg.encode_get(b"k"), 0) == b"v"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_write_at_a_follower_is_forwarded_and_answered(protocol):
    cores = Cores(protocol)
    cores.leader()
    follower = cores.follower()
    answers = Answers(2)
    follower.submit_batch(
        [("registers", reg.encode_put(b"a", b"1")), ("registers", reg.encode_put(b"a", b"2"))], answers
    )
    cores.settle(30)
    assert answers.decided == 2 and answers.values[1] == b"1" and answers.indexes[1] > 0
    reads = Answers(1)
    follower.read_batch([("registers", reg.encode_get(b"a"))], ReadConsistency.SEQUENTIAL, reads, answers.indexes[1])
    cores.settle(30)
    assert reads.values == [b"2"]  # never older than what this connection has seen


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_redirect_mode_answers_moved_with_the_leader(protocol):
    cores = Cores(protocol, write_mode="redirect")
    leader = cores.leader()
    follower = cores.follower()
    answers = Answers(1)
    follower.submit_batch([("registers", reg.encode_put(b"a", b"1"))], answers)
    follower.step()
    (moved,) = answers.values
    assert isinstance(moved, Moved) and moved.leader == leader.node_id
    assert str(moved) == f"MOVED 0 127.0.0.1:{7000 + leader.node_id}"
    assert follower.pipeline_machines == frozenset()  # a read in a pipeline entry would be moved too


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_new_leader_fails_writes_forwarded_to_the_old_one_but_losing_sight_does_not(protocol):
    """Outcome unknown only when another leader is known: a follower that merely lost sight
    of its leader (leader None) keeps waiting for the old leader's answer, which may come."""
    cores = Cores(protocol)
    leader = cores.leader()
    follower = cores.follower()
    answers = Answers(1)
    follower.submit_batch([("registers", reg.encode_put(b"a", b"1"))], answers)
    follower.step()
    (forward,) = [m for m in cores.wire if isinstance(m, ForwardRequest)]
    cores.wire.clear()
    follower._on_leader_change(None)
    assert answers.decided == 0
    other = next(i for i in cores.ids if i not in (leader.node_id, follower.node_id))
    follower._on_leader_change(other)
    assert isinstance(answers.values[0], OutcomeUnknown)
    assert f"leader {forward.dst} changed before answering" in str(answers.values[0])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pause_shorter_than_the_election_timeout_deposes_nobody(protocol):
    """A loaded machine's scheduling pause (a long fsync, a busy loop) of just under an election
    timeout, at any phase of the leader's clock and repeated, keeps it leader: the ticks that
    piled up are stepped together with (after) the followers' answers that waited meanwhile."""
    cores = Cores(protocol)
    leader = cores.leader()
    epoch = leader.host.epoch

    def turn(ticks: int) -> None:
        leader.tick(ticks)
        for core in cores.cores.values():  # the followers' clocks stand still: only the leader pauses
            core.step()
            while core.run_ready():
                pass
        cores.settle(1, tick=False)  # what was sent arrives (answers wait in the leader's inbox)

    for offset in range(30):
        for _ in range(offset % 10):
            turn(1)
        turn(9)  # a pause of 9 ticks; the election timeout is 10
        assert leader.host.role == Role.LEADER and leader.host.epoch == epoch, f"deposed at offset {offset}"
