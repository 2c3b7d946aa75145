"""The request path in the simulator: clients on every node, through the node core.

test_sim_protocols.py runs hundreds of seeds of this workload under every fault
profile; this module shows that the workload takes every path it claims to, and
that the checkers see what they must: each mutation below breaks one rule of the
request path, and the seeds that pass on the real code fail with it.

    python -m replicator.sim --protocol zab --seeds 2000     # more seeds, on demand
"""

from __future__ import annotations

import pytest

from replicator.core import node as core_node
from replicator.core.requests import ReadConsistency
from replicator.sim import run_seed
from replicator.sim.network import NetworkConfig

PROTOCOLS = ("raft", "zab")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("write_mode", ["forward", "redirect"])
def test_clients_take_every_path(protocol, write_mode):
    """Writes, pipelines and MULTI/EXEC at the leader and at followers, reads at every level,
    and in redirect mode -MOVED followed by the client; all checked, all passing."""
    requests: dict[str, int] = {}
    for seed in (1, 2):
        result = run_seed(seed, protocol, "lossy", write_mode=write_mode, vary=False)
        assert result.ok, result.report(tail=40)
        assert result.stats.ops_ok > 0 and result.stats.reads_ok > 0
        for kind, count in result.stats.requests.items():
            requests[kind] = requests.get(kind, 0) + count
    kinds = {"write", "multi", "at a follower", "linearizable read", "sequential read", "stale read"}
    kinds |= {"pipeline"} if write_mode == "forward" else {"moved"}  # no pipeline entries in redirect mode
    assert kinds <= requests.keys(), requests


def _seeds_fail(protocol: str, kind: str, seeds, **overrides) -> list[int]:
    """The seeds that fail with `kind`; every other outcome must be a pass."""
    failed = []
    for seed in seeds:
        result = run_seed(seed, protocol, **overrides)
        if not result.ok:
            assert result.kind == kind, result.report(tail=40)
            failed.append(seed)
    return failed


DUPLICATING = dict(profile="calm", network=NetworkConfig(1, 12, duplicate=0.3), write_mode="forward", vary=False)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_leader_that_proposed_duplicated_forwards_twice_is_caught(protocol, monkeypatch):
    """A network that duplicates messages: the leader drops a ForwardRequest id it has seen.
    Without that (the mutation), a copy proposes the writes again and the history shows a put
    applied twice."""
    assert _seeds_fail(protocol, "", (0, 1), **DUPLICATING) == []
    monkeypatch.setattr(core_node.NodeCore, "_seen_before", lambda self, msg: False)
    assert _seeds_fail(protocol, "Linearizability", (0, 1), **DUPLICATING) == [0, 1]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_sequential_read_older_than_its_connection_saw_is_caught(protocol, monkeypatch):
    """Sequential reads are served by any replica, never older than what the connection has
    seen (its last answer's index). The mutation forgets that index."""
    seeds = range(3, 11)
    assert _seeds_fail(protocol, "", seeds, profile="lossy") == []
    read_batch = core_node.NodeCore.read_batch

    def forgetful(self, reads, consistency, answers, min_index=0, slow=False):
        if consistency is ReadConsistency.SEQUENTIAL:
            min_index = 0
        return read_batch(self, reads, consistency, answers, min_index, slow)

    monkeypatch.setattr(core_node.NodeCore, "read_batch", forgetful)
    assert _seeds_fail(protocol, "SequentialReads", seeds, profile="lossy")


# Lease-heavy clients: half of all requests are reads, and every client reads with a lease.
LEASE_HEAVY = dict(sequential_share=0.0, stale_share=0.0, target_leader=1.0, read_share=0.7)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_lease_reads_are_linearizable_while_clocks_keep_their_rate(protocol):
    """Profile `lease`: partitions and crashes, clocks within the documented drift, no pauses.
    Lease reads enter the history as linearizable reads, and it holds."""
    lease_reads = 0
    for seed in range(4):
        result = run_seed(seed, protocol, "lease", **LEASE_HEAVY)
        assert result.ok, result.report(tail=40)
        lease_reads += result.stats.requests.get("lease read", 0)
    assert lease_reads > 100


def test_a_paused_zab_leader_serves_stale_lease_reads():
    """Outside the bound (docs/operations.md): a paused leader's clock stops, so its lease
    outlives the one its followers granted. ZAB seeds of profile `lease-pauses` show a stale
    read; a Raft leader usually hears the new term first (the new leader's heartbeats wait in
    its inbox and are stepped before the reads), which narrows but does not close the window."""
    assert _seeds_fail("zab", "Linearizability", (2, 10), profile="lease-pauses", **LEASE_HEAVY) == [2, 10]
