"""The RESP server end to end over 127.0.0.1: redis-py, raw bytes, redis-cli, redis-benchmark.

The node is FakeNode (fake_node.py) in batched mode: writes are applied by a
background task after the whole pipeline was submitted, like a real leader.
Blocking clients run in worker threads (trio.to_thread) while the server runs
on the test's trio loop.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import socket
import time
from functools import partial

import pytest
import redis
import trio
from fake_node import FakeNode
from resp_helpers import RawClient, encode_command

from frontends.resp.server import RespServer
from replicator.runtime.api import NoLeader, OutcomeUnknown, ReadConsistency, TimedOut
from replicator.types import Role
from statemachines import encode_args

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def client(port: int, **kw) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, **kw)


async def in_thread(fn, *args):
    with trio.fail_after(30):
        return await trio.to_thread.run_sync(fn, *args)


async def start(nursery, node: FakeNode, **options) -> RespServer:
    server = RespServer(node, **options)
    await nursery.start(partial(server.serve, "127.0.0.1", 0))
    return server


async def test_serve_resp_reports_its_port(port):
    assert isinstance(port, int) and port > 0
    assert await in_thread(lambda: client(port).ping()) is True


async def test_basic_commands_with_redis_py(port, node):
    def run():
        r = client(port)
        assert r.set("a", "1") is True
        assert r.get("a") == b"1"
        assert r.incr("a") == 2
        assert r.incrby("a", 40) == 42
        assert r.mset({"x": "1", "y": "2"}) is True
        assert r.mget("x", "y", "z") == [b"1", b"2", None]
        assert r.set("t", "v", ex=100) is True
        assert r.ttl("t") == 100
        assert r.exists("a", "x", "nope") == 2
        assert r.delete("a", "x") == 2
        assert r.set("k", "v", nx=True) is True
        assert r.set("k", "w", nx=True) is None
        assert r.set("k", "w", get=True) == b"v"
        with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
            r.incr("k")
        big = os.urandom(2 * 1024 * 1024)
        assert r.set("big", big) is True
        assert r.get("big") == big

    await in_thread(run)
    assert [b"SET", b"a", b"1"] in node.submitted


async def test_pipeline_is_submitted_at_once_and_answered_in_order(port, node):
    def run():
        pipe = client(port).pipeline(transaction=False)
        for i in range(200):
            pipe.set(f"k{i}", i)
        return pipe.execute()

    assert await in_thread(run) == [True] * 200
    assert node.max_batch >= 50  # many writes shared one apply step (one log append in a real node)


async def test_read_your_writes_inside_a_pipeline(nursery):
    # Reads are served at once from whatever is applied, and writes apply 20 ms
    # later: only the frontend's ordering makes each GET see the SET before it.
    node = FakeNode(batched=True, apply_delay_s=0.02, linearizable_reads=False)
    await nursery.start(node.run)
    server = await start(nursery, node)

    def run():
        pipe = client(server.port).pipeline(transaction=False)
        pipe.set("k", 1).get("k").set("k", 2).get("k").incr("c").incr("c").get("c").mget("k", "c")
        return pipe.execute()

    assert await in_thread(run) == [True, b"1", True, b"2", 1, 2, b"2", [b"2", b"2"]]


async def test_runs_of_reads_go_out_together(port, node):
    def run():
        r = client(port)
        r.set("a", "1")
        pipe = r.pipeline(transaction=False)
        for _ in range(30):
            pipe.get("a")
        return pipe.execute()

    assert await in_thread(run) == [b"1"] * 30
    reads = [args for args, _, _ in node.reads if args == [b"GET", b"a"]]
    assert len(reads) == 30
    assert all(consistency is ReadConsistency.LINEARIZABLE for _, consistency, _ in node.reads)


async def test_every_read_carries_what_the_connection_has_seen(port, node):
    def run():
        r = client(port)
        r.set("a", "1")
        r.set("b", "2")
        r.get("a")

    await in_thread(run)
    args, _, min_index = node.reads[-1]
    assert args == [b"GET", b"a"] and min_index == 2


async def test_invalid_commands_never_reach_the_node(port, node):
    def run():
        with RawClient(port) as c:
            return [
                c.command("NOSUCH", "x"),
                c.command("GET"),
                c.command("SET", "k", "v", "NX", "XX"),
                c.command("SET", "k", "v", "EX", "0"),
                c.command("INCRBY", "k", "1.5"),
                c.command("MSET", "a", "1", "b"),
                c.command("EXPIRE", "k", "10", "NX", "XX"),
                c.command("FLUSHALL", "NOW"),
            ]

    replies = await in_thread(run)
    assert all(reply.startswith(b"-ERR ") for reply in replies), replies
    assert node.submitted == [] and node.reads == []


@pytest.mark.parametrize(
    "error, text",
    [
        (NoLeader(), b"-CLUSTERDOWN no leader elected; try again\r\n"),
        (OutcomeUnknown("leader lost"), b"-TRYAGAIN outcome unknown: leader lost\r\n"),
        (TimedOut("request"), b"-TRYAGAIN request timed out\r\n"),
    ],
)
async def test_request_errors_become_error_replies(port, node, error, text):
    node.fail_with = error

    def run():
        with RawClient(port) as c:
            return c.command("SET", "a", "1"), c.command("GET", "a"), c.command("PING")

    assert await in_thread(run) == (text, text, b"+PONG\r\n")


async def test_hello_switches_the_protocol_between_pipelined_commands(port):
    def run():
        with RawClient(port) as c:
            c.send(b"GET nokey\r\nHELLO 3\r\nGET nokey\r\nHELLO 2\r\nGET nokey\r\nSET a 1\r\nHELLO 3\r\nMGET a b\r\n")
            return [c.reply() for _ in range(8)]

    replies = await in_thread(run)
    assert replies[0] == b"$-1\r\n"
    assert replies[1].startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
    assert b"$5\r\nproto\r\n:3\r\n" in replies[1]
    assert replies[2] == b"_\r\n"
    assert replies[3].startswith(b"*14\r\n")
    assert replies[4] == b"$-1\r\n"
    assert replies[5] == b"+OK\r\n"
    assert replies[7] == b"*2\r\n$1\r\n1\r\n_\r\n"


async def test_redis_py_with_resp3(port):
    def run():
        r = client(port, protocol=3)
        assert r.set("a", "1") is True
        assert r.get("a") == b"1"
        assert r.get("none") is None
        assert r.ping() is True
        return r.info("consensus")

    info = await in_thread(run)
    assert info["consensus_role"] == "leader"


async def test_protocol_error_answers_earlier_commands_then_closes(port):
    def run():
        with RawClient(port) as c:
            c.send(encode_command("SET", "a", "1") + b"PING\r\n*1\r\n:1\r\n" + encode_command("GET", "a"))
            return c.read_until_eof()

    assert await in_thread(run) == b"+OK\r\n+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n"


async def test_quit_replies_then_closes(port):
    def run():
        with RawClient(port) as c:
            c.send(b"PING\r\nQUIT\r\nPING\r\n")
            return c.read_until_eof()

    assert await in_thread(run) == b"+PONG\r\n+OK\r\n"


async def test_in_flight_requests_are_bounded(nursery):
    node = FakeNode(batched=True)
    await nursery.start(node.run)
    server = await start(nursery, node, inflight_max=3)

    def run():
        pipe = client(server.port).pipeline(transaction=False)
        for _ in range(100):
            pipe.incr("n")
        return pipe.execute()

    assert await in_thread(run) == list(range(1, 101))
    assert 1 <= node.max_batch <= 3


async def test_max_clients(nursery):
    node = FakeNode()
    server = await start(nursery, node, max_clients=1)

    def run():
        with RawClient(server.port) as first:
            assert first.command("PING") == b"+PONG\r\n"
            with RawClient(server.port) as second:
                return second.read_until_eof()

    assert await in_thread(run) == b"-ERR max number of clients reached\r\n"


async def test_a_client_that_vanishes_mid_pipeline_harms_nobody(nursery):
    node = FakeNode(batched=True, apply_delay_s=0.01)
    await nursery.start(node.run)
    server = await start(nursery, node)

    def vanish():
        c = RawClient(server.port)
        c.send(b"".join(encode_command("SET", f"k{i}", "v") for i in range(2000)))
        c.sock.close()

    await in_thread(vanish)
    assert await in_thread(lambda: client(server.port).get("k1")) in (b"v", None)
    with trio.fail_after(10):
        while len(server.sessions) > 0:
            await trio.sleep(0.01)


async def test_read_consistency_is_per_connection(port, node):
    def run():
        r1, r2 = client(port), client(port)
        assert r1.execute_command("READCONSISTENCY") == b"linearizable"
        assert r1.execute_command("READCONSISTENCY", "stale") == b"OK"
        r1.get("a")
        r2.get("b")
        with pytest.raises(redis.ResponseError, match="unknown read consistency 'fast'"):
            r1.execute_command("READCONSISTENCY", "fast")
        assert r1.execute_command("READCONSISTENCY") == b"stale"

    await in_thread(run)
    by_key = {args[1]: consistency for args, consistency, _ in node.reads}
    assert by_key == {b"a": ReadConsistency.STALE, b"b": ReadConsistency.LINEARIZABLE}


async def test_server_wide_default_consistency(nursery):
    node = FakeNode()
    server = await start(nursery, node, read_consistency=ReadConsistency.SEQUENTIAL)
    await in_thread(lambda: client(server.port).get("a"))
    assert node.reads[-1][1] is ReadConsistency.SEQUENTIAL


async def test_info(port):
    def run():
        r = client(port)
        r.set("a", "1")
        return (
            r.info(),
            r.info("consensus"),
            r.info("replication"),
            r.info("server"),
            r.execute_command("INFO", "nosuch"),
        )

    everything, consensus, replication, server, nothing = await in_thread(run)
    assert everything["role"] == "master" and everything["connected_clients"] >= 1
    assert consensus["node_id"] == 1 and consensus["term"] == 7 and consensus["consensus_role"] == "leader"
    assert consensus["commit_index"] == consensus["applied_index"] == 1
    assert consensus["peer_2"] == {"match": 1, "next": 2, "state": "replicate", "active": 1}
    assert consensus["leader_address"] == "127.0.0.1:6379"
    assert replication["connected_slaves"] == 1 and replication["slave0"]["offset"] == 1
    assert replication["master_repl_offset"] == 1
    assert server["redis_version"] == "7.0.0" and server["state_machine"] == "kv"
    assert nothing == {}  # redis-py parses the empty text


async def test_info_and_hello_on_a_follower(nursery):
    node = FakeNode(role=Role.FOLLOWER, resp_address=("127.0.0.1", 7002))
    server = await start(nursery, node)

    def run():
        r = client(server.port)
        return r.info("replication"), r.info("consensus"), r.execute_command("HELLO", "2")

    replication, consensus, hello = await in_thread(run)
    assert replication["role"] == "slave" and replication["master_port"] == 7002
    assert replication["master_link_status"] == "up" and replication["leader_id"] == 2
    assert consensus["consensus_role"] == "follower" and consensus["leader_address"] == "127.0.0.1:7002"
    assert consensus["member_3"] == {"address": "127.0.0.1:6381", "kind": "observer"}
    assert dict(zip(hello[0::2], hello[1::2], strict=True))[b"role"] == b"replica"


async def test_client_and_config_commands(port):
    def run():
        r = client(port)
        assert r.client_setname("me") is True
        assert r.client_getname() == "me" or r.client_getname() == b"me"
        my_id = r.client_id()
        listing = r.client_list()
        assert any(c["id"] == str(my_id) and c["name"] == "me" for c in listing)
        assert r.config_get("save") == {"save": ""} or r.config_get("save") == {b"save": b""}
        assert r.execute_command("SELECT", 0) in (b"OK", True, "OK")
        with pytest.raises(redis.ResponseError, match="DB index is out of range"):
            r.execute_command("SELECT", 16)
        return my_id, client(port).client_id()

    first, second = await in_thread(run)
    assert first != second


async def test_command_introspection(port):
    def run():
        table = client(port).command()  # redis-py parses COMMAND's reply
        with RawClient(port) as c:
            raw = [
                c.command("COMMAND", "DOCS", "set", "client"),
                c.command("COMMAND", "INFO", "get", "nosuch", "client|setname"),
                c.command("COMMAND", "COUNT"),
                c.command("COMMAND", "DOCS"),
            ]
        return table, [_parse(r) for r in raw]

    table, (docs, info, count, all_docs) = await in_thread(run)
    assert count == len(table) == len(all_docs) // 2 > 40
    assert table["get"]["arity"] == 2 and table["get"]["flags"] == ["readonly", "fast"]
    assert table["mset"]["step_count"] == 2 and table["mset"]["last_key_pos"] == -1
    set_docs = dict(zip(docs[0::2], docs[1::2]))[b"set"]
    set_docs = dict(zip(set_docs[0::2], set_docs[1::2]))
    assert set_docs[b"summary"] == b"Set the string value of a key"
    assert set_docs[b"group"] == b"string"
    assert len(set_docs[b"arguments"]) == 5
    client_docs = dict(zip(docs[0::2], docs[1::2]))[b"client"]
    assert b"subcommands" in client_docs
    assert info[1] is None and info[0][0] == b"get" and info[2][0] == b"client|setname"


def _parse(raw: bytes):
    import hiredis

    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()


async def test_kv_command_specs_match_redis(port, oracle_port):
    def info(p, names):
        with RawClient(p) as c:
            return c.command("COMMAND", "INFO", *names)

    # PFSELFTEST is `admin` only in Redis; every machine command here is a read or a write,
    # so it says `admin readonly` (it changes nothing). EVAL, EVALSHA and FCALL likewise say
    # `write` (a script goes through the log), where Redis leaves it to the script.
    names = [
        cmd.name
        for cmd in RespServer(FakeNode()).table.commands
        if cmd.handler is None and cmd.name not in ("pfselftest", "eval", "evalsha", "fcall")
    ]
    ours = await in_thread(info, port, names)
    theirs = await in_thread(info, oracle_port, names)

    def parse(raw):
        return {entry[0]: (entry[1], sorted(entry[2]), entry[3], entry[4], entry[5]) for entry in _parse(raw)}

    assert parse(ours) == parse(theirs)


async def test_command_list_names_subcommands_as_redis(port, oracle_port):
    """COMMAND LIST names containers' subcommands ("client|list") too; every name listed here
    is one Redis 7.0 lists, but this project's own commands and CLIENT SETINFO (7.2)."""

    def names(p):
        with RawClient(p) as c:
            return {name.decode() for name in _parse(c.command("COMMAND", "LIST"))}

    ours, theirs = await in_thread(names, port), await in_thread(names, oracle_port)
    own = {"readconsistency", "post", "host:", "client|setinfo"}
    assert {"client|list", "config|get", "xgroup|create", "object|encoding"} <= ours
    assert {n for n in ours - theirs if not n.startswith("replicator.")} == own


