"""The anchors' W1 (one client, one SET at a time, on the leader, fsync on) for several builds, alternated.

    .venv/bin/python bench/w1_ab.py --builds /work/main,. [--protocols raft,zab] [--rounds 3] [--writes 2000]

A build is a checkout of this repository; its nodes run `python -m replicator` from
that directory, so its own code is the one imported. Each round starts a fresh
3-node cluster (config defaults: fsync on, 50 ms ticks) per build and protocol in
turn, sends --writes sequential SETs on one raw socket after a warm-up, and stops it.
This machine's speed drifts (a shared VM), so only figures of one run, alternated
like this, compare; the nodes' CPU time per write (leader, and the two followers
together, from /proc) varies much less with the load of other processes than the
latency does. Prints each round's figures and each build's medians. With --w2 (and
--w3), each round also runs the anchors' W2 (W3) on the same cluster: redis-benchmark
-c 50 -t set (with -P 16): a change that shortens the single write must not cost the
concurrent ones.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.resp_vs_redis import redis_benchmark  # noqa: E402
from bench.trace_write import sequential_sets  # noqa: E402
from tests.e2e.harness import ProcessCluster, wait_for  # noqa: E402


class BuildCluster(ProcessCluster):
    """Nodes that run the code of the checkout in `build`."""

    def __init__(self, root: Path, build: Path, **settings) -> None:
        super().__init__(root, **settings)
        self.build = build

    def start(self, node_id: int) -> None:
        log = open(self.root / f"n{node_id}.log", "ab")
        cmd = [sys.executable, "-m", "replicator", "serve", "--config", str(self.config_paths[node_id])]
        self.procs[node_id] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.build)
        wait_for(lambda: self._listening(node_id), what=f"node {node_id} to listen")


def cpu_s(pid: int) -> float:
    """A process's user + system CPU time so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--builds", required=True, help="comma-separated checkouts")
    parser.add_argument("--protocols", default="raft,zab")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--no-fsync", action="store_true", help="nodes without fsync: the software's hops without the disk's noise"
    )
    parser.add_argument("--w2", type=int, default=0, help="also W2 with this many SETs (e.g. 20000)")
    parser.add_argument("--w3", type=int, default=0, help="also W3 (-P 16) with this many SETs (e.g. 200000)")
    args = parser.parse_args()
    builds = [Path(b).resolve() for b in args.builds.split(",")]
    p50s: dict[tuple[str, Path], list[float]] = {}
    cpus: dict[tuple[str, Path], list[tuple[float, float]]] = {}
    w2s: dict[tuple[str, Path], list[float]] = {}
    w3s: dict[tuple[str, Path], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="replicator-w1-") as tmp:
        for round_ in range(args.rounds):
            for protocol in args.protocols.split(","):
                for number, build in enumerate(builds):
                    root = Path(tmp) / f"{round_}-{protocol}-{number}"
                    cluster = BuildCluster(
                        root, build, protocol=protocol, tick_ms=50, election_ticks=20, fsync=not args.no_fsync
                    )
                    try:
                        cluster.start_all()
                        leader = cluster.leader()
                        time.sleep(0.5)
                        sequential_sets(cluster.port(leader), 0, args.warmup)
                        before = {n: cpu_s(p.pid) for n, p in cluster.procs.items()}
                        writes = sequential_sets(cluster.port(leader), args.writes, 0)
                        used = {n: (cpu_s(p.pid) - before[n]) / args.writes * 1e6 for n, p in cluster.procs.items()}
                        w2 = redis_benchmark(cluster.port(leader), "set", 1, args.w2, 50)["rps"] if args.w2 else 0
                        w3 = redis_benchmark(cluster.port(leader), "set", 16, args.w3, 50)["rps"] if args.w3 else 0
                    finally:
                        cluster.close()
                    latencies = sorted(a - s for s, a in writes)
                    p50 = statistics.median(latencies) / 1e6
                    p99 = latencies[int(len(latencies) * 0.99)] / 1e6
                    cpu = (used[leader], sum(us for n, us in used.items() if n != leader))
                    p50s.setdefault((protocol, build), []).append(p50)
                    cpus.setdefault((protocol, build), []).append(cpu)
                    w2s.setdefault((protocol, build), []).append(w2)
                    w3s.setdefault((protocol, build), []).append(w3)
                    print(
                        f"round {round_} {protocol:<4} {str(build):<24} p50 {p50:.3f} ms  p99 {p99:.3f} ms  "
                        f"CPU us/write: leader {cpu[0]:.0f}, followers {cpu[1]:.0f}"
                        + (f"  W2 {w2:,.0f}/s" if w2 else "")
                        + (f"  W3 {w3:,.0f}/s" if w3 else ""),
                        flush=True,
                    )
    print()
    for (protocol, build), values in p50s.items():
        leader = statistics.median(c[0] for c in cpus[(protocol, build)])
        followers = statistics.median(c[1] for c in cpus[(protocol, build)])
        print(
            f"{protocol:<4} {str(build):<24} median p50 {statistics.median(values):.3f} ms, CPU us/write: "
            f"leader {leader:.0f}, followers {followers:.0f}, W2 {statistics.median(w2s[(protocol, build)]):,.0f}/s, "
            f"W3 {statistics.median(w3s[(protocol, build)]):,.0f}/s "
            f"({len(values)} rounds)"
        )


if __name__ == "__main__":
    main()
