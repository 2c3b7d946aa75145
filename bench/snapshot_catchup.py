"""A follower that missed a large dataset catches up by snapshot: how long, and
what it costs the leader's clients meanwhile.

    .venv/bin/python bench/snapshot_catchup.py [--keys 1000000] [--protocol raft]

Starts 3 nodes (fsync on), stops one follower, loads about --keys distinct keys
through the leader with redis-benchmark (-P 16), then restarts the follower.
While it catches up (the leader streams its latest snapshot in chunks, then the
log after it) a steady redis-benchmark SET load runs against the leader; its
throughput and p99 are printed beside the same load measured before, with no
follower catching up. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.harness import ProcessCluster, wait_for


def benchmark(port: int, seconds: float, pipeline: int = 1, keys: int = 100_000, requests: int | None = None) -> dict:
    n = requests or int(3000 * seconds)
    cmd = [
        "redis-benchmark",
        "-p",
        str(port),
        "-t",
        "set",
        "-c",
        "50",
        "-n",
        str(n),
        "-P",
        str(pipeline),
        "-d",
        "16",
        "-r",
        str(keys),
        "--csv",
    ]
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed: {(done.stdout + done.stderr)[-500:]}")
    out = done.stdout
    row = next(csv.DictReader(io.StringIO(out)))
    return {"rps": float(row["rps"]), "p99": float(row["p99_latency_ms"]), "s": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--protocol", default="raft")
    parser.add_argument("--election-ticks", type=int, default=20, help="x 50 ms ticks (the config default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="replicator-catchup-") as tmp:
        # The load is pipelined (-P 16): about one entry per 16 keys, so 20k entries hold ~300k keys.
        cluster = ProcessCluster(
            Path(tmp),
            protocol=args.protocol,
            tick_ms=50,
            snapshot_entries=20_000,
            keep_entries=2_000,
            election_ticks=args.election_ticks,
        )
        try:
            cluster.start_all()
            leader = cluster.leader()
            lagging = next(i for i in cluster.configs if i != leader)
            port = cluster.port(leader)
            base = benchmark(port, 5)
            print(f"leader alone, 50 clients SET: {base['rps']:,.0f}/s, p99 {base['p99']:.1f} ms", flush=True)
            cluster.kill(lagging)
            load = benchmark(port, 0, pipeline=16, keys=args.keys, requests=args.keys)
            keys = cluster.client(leader).dbsize()
            print(f"loaded {keys:,} keys in {load['s']:.0f} s ({load['rps']:,.0f}/s) while node {lagging} was down")
            wait_for(lambda: int(cluster.info(leader)["snapshot_index"]) > 0, timeout_s=120, what="a snapshot")
            during: dict = {}
            runner = threading.Thread(target=lambda: during.update(benchmark(port, 20)))
            started = time.monotonic()
            runner.start()
            cluster.start(lagging)
            target = int(cluster.info(leader)["commit_index"])
            wait_for(
                lambda: int(cluster.info(lagging)["applied_index"]) >= target,
                timeout_s=600,
                interval_s=0.2,
                what="the follower to catch up",
            )
            caught_up = time.monotonic() - started
            runner.join()
            snap = cluster.info(lagging)
            print(
                f"node {lagging} caught up to index {target} in {caught_up:.1f} s "
                f"(snapshot at {snap['snapshot_index']}, then the log)"
            )
            print(
                f"leader meanwhile, 50 clients SET: {during['rps']:,.0f}/s, p99 {during['p99']:.1f} ms "
                f"(ratio to before: {during['rps'] / base['rps']:.2f})"
            )
        finally:
            cluster.close()


if __name__ == "__main__":
    main()
