"""Blocking commands as clients use them, on one node: redis-py's blpop & co against the server
over real sockets (the node is tests/frontends/fake_node.py's in-process one; tests/e2e/ has the
cluster). What is checked: a waiting client wakes when a push is applied, in FIFO order per key,
times out with its command's nil, leaves on CLIENT UNBLOCK or when it hangs up (taking nothing),
and later commands of its pipeline wait behind it. Waits are bounded by deadlines, never timed."""

from __future__ import annotations

import socket
import time
from functools import partial

import pytest
import redis
import trio
from fake_node import FakeNode

from frontends.resp.server import serve_resp


def _client(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=10)


async def _run(fn, *args):
    return await trio.to_thread.run_sync(fn, *args)


async def _until(predicate, what: str, timeout_s: float = 20.0) -> None:
    with trio.fail_after(timeout_s):
        while not await _run(predicate):
            await trio.sleep(0.02)


def _blocked_clients(port: int) -> int:
    return int(_client(port).info("clients")["blocked_clients"])


async def test_timeout_answers_the_commands_nil(port):
    r = _client(port)
    started = time.monotonic()
    assert await _run(partial(r.blpop, ["nothing"], timeout=0.2)) is None
    assert time.monotonic() - started >= 0.2
    assert await _run(partial(r.bzpopmin, ["nothing"], timeout=0.1)) is None
    assert await _run(partial(r.blmove, "nothing", "dst", 0.1, "LEFT", "RIGHT")) is None
    assert await _run(partial(r.blmpop, 0.1, 1, "nothing", direction="LEFT")) is None
    assert not await _run(partial(r.xread, {"nostream": "$"}, block=100))  # redis-py shows the nil as []
    assert await _run(_blocked_clients, port) == 0


async def test_waiters_wake_in_fifo_order_one_element_each(port):
    got: dict[int, object] = {}
    async with trio.open_nursery() as nursery:
        for n in range(3):
            nursery.start_soon(_pop_into, port, n, got)
            await _until(lambda want=n + 1: _blocked_clients(port) == want, f"{n + 1} blocked")  # in this order
        for job in (b"j0", b"j1", b"j2"):
            await _run(_client(port).rpush, "jobs", job)
    assert got == {0: (b"jobs", b"j0"), 1: (b"jobs", b"j1"), 2: (b"jobs", b"j2")}
    assert await _run(_client(port).exists, "jobs") == 0


async def _pop_into(port: int, n: int, got: dict) -> None:
    got[n] = await _run(partial(_client(port).blpop, ["other", "jobs"], timeout=0))


async def test_several_elements_pushed_at_once_reach_several_waiters(port):
    got: dict[int, object] = {}
    async with trio.open_nursery() as nursery:
        for n in range(4):
            nursery.start_soon(_pop_into, port, n, got)
        await _until(lambda: _blocked_clients(port) == 4, "4 blocked")
        await _run(_client(port).rpush, "jobs", b"a", b"b", b"c", b"d")
    assert sorted(v for _, v in got.values()) == [b"a", b"b", b"c", b"d"]


async def test_each_blocking_command_wakes_on_its_type(port):
    r = _client(port)
    cases = [
        (partial(r.brpop, ["l"], timeout=10), partial(r.rpush, "l", "x"), (b"l", b"x")),
        (partial(r.blmove, "l", "d", 10, "RIGHT", "LEFT"), partial(r.rpush, "l", "y"), b"y"),
        (partial(r.brpoplpush, "l", "d", 10), partial(r.rpush, "l", "z"), b"z"),
        (
            partial(r.blmpop, 10, 2, "l", "l2", direction="RIGHT", count=5),
            partial(r.rpush, "l2", "p", "q"),
            [b"l2", [b"q", b"p"]],
        ),
        (partial(r.bzpopmax, ["z"], timeout=10), partial(r.zadd, "z", {"m": 2.5}), (b"z", b"m", 2.5)),
        (partial(r.bzmpop, 10, 1, ["z"], min=True), partial(r.zadd, "z", {"n": 1, "o": 2}), [b"z", [[b"n", b"1"]]]),
    ]
    for wait, wake, expected in cases:
        result: list = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_collect, wait, result)
            await _until(lambda: _blocked_clients(port) == 1, f"{wait.func.__name__} blocked")
            await _run(wake)
        assert result == [expected], wait.func.__name__
    assert await _run(r.lrange, "d", 0, -1) == [b"z", b"y"]


async def _collect(fn, out: list) -> None:
    out.append(await _run(fn))


async def test_a_key_of_another_type_does_not_wake_a_pop(port):
    r = _client(port)
    result: list = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect, partial(r.blpop, ["k"], timeout=10), result)
        await _until(lambda: _blocked_clients(port) == 1, "blocked")
        await _run(r.set, "k", "string")  # a change to k, but nothing BLPOP can take
        await _run(r.delete, "k")
        await _run(r.rpush, "k", "finally")
    assert result == [(b"k", b"finally")]


