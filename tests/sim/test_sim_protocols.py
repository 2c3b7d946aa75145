"""Both engines (Raft and ZAB) under the deterministic simulator.

SIM_SEEDS (default 300) seeds are spread over every fault profile; a failure
names the seed, the command that replays it, and the trace tail. Then:
determinism (same seed, same trace bytes, in-process and across hash seeds),
and named scenarios with scripted faults.

    SIM_SEEDS=2000 pytest tests/sim/test_sim_protocols.py -q
    python -m replicator.sim --protocol raft --seed N --profile P --trace
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from replicator.sim import ROTATION, SimCluster, make_config, run_seed, trace_digest
from replicator.sim.history import PUT
from replicator.sim.runner import replay_command, run_seeds
from replicator.sim.trace import Trace
from replicator.types import Role

PROTOCOLS = ("raft", "zab")
SIM_SEEDS = int(os.environ.get("SIM_SEEDS", "300"))
PROFILE_NAMES = ROTATION  # lease-pauses is a known limit of leases, run on purpose only
PER_PROFILE = max(1, -(-SIM_SEEDS // len(PROFILE_NAMES)))  # ceil
JOBS = 2  # seeds are independent: both cores (the suite itself runs on one)


def _fail_report(results) -> str:
    return "\n\n".join(r.report(tail=40) for r in results)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_seeds(protocol, profile):
    """Safety after every step, linearizable clients, liveness after healing."""
    base = 1000 * (PROFILE_NAMES.index(profile) + 1)  # disjoint seed ranges per profile
    summary = run_seeds(range(base, base + PER_PROFILE), protocol, profile, jobs=JOBS)
    failures = summary.failures
    assert not failures, f"{len(failures)} of {PER_PROFILE} seeds failed:\n" + _fail_report(failures)


# --- determinism ------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("seed,profile", [(7, "chaos"), (11, "five"), (3, "total")])
def test_same_seed_same_trace(protocol, seed, profile):
    a = run_seed(seed, protocol, profile, full_trace=True)
    b = run_seed(seed, protocol, profile, full_trace=True)
    assert a.trace is not None and b.trace is not None
    text_a, text_b = a.trace.text(), b.trace.text()
    assert a.trace.count > 1000
    assert text_a == text_b, f"seed {seed} did not replay identically"
    assert a.stats.events == b.stats.events and a.stats.ops_ok == b.stats.ops_ok


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_same_seed_same_trace_across_processes(protocol):
    """Nothing may depend on hash randomization (set order of str/bytes) or on
    what ran before in the process."""
    here, _ = trace_digest(5, protocol, "chaos")
    digests = set()
    for hashseed in ("1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "replicator.sim",
                "--protocol",
                protocol,
                "--seed",
                "5",
                "--profile",
                "chaos",
                "--digest",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        digests.add(out.stdout.strip().splitlines()[0])
    assert digests == {here}


def test_replay_command_names_everything_needed():
    cmd = replay_command(12, "raft", "lossy", {"max_steps": 500})
    assert cmd == "python -m replicator.sim --protocol raft --seed 12 --profile lossy --steps 500 --trace"


# --- named scenarios ----------------------------------------------------------------------
@pytest.fixture(params=PROTOCOLS)
def protocol(request):
    return request.param


def _scenario(seed: int, protocol: str, **overrides) -> SimCluster:
    """A quiet cluster (no nemesis, no loss) whose faults the test scripts."""
    cfg = make_config("calm", protocol, **overrides)
    return SimCluster(seed, protocol, config=cfg, profile="calm", trace=Trace(tail=400))


def _ok(result) -> None:
    assert result.ok, result.report(tail=60)


@pytest.mark.parametrize("point", ["before-persist", "after-persist", "after-acks"])
def test_leader_crash_mid_ready(point, protocol):
    """The leader dies inside a Ready cycle that carries new entries: with its
    appends already sent (before-persist), after its write (after-persist), or
    after its acks (after-acks). Acked writes survive, the rest is unknown."""
    c = _scenario(21, protocol)
    c.start()
    crashed = []

    def strike():
        leader = c.leader()
        assert leader is not None, "no leader at 1 s in a calm cluster"
        crashed.append(leader)
        c.crash_mid_ready(leader, point)

    c.at(1000, strike)
    result = c.run()
    _ok(result)
    assert crashed and result.stats.mid_ready_crashes == 1
    assert result.stats.elections >= 2, "a new leader should have been elected"


def test_minority_partition_isolating_the_leader(protocol):
    """The old leader alone in the minority steps down (check-quorum); the
    majority elects a new leader and keeps serving; after healing all converge."""
    c = _scenario(22, protocol)
    c.start()
    seen = {}

    def cut():
        old = c.leader()
        assert old is not None
        seen["old"] = old
        seen["term"] = c.nodes[old].host.epoch
        c.partition([[old], [n for n in c.ids if n != old]], heal_after_ms=1500)

    def during():
        new = c.leader()
        seen["new"] = new
        seen["new_term"] = c.nodes[new].host.epoch if new is not None else None
        old_host = c.nodes[seen["old"]].host
        seen["old_role"] = old_host.role if old_host else None

    c.at(1000, cut)
    c.at(2400, during)
    result = c.run()
    _ok(result)
    assert seen["new"] is not None and seen["new"] != seen["old"]
    assert seen["new_term"] > seen["term"]
    assert seen["old_role"] != Role.LEADER, "the isolated leader should have stepped down (check-quorum)"
    acked_during = [
        op for op in c.history if op.kind == PUT and op.known and 1300 <= op.invoke_ms and op.response_ms < 2500
    ]
    assert acked_during, "the majority side should have acknowledged writes during the partition"


def test_full_partition_then_heal(protocol):
    """Every node cut off from every other: nothing can commit; after healing a
    leader is elected, progress resumes and all replicas converge."""
    c = _scenario(23, protocol)
    c.start()
    c.at(1000, lambda: c.partition([[n] for n in c.ids], heal_after_ms=1200))
    result = c.run()
    _ok(result)
    # A write invoked well inside the partition cannot be acknowledged before the heal.
    inside = [op for op in c.history if op.kind == PUT and op.known and 1100 <= op.invoke_ms < 2150]
    assert all(op.response_ms >= 2200 for op in inside), [op.describe() for op in inside]
    after = [op for op in c.history if op.known and op.invoke_ms >= 2200]
    assert after, "no progress after healing"


def test_whole_cluster_crash_and_restart(protocol):
    """All nodes die at once; only their stores survive. Every acknowledged write
    must still be there after the restart (checked by the linearizability check)."""
    c = _scenario(24, protocol)
    c.start()

    def kill_all():
        for n in c.ids:
            c.crash(n, "crash (scripted)")
            c._schedule_restart(n)

    c.at(1500, kill_all)
    result = c.run()
    _ok(result)
    assert result.stats.crashes == len(c.ids)


def test_steps_cap_is_honoured(protocol):
    result = run_seed(3, protocol, "chaos", max_steps=2000)
    _ok(result)
    assert result.stats.events < 40_000
