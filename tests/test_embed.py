"""replicator.open_node: three embedded nodes in one trio run, over loopback TCP and real
LMDB, replicating the locks machine. Writes from any node, linearizable reads from any
node, fencing tokens that are log indexes, and lease expiry decided through the log."""

from __future__ import annotations

from contextlib import AsyncExitStack

import trio

import replicator
from replicator.config import Config, Member, generate_secret
from replicator.types import Role
from statemachines import ReplyError
from statemachines.locks import LocksMachine
from tests.e2e.harness import free_ports


def configs(tmp_path, n: int = 3) -> list[Config]:
    ports = free_ports(2 * n)
    members = tuple(Member(i + 1, ("127.0.0.1", ports[n + i]), ("127.0.0.1", ports[i])) for i in range(n))
    secret = generate_secret()
    return [
        Config(
            node_id=m.id,
            members=members,
            data_dir=tmp_path / f"n{m.id}",
            resp=m.resp,
            peer=m.peer,
            tick_ms=10,
            election_ticks=10,
            request_timeout_ms=5000,
            machines=("locks",),
            cluster_secret=secret,
        )
        for m in members
    ]


async def leader_of(nodes) -> replicator.EmbeddedNode:
    with trio.fail_after(10):
        while True:
            leaders = [n for n in nodes if n.status().role == Role.LEADER]
            if len(leaders) == 1 and all(n.status().leader == leaders[0].node_id for n in nodes):
                return leaders[0]
            await trio.sleep(0.01)


async def test_three_embedded_nodes_replicate_locks(tmp_path):
    async with AsyncExitStack() as stack:
        nodes = [
            await stack.enter_async_context(replicator.open_node(cfg, [LocksMachine()])) for cfg in configs(tmp_path)
        ]
        leader = await leader_of(nodes)
        a, b = [n for n in nodes if n is not leader]

        token = await a.propose("locks", ["LOCK.ACQUIRE", "jobs", "worker-a", "60000"])  # forwarded
        assert isinstance(token, int) and 0 < token <= a.status().applied
        assert await b.propose("locks", ["LOCK.ACQUIRE", "jobs", "worker-b", "60000"]) is None
        for node in nodes:
            holder = await node.query("locks", ["LOCK.HOLDER", "jobs"])
            assert holder[:2] == [b"worker-a", token]
        assert await leader.propose("locks", [b"LOCK.RELEASE", b"jobs", b"worker-a", b"%d" % token]) == 1
        token_b = await b.propose("locks", ["LOCK.ACQUIRE", "jobs", "worker-b", "60000"])
        assert token_b > token  # fencing: a later grant has a larger token
        assert await b.query("locks", ["LOCK.HOLDER", "jobs"], "sequential", min_index=token_b) == [
            b"worker-b",
            token_b,
            AnyInt(),
        ]
        assert isinstance(await a.propose("locks", ["LOCK.ACQUIRE", "jobs", "x", "never"]), ReplyError)

        # A short lease: the leader's housekeeping proposes LOCK.EXPIRE and every replica drops it.
        await a.propose("locks", ["LOCK.ACQUIRE", "short", "worker-a", "300"])
        with trio.fail_after(5):
            while not all(b"short" in n.machines["locks"]._locks for n in nodes):  # followers may lag
                await trio.sleep(0.005)
            while any(b"short" in n.machines["locks"]._locks for n in nodes):
                await trio.sleep(0.02)
        assert all(b"jobs" in n.machines["locks"]._locks for n in nodes)
        assert leader.status().applied >= token_b

        # Several commands as one entry, from a follower (forwarded like any write).
        renewed, holder, released = await a.transaction(
            [
                ("locks", ["LOCK.RENEW", "jobs", "worker-b", str(token_b), "60000"], True),
                ("locks", ["LOCK.HOLDER", "jobs"], False),
                ("locks", [b"LOCK.RELEASE", b"jobs", b"worker-b", b"%d" % token_b], True),
            ]
        )
        assert renewed == 1 and holder[:2] == [b"worker-b", token_b] and released == 1
        assert await b.query("locks", ["LOCK.HOLDER", "jobs"]) is None


class AnyInt:
    """Equal to any int (the remaining lease time depends on the clock)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int)


async def test_open_node_from_a_config_file_and_installed_machine_names(tmp_path):
    from replicator.config import to_toml

    [cfg] = configs(tmp_path, n=1)
    path = tmp_path / "n1.toml"
    path.write_text(to_toml(cfg))
    async with replicator.open_node(path) as node:  # machines from the config: ("locks",), via entry points
        assert set(node.machines) == {"locks"}
        assert await node.propose("locks", ["LOCK.ACQUIRE", "l", "me", "1000"]) > 0
        assert (await node.query("locks", ["LOCK.HOLDER", "l"]))[0] == b"me"
        assert node.status().role == Role.LEADER


async def test_an_exception_in_the_block_comes_out_as_itself(tmp_path):
    [cfg] = configs(tmp_path, n=1)
    try:
        async with replicator.open_node(cfg, ["locks"]):
            raise KeyError("mine")
    except KeyError as exc:
        assert exc.args == ("mine",)
    else:
        raise AssertionError("the exception was swallowed")


async def test_a_transaction_across_two_machines(tmp_path):
    [cfg] = configs(tmp_path, n=1)
    async with replicator.open_node(cfg, [LocksMachine(), "kv"]) as node:
        token = await node.propose("locks", ["LOCK.ACQUIRE", "jobs", "w", "60000"])
        result = await node.transaction(
            [
                ("kv", ["SET", "owner", "w"], True),
                ("locks", ["LOCK.RELEASE", "jobs", "w", str(token)], True),
                ("kv", ["INCR", "owner"], True),
                ("kv", ["GET", "owner"], False),
                ("locks", ["LOCK.HOLDER", "jobs"], False),
            ]
        )
        assert result == ["OK", 1, ReplyError("ERR value is not an integer or out of range"), b"w", None]
        assert await node.query("kv", ["GET", "owner"]) == b"w"
