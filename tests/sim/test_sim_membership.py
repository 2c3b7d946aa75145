"""Membership changes under the simulator's faults (replicator/sim/reconfig.py).

SIM_SEEDS (default 300) seeds per protocol, spread over every fault profile, with
members added, removed and replaced at random through the request path while the
nemesis works; every invariant (with CommittedDurable counting the configuration
that may have committed each entry), linearizable clients, and liveness of the
final configuration after healing. Replay a failure with the command it prints
(`python -m replicator.sim ... --reconfig --trace`).
"""

from __future__ import annotations

import pytest

from replicator.sim import run_seed
from replicator.sim.runner import run_seeds
from replicator.types import EntryKind
from tests.sim.test_sim_protocols import JOBS, PER_PROFILE, PROFILE_NAMES, _fail_report

PROTOCOLS = ("raft", "zab")


# ZAB under lost disks and membership changes together still stalls in some seeds (no
# leader after healing: a node with a lost disk, a stale one and a pending or new
# configuration, e.g. 59001 and 59008). Safety holds there, which the test below checks;
# electing in that case is open work (issue 12's closing note).
LIVENESS_OPEN = {("zab", "wiped-disks")}
CASES = [(p, f) for p in PROTOCOLS for f in PROFILE_NAMES if (p, f) not in LIVENESS_OPEN]


@pytest.mark.parametrize("protocol,profile", CASES)
def test_seeds_with_membership_changes(protocol, profile):
    base = 50_000 + 1000 * PROFILE_NAMES.index(profile)  # disjoint from test_seeds' ranges
    summary = run_seeds(range(base, base + PER_PROFILE), protocol, profile, jobs=JOBS, reconfig=True)
    assert not summary.failures, f"{len(summary.failures)} of {PER_PROFILE} seeds failed:\n" + _fail_report(
        summary.failures
    )
    # The changes happened: some were applied, some refused (one at a time, unknown ids...).
    assert summary.reconfigs.get("ok", 0) >= PER_PROFILE, summary.reconfigs


@pytest.mark.parametrize("protocol,profile", sorted(LIVENESS_OPEN))
def test_where_liveness_is_open_safety_holds(protocol, profile):
    base = 50_000 + 1000 * PROFILE_NAMES.index(profile)
    summary = run_seeds(range(base, base + PER_PROFILE), protocol, profile, jobs=JOBS, reconfig=True)
    unsafe = [r for r in summary.failures if r.kind != "Liveness"]
    assert not unsafe, _fail_report(unsafe)
    assert len(summary.failures) <= PER_PROFILE // 5, _fail_report(summary.failures)  # and stalls stay rare


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_run_adds_removes_and_replaces(protocol):
    """One seed, looked at closely: nodes beyond the first three joined and were
    promoted, members left, and a removed id came back with a new disk."""
    seed = {"raft": 50_002, "zab": 50_000}[protocol]  # seeds that show all three
    result = run_seed(seed, protocol, "crashes", full_trace=True, reconfig=True)
    assert result.ok, result.report()
    text = result.trace.text()
    assert "'voter', 'n4" in text or "'voter', 'n5" in text  # a new node, promoted
    assert "member remove" in text
    assert "disk wiped" in text  # a removed id added again: its replacement has a new disk
    assert result.stats.reconfigs.get("ok", 0) >= 3, result.stats.reconfigs


def test_the_checker_catches_a_commit_without_the_new_configurations_quorum():
    """Mutation: a leader that counts its commits with the configuration before its
    newest (not the one in force) must be caught."""
    from replicator.protocol.raft import engine as raft_engine

    original = raft_engine.RaftEngine._config_changed

    def stale(self, membership):  # keeps the quorum of the configuration it had
        voters = self._voters
        original(self, membership)
        self._voters = voters

    raft_engine.RaftEngine._config_changed = stale
    try:
        failures = [r for seed in range(50_100, 50_160) if not (r := run_seed(seed, "raft", "chaos", reconfig=True)).ok]
    finally:
        raft_engine.RaftEngine._config_changed = original
    assert failures, "a leader counting with a stale configuration went unnoticed"
    assert EntryKind.CONFIG  # the changes are CONFIG entries (types.py)
