"""python -m replicator.sim: run many seeds, or replay one exactly.

    python -m replicator.sim --protocol raft --seeds 2000 [--start 0] [--steps N] [--jobs 2]
    python -m replicator.sim --protocol raft --seed 17 --trace      # the whole trace, then the verdict
    python -m replicator.sim --seed 17 --digest                      # sha256 of the trace (determinism)

A seed picks its fault mix (profile) unless --profile forces one. Exit status
is 1 if any seed failed.
"""

from __future__ import annotations

import argparse
import sys

from replicator.protocols import PROTOCOLS
from replicator.sim.cluster import PROFILES
from replicator.sim.runner import run_seed, run_seeds, trace_digest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m replicator.sim", description=__doc__.split("\n\n")[0])
    p.add_argument("--protocol", default="raft", choices=PROTOCOLS)
    p.add_argument("--seeds", type=int, default=100, help="how many seeds to run (from --start)")
    p.add_argument("--start", type=int, default=0, help="first seed")
    p.add_argument("--seed", type=int, help="run this one seed (replay)")
    p.add_argument("--trace", action="store_true", help="with --seed: print the whole trace")
    p.add_argument("--digest", action="store_true", help="with --seed: print the sha256 of the trace")
    p.add_argument("--tail", type=int, default=60, help="trace lines shown for a failure")
    p.add_argument("--profile", choices=sorted(PROFILES), help="force one fault mix for every seed")
    p.add_argument("--steps", type=int, help="cap on events in the chaos phase")
    p.add_argument("--chaos-ms", type=int, help="virtual ms of the chaos phase")
    p.add_argument("--nodes", type=int, help="cluster size (3 or 5)")
    p.add_argument(
        "--reconfig", action="store_true", help="add, remove and replace members at random during chaos (reconfig.py)"
    )
    p.add_argument("--jobs", type=int, default=1, help="worker processes for --seeds")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per seed")
    args = p.parse_args(argv)
    overrides = {"max_steps": args.steps, "chaos_ms": args.chaos_ms, "nodes": args.nodes}
    if args.reconfig:
        overrides["reconfig"] = True

    if args.seed is not None:
        if args.digest:
            digest, result = trace_digest(args.seed, args.protocol, args.profile, **overrides)
            print(digest)
            return 0 if result.ok else 1
        result = run_seed(args.seed, args.protocol, args.profile, full_trace=args.trace, **overrides)
        if args.trace and result.trace is not None:
            sys.stdout.write(result.trace.text())
            print(result.report(tail=0))
        else:
            print(result.report(tail=args.tail))
        s = result.stats
        print(
            f"events {s.events}, virtual {s.virtual_ms} ms, wall {s.wall_s:.2f} s, writes {s.ops_ok} acked / "
            f"{s.ops_unknown} unknown, reads {s.reads_ok}, elections {s.elections}, crashes {s.crashes}, "
            f"snapshots {s.snapshots_taken} taken / {s.snapshots_installed} installed, commit {s.commit}"
            + (f", forged {s.forged} / dropped {s.dropped}" if s.forged else "")
            + (f", membership changes {s.reconfigs}" if s.reconfigs else "")
        )
        return 0 if result.ok else 1

    def show(result) -> None:
        if args.verbose:
            s = result.stats
            print(
                f"seed {result.seed:>6} {result.profile:<10} {'ok' if result.ok else 'FAIL ' + result.kind:<24} "
                f"ops {s.ops_ok:>4}/{s.ops_unknown:<3} reads {s.reads_ok:>4} elections {s.elections:>3} "
                f"snaps {s.snapshots_installed:>3} {s.wall_s:.2f}s"
                + (f" forged {s.forged} dropped {s.dropped}" if s.forged else ""),
                flush=True,
            )
        if not result.ok:
            print(result.report(tail=args.tail), flush=True)

    summary = run_seeds(
        range(args.start, args.start + args.seeds),
        args.protocol,
        args.profile,
        jobs=args.jobs,
        on_result=show,
        **overrides,
    )
    print(summary.text())
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