async def test_streams_wake_readers_and_groups(port):
    r = _client(port)
    await _run(r.xadd, "s", {"f": "old"}, "1-0")
    await _run(partial(r.xgroup_create, "s", "g", id="$"))
    readers: list = []
    group: list = []
    async with trio.open_nursery() as nursery:
        for _ in range(2):  # XREAD takes nothing: both readers see the new entry
            nursery.start_soon(_collect, partial(r.xread, {"s": "$"}, block=10_000), readers)
        nursery.start_soon(_collect, partial(r.xreadgroup, "g", "c1", {"s": ">"}, block=10_000), group)
        await _until(lambda: _blocked_clients(port) == 3, "3 blocked")
        await _run(partial(r.xadd, "s", {"f": "new"}, id="2-0"))
    assert readers == [[[b"s", [(b"2-0", {b"f": b"new"})]]]] * 2
    assert group == [[[b"s", [(b"2-0", {b"f": b"new"})]]]]
    assert (await _run(r.xpending, "s", "g"))["pending"] == 1


async def test_client_unblock_ends_a_wait_with_nil_or_error(port):
    r = _client(port)
    waiter = _client(port)
    waiter_id = await _run(waiter.client_id)
    result: list = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect, partial(waiter.blpop, ["k"], timeout=0), result)
        await _until(lambda: _blocked_clients(port) == 1, "blocked")
        assert await _run(r.client_unblock, waiter_id) == 1
    assert result == [None]
    assert await _run(r.client_unblock, waiter_id) == 0  # not blocked any more
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect_error, partial(waiter.bzpopmin, ["k"], timeout=0), result)
        await _until(lambda: _blocked_clients(port) == 1, "blocked")
        assert await _run(partial(r.client_unblock, waiter_id, error=True)) == 1
    assert result[1] == "UNBLOCKED client unblocked via CLIENT UNBLOCK"


async def _collect_error(fn, out: list) -> None:
    try:
        out.append(await _run(fn))
    except redis.exceptions.ResponseError as err:
        out.append(str(err))


async def test_a_client_that_hangs_up_while_waiting_takes_nothing(port):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nk\r\n$1\r\n0\r\n")
    await _until(lambda: _blocked_clients(port) == 1, "blocked")
    sock.close()
    await _until(lambda: _blocked_clients(port) == 0, "the wait ends with the connection")
    await _run(_client(port).rpush, "k", "kept")
    assert await _run(_client(port).lrange, "k", 0, -1) == [b"kept"]


async def test_a_client_that_pipelines_more_then_hangs_up_stops_waiting(port):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"BLPOP k 0\r\nPING\r\n")
    await _until(lambda: _blocked_clients(port) == 1, "blocked")
    sock.close()  # the PING behind the wait is read, and the hang-up behind it seen
    await _until(lambda: _blocked_clients(port) == 0, "the wait ends with the connection")


async def test_commands_pipelined_behind_a_wait_run_after_it(port):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(20)
    sock.sendall(b"PING first\r\nBLPOP k 0\r\nLLEN k\r\n")
    first = b"$5\r\nfirst\r\n"
    assert await _run(_read_exactly, sock, len(first)) == first  # the reply before the wait goes out at once
    await _until(lambda: _blocked_clients(port) == 1, "blocked")
    await _run(_client(port).rpush, "k", "a", "b")
    rest = b"*2\r\n$1\r\nk\r\n$1\r\na\r\n:1\r\n"  # the pop, then LLEN sees what it left
    assert await _run(_read_exactly, sock, len(rest)) == rest
    sock.close()


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, data
        data += chunk
    return data


@pytest.fixture
async def slow_port(nursery):
    """A node whose every apply takes a while, so a pop can be in flight when its client goes."""
    node = FakeNode(batched=True, apply_delay_s=0.5)
    await nursery.start(node.run)
    return node, await nursery.start(partial(serve_resp, node, "127.0.0.1", 0))


async def test_an_element_popped_for_a_killed_client_goes_back(slow_port):
    node, port = slow_port
    r = _client(port)
    sock = socket.create_connection(("127.0.0.1", port))  # raw: redis-py would send the BLPOP again
    sock.settimeout(20)
    sock.sendall(b"CLIENT ID\r\n")
    reply = await _run(sock.recv, 100)
    waiter_id = int(reply[1:].split(b"\r\n")[0])
    sock.sendall(b"BLPOP k 0\r\n")
    await _until(lambda: _blocked_clients(port) == 1, "blocked")
    await _run(r.rpush, "k", "precious")  # applied: the waiter wakes and sends its pop again
    await _until(lambda: node.submitted.count([b"BLPOP", b"k", b"0"]) == 2, "the pop in flight")
    assert await _run(partial(r.client_kill_filter, _id=waiter_id)) == 1
    assert await _run(sock.recv, 100) == b""  # closed without the element
    await _until(lambda: r.lrange("k", 0, -1) == [b"precious"], "the element back in its list")
    assert (await _run(r.info, "stats"))["blocked_pops_returned"] == 1
    sock.close()
