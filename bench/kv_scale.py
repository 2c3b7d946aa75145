"""The kv machine at scale: memory for N keys, snapshot and restore times.

    .venv/bin/python bench/kv_scale.py [--keys 1000000] [--value-bytes 16]

Applies N SETs straight to a KVMachine (no replication: this measures the
machine), then prints the process's resident memory, the time to take a
snapshot (all chunks) and to restore a fresh machine from them, and checks the
restored machine answers like the original. Issue 4's targets for 1M keys with
16-byte values: under 400 MB resident, snapshot and restore under 15 s each.
Each phase runs in a fresh child process so their memory peaks do not add up.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from statemachines import encode_args
from statemachines.kv import KVMachine


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(keys: int, value_bytes: int) -> KVMachine:
    machine = KVMachine()
    value = b"v" * value_bytes
    for i in range(keys):
        machine.apply(i + 1, encode_args([b"SET", b"key:%d" % i, value]), 1_700_000_000_000)
    return machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-bytes", type=int, default=16)
    parser.add_argument("--phase", choices=["memory", "snapshot"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase is None:
        for phase in ("memory", "snapshot"):
            cmd = [
                sys.executable,
                __file__,
                "--keys",
                str(args.keys),
                "--value-bytes",
                str(args.value_bytes),
                "--phase",
                phase,
            ]
            subprocess.run(cmd, check=True)
        return

    base = rss_mb()
    started = time.perf_counter()
    machine = fill(args.keys, args.value_bytes)
    filled_s = time.perf_counter() - started
    if args.phase == "memory":
        print(
            f"{args.keys:,} keys x {args.value_bytes} B: applied in {filled_s:.1f} s "
            f"({args.keys / filled_s:,.0f} SET/s); resident {rss_mb():.0f} MB "
            f"({rss_mb() - base:.0f} MB for the keyspace; target < 400 MB)"
        )
        return
    started = time.perf_counter()
    chunks = list(machine.snapshot())
    snap_s = time.perf_counter() - started
    size = sum(map(len, chunks))
    del machine
    started = time.perf_counter()
    restored = KVMachine()
    restored.restore(iter(chunks))
    restore_s = time.perf_counter() - started
    probe = encode_args([b"GET", b"key:%d" % (args.keys - 1)])
    assert restored.query(probe, 1_700_000_000_000) == b"v" * args.value_bytes
    print(
        f"snapshot: {len(chunks)} chunks, {size / 2**20:.0f} MiB in {snap_s:.1f} s; "
        f"restore in {restore_s:.1f} s (targets < 15 s each)"
    )


if __name__ == "__main__":
    main()