# --- the real binaries ---------------------------------------------------------------
needs_cli = pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")


async def cli(port: int, *args: str, stdin: bytes = b"") -> str:
    with trio.fail_after(30):
        done = await trio.run_process(
            ["redis-cli", "-p", str(port), *args], stdin=stdin, capture_stdout=True, capture_stderr=True
        )
    return done.stdout.decode()


@needs_cli
async def test_redis_cli_commands(port):
    assert await cli(port, "set", "greeting", "hello world") == "OK\n"
    assert await cli(port, "get", "greeting") == "hello world\n"
    assert await cli(port, "incr", "n") == "1\n"
    assert await cli(port, "mget", "greeting", "n", "none") == "hello world\n1\n\n"
    assert "unknown command 'nosuch'" in await cli(port, "nosuch", "a")
    assert await cli(port, "-3", "get", "none") == "\n"
    assert "# Consensus" in await cli(port, "info")


@needs_cli
async def test_redis_cli_pipe_mode(port, node):
    commands = b"".join(encode_command("SET", f"key:{i}", str(i)) for i in range(1000))
    out = await cli(port, "--pipe", stdin=commands)
    assert "errors: 0, replies: 1000" in out
    assert node.machines["kv"].query(encode_args([b"GET", b"key:999"]), 0) == b"999"


