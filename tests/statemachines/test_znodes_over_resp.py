"""The znodes and locks machines through the unchanged RESP frontend: a node embedded
with open_node, serve_resp(machine=...) on a free port, redis-py as the client. The
frontend builds its table from the machine's CommandSpecs (arity, checks, docs). Last, a
session expired by the real runtime's housekeeping loop, through the log."""

from __future__ import annotations

from functools import partial

import pytest
import redis
import trio

import replicator
from frontends.resp.server import serve_resp
from replicator.config import Config, Member
from statemachines import ReplyError
from statemachines.locks import LocksMachine
from statemachines.znodes import ZnodesMachine
from tests.e2e.harness import free_ports


def one_node(tmp_path, machine: str) -> Config:
    resp, peer = free_ports(2)
    member = Member(1, ("127.0.0.1", peer), ("127.0.0.1", resp))
    return Config(
        node_id=1,
        members=(member,),
        data_dir=tmp_path / "n1",
        resp=member.resp,
        peer=member.peer,
        tick_ms=10,
        machines=(machine,),
    )


async def serve(tmp_path, machine, script):
    """Run script(redis_client) in a thread against `machine` served over RESP."""
    async with replicator.open_node(one_node(tmp_path, machine.name), [machine]) as node:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(
                partial(
                    serve_resp, node.runtime, "127.0.0.1", 0, machine=machine.name, commands=list(machine.commands())
                )
            )

            def run():
                with redis.Redis(port=port, protocol=3) as r:
                    script(r)

            await trio.to_thread.run_sync(run)
            nursery.cancel_scope.cancel()


async def test_znodes_over_resp(tmp_path):
    def script(r: redis.Redis) -> None:
        sid = r.execute_command("ZK.SESSION.OPEN", 10_000)
        assert isinstance(sid, int) and sid > 0
        assert r.execute_command("ZK.CREATE", "/app", "cfg") == b"/app"
        path = r.execute_command("ZK.CREATE", "/app/w-", "x", "EPHEMERAL", "SEQUENTIAL", "SESSION", sid)
        assert path == b"/app/w-0000000000"
        assert r.execute_command("ZK.CHILDREN", "/app") == [b"w-0000000000"]
        stat = r.execute_command("ZK.SET", "/app", "v2", "VERSION", 0)
        assert stat[b"version"] == 1 and stat[b"ephemeralOwner"] == 0
        data, stat = r.execute_command("ZK.GET", "/app", "WITHSTAT")
        assert data == b"v2" and stat[b"numChildren"] == 1
        for call, error in [
            (("ZK.SET", "/app", "v3", "VERSION", 0), "BADVERSION /app"),
            (("ZK.CREATE", "/app", "again"), "NODEEXISTS /app"),
            (("ZK.DELETE", "/app"), "NOTEMPTY /app"),
            (("ZK.CREATE", "/app/w-0000000000/c", ""), "NOCHILDRENFOREPHEMERALS /app/w-0000000000"),
            (("ZK.GET", "/none"), "NONODE /none"),
            (("ZK.CREATE", "/x", "d", "EPHEMERAL"), "BADARGUMENTS"),  # the spec's check: never proposed
            (("ZK.CREATE", "/x"), "wrong number of arguments"),
        ]:
            with pytest.raises(redis.ResponseError, match=error):
                r.execute_command(*call)
        assert r.execute_command("ZK.SESSION.CLOSE", sid) == b"OK"
        assert r.execute_command("ZK.CHILDREN", "/app") == []
        assert r.execute_command("COMMAND", "INFO", "zk.create")  # the frontend's table knows it

    await serve(tmp_path, ZnodesMachine(), script)


async def test_locks_over_resp(tmp_path):
    def script(r: redis.Redis) -> None:
        token = r.execute_command("LOCK.ACQUIRE", "db", "alice", 10_000)
        assert isinstance(token, int)
        assert r.execute_command("LOCK.ACQUIRE", "db", "bob", 10_000) is None
        owner, held, pttl = r.execute_command("LOCK.HOLDER", "db")
        assert (owner, held) == (b"alice", token) and 0 < pttl <= 10_000
        with pytest.raises(redis.ResponseError, match="invalid ttl"):
            r.execute_command("LOCK.ACQUIRE", "db", "bob", "soon")
        assert r.execute_command("LOCK.RELEASE", "db", "alice", token) == 1

    await serve(tmp_path, LocksMachine(), script)


async def test_an_unpinged_session_expires_through_the_leaders_housekeeping(tmp_path):
    async with replicator.open_node(one_node(tmp_path, "znodes"), [ZnodesMachine()]) as node:
        sid = await node.propose("znodes", ["ZK.SESSION.OPEN", "300"])
        assert (
            await node.propose("znodes", ["ZK.CREATE", "/leader", "me", "EPHEMERAL", "SESSION", str(sid)]) == b"/leader"
        )
        applied = node.status().applied
        with trio.fail_after(5):
            while await node.query("znodes", ["ZK.EXISTS", "/leader"]) == 1:
                await trio.sleep(0.02)
        assert node.status().applied > applied  # removed by a log entry (ZK.SESSION.EXPIRE), not by the read
        assert isinstance(await node.propose("znodes", ["ZK.SESSION.PING", str(sid)]), ReplyError)
