"""Three embedded nodes in one process replicate the counter (docs/plugins.md, step 3).

python docs/examples/counter_plugin/demo.py
"""

from __future__ import annotations

import socket
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

import trio
from counter_plugin import CounterMachine

import replicator
from replicator.config import Config, Member, generate_secret


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def cluster_configs(data_dir: Path, n: int = 3) -> list[Config]:
    ports = free_ports(2 * n)
    members = tuple(Member(i + 1, peer=("127.0.0.1", ports[n + i]), resp=("127.0.0.1", ports[i])) for i in range(n))
    secret = generate_secret()  # the members prove it to each other
    return [
        Config(
            node_id=m.id,
            members=members,
            data_dir=data_dir / f"n{m.id}",
            resp=m.resp,
            peer=m.peer,
            tick_ms=10,
            machines=("counter",),
            cluster_secret=secret,
        )
        for m in members
    ]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with AsyncExitStack() as stack:
            nodes = [
                await stack.enter_async_context(replicator.open_node(cfg, [CounterMachine()]))
                for cfg in cluster_configs(Path(tmp))
            ]
            for node in nodes:  # any node takes writes: followers forward them to the leader
                value = await node.propose("counter", ["COUNTER.INCR", "visits", "10"])
                print(f"node {node.node_id}: COUNTER.INCR visits 10 -> {value}")
            for node in nodes:  # a linearizable read sees every acknowledged write
                value = await node.query("counter", ["COUNTER.GET", "visits"])
                print(f"node {node.node_id}: COUNTER.GET visits -> {value} ({node.status().role.value})")


if __name__ == "__main__":
    trio.run(main)