def _interactive(port: int, lines: list[bytes]) -> bytes:
    pid, fd = pty.fork()
    if pid == 0:  # the child: redis-cli on a dumb terminal (no escape sequences)
        os.environ.update(TERM="dumb", HOME="/tmp", REDISCLI_HISTFILE="/dev/null")
        os.execvp("redis-cli", ["redis-cli", "-p", str(port)])
    out = b""

    def read_until(marker: bytes, timeout: float = 10) -> None:
        nonlocal out
        deadline = time.monotonic() + timeout
        while marker not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    return

    try:
        prompt = b"> "
        read_until(prompt)
        for line in lines:
            mark = len(out)
            os.write(fd, line + b"\r")
            deadline = time.monotonic() + 10
            while out[mark:].count(prompt) < 1 and time.monotonic() < deadline:
                read_until(b"\x00", 0.1)
        return out
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


@needs_cli
async def test_redis_cli_interactive_help_comes_from_command_docs(port):
    out = (await in_thread(_interactive, port, [b"HELP SET", b"set k v", b"get k", b"HELP CLIENT SETNAME"])).decode()
    assert "summary:" in out and "Set the string value of a key" in out
    assert "key value [NX|XX] [GET] [EX seconds|PX milliseconds" in out
    assert '"v"' in out
    assert "CLIENT SETNAME" in out and "connection-name" in out


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark is not installed")
async def test_redis_benchmark_runs(port):
    with trio.fail_after(60):
        done = await trio.run_process(
            [
                "redis-benchmark",
                "-p",
                str(port),
                "-n",
                "2000",
                "-c",
                "4",
                "-P",
                "8",
                "-q",
                "-t",
                "ping,set,get,incr,mset",
            ],
            capture_stdout=True,
            capture_stderr=True,
        )
    out = done.stdout.decode()
    for test in ("PING_INLINE:", "PING_MBULK:", "SET:", "GET:", "INCR:", "MSET (10 keys):"):
        assert test in out, out
    assert "WARNING" not in done.stderr.decode() + out


