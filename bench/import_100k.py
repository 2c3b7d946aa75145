"""`replicator import` at the issue's scale: 100k keys of every type from a real redis-server into
a real 3-node cluster, then every value and TTL checked equal.

    .venv/bin/python bench/import_100k.py [--keys 100000] [--protocol raft|zab] [--batch 256]

Fills a throwaway redis-server with tests/e2e/redis_fill.py's keys (strings, lists, sets,
hashes, sorted sets, every third with a TTL, plus a few large ones), runs `replicator import`
against a follower (writes are forwarded to the leader), and prints the import's time and rate
and the check's result. CI runs the same path with 3000 keys (tests/e2e/test_import.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from tests.e2e.harness import ProcessCluster
from tests.e2e.redis_fill import differences, fill
from tests.frontends.resp_helpers import real_redis


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=100_000, help="keys to fill the source with (default 100000)")
    parser.add_argument("--protocol", choices=["raft", "zab"], default="raft", help="the cluster's protocol")
    parser.add_argument("--batch", type=int, default=256, help="keys per SCAN and pipeline (default 256)")
    args = parser.parse_args()
    with real_redis() as source, tempfile.TemporaryDirectory() as tmp:
        if source is None:
            print("redis-server is not installed", file=sys.stderr)
            return 2
        src = redis.Redis(port=source)
        started = time.monotonic()
        fill(src, args.keys)
        total = src.dbsize()
        memory = src.info("memory")["used_memory_human"]
        print(f"source: {total} keys, {memory}, filled in {time.monotonic() - started:.1f}s")
        cluster = ProcessCluster(Path(tmp), protocol=args.protocol)
        cluster.start_all()
        try:
            follower = next(i for i in cluster.alive() if i != cluster.leader())
            cmd = [sys.executable, "-m", "replicator", "import", "--from", f"127.0.0.1:{source}"]
            cmd += ["--port", str(cluster.port(follower)), "--batch", str(args.batch)]
            started = time.monotonic()
            done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            seconds = time.monotonic() - started
            print(done.stdout.strip())
            if done.returncode != 0:
                return done.returncode
            print(f"import: {total / seconds:.0f} keys/s through follower {follower} ({args.protocol})")
            started = time.monotonic()
            bad = differences(src, cluster.steady_client(follower))
            count = cluster.steady_client(follower).dbsize()
            print(f"check: {count} keys in the cluster, {len(bad)} differences ({time.monotonic() - started:.1f}s)")
            for line in bad:
                print("  " + line)
            return 0 if not bad and count == total else 1
        finally:
            cluster.close()


if __name__ == "__main__":
    sys.exit(main())
