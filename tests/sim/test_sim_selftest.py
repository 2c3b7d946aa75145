"""The simulator tests itself: a small correct Raft passes, and each classic
bug switched on in it is caught by the property written to catch it.

If a change to the simulator makes one of these bugs go unnoticed, the
simulator lost power: that is what this file guards.
"""

from __future__ import annotations

import random

import pytest

from replicator.sim import SimCluster, check_machine, make_config
from tests.sim.toyraft import toy_factory


def _run(seed: int, profile: str, bugs: set[str]):
    cfg = make_config(profile, "raft")
    return SimCluster(seed, "raft", config=cfg, profile=profile, engine=toy_factory(bugs)).run()


@pytest.mark.parametrize("profile", ["calm", "chaos", "partitions", "total", "five"])
def test_correct_toy_raft_passes(profile):
    for seed in range(6):
        result = _run(seed, profile, set())
        assert result.ok, result.report(tail=40)


@pytest.mark.parametrize(
    "bug,profile,kinds,seeds",
    [
        ("ack-before-persist", "crashes", {"CommittedDurable"}, 6),
        ("vote-before-persist", "chaos", {"ElectionSafety", "LogMatching", "LeaderCompleteness"}, 40),
        ("truncate-always", "lossy", {"NoCommittedOverwrite", "CommittedDurable", "Linearizability"}, 6),
        ("stale-read", "partitions", {"Linearizability"}, 20),
    ],
)
def test_seeded_bug_is_caught(bug, profile, kinds, seeds):
    caught = []
    for seed in range(seeds):
        result = _run(seed, profile, {bug})
        if not result.ok:
            assert result.kind in kinds, result.report(tail=20)
            caught.append(seed)
            break
    assert caught, f"{bug} went unnoticed in {seeds} seeds of profile {profile}"


class Counter:
    """A deterministic plugin machine: add n, snapshot = the total."""

    name = "counter"

    def __init__(self) -> None:
        self.total = 0

    def commands(self):
        return ()

    def apply(self, index, command, ts_ms):
        self.total += int(command)
        return self.total

    def query(self, request, now_ms):
        return self.total

    def snapshot(self):
        yield str(self.total).encode()

    def restore(self, chunks):
        chunks = list(chunks)
        self.total = int(chunks[0]) if chunks else 0


class LeakyCounter(Counter):
    """Breaks the contract: apply() depends on the replica (a process-global
    count of calls), so replicas drift apart."""

    name = "counter"
    calls = 0

    def apply(self, index, command, ts_ms):
        LeakyCounter.calls += 1
        self.total += int(command) + (LeakyCounter.calls % 2)
        return self.total


def _commands(rng: random.Random) -> bytes:
    return str(rng.randint(1, 9)).encode()


def test_check_machine_passes_a_deterministic_plugin():
    assert check_machine(Counter, _commands, seeds=range(3), engine=toy_factory(set())) == []


def test_check_machine_catches_a_nondeterministic_plugin():
    failures = check_machine(LeakyCounter, _commands, seeds=range(2), engine=toy_factory(set()))
    assert failures and failures[0].kind == "StateMachineSafety", [f.report(5) for f in failures]