# --- per-connection bounds (issue 10, finding 6) ---------------------------------------
UNAUTH_CASES = [
    (b"*100\r\n", b"-ERR Protocol error: unauthenticated multibulk length\r\n"),
    (b"*1\r\n$100000000\r\n", b"-ERR Protocol error: unauthenticated bulk length\r\n"),
    (b"*1\r\n$16385\r\n", b"-ERR Protocol error: unauthenticated bulk length\r\n"),
    (
        encode_command("SET", "k", "v") + b"*11\r\n",
        b"-NOAUTH Authentication required.\r\n-ERR Protocol error: unauthenticated multibulk length\r\n",
    ),
]


@pytest.mark.parametrize("request_bytes, expected", UNAUTH_CASES)
async def test_an_unauthenticated_client_announcing_a_big_request_is_cut_off(
    nursery, node, request_bytes, expected, oracle_pw_port
):
    """Redis' test "For unauthenticated clients multibulk and bulk length are limited": the
    answer, then the connection closes, instead of waiting for (and buffering) the bytes."""
    server = await start(nursery, node, requirepass="pw")

    def run(port):
        with RawClient(port) as c:
            c.send(request_bytes)
            return c.read_until_eof()

    assert await in_thread(run, server.port) == expected
    assert await in_thread(run, oracle_pw_port) == expected


