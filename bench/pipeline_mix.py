"""A pipeline that alternates writes and reads against the same commands grouped:
what the mix costs (issue 11: "a pipeline costs one round trip, whatever mix of reads and
writes it holds"; target: the alternating pipeline within 2x of the grouped one).

    .venv/bin/python bench/pipeline_mix.py [--pairs 2000] [--rounds 5] [--protocol raft]

Starts 3 nodes (the config's defaults: fsync on), then, on the leader and on a follower,
times a redis-py pipeline of --pairs `SET k v` + `GET k` pairs (alternating) and one of
the same --pairs SETs followed by the --pairs GETs (grouped), each the best of --rounds.
Prints both, in seconds and commands/s, and their ratio. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.harness import ProcessCluster


def timed(client, commands: list[tuple[str, ...]], rounds: int) -> float:
    """The fastest of `rounds` runs of one pipeline of `commands` (not a MULTI/EXEC)."""
    best = float("inf")
    for _ in range(rounds):
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        started = time.perf_counter()
        replies = pipe.execute()
        best = min(best, time.perf_counter() - started)
        assert len(replies) == len(commands)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--protocol", default="raft")
    args = parser.parse_args()
    sets = [("SET", f"k{i}", f"v{i}") for i in range(args.pairs)]
    gets = [("GET", f"k{i}") for i in range(args.pairs)]
    alternating = [command for pair in zip(sets, gets) for command in pair]
    count = len(alternating)
    with tempfile.TemporaryDirectory(prefix="replicator-pipeline-mix-") as tmp:
        cluster = ProcessCluster(Path(tmp), protocol=args.protocol)
        try:
            cluster.start_all()
            leader = cluster.leader()
            follower = next(i for i in cluster.configs if i != leader)
            print(f"{args.protocol}, {args.pairs} SET/GET pairs ({count} commands), best of {args.rounds}")
            for name, node_id in (("leader", leader), ("follower", follower)):
                client = cluster.client(node_id)
                grouped_s = timed(client, sets + gets, args.rounds)
                alternating_s = timed(client, alternating, args.rounds)
                print(
                    f"{name:8}  grouped {grouped_s:.3f} s ({count / grouped_s:,.0f}/s)  "
                    f"alternating {alternating_s:.3f} s ({count / alternating_s:,.0f}/s)  "
                    f"ratio {alternating_s / grouped_s:.2f}",
                    flush=True,
                )
        finally:
            cluster.close()


if __name__ == "__main__":
    main()
