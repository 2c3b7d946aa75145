"""The cost of the HyperLogLog commands in the kv machine (pure Python), per call.

    .venv/bin/python bench/hll_speed.py [--repeat 300]

Runs the handlers straight on a Keyspace (no replication, no RESP: this measures the machine)
and prints microseconds per call, the median of a few rounds: PFADD of one element to sparse
HLLs of several sizes (chained, as a client feeding one key does, and cold, when the key's
register index is not kept), PFADD of 100 elements, PFCOUNT with a stale cache (first count
and memoized repeat), PFCOUNT of two keys and PFMERGE of two dense HLLs. The figures quoted
in statemachines/kv/hyperloglog.py come from this script.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from statemachines.kv import hyperloglog as commands
from statemachines.kv.keyspace import Keyspace


def per_call_us(run, repeat: int, setup=None) -> float:
    rounds = []
    for _ in range(5):
        total = 0.0
        for _ in range(repeat):
            if setup is not None:
                setup()
            started = time.perf_counter()
            run()
            total += time.perf_counter() - started
        rounds.append(total / repeat * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    repeat = parser.parse_args().repeat
    counter = iter(range(10**9))

    def pfadd(ks, key, n=1):
        commands.cmd_pfadd(ks, [b"pfadd", key, *(b"new:%d" % next(counter) for _ in range(n))], 0)

    for size in (100, 500, 1000):
        ks = Keyspace()
        commands.cmd_pfadd(ks, [b"pfadd", b"k", *(b"x%d" % i for i in range(size))], 0)
        start = ks.data[b"k"]
        print(f"sparse HLL of {size} elements ({len(start)} bytes):")

        def reset(ks=ks, start=start):
            ks.data[b"k"] = start

        def forget(ks=ks, start=start):
            ks.data[b"k"] = start
            commands._EDITORS.editors.clear()

        reset()
        chained = per_call_us(lambda ks=ks: pfadd(ks, b"k"), max(repeat // 5, 1))
        print(f"  PFADD 1 element, chained      {chained:8.1f} us  (ends at {len(ks.data[b'k'])} bytes)")
        cold = per_call_us(lambda ks=ks: pfadd(ks, b"k"), repeat, setup=forget)
        print(f"  PFADD 1 element, cold         {cold:8.1f} us")
        hundred = per_call_us(lambda ks=ks: pfadd(ks, b"k", 100), max(repeat // 10, 1), setup=reset)
        print(f"  PFADD 100 elements            {hundred:8.1f} us")
        reset()
        first = per_call_us(
            lambda ks=ks: commands.cmd_pfcount(ks, [b"pfcount", b"k"], 0), repeat, commands._COUNTS.clear
        )
        again = per_call_us(lambda ks=ks: commands.cmd_pfcount(ks, [b"pfcount", b"k"], 0), repeat)
        print(f"  PFCOUNT (stale cache)         {first:8.1f} us, memoized {again:.1f} us")

    ks = Keyspace()
    commands.cmd_pfadd(ks, [b"pfadd", b"d1", *(b"a%d" % i for i in range(20000))], 0)
    commands.cmd_pfadd(ks, [b"pfadd", b"d2", *(b"b%d" % i for i in range(20000))], 0)
    print("dense HLLs:")
    print(f"  PFADD 1 element               {per_call_us(lambda: pfadd(ks, b'd1'), repeat):8.1f} us")
    count = per_call_us(lambda: commands.cmd_pfcount(ks, [b"pfcount", b"d1"], 0), repeat, commands._COUNTS.clear)
    print(f"  PFCOUNT (stale cache)         {count:8.1f} us")
    union = per_call_us(lambda: commands.cmd_pfcount(ks, [b"pfcount", b"d1", b"d2"], 0), max(repeat // 3, 1))
    print(f"  PFCOUNT of two keys           {union:8.1f} us")
    merge = per_call_us(lambda: commands.cmd_pfmerge(ks, [b"pfmerge", b"m", b"d1", b"d2"], 0), max(repeat // 3, 1))
    print(f"  PFMERGE of two                {merge:8.1f} us")


if __name__ == "__main__":
    main()
