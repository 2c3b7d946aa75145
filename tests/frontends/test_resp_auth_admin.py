"""AUTH / requirepass, RESET, TIME, ROLE, CLIENT KILL, INFO memory/stats/keyspace: Redis 7.0 byte for byte."""

from __future__ import annotations

import shlex
import time
from functools import partial

import pytest
import redis
import trio
from fake_node import FakeNode
from redis.backoff import NoBackoff
from redis.retry import Retry
from resp_helpers import RawClient, real_redis

from frontends.resp.server import RespServer
from replicator.types import Role

PASSWORD = "sekret"


@pytest.fixture(scope="module")
def oracle_pw_port():
    with real_redis("--requirepass", PASSWORD) as port:
        if port is None:
            pytest.skip("redis-server is not installed")
        yield port


async def start(nursery, node: FakeNode | None = None, **options) -> RespServer:
    if node is None:
        node = FakeNode(batched=True)
        await nursery.start(node.run)
    server = RespServer(node, **options)
    await nursery.start(partial(server.serve, "127.0.0.1", 0))
    return server


def _run(port: int, lines: list[list[str]], flush: bool = True) -> list[bytes]:
    with RawClient(port) as client:
        if flush:
            client.command("FLUSHALL")
        out = []
        for args in lines:
            reply = client.command(*args)
            differs = args[0].upper() == "HELLO" and reply.startswith(b"*14") or reply.startswith(b"%7")
            out.append(b"(hello: ids and versions differ)" if differs else reply)
        return out


async def compare(ours: int, theirs: int, script: str, flush: bool = True) -> None:
    lines = [shlex.split(line) for line in script.strip().splitlines() if line.strip()]
    want = await trio.to_thread.run_sync(_run, theirs, lines, flush)
    got = await trio.to_thread.run_sync(_run, ours, lines, flush)
    for args, w, g in zip(lines, want, got, strict=True):
        assert g == w, f"{args}: redis {w!r}, replicator {g!r}"


AUTH_SCRIPT = f"""
    PING
    GET a
    FOO
    GET
    HELLO 3
    HELLO
    HELLO 2 AUTH default wrong
    HELLO 2 AUTH bob {PASSWORD}
    AUTH wrong
    AUTH default wrong
    AUTH a b c
    MULTI
    AUTH {PASSWORD}
    PING
    MULTI
    GET a
    FOO
    EXEC
    AUTH default {PASSWORD}
    RESET
    PING
    HELLO 2 AUTH default {PASSWORD} SETNAME x
    CLIENT GETNAME
    RESET
    CLIENT GETNAME
    HELLO 3 AUTH default {PASSWORD}
    SET a 1
    GET a
"""


async def test_requirepass_same_as_redis(nursery, oracle_pw_port):
    server = await start(nursery, requirepass=PASSWORD)
    await compare(server.port, oracle_pw_port, AUTH_SCRIPT, flush=False)


async def test_requirepass_with_redis_py(nursery):
    server = await start(nursery, requirepass=PASSWORD)

    def run():
        once = Retry(NoBackoff(), 0)  # redis-py retries a failed handshake for seconds otherwise
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=server.port, retry=once).get("a")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=server.port, password="wrong", retry=once).get("a")
        r = redis.Redis(port=server.port, password=PASSWORD, protocol=3)
        assert r.set("a", 1) and r.get("a") == b"1"

    await trio.to_thread.run_sync(run)


async def test_no_password_same_as_redis(port, oracle_port):
    await compare(
        port,
        oracle_port,
        """
        AUTH x
        AUTH default x
        AUTH bob x
        HELLO 3 AUTH default x
        HELLO 2 AUTH bob x
        MULTI
        SET a 1
        WATCH b
        HELLO 3
        CLIENT SETNAME foo
        RESET
        EXEC
        CLIENT GETNAME
        PING
    """,
    )


async def test_client_kill_errors_same_as_redis(port, oracle_port):
    await compare(
        port,
        oracle_port,
        """
        CLIENT KILL 1.2.3.4:5
        CLIENT KILL ID 99999
        CLIENT KILL ADDR 1.2.3.4:5
        CLIENT KILL ID x
        CLIENT KILL ID 0
        CLIENT KILL FOO 1
        CLIENT KILL ID 1 SKIPME maybe
        CLIENT KILL ID
        CLIENT KILL
        CLIENT KILL LADDR 1.2.3.4:5
        CLIENT KILL USER nobody
        CLIENT KILL TYPE bogus
        CLIENT KILL TYPE master
        CLIENT KILL ID 99999 USER default SKIPME no
    """,
    )


async def test_info_keyspace_same_as_redis(port, oracle_port):
    await compare(
        port,
        oracle_port,
        """
        INFO keyspace
        SET k v
        INFO keyspace
        SET j v EX 100
        HSET h f v
        PEXPIRE h 100000
        INFO KEYSPACE
        DEL k j h
        INFO keyspace
    """,
    )


