"""Where one durable write's time goes: a hop-by-hop trace through the leader and a follower.

    .venv/bin/python bench/trace_write.py [--protocols raft,zab] [--writes 2000] [--keep DIR]

Starts a 3-node cluster per protocol (config defaults: fsync on, 50 ms ticks) with
REPLICATOR_HOP_TRACE set for every node (replicator/hoptrace.py; the engine task's hops
come from bench/hop_node.py), sends --writes sequential `SET` commands to the leader on
one raw socket (one at a time, the anchors' W1), stops the nodes (each writes its trace
when it exits), merges the three traces with the client's own stamps and prints, for
each hop, the median time since the client sent the command and the median step from
the hop before, in microseconds. The follower of each write is the one whose ack reached
the leader first (the one that made the quorum). perf_counter_ns is CLOCK_MONOTONIC on
Linux, so the processes' stamps compare. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import bisect
import os
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.e2e.harness import ProcessCluster, wait_for  # noqa: E402

APPENDS = ("AppendEntries", "Proposal")  # the message that carries a new entry (raft, zab)
ACKS = ("AppendEntriesResp", "Ack")  # and the one that says it is stored


class TracedCluster(ProcessCluster):
    """Nodes started through bench/hop_node.py, each tracing into root/nK.hops."""

    def trace_path(self, node_id: int) -> Path:
        return self.root / f"n{node_id}.hops"

    def start(self, node_id: int) -> None:
        import subprocess

        log = open(self.root / f"n{node_id}.log", "ab")
        env = dict(os.environ, REPLICATOR_HOP_TRACE=str(self.trace_path(node_id)))
        cmd = [sys.executable, str(HERE / "hop_node.py"), "serve", "--config", str(self.config_paths[node_id])]
        self.procs[node_id] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: self._listening(node_id), what=f"node {node_id} to listen")


def sequential_sets(port: int, count: int, warmup: int) -> list[tuple[int, int]]:
    """(sent ns, answered ns) of `count` SETs sent one at a time, after `warmup` untimed ones."""
    stamps = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(warmup + count):
            key = b"key:%012d" % (i % 10_000)
            command = b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$16\r\n%s\r\n" % (key, b"v" * 16)
            sent = time.perf_counter_ns()
            sock.sendall(command)
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("the leader closed the connection")
                reply += chunk
            answered = time.perf_counter_ns()
            if reply != b"+OK\r\n":
                raise AssertionError(f"SET answered {reply!r}")
            if i >= warmup:
                stamps.append((sent, answered))
    return stamps


class Trace:
    """One process's records: the first stamp of (hop, key), and each hop's stamps in order."""

    def __init__(self, path: Path) -> None:
        self.keyed: dict[tuple[str, int], int] = {}
        times: dict[str, list[int]] = defaultdict(list)
        for line in path.read_text().splitlines():
            hop, key, ns = line.split()
            key, ns = int(key), int(ns)
            self.keyed.setdefault((hop, key), ns)
            times[hop].append(ns)
        self.times = {hop: sorted(ts) for hop, ts in times.items()}

    def at(self, hop: str, key: int) -> int | None:
        return self.keyed.get((hop, key))

    def after(self, hop: str, since: int | None, until: int) -> int | None:
        """The first stamp of `hop` at or after `since` (and before `until`)."""
        if since is None:
            return None
        times = self.times.get(hop, ())
        at = bisect.bisect_left(times, since)
        return times[at] if at < len(times) and times[at] <= until else None


def hops_of_one_write(
    leader: int, traces: dict[int, Trace], sent: int, answered: int, until: int
) -> list[tuple[str, int | None]] | None:
    """The (hop, ns) chain of the write sent at `sent`, or None if it cannot be followed.
    Its hops without a key are the first of their kind after the hop before, up to
    `until` (the next write: the leader may stamp its reply written after the client
    has read it)."""
    lead = traces[leader]
    read = lead.after("resp:read", sent, answered)
    proposed_at = lead.after("engine:proposed", read, answered)
    if proposed_at is None:
        return None
    index = next(key for (hop, key), ns in lead.keyed.items() if hop == "engine:proposed" and ns == proposed_at)
    app = next((a for a in APPENDS if lead.at(f"queue:{a}>{_other(traces, leader)}", index) is not None), None)
    ack = ACKS[APPENDS.index(app)] if app else None
    if app is None:
        return None
    # The follower that made the quorum: its ack reached the leader first.
    received = {f: lead.at(f"recv:{ack}<{f}", index) for f in traces if f != leader}
    received = {f: ns for f, ns in received.items() if ns is not None}
    if not received:
        return None
    f = min(received, key=received.get)
    fol = traces[f]
    chain: list[tuple[str, int | None]] = [("client: SET sent", sent)]

    def add(name: str, ns: int | None) -> int | None:
        chain.append((name, ns))
        return ns

    t = add("L resp: bytes read", read)
    t = add("L resp: parsed, routed", lead.after("resp:parsed", t, answered))
    t = add("L resp: submitted to the node", lead.after("resp:submitted", t, answered))
    t = add("L engine task wakes", lead.after("engine:wake", t, answered))
    add("L proposed", lead.at("engine:proposed", index))
    add("L Ready (entries)", lead.at("ready:entries", index))
    add(f"L {app} queued", lead.at(f"queue:{app}>{f}", index))
    add("L transport task wakes", lead.at(f"pump:{app}>{f}", index))
    add(f"L {app} sent (send_all)", lead.at(f"sent:{app}>{f}", index))
    add(f"F {app} frame received", fol.at(f"recv:{app}<{leader}", index))
    add("F engine task wakes", fol.after("engine:wake", fol.at(f"recv:{app}<{leader}", index), answered))
    add(f"F {app} stepped", fol.at(f"step:{app}<{leader}", index))
    add("F Ready (entries)", fol.at("ready:entries", index))
    add("F store write begins (thread)", fol.at("save:begin", index))
    add("F store write + flush begins", fol.at("save:commit", index))
    add("F fsync'd (commit returned)", fol.at("save:synced", index))
    add("F engine task resumes", fol.at("engine:persisted", index))
    add(f"F {ack} queued", fol.at(f"queue:{ack}>{leader}", index))
    add("F transport task wakes", fol.at(f"pump:{ack}>{leader}", index))
    add(f"F {ack} sent (send_all)", fol.at(f"sent:{ack}>{leader}", index))
    t = add(f"L {ack} frame received", lead.at(f"recv:{ack}<{f}", index))
    add("L engine task wakes", lead.after("engine:wake", t, answered))
    add("L Ready (committed)", lead.at("ready:committed", index))
    add("L apply begins", lead.at("apply:begin", index))
    add("L applied", lead.at("apply:end", index))
    t = add("L waiter set (resolved)", lead.at("engine:resolved", index))
    t = add("L resp: answer taken (node task or conn)", lead.after("resp:woken", t, answered))
    t = add("L resp: reply encoded", lead.after("resp:encoded", t, answered))
    next_read = lead.after("resp:read", until, until + 10**9)
    add("L resp: reply written", lead.after("resp:written", t, until if next_read is None else next_read - 1))
    add("client: reply received", answered)
    # The leader's own write runs beside the follower's (parallel branch).
    add("  L (own) store write begins (thread)", lead.at("save:begin", index))
    add("  L (own) store write + flush begins", lead.at("save:commit", index))
    add("  L (own) fsync'd", lead.at("save:synced", index))
    add("  L (own) engine task resumes", lead.at("engine:persisted", index))
    return chain


def _other(traces: dict[int, Trace], leader: int) -> int:
    """Any follower: which message type carries entries is the same for all."""
    return next(n for n in traces if n != leader)


def report(protocol: str, chains: list[list[tuple[str, int | None]]]) -> str:
    names = [name for name, _ in chains[0]]
    lines = [
        f"{protocol}: {len(chains)} sequential SETs, median us since the client sent the command "
        "(step: median of the differences from the hop above)",
        f"{'hop':<40} {'at':>8} {'step':>8} {'n':>6}",
    ]
    for row, name in enumerate(names):
        at = [c[row][1] - c[0][1] for c in chains if c[row][1] is not None]
        steps = [
            c[row][1] - c[row - 1][1] for c in chains if row and c[row][1] is not None and c[row - 1][1] is not None
        ]
        lines.append(
            f"{name:<40} {_us(at):>8} {_us(steps) if row and not name.startswith('  ') else '':>8} {len(at):>6}"
        )

    def spans(begin: str, end: str) -> list[int]:
        b, e = names.index(begin), names.index(end)
        return [c[e][1] - c[b][1] for c in chains if c[b][1] is not None and c[e][1] is not None]

    follower = _us(spans("F store write + flush begins", "F fsync'd (commit returned)"))
    leader = _us(spans("  L (own) store write + flush begins", "  L (own) fsync'd"))
    lines.append(
        f"store write (a journal record and its fdatasync, or an LMDB commit), median us: follower {follower}, leader {leader}"
    )
    return "\n".join(lines)


def _us(values: list[int]) -> str:
    return f"{statistics.median(values) / 1000:.0f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocols", default="raft,zab")
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--keep", help="put the clusters (configs, logs, traces) in this directory and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="replicator-trace-") as tmp:
        root = Path(args.keep or tmp)
        for protocol in args.protocols.split(","):
            cluster = TracedCluster(root / protocol, protocol=protocol, tick_ms=50, election_ticks=20)
            try:
                cluster.start_all()
                leader = cluster.leader()
                time.sleep(0.5)
                writes = sequential_sets(cluster.port(leader), args.writes, args.warmup)
            finally:
                cluster.close()
            traces = {n: Trace(cluster.trace_path(n)) for n in cluster.configs}
            untils = [s for s, _ in writes[1:]] + [writes[-1][1] + 10**9]
            chains = [hops_of_one_write(leader, traces, s, a, u) for (s, a), u in zip(writes, untils)]
            chains = [c for c in chains if c is not None]
            print(report(protocol, chains) if chains else f"{protocol}: no write could be followed", flush=True)
            print(
                f"client round trip p50 {_us([a - s for s, a in writes])} us "
                f"({len(chains)} of {len(writes)} writes followed)\n",
                flush=True,
            )


if __name__ == "__main__":
    main()
