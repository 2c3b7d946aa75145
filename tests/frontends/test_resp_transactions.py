"""MULTI / EXEC / DISCARD / WATCH / UNWATCH: Redis 7.0's replies byte for byte, and WATCH races."""

from __future__ import annotations

import shlex
import time

import pytest
import redis
import trio
from resp_helpers import RawClient

from replicator.transactions import Step, Watch, WatchRead
from statemachines import encode_args

CASES = {
    "errors": """
        EXEC
        DISCARD
        MULTI
        MULTI
        WATCH a
        EXEC
        UNWATCH
        MULTI
        UNWATCH
        DISCARD
        WATCH
    """,
    "queue-and-exec": """
        MULTI
        SET a 1
        GET a
        INCR a
        LPUSH a x
        PING
        ECHO hi
        SET a b FOO
        GET nosuch
        EXEC
        GET a
        MULTI
        EXEC
    """,
    "execabort-unknown": """
        SET a 1
        MULTI
        SET a 2
        FOO bar
        EXEC
        GET a
    """,
    "execabort-arity": """
        MULTI
        SET a 2
        GET a b
        PING
        EXEC
        GET a
        MULTI
        CLIENT FOO
        EXEC
        MULTI
        CLIENT ID x
        EXEC
    """,
    "discard": """
        MULTI
        SET a 1
        DISCARD
        GET a
        EXEC
    """,
    "watch-own-write-aborts": """
        WATCH a
        SET a 2
        MULTI
        GET a
        EXEC
        MULTI
        GET a
        EXEC
        WATCH a b
        WATCH a
        UNWATCH
        SET a 3
        MULTI
        INCR a
        EXEC
    """,
    "watch-discard-forgets": """
        WATCH a
        SET a 1
        MULTI
        DISCARD
        MULTI
        SET a 2
        EXEC
    """,
    "resp3": """
        HELLO 3
        ZADD z 1 a 2 b
        RPUSH l x
        MULTI
        ZRANGE z 0 -1 WITHSCORES
        LPOP nosuch 2
        LPOP l
        EXEC
        WATCH l
        RPUSH l y
        MULTI
        EXEC
    """,
    "expired-watch": """
        SET a 1 PX 1
        WATCH a
        MULTI
        SET b 1
        EXEC
    """,
}


def _run(port: int, lines: list[list[str]]) -> list[bytes]:
    with RawClient(port) as client:
        client.command("FLUSHALL")
        out = []
        for args in lines:
            reply = client.command(*args)
            out.append(b"(differs: ids, versions)" if args[0] == "HELLO" else reply)
            if args[:2] == ["SET", "a"] and "PX" in args:
                time.sleep(0.05)  # let the key expire before WATCH
        return out


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, port, oracle_port):
    lines = [shlex.split(line) for line in CASES[name].strip().splitlines() if line.strip()]
    theirs = await trio.to_thread.run_sync(_run, oracle_port, lines)
    ours = await trio.to_thread.run_sync(_run, port, lines)
    for args, want, got in zip(lines, theirs, ours):
        assert got == want, f"{args}: redis {want!r}, replicator {got!r}"


async def test_pipelined_transaction_same_bytes_as_redis(port, oracle_port):
    from resp_helpers import encode_command

    script = [
        ("SET", "a", "1"),
        ("WATCH", "a"),
        ("MULTI",),
        ("INCR", "a"),
        ("GET", "a"),
        ("EXEC",),
        ("WATCH", "a"),
        ("INCR", "a"),
        ("MULTI",),
        ("INCR", "a"),
        ("EXEC",),
        ("GET", "a"),
    ]
    data = b"".join(encode_command(*c) for c in script)

    def run(p):
        with RawClient(p) as client:
            client.command("FLUSHALL")
            client.send(data)
            return [client.reply() for _ in script]

    assert await trio.to_thread.run_sync(run, port) == await trio.to_thread.run_sync(run, oracle_port)


