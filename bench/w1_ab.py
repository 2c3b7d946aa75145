"""The anchors' W1 (one client, one SET at a time, on the leader, fsync on) for several builds, alternated.

    .venv/bin/python bench/w1_ab.py --builds /work/main,. [--protocols raft,zab] [--rounds 3] [--writes 2000]

A build is a checkout of this repository; its nodes run `python -m replicator` from
that directory, so its own code is the one imported. Each round starts a fresh
3-node cluster (config defaults: fsync on, 50 ms ticks) per build and protocol in
turn, sends --writes sequential SETs on one raw socket after a warm-up, and stops it.
This machine's speed drifts (a shared VM), so only figures of one run, alternated
like this, compare. Prints each round's p50/p99 and each build's median of the p50s.
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--builds", required=True, help="comma-separated checkouts")
    parser.add_argument("--protocols", default="raft,zab")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    builds = [Path(b).resolve() for b in args.builds.split(",")]
    p50s: dict[tuple[str, Path], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="replicator-w1-") as tmp:
        for round_ in range(args.rounds):
            for protocol in args.protocols.split(","):
                for number, build in enumerate(builds):
                    root = Path(tmp) / f"{round_}-{protocol}-{number}"
                    cluster = BuildCluster(root, build, protocol=protocol, tick_ms=50, election_ticks=20)
                    try:
                        cluster.start_all()
                        leader = cluster.leader()
                        time.sleep(0.5)
                        writes = sequential_sets(cluster.port(leader), args.writes, args.warmup)
                    finally:
                        cluster.close()
                    latencies = sorted(a - s for s, a in writes)
                    p50 = statistics.median(latencies) / 1e6
                    p99 = latencies[int(len(latencies) * 0.99)] / 1e6
                    p50s.setdefault((protocol, build), []).append(p50)
                    print(
                        f"round {round_} {protocol:<4} {str(build):<24} p50 {p50:.3f} ms  p99 {p99:.3f} ms", flush=True
                    )
    print()
    for (protocol, build), values in p50s.items():
        print(f"{protocol:<4} {str(build):<24} median p50 {statistics.median(values):.3f} ms over {len(values)} rounds")


if __name__ == "__main__":
    main()
