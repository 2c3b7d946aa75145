"""Run seeds: one (exactly replayable), or many (a swarm, with a summary).

    result = run_seed(42)                       # fault mix chosen by the seed
    result = run_seed(42, profile="chaos", full_trace=True)
    print(result.report())                      # seed, what broke, replay command, trace tail
    summary = run_seeds(range(300))

`check_machine` runs any StateMachine (a plugin's) under the simulator with a
command generator of the author's choosing and checks that replicas at the same
applied index hold byte-identical snapshots, besides every protocol invariant.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from replicator.sim.cluster import SimCluster, SimResult, make_config, profile_for_seed
from replicator.sim.trace import Trace


def code_digest() -> str:
    """A short hash of the code under test (protocol package, storage, NodeHost), so a
    failing seed can be matched to the engine version it failed on."""
    import pathlib

    root = pathlib.Path(__file__).parents[1]  # replicator/
    h = hashlib.sha256()
    files = sorted(root.glob("protocol/**/*.py")) + sorted(root.glob("storage/*.py"))
    files += sorted(root.glob("core/*.py")) + [root / "node.py", root / "transactions.py"]
    for f in files:
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


_OVERRIDE_FLAGS = {"max_steps": "--steps", "chaos_ms": "--chaos-ms", "nodes": "--nodes", "reconfig": "--reconfig"}


def replay_command(seed: int, protocol: str, profile: str, overrides: dict[str, Any]) -> str:
    parts = [f"python -m replicator.sim --protocol {protocol} --seed {seed} --profile {profile}"]
    for name, value in sorted(overrides.items()):
        flag = _OVERRIDE_FLAGS.get(name)
        if flag is not None and value is not None:
            parts.append(flag if value is True else f"{flag} {value}")
    parts.append("--trace")
    return " ".join(parts)


def run_seed(
    seed: int,
    protocol: str = "raft",
    profile: str | None = None,
    *,
    full_trace: bool = False,
    **overrides: Any,
) -> SimResult:
    """Run one seed. `overrides` set SimConfig fields (chaos_ms=..., max_steps=...)."""
    prof = profile or profile_for_seed(seed)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    cfg = make_config(prof, protocol, **overrides)
    trace = Trace(full=full_trace)
    cluster = SimCluster(seed, protocol, config=cfg, profile=prof, trace=trace)
    result = cluster.run()
    result.replay = replay_command(seed, protocol, prof, overrides)
    result.trace = trace
    return result


def trace_digest(
    seed: int, protocol: str = "raft", profile: str | None = None, **overrides: Any
) -> tuple[str, SimResult]:
    """sha256 of a seed's full trace: equal digests = byte-identical replays."""
    result = run_seed(seed, protocol, profile, full_trace=True, **overrides)
    assert result.trace is not None
    text = result.trace.text()
    return hashlib.sha256(text.encode()).hexdigest(), result


@dataclass
class Summary:
    seeds: int = 0
    failures: list[SimResult] = field(default_factory=list)
    ops_ok: int = 0
    ops_unknown: int = 0
    reads_ok: int = 0
    elections: int = 0
    crashes: int = 0
    mid_ready_crashes: int = 0
    wiped_disks: int = 0
    snapshots_installed: int = 0
    snapshots_taken: int = 0
    partitions: int = 0
    forged: int = 0
    dropped: int = 0
    events: int = 0
    virtual_ms: int = 0
    wall_s: float = 0.0
    by_profile: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    reconfigs: dict[str, int] = field(default_factory=dict)
    code: str = ""

    def add(self, r: SimResult) -> None:
        s = r.stats
        self.seeds += 1
        self.by_profile[r.profile] = self.by_profile.get(r.profile, 0) + 1
        if not r.ok:
            self.failures.append(r)
        self.ops_ok += s.ops_ok
        self.ops_unknown += s.ops_unknown
        self.reads_ok += s.reads_ok
        self.elections += s.elections
        self.crashes += s.crashes
        self.mid_ready_crashes += s.mid_ready_crashes
        self.wiped_disks += s.wiped_disks
        self.snapshots_installed += s.snapshots_installed
        self.snapshots_taken += s.snapshots_taken
        self.partitions += s.partitions
        self.forged += s.forged
        self.dropped += s.dropped
        self.events += s.events
        self.virtual_ms += s.virtual_ms
        for kind, count in s.requests.items():
            self.requests[kind] = self.requests.get(kind, 0) + count
        for kind, count in s.reconfigs.items():
            self.reconfigs[kind] = self.reconfigs.get(kind, 0) + count

    def text(self) -> str:
        lines = [
            f"seeds run: {self.seeds}   failures: {len(self.failures)}   wall time: {self.wall_s:.1f} s "
            f"({self.wall_s / max(1, self.seeds) * 1000:.0f} ms/seed)",
            f"client ops: {self.ops_ok} writes acked, {self.ops_unknown} writes unknown, {self.reads_ok} reads",
            f"elections: {self.elections}   crashes: {self.crashes} ({self.mid_ready_crashes} mid-Ready, "
            f"{self.wiped_disks} lost the disk)   partitions: {self.partitions}",
            f"snapshots: {self.snapshots_taken} taken, {self.snapshots_installed} installed by followers",
            f"forged messages: {self.forged} injected, {self.dropped} dropped by the engines as impossible",
            f"events: {self.events}   virtual time: {self.virtual_ms / 1000:.0f} s",
            "client requests: " + ", ".join(f"{k} {v}" for k, v in sorted(self.requests.items())),
            "membership changes: " + (", ".join(f"{k} {v}" for k, v in sorted(self.reconfigs.items())) or "none"),
            "profiles: " + ", ".join(f"{k}={v}" for k, v in sorted(self.by_profile.items())),
            f"code under test: {self.code} (sha256 of replicator/protocol, storage, core, node.py)",
        ]
        if self.failures:
            lines.append("failing seeds:")
            for r in self.failures:
                lines.append(
                    f"  {r.seed:>6} {r.profile:<10} {r.kind}: {r.message.splitlines()[0][:160] if r.message else ''}"
                )
                lines.append(f"         {r.replay}")
        return "\n".join(lines)