async def test_exec_is_one_log_entry_with_the_watched_versions(port, node):
    def run():
        r = redis.Redis(port=port)
        r.set("a", 1)
        with r.pipeline() as pipe:
            pipe.watch("a", "b")
            pipe.multi()
            pipe.incr("a")
            pipe.get("a")
            pipe.set("b", "x")
            return pipe.execute()

    before = len(node.submitted)
    assert await trio.to_thread.run_sync(run) == [2, b"2", True]
    (txn,) = node.submitted[before + 1 :]
    assert txn.watches == (Watch("kv", b"a", 1, True), Watch("kv", b"b", 0, False))
    assert txn.steps == (
        Step("kv", encode_args([b"INCRBY", b"a", b"1"]), True),
        Step("kv", encode_args([b"GET", b"a"]), False),
        Step("kv", encode_args([b"SET", b"b", b"x"]), True),
    )
    assert node.reads[-1][0] == WatchRead("kv", (b"a", b"b"))


def _race(port: int) -> tuple[object, bytes]:
    """Client 1 WATCHes and reads; client 2 writes; client 1's EXEC returns None."""
    one, two = redis.Redis(port=port), redis.Redis(port=port)
    one.set("balance", 10)
    with one.pipeline() as pipe:
        pipe.watch("balance")
        balance = int(pipe.get("balance"))
        two.incrby("balance", 5)  # the other client gets in between
        pipe.multi()
        pipe.set("balance", balance - 3)
        try:
            result = pipe.execute()
        except redis.WatchError:
            result = None
    return result, one.get("balance")


async def test_watch_race_between_two_clients(port):
    assert await trio.to_thread.run_sync(_race, port) == (None, b"15")


async def test_watch_race_same_as_redis(oracle_port):
    assert await trio.to_thread.run_sync(_race, oracle_port) == (None, b"15")


async def test_watch_without_a_race_commits(port):
    def run():
        r = redis.Redis(port=port)
        r.set("n", 1)

        def incr(pipe):
            value = int(pipe.get("n"))
            pipe.multi()
            pipe.set("n", value * 10)

        r.transaction(incr, "n")
        return r.get("n")

    assert await trio.to_thread.run_sync(run) == b"10"


async def test_frontend_commands_inside_exec(port):
    def run():
        r = redis.Redis(port=port)
        with r.pipeline() as pipe:
            pipe.ping()
            pipe.info("keyspace")
            pipe.info("server")
            only_frontend = pipe.execute()
        with r.pipeline() as pipe:
            pipe.set("x", 1)
            pipe.info("clients")
            pipe.get("x")
            return only_frontend, pipe.execute()

    only_frontend, mixed = await trio.to_thread.run_sync(run)
    assert only_frontend[0] is True and only_frontend[1] == {} and only_frontend[2]["redis_version"] == "7.0.0"
    assert mixed[0] is True and mixed[1]["connected_clients"] >= 1 and mixed[2] == b"1"


async def test_command_info_of_new_commands_matches_redis(port, oracle_port):
    import hiredis

    names = ["multi", "exec", "discard", "watch", "unwatch", "reset", "time", "role", "auth", "client|kill"]

    def info(p):
        with RawClient(p) as c:
            reader = hiredis.Reader()
            reader.feed(c.command("COMMAND", "INFO", *names))
            return {e[0]: (e[1], sorted(e[2]), e[3], e[4], e[5], sorted(e[6])) for e in reader.gets()}

    assert await trio.to_thread.run_sync(info, port) == await trio.to_thread.run_sync(info, oracle_port)


async def test_redis_cli_transaction_same_output_as_redis(port, oracle_port):
    import shutil

    if shutil.which("redis-cli") is None:
        pytest.skip("redis-cli is not installed")
    script = b"FLUSHALL\nMULTI\nSET a 1\nINCR a\nGET a\nEXEC\nWATCH a\nSET a 5\nMULTI\nGET a\nEXEC\nEXEC\n"

    async def run(p):
        done = await trio.run_process(["redis-cli", "-p", str(p)], stdin=script, capture_stdout=True)
        return done.stdout

    assert await run(port) == await run(oracle_port)
