"""redis-benchmark against a replicator cluster and a plain redis-server, side by side.

    .venv/bin/python bench/resp_vs_redis.py [--protocols raft,zab] [--requests 100000] [--no-fsync]

Starts a 3-node cluster per protocol (fsync on: every acknowledged write is
durable on a majority) on free 127.0.0.1 ports, and a redis-server (no persistence, and
again with appendfsync always), runs `redis-benchmark -t set,get -c 50` with
-P 1 and -P 16 against each, and prints ops/s, p50/p99 latency and the ratio
ours/redis. The anchors in ../shared/bench/anchors measure etcd, ZooKeeper,
PySyncObj and redis+WAIT on this machine with the same workloads.
Benchmarks are never run by the tests.

This machine's speed drifts (a shared VM: the same build measured 36-44k and
23-26k SET/s at -P 16 half an hour apart), so the script also times a fixed
pure-Python loop before and after: compare figures from different runs only
together with that calibration, or by their ratio to redis in the same run.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.harness import ProcessCluster, free_ports, wait_for

WORKLOADS = [("set", 1), ("get", 1), ("set", 16), ("get", 16)]


def python_speed_s() -> float:
    """Seconds a fixed pure-Python loop takes here now (best of 3): the machine's speed."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def redis_benchmark(port: int, test: str, pipeline: int, requests: int, clients: int) -> dict[str, float]:
    cmd = [
        "redis-benchmark",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-c",
        str(clients),
        "-n",
        str(requests),
        "-P",
        str(pipeline),
        "-d",
        "16",
        "-r",
        "10000",
        "-t",
        test,
        "--csv",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True).stdout
    row = next(csv.DictReader(io.StringIO(out)))
    return {"rps": float(row["rps"]), "p50": float(row["p50_latency_ms"]), "p99": float(row["p99_latency_ms"])}


def start_redis(tmp: Path, aof_always: bool) -> tuple[subprocess.Popen, int]:
    port = free_ports(1)[0]
    extra = ["--appendonly", "yes", "--appendfsync", "always"] if aof_always else ["--appendonly", "no"]
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp),
            "--protected-mode",
            "no",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
    )
    wait_for(
        lambda: subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True).returncode == 0,
        what="redis-server",
    )
    return proc, port


def run_suite(name: str, port: int, requests: int, clients: int) -> dict:
    results = {}
    for test, pipeline in WORKLOADS:
        n = requests * (4 if pipeline > 1 else 1)
        results[(test, pipeline)] = r = redis_benchmark(port, test, pipeline, n, clients)
        print(
            f"  {name:<28} {test:>3} -P {pipeline:<2} {r['rps']:>10,.0f} ops/s  p50 {r['p50']:.2f} ms  "
            f"p99 {r['p99']:.2f} ms",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocols", default="raft,zab", help="comma-separated, run one after the other")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--no-fsync", action="store_true")
    args = parser.parse_args()

    speed_before = python_speed_s()
    suites: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="replicator-bench-") as tmp:
        tmp = Path(tmp)
        for aof in (False, True):
            label = "redis 1 node, AOF always" if aof else "redis 1 node, no AOF"
            (tmp / label[:12].replace(" ", "")).mkdir(exist_ok=True)
            proc, port = start_redis(tmp / label[:12].replace(" ", ""), aof)
            try:
                suites[label] = run_suite(label, port, args.requests, args.clients)
            finally:
                proc.terminate()
                proc.wait()
        ours = []
        for protocol in args.protocols.split(","):
            label = f"replicator 3 nodes {protocol}" + (" NO FSYNC" if args.no_fsync else "")
            cluster = ProcessCluster(tmp / protocol, protocol=protocol, tick_ms=50, fsync=not args.no_fsync)
            try:
                cluster.start_all()
                leader = cluster.leader()
                time.sleep(0.5)
                suites[label] = run_suite(label, cluster.port(leader), args.requests, args.clients)
                ours.append(label)
            finally:
                cluster.close()

    print(f"\nmachine speed: a fixed Python loop took {speed_before:.3f} s before, {python_speed_s():.3f} s after")
    print(
        f"\n| workload (-c {args.clients}) | "
        + " | ".join(suites)
        + " | "
        + " | ".join(f"{label.split()[3]} / redis, / redis AOF" for label in ours)
        + " |"
    )
    print("|---|" + "---:|" * (len(suites) + len(ours)))
    for key in WORKLOADS:
        cells = [f"{s[key]['rps']:,.0f}/s, {s[key]['p50']:.2f}/{s[key]['p99']:.2f} ms" for s in suites.values()]
        plain, aof = suites["redis 1 node, no AOF"][key]["rps"], suites["redis 1 node, AOF always"][key]["rps"]
        ratios = [f"{suites[label][key]['rps'] / plain:.3f}, {suites[label][key]['rps'] / aof:.3f}" for label in ours]
        print(f"| {key[0]} -P {key[1]} | " + " | ".join(cells + ratios) + " |")


if __name__ == "__main__":
    main()
