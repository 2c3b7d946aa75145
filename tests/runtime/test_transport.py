"""Two TcpTransports on real loopback sockets: delivery, reconnect, and refusal of strangers."""

import trio

from replicator.codec import Codec
from replicator.runtime.messages import MESSAGE_TYPES, ForwardRequest, Hello
from replicator.runtime.transport import TcpTransport
from tests.e2e.harness import free_ports

codec = Codec(MESSAGE_TYPES)


def make(node_id, ports, inbox, cluster="c"):
    return TcpTransport(
        node_id=node_id, cluster_id=cluster, protocol="raft", codec=codec,
        peers={1: ("127.0.0.1", ports[0]), 2: ("127.0.0.1", ports[1])}, deliver=inbox.append,
    )  # fmt: skip


async def wait_until(predicate):
    with trio.fail_after(10):
        while not predicate():
            await trio.sleep(0.01)


async def test_messages_arrive_in_order_across_a_restart():
    ports = free_ports(2)
    inbox1, inbox2 = [], []
    t1, t2 = make(1, ports, inbox1), make(2, ports, inbox2)
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        async with trio.open_nursery() as inner:
            await inner.start(t2.run, ("127.0.0.1", ports[1]))
            for i in range(1000):
                t1.send(ForwardRequest(1, 2, i, ("kv",), (b"x" * (i % 50),)))
            await wait_until(lambda: len(inbox2) == 1000)
            assert [m.req_id for m in inbox2] == list(range(1000))
            inner.cancel_scope.cancel()
        # node 2 restarts: node 1 dials again and traffic resumes
        inbox2.clear()
        await nursery.start(t2.run, ("127.0.0.1", ports[1]))
        with trio.fail_after(10):
            while not inbox2 or not inbox1:  # frames sent into the old link may be lost: resend
                t1.send(ForwardRequest(1, 2, 5000, ("kv",), (b"",)))
                t2.send(ForwardRequest(2, 1, 6000, ("kv",), (b"",)))
                await trio.sleep(0.05)
        assert {m.req_id for m in inbox2} == {5000} and {m.req_id for m in inbox1} == {6000}
        nursery.cancel_scope.cancel()


async def test_strangers_and_garbage_lose_their_connection_only():
    ports = free_ports(2)
    inbox = []
    t1 = make(1, ports, inbox)
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        attempts = [
            b"\x00\x00\x00\x03abc",  # not msgpack
            codec.encode(Hello("other-cluster", 2, "raft")),
            codec.encode(Hello("c", 2, "zab")),
            codec.encode(Hello("c", 9, "raft")),  # not a member
            codec.encode(Hello("c", 2, "raft")) + codec.encode(ForwardRequest(3, 1, 1, ("kv",), (b"",))),  # spoofed src
            codec.encode(Hello("c", 2, "raft")) + b"\xff\xff\xff\xff",  # absurd frame length
        ]
        for n, data in enumerate(attempts, start=1):
            stream = await trio.open_tcp_stream("127.0.0.1", ports[0])
            await stream.send_all(data)
            with trio.fail_after(10):
                while await stream.receive_some(100):
                    pass  # the node closes the connection
            await stream.aclose()
            await wait_until(lambda: t1.rejected_connections == n)
        assert inbox == []
        # a proper peer still gets through
        stream = await trio.open_tcp_stream("127.0.0.1", ports[0])
        await stream.send_all(codec.encode(Hello("c", 2, "raft")) + codec.encode(ForwardRequest(2, 1, 1, ("kv",), (b"ok",))))
        await wait_until(lambda: inbox == [ForwardRequest(2, 1, 1, ("kv",), (b"ok",))])
        await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_a_peer_resetting_mid_flood_ends_that_link_not_the_node():
    import socket
    import struct

    ports = free_ports(2)
    inbox = []
    t1 = make(1, ports, inbox)
    resets = 0

    async def rude_peer(stream):
        nonlocal resets
        await stream.receive_some(1 << 16)  # the hello and some frames
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        resets += 1
        await stream.aclose()  # RST: the sender's next send_all fails

    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        await nursery.start(trio.serve_tcp, rude_peer, ports[1])
        with trio.fail_after(10):
            while resets < 5:
                for i in range(200):
                    t1.send(ForwardRequest(1, 2, i, ("kv",), (b"x" * 1000,)))
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