@pytest.fixture(scope="module")
def oracle_pw_port():
    from resp_helpers import real_redis

    with real_redis("--requirepass", "pw") as port:
        if port is None:
            pytest.skip("redis-server is not installed")
        yield port


async def test_after_auth_big_requests_are_fine(nursery, node):
    server = await start(nursery, node, requirepass="pw")

    def run():
        with RawClient(server.port) as c:
            c.send(
                encode_command("AUTH", "pw")
                + encode_command("SET", "k", "x" * 100000)
                + encode_command("DEL", *"abcdefghijkl")
            )
            assert [c.reply(), c.reply(), c.reply()] == [b"+OK\r\n", b"+OK\r\n", b":1\r\n"]
            c.send(encode_command("RESET") + encode_command("DEL", *"abcdefghijkl"))
            assert c.reply() == b"+RESET\r\n"
            return c.read_until_eof()

    assert await in_thread(run) == b"-ERR Protocol error: unauthenticated multibulk length\r\n"


async def test_a_reply_over_the_hard_output_limit_closes_the_client(nursery, node):
    """client-output-buffer-limit for normal clients, as CONFIG GET/SET show and take it;
    counted in INFO stats and in the Prometheus metric."""
    from prometheus_client import CollectorRegistry

    from frontends.metrics import RespMetrics

    registry = CollectorRegistry()
    port = (await start(nursery, node, hooks=RespMetrics(registry, {"node": "1"}))).port

    def run():
        r = client(port)
        assert r.config_get("client-output-buffer-limit") == {
            "client-output-buffer-limit": "normal 268435456 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        }
        assert r.config_set("client-output-buffer-limit", "normal 1mb 0 0") is True
        assert r.config_get("client-output-buffer-limit")["client-output-buffer-limit"].startswith(
            "normal 1048576 0 0 "
        )
        r.set("big", b"b" * (2 << 20))
        r.set("small", b"s" * 1000)
        with RawClient(port) as c:
            assert c.command("GET", "small") == b"$1000\r\n" + b"s" * 1000 + b"\r\n"
            c.send(encode_command("GET", "big") + encode_command("PING"))
            assert c.read_until_eof() == b""  # closed, nothing of the reply sent
        assert r.info("stats")["client_output_buffer_limit_disconnections"] == 1
        assert (
            registry.get_sample_value("replicator_client_output_buffer_limit_disconnections_total", {"node": "1"}) == 1
        )
        assert r.get("small") == b"s" * 1000  # other clients are served on
        for bad, why in [
            ("normal 1mb 0", "Wrong number of arguments in buffer limit configuration."),
            ("vip 1mb 0 0", "Invalid client class specified in buffer limit configuration."),
            ("normal 1xb 0 0", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
            ("normal 1 0 1kb", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
        ]:
            with pytest.raises(redis.ResponseError) as err:
                r.config_set("client-output-buffer-limit", bad)
            assert (
                str(err.value)
                == f"CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - {why}"
            )

    await in_thread(run)


async def receive_exactly(stream: trio.SocketStream, buffer: bytearray, n: int) -> bytes:
    """The next n bytes of a trio stream (`buffer` keeps what came beyond them)."""
    while len(buffer) < n:
        data = await stream.receive_some(1 << 16)
        assert data, "connection closed"
        buffer += data
    got = bytes(buffer[:n])
    del buffer[:n]
    return got


async def info_field(stream: trio.SocketStream, buffer: bytearray, section: str, field: str) -> str:
    await stream.send_all(encode_command("INFO", section))
    header = b""
    while not header.endswith(b"\r\n"):
        header += await receive_exactly(stream, buffer, 1)
    assert header.startswith(b"$"), header
    body = (await receive_exactly(stream, buffer, int(header[1:-2]) + 2)).decode()
    return next(line.split(":", 1)[1] for line in body.splitlines() if line.startswith(field + ":"))


async def test_a_client_over_the_soft_output_limit_for_its_seconds_is_closed(nursery, node, loopback_clock):
    """A client that reads nothing of an 8 MB reply stays over the 256 kB soft limit: closed once
    the limit's second has passed, not sooner. On trio's MockClock (no threads: trio streams
    only) the second passes in virtual time, at once."""
    server = await start(nursery, node)
    admin, buffer = await trio.open_tcp_stream("127.0.0.1", server.port), bytearray()
    await admin.send_all(
        encode_command("CONFIG", "SET", "client-output-buffer-limit", "normal 0 256kb 1")
        + encode_command("SET", "big", b"b" * (8 << 20))
    )
    assert await receive_exactly(admin, buffer, 10) == b"+OK\r\n+OK\r\n"
    slow = await trio.open_tcp_stream("127.0.0.1", server.port)
    slow.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    started = trio.current_time()
    await slow.send_all(encode_command("GET", "big"))
    # Bounded by a count of polls, not a deadline: an autojump clock jumps to the earliest
    # deadline whenever every task waits on the kernel, so a guard deadline could fire while
    # loopback bytes are still in flight. Polls are 0.25 s apart: 80 of them are 20 s.
    for _ in range(80):
        if await info_field(admin, buffer, "stats", "client_output_buffer_limit_disconnections") != "0":
            break
        await trio.sleep(0.25)
    else:
        raise AssertionError("the slow client was never closed")
    assert trio.current_time() - started >= 1.0  # the soft limit's seconds, then the close
    received = 0
    try:  # no deadline either (a bulk transfer waits on TCP's own timers): the close is certain now
        while data := await slow.receive_some(1 << 16):
            received += len(data)
    except trio.BrokenResourceError:  # reset: the server closed with our request unread
        pass
    assert received < 8 << 20


async def test_large_replies_to_a_reading_client_are_all_delivered(port, node):
    """Replies go out as they are encoded (FLUSH_BYTES at a time): a pipeline whose replies
    far exceed that arrives whole and in order."""

    def run():
        r = client(port)
        values = {f"v{i}": bytes([97 + i % 26]) * (100_000 + i) for i in range(60)}
        r.mset(values)
        pipe = r.pipeline(transaction=False)
        for _ in range(3):
            for key in values:
                pipe.get(key)
        assert pipe.execute() == list(values.values()) * 3

    await in_thread(run)


async def test_an_http_request_inside_multi_closes_at_once(port):
    """Found by tests/fuzz: `Host:` queued in MULTI made EXEC answer `internal error`. Like
    Redis, POST / Host: close the connection at once, in MULTI too, with nothing of theirs."""

    def run():
        with RawClient(port) as c:
            c.send(b"MULTI\r\nHOST: x\r\nPING\r\nEXEC\r\n")
            return c.read_until_eof()

    assert await in_thread(run) == b"+OK\r\n"


async def test_a_command_over_max_entry_bytes_is_refused_as_it_arrives(nursery, node):
    """Finding 5 of issue 10: refused with a clear error before anything reaches the node, its
    bytes skipped rather than buffered; inside MULTI it aborts the transaction."""
    server = await start(nursery, node, max_entry_bytes=100_000)

    def run():
        with RawClient(server.port) as c:
            assert (
                c.command("SET", "k", "v" * 200_000)
                == b"-ERR command of 200004 bytes exceeds max_entry_bytes (100000)\r\n"
            )
            assert c.command("SET", "k", "small") == b"+OK\r\n"
            c.send(encode_command("MULTI") + encode_command("SET", "k", "v" * 200_000) + encode_command("EXEC"))
            assert [c.reply(), c.reply(), c.reply()] == [
                b"+OK\r\n",
                b"-ERR command of 200004 bytes exceeds max_entry_bytes (100000)\r\n",
                b"-EXECABORT Transaction discarded because of previous errors.\r\n",
            ]
            c.send(
                encode_command("MULTI")
                + encode_command("SET", "a", "v" * 60_000)
                + encode_command("SET", "b", "v" * 60_000)
            )
            assert [c.reply(), c.reply(), c.reply()] == [
                b"+OK\r\n",
                b"+QUEUED\r\n",
                b"-ERR transaction of 120038 bytes exceeds max_entry_bytes (100000)\r\n",
            ]
            assert c.command("EXEC") == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
            return c.command("GET", "k")

    assert await in_thread(run) == b"$5\r\nsmall\r\n"
    assert all(len(b"".join(cmd)) < 100_000 for cmd in node.submitted)