def _run_one(args: tuple) -> SimResult:
    seed, protocol, profile, overrides = args
    result = run_seed(seed, protocol, profile, **overrides)
    result.trace = None  # large; the tail is kept
    return result


def run_seeds(
    seeds: Iterable[int],
    protocol: str = "raft",
    profile: str | None = None,
    *,
    jobs: int = 1,
    on_result: Callable[[SimResult], None] | None = None,
    **overrides: Any,
) -> Summary:
    summary = Summary(code=code_digest())
    t0 = time.perf_counter()
    work = [(seed, protocol, profile, overrides) for seed in seeds]
    if jobs <= 1:
        for result in map(_run_one, work):
            summary.add(result)
            if on_result is not None:
                on_result(result)
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:  # its workers end with the run
            for result in pool.map(_run_one, work, chunksize=4):
                summary.add(result)
                if on_result is not None:
                    on_result(result)
    summary.wall_s = time.perf_counter() - t0
    return summary


# --- for plugin authors ---------------------------------------------------------------
def check_machine(
    machine_factory: Callable[[], Any],
    commands: Callable[[random.Random], bytes],
    *,
    seeds: Iterable[int] = range(20),
    protocol: str = "raft",
    profile: str = "chaos",
    writes_per_second: int = 50,
    engine: Callable[..., Any] | None = None,
    target: str | None = None,
    **overrides: Any,
) -> list[SimResult]:
    """Run a StateMachine under faults and check its replicas stay identical.

    `machine_factory()` builds a fresh machine (its class's `name` is used as the
    machine name); `commands(rng)` returns the bytes of one write command. The
    simulator proposes them to whichever node leads, with every fault of the
    profile, and checks every protocol invariant plus: replicas at the same
    applied index have byte-identical `snapshot()` output, and all replicas end
    identical. Returns the failing results (empty when all seeds pass).
    `engine` replaces the protocol's engine factory (tests use a toy Raft).
    `target` is the name proposals go to, the machine's by default; with
    statemachines.TRANSACTIONS, `commands(rng)` returns encoded transactions
    over the machine (replicator.transactions.encode_transaction), so its
    commands run as inside MULTI/EXEC, reads at apply time included.
    """
    failures = []
    for seed in seeds:
        cfg = make_config(profile, protocol, **overrides)
        cluster = SimCluster(
            seed, protocol, config=cfg, profile=profile, machine_factory=machine_factory, workload=False, engine=engine
        )
        _PluginLoad(cluster, commands, writes_per_second, target or cluster.machine_name)
        result = cluster.run()
        result.replay = f"check_machine(..., seeds=[{seed}], profile={profile!r})"
        if not result.ok:
            failures.append(result)
    return failures


class _PluginLoad:
    """Proposes a plugin's commands at a steady rate to the current leader, fire and forget."""

    def __init__(
        self, cluster: SimCluster, commands: Callable[[random.Random], bytes], per_second: int, target: str
    ) -> None:
        self.cluster = cluster
        self.commands = commands
        self.target = target
        self.every_ms = max(1, 1000 // max(1, per_second))
        self.rng = random.Random(cluster.rng.getrandbits(64))
        cluster.start()
        cluster.add_timer(self.every_ms, self.fire)

    def fire(self) -> None:
        c = self.cluster
        if c.phase not in ("chaos", "heal"):
            return
        leader = c._leader()
        if leader is not None:
            c.call_on(leader, self._propose)
        c.add_timer(self.every_ms, self.fire)

    def _propose(self, host: Any) -> None:
        from replicator.types import NotLeader

        try:
            host.propose(self.target, self.commands(self.rng), self.cluster.now)
        except NotLeader:
            pass
