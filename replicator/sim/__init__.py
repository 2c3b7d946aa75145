"""Deterministic simulation of a replicator cluster: no trio, no sockets, no clock.

Real engines and NodeHosts run over MemoryStores, a seeded network
(delay, loss, duplication, reordering, partitions) and crashes that lose what
was not durable, on virtual time, from one `random.Random(seed)`. Safety
invariants are checked after every step, client histories for
linearizability, and liveness after a healing period. A failing seed replays
byte-identically:

    python -m replicator.sim --protocol raft --seeds 2000
    python -m replicator.sim --protocol raft --seed 1234 --trace

Modules: cluster (SimCluster, fault profiles), network, invariants, history
(linearizability), registers (the test state machine), trace, runner
(run_seed, run_seeds, check_machine for plugin authors).
"""

from replicator.sim.cluster import PROFILES, ROTATION, SimCluster, SimConfig, SimResult, make_config, profile_for_seed
from replicator.sim.invariants import Violation
from replicator.sim.runner import check_machine, run_seed, run_seeds, trace_digest

__all__ = [
    "PROFILES",
    "ROTATION",
    "SimCluster",
    "SimConfig",
    "SimResult",
    "Violation",
    "check_machine",
    "make_config",
    "profile_for_seed",
    "run_seed",
    "run_seeds",
    "trace_digest",
]
