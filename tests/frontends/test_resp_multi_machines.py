"""MULTI/EXEC over RESP for every machine a node runs, several in one transaction, with
no frontend or machine code for it: a real node (open_node) served by serve_resp on a
free port, redis-py as the client. WATCH watches the default machine's keys."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import pytest
import redis
import trio

import replicator
from frontends.resp.server import serve_resp
from replicator.config import Config, Member
from statemachines.kv import KVMachine
from statemachines.locks import LocksMachine
from statemachines.znodes import ZnodesMachine
from tests.e2e.harness import free_ports

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "docs" / "examples" / "counter_plugin"


def one_node(tmp_path, machines) -> Config:
    resp, peer = free_ports(2)
    member = Member(1, ("127.0.0.1", peer), ("127.0.0.1", resp))
    return Config(
        node_id=1,
        members=(member,),
        data_dir=tmp_path / "n1",
        resp=member.resp,
        peer=member.peer,
        tick_ms=10,
        machines=tuple(m.name for m in machines),
    )


async def serve(tmp_path, instances, script, **options):
    """Run script(port) in a thread against a node running `instances`, the first the default,
    each command routed to its machine (unless `commands` are given)."""
    if "commands" not in options:
        options["machines"] = [m.name for m in instances]
    async with replicator.open_node(one_node(tmp_path, instances), instances) as node:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                partial(serve_resp, node.runtime, "127.0.0.1", 0, machine=instances[0].name, **options)
            )
            await trio.to_thread.run_sync(script, port)
            nursery.cancel_scope.cancel()


async def test_one_exec_across_znodes_locks_and_kv_on_a_znodes_node(tmp_path):
    def script(port: int) -> None:
        r = redis.Redis(port=port)
        with r.pipeline() as pipe:
            pipe.execute_command("ZK.CREATE", "/app", "cfg")
            pipe.execute_command("LOCK.ACQUIRE", "job", "worker", 60_000)
            pipe.set("k", "v")
            pipe.execute_command("ZK.GET", "/app")
            pipe.get("k")
            pipe.execute_command("LOCK.HOLDER", "job")
            pipe.execute_command("ZK.CREATE", "/app", "again")  # fails on its own, the rest applies
            pipe.ping()  # frontend-owned: answered in its place
            pipe.execute_command("ZK.CHILDREN", "/")
            results = pipe.execute(raise_on_error=False)
        created, token, ok, data, value, holder, error, pong, children = results
        assert (created, ok, data, value, pong, children) == (b"/app", True, b"cfg", b"v", True, [b"app"])
        assert isinstance(token, int) and holder[:2] == [b"worker", token]
        assert isinstance(error, redis.ResponseError) and "NODEEXISTS /app" in str(error)
        assert r.execute_command("ZK.GET", "/app") == b"cfg" and r.get("k") == b"v"
        with pytest.raises(redis.ResponseError, match="WATCH is not supported by state machine 'znodes'"):
            r.execute_command("WATCH", "/app")

    await serve(tmp_path, [ZnodesMachine(), LocksMachine(), KVMachine()], script)


async def test_watch_on_kv_guards_a_transaction_of_znodes_commands(tmp_path):
    def script(port: int) -> None:
        one, two = redis.Redis(port=port), redis.Redis(port=port)
        one.set("leader", "a")
        with one.pipeline() as pipe:
            pipe.watch("leader")
            assert pipe.get("leader") == b"a"
            two.set("leader", "b")  # another client gets in between
            pipe.multi()
            pipe.execute_command("ZK.CREATE", "/elected", "a")
            pipe.set("term", 1)
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert one.execute_command("ZK.EXISTS", "/elected") == 0 and one.get("term") is None
        with one.pipeline() as pipe:  # no interference: it commits
            pipe.watch("leader")
            leader = pipe.get("leader")
            pipe.multi()
            pipe.execute_command("ZK.CREATE", "/elected", leader)
            pipe.set("term", 1)
            assert pipe.execute() == [b"/elected", True]
        assert one.execute_command("ZK.GET", "/elected") == b"b"

    await serve(tmp_path, [KVMachine(), ZnodesMachine()], script)


async def test_a_plugin_gets_multi_exec_for_free(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from counter_plugin import CounterMachine

    def script(port: int) -> None:
        r = redis.Redis(port=port)
        with r.pipeline() as pipe:
            pipe.execute_command("COUNTER.INCR", "visits", 2)
            pipe.execute_command("COUNTER.GET", "visits")
            pipe.execute_command("COUNTER.INCR", "visits", "x")
            pipe.execute_command("COUNTER.INCR", "visits", 3)
            results = pipe.execute(raise_on_error=False)
        assert results[:2] == [2, 2] and results[3] == 5
        assert isinstance(results[2], redis.ResponseError) and "not an integer" in str(results[2])
        with pytest.raises(redis.ResponseError, match="WATCH is not supported by state machine 'counter'"):
            r.execute_command("WATCH", "visits")

    try:
        await serve(tmp_path, [CounterMachine()], script, commands=list(CounterMachine().commands()))
    finally:
        sys.modules.pop("counter_plugin", None)


async def test_two_session_opens_in_one_exec_are_refused_rather_than_given_one_id(tmp_path):
    """A session id is the log index of its open, and EXEC is one entry: the second open
    gets a clear error instead of silently sharing the first one's id."""

    def script(port: int) -> None:
        r = redis.Redis(port=port)
        with r.pipeline() as pipe:
            pipe.execute_command("ZK.SESSION.OPEN", 10_000)
            pipe.execute_command("ZK.SESSION.OPEN", 10_000)
            first, second = pipe.execute(raise_on_error=False)
        assert isinstance(first, int)
        assert isinstance(second, redis.ResponseError) and "one ZK.SESSION.OPEN per transaction" in str(second)
        assert r.execute_command("ZK.SESSION.OPEN", 10_000) > first  # outside a transaction: a new id

    await serve(tmp_path, [ZnodesMachine()], script)