async def test_client_kill_closes_the_other_connection(port):
    def run():
        victim, killer = redis.Redis(port=port), redis.Redis(port=port, single_connection_client=True)
        victim_id = victim.client_id()
        assert killer.execute_command("CLIENT", "KILL", "ID", victim_id) == 1
        with RawClient(port) as raw:
            raw_id = int(raw.command("CLIENT", "ID")[1:-2])
            addr = next(c["addr"] for c in killer.client_list() if int(c["id"]) == raw_id)
            assert killer.execute_command("CLIENT", "KILL", addr) == b"OK"
            assert raw.read_until_eof() == b""
        killer_id = killer.client_id()
        assert killer.execute_command("CLIENT", "KILL", "ID", killer_id) == 0  # SKIPME yes by default
        with RawClient(port) as raw:  # killing yourself: the reply, then the close
            raw.send(b"CLIENT ID\r\n")
            own = int(raw.reply()[1:-2])
            raw.send(b"CLIENT KILL ID %d SKIPME no\r\nPING\r\n" % own)
            assert raw.read_until_eof() == b":1\r\n"
        return [int(c["id"]) for c in killer.client_list()]

    remaining = await trio.to_thread.run_sync(run)
    await trio.sleep(0.1)
    assert len(remaining) >= 1


async def test_time_role_info_sections(nursery):
    server = await start(nursery)

    def run():
        r = redis.Redis(port=server.port)
        r.set("a", 1)
        secs, usecs = r.execute_command("TIME")
        role = r.execute_command("ROLE")
        info = r.info("memory", "stats")
        return int(secs), int(usecs), role, info

    secs, usecs, role, info = await trio.to_thread.run_sync(run)
    assert abs(secs + usecs / 1e6 - time.time()) < 5 and 0 <= usecs < 1_000_000
    assert role == [b"master", 1, [[b"127.0.0.1", b"6380", b"1"], [b"127.0.0.1", b"6381", b"0"]]]
    assert info["used_memory"] > 0 and info["maxmemory_policy"] == "noeviction"
    assert info["total_connections_received"] >= 1 and info["total_commands_processed"] >= 2


async def test_role_on_a_follower(nursery):
    node = FakeNode(role=Role.FOLLOWER, resp_address=("127.0.0.1", 7002))
    server = await start(nursery, node)
    role = await trio.to_thread.run_sync(lambda: redis.Redis(port=server.port).execute_command("ROLE"))
    assert role == [b"slave", b"127.0.0.1", 7002, b"connected", 0]


CONFIG_SET_CASES = [
    ["CONFIG", "SET", "maxclients", "abc"],
    ["CONFIG", "SET", "nosuch", "1"],
    ["CONFIG", "SET", "maxclients"],
    ["CONFIG", "SET", "maxclients", "10", "maxclients", "20"],
    # finding 8a: a number longer than Python's int() digit limit answered "internal error: ValueError"
    ["CONFIG", "SET", "maxclients", "9" * 5000],
    ["CONFIG", "SET", "maxclients", "10000000000000000000000000"],
    ["CONFIG", "SET", "maxclients", "4294967296"],
    ["CONFIG", "SET", "maxclients", "0"],
    ["CONFIG", "SET", "maxclients", "-1"],
    ["CONFIG", "SET", "maxclients", "+5"],
    ["CONFIG", "SET", "maxclients", " 5"],
    ["CONFIG", "SET", "maxclients", "007"],
    ["CONFIG", "SET", "maxclients", ""],
    ["CONFIG", "GET", "MAXCLIENTS"],
    ["CONFIG", "GET", "maxclient[r-t]"],
    ["CONFIG", "GET", "maxCLIENT?"],
    ["CONFIG", "SET", "maxclients", "500"],
    ["CONFIG", "GET", "maxclients"],
]


async def test_config_set_as_redis(port, oracle_port):
    theirs = await trio.to_thread.run_sync(_config_run, oracle_port)
    ours = await trio.to_thread.run_sync(_config_run, port)
    assert ours == theirs


def _config_run(port: int) -> list[bytes]:
    """The cases' replies; the server (the session's shared oracle too) gets its default back."""
    with RawClient(port) as client:
        try:
            return [client.command(*args) for args in CONFIG_SET_CASES]
        finally:
            client.command("CONFIG", "SET", "maxclients", "10000")


async def test_config_set_requirepass_takes_effect_at_once(port):
    def run():
        with RawClient(port) as admin:
            assert admin.command("CONFIG", "SET", "requirepass", "pw") == b"+OK\r\n"
            assert admin.command("GET", "k") == b"$-1\r\n"  # as in Redis, open connections stay in
            with RawClient(port) as other:
                assert other.command("GET", "k").startswith(b"-NOAUTH")
                assert other.command("AUTH", "pw") == b"+OK\r\n"
            assert admin.command("CONFIG", "SET", "requirepass", "") == b"+OK\r\n"
            with RawClient(port) as fresh:
                assert fresh.command("PING") == b"+PONG\r\n"
            assert admin.command("CONFIG", "SET", "port", "1") == (
                b"-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config\r\n"
            )

    await trio.to_thread.run_sync(run)


async def test_member_add_refuses_addresses_that_are_not_host_port(port):
    """Found by the adversarial fuzzer (FUZZ_SEED=2299089072): an address of non-UTF-8 bytes
    reached the encoder and answered 'internal error'. Now refused at the frontend, as the
    leader refuses any address that is not host:port."""

    def run() -> list[bytes]:
        with RawClient(port) as client:
            return [
                client.command("REPLICATOR.MEMBER", "ADD", "4", b"\xff\xfe", "127.0.0.1:7004"),
                client.command("REPLICATOR.MEMBER", "ADD", "4", "127.0.0.1:7104", "h\xe9:1"),
                client.command("REPLICATOR.MEMBER", "ADD", "4", "nohostport", "127.0.0.1:7004"),
            ]

    replies = await trio.to_thread.run_sync(run)
    assert replies[0].startswith(b"-ERR the peer address must be host:port")
    assert replies[1].startswith(b"-ERR the resp address must be host:port")
    assert replies[2].startswith(b"-ERR the peer address must be host:port")
