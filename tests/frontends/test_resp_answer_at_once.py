"""A burst's plain replies leave on the node's task as their answers come in (server.py, _answer_now).

The node here holds every write until the test answers it. Each test answers, then reads
the client's socket while the event loop is blocked: only a reply sent from inside the
answer itself can be there, since the connection's task cannot run meanwhile.
"""

from __future__ import annotations

import select
import socket
from functools import partial

import trio
from fake_node import FakeNode, FakeWaiter
from resp_helpers import encode_command

from frontends.resp.server import RespServer
from replicator.runtime.api import NoLeader


class HoldingNode(FakeNode):
    """Holds every write batch until the test answers it."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[list, FakeWaiter]] = []

    def submit_batch(self, writes) -> FakeWaiter:
        waiter = FakeWaiter(len(writes))
        self.held.append((list(writes), waiter))
        return waiter

    def answer(self, batch: int = 0) -> None:
        """Apply the held batch's writes, which answers them (FakeNode._apply)."""
        writes, waiter = self.held[batch]
        for slot, (machine, command) in enumerate(writes):
            self._apply(machine, command, waiter, slot)


async def serving(nursery, node) -> int:
    server = RespServer(node)
    await nursery.start(partial(server.serve, "127.0.0.1", 0))
    return server.port


async def held_write(node: HoldingNode, port: int, *commands: list[str]) -> socket.socket:
    """A client that sent `commands` in one burst, once the node holds their batch."""
    before = len(node.held)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"".join(encode_command(*c) for c in commands))
    with trio.fail_after(10):
        while len(node.held) == before:
            await trio.sleep(0.005)
    return sock


def read_now(sock: socket.socket, wait_s: float = 1.0) -> bytes:
    """What the socket holds within `wait_s`, read while the event loop is blocked."""
    data = b""
    while select.select([sock], [], [], wait_s)[0]:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        wait_s = 0.05
    return data


async def test_the_reply_leaves_as_the_answer_comes_in(nursery):
    node = HoldingNode()
    port = await serving(nursery, node)
    with await held_write(node, port, ["SET", "k", "v"]) as sock:
        node.answer()
        assert read_now(sock) == b"+OK\r\n"
    with await held_write(node, port, ["INCR", "n"]) as sock:
        node.answer(1)
        assert read_now(sock) == b":1\r\n"


async def test_a_request_error_is_answered_at_once_too(nursery):
    node = HoldingNode()
    port = await serving(nursery, node)
    with await held_write(node, port, ["SET", "k", "v"]) as sock:
        node.held[0][1].resolve(0, NoLeader())
        assert read_now(sock) == b"-CLUSTERDOWN no leader elected; try again\r\n"


async def test_a_burst_is_answered_at_once_in_order(nursery):
    node = HoldingNode()
    port = await serving(nursery, node)
    with await held_write(node, port, ["SET", "a", "1"], ["INCR", "n"], ["APPEND", "a", "23"]) as sock:
        node.answer()
        assert read_now(sock) == b"+OK\r\n:1\r\n:3\r\n"


async def test_a_burst_with_a_container_reply_is_answered_by_its_task_in_order(nursery):
    node = HoldingNode()
    port = await serving(nursery, node)
    with await held_write(node, port, ["SADD", "s", "x"], ["SPOP", "s", "1"]) as sock:
        node.answer()
        assert read_now(sock, 0.2) == b""  # not from the answer: a container goes the task's way
        with trio.fail_after(30):  # read in a thread, so that the connection's task runs meanwhile
            assert await trio.to_thread.run_sync(read_now, sock, 10.0) == b":1\r\n*1\r\n$1\r\nx\r\n"


async def test_an_answer_for_a_client_that_left_harms_nobody(nursery):
    node = HoldingNode()
    port = await serving(nursery, node)
    sock = await held_write(node, port, ["SET", "k", "v"])
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # a reset, not a polite close: the answer's send fails
    node.answer()  # must not raise into the node
    with await held_write(node, port, ["SET", "k", "w"]) as other:
        node.answer(1)
        assert read_now(other) == b"+OK\r\n"


async def test_replies_larger_than_a_flush_are_left_to_the_task(nursery):
    """Beyond FLUSH_BYTES the task sends, within the output limits, as the socket takes it."""
    node = HoldingNode()
    port = await serving(nursery, node)
    big = "v" * (300 << 10)
    with await held_write(node, port, ["SET", "k", big]) as sock:
        node.answer()
        assert read_now(sock) == b"+OK\r\n"
    with await held_write(node, port, ["SET", "k", "small", "GET"]) as sock:
        node.answer(1)
        assert read_now(sock, 0.2) == b""
        with trio.fail_after(30):
            reply = await trio.to_thread.run_sync(read_now, sock, 10.0)
        assert reply == b"$%d\r\n%s\r\n" % (len(big), big.encode())
