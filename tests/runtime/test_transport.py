"""TcpTransports on real loopback sockets: delivery and reconnect; the handshake in which both sides
prove the cluster secret (wrong secret on either side, replay, reflection, strangers); the bounds a
stranger meets before proving anything (frame size, time, number of connections); and the redial
backoff against a peer that accepts and closes at once."""

import logging
import select
import socket
import struct

import pytest
import trio

from replicator.codec import HANDSHAKE_FRAME_BYTES, Codec, FrameReader
from replicator.config import generate_secret
from replicator.runtime import handshake
from replicator.runtime.log_limit import RateLimitedLog
from replicator.runtime.messages import MESSAGE_TYPES, WIRE_VERSION, Challenge, ForwardRequest, Hello, Welcome
from replicator.runtime.transport import BACKOFF_MAX_S, BACKOFF_MIN_S, TcpTransport
from tests.e2e.harness import free_ports

codec = Codec(MESSAGE_TYPES)
SECRET = generate_secret().encode()


def make(node_id, ports, inbox, cluster="c", secret=SECRET, **kw):
    return TcpTransport(
        node_id=node_id,
        cluster_id=cluster,
        protocol="raft",
        codec=codec,
        peers={1: ("127.0.0.1", ports[0]), 2: ("127.0.0.1", ports[1])},
        deliver=inbox.append,
        secret=secret,
        **kw,
    )


async def wait_until(predicate):
    with trio.fail_after(10):
        while not predicate():
            await trio.sleep(0.01)


async def read_frame(stream, reader=None):
    """The next frame's message (handshake messages decode with the full runtime codec too)."""
    reader = reader or FrameReader()
    with trio.fail_after(10):
        while True:
            data = await stream.receive_some(1 << 16)
            assert data, "connection closed"
            frames = reader.feed(data)
            if frames:
                return codec.decode(frames[0])


async def closed_by_node(stream) -> bool:
    """Read until the node closes; whatever it sent before (its Challenge) is ignored."""
    with trio.fail_after(10):
        try:
            while await stream.receive_some(1 << 16):
                pass
        except trio.BrokenResourceError:  # reset instead of FIN
            pass
    return True


def dialer_proof(key, challenge: Challenge, dialer: int, nonce: bytes, cluster="c") -> bytes:
    return handshake.proof(
        key,
        handshake.DIALER,
        cluster_id=cluster,
        protocol="raft",
        version=WIRE_VERSION,
        dialer=dialer,
        acceptor=challenge.node_id,
        acceptor_nonce=challenge.nonce,
        dialer_nonce=nonce,
    )


async def handshake_as(port, node_id, key=SECRET, cluster="c"):
    """Dial like a member holding `key`: (stream, Welcome or None if the node closed instead)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    reader = FrameReader()
    challenge = await read_frame(stream, reader)
    assert isinstance(challenge, Challenge)
    nonce = handshake.new_nonce()
    proof = dialer_proof(key, challenge, node_id, nonce, cluster)
    await stream.send_all(codec.encode(Hello(cluster, node_id, "raft", WIRE_VERSION, nonce, proof)))
    try:
        return stream, await read_frame(stream, reader)
    except (AssertionError, trio.BrokenResourceError):
        return stream, None


# --- delivery -----------------------------------------------------------------------------
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
        assert t1.rejected_connections == t2.rejected_connections == 0
        nursery.cancel_scope.cancel()


async def test_a_message_to_an_idle_link_is_on_the_wire_when_send_returns():
    """send() writes to an idle link's socket itself: no pump task has to wake for it (a
    single write's append and ack went through two such wake-ups). The check blocks the
    whole event loop, so only a frame written inside send() can arrive."""
    ports = free_ports(2)
    t1 = make(1, ports, [])
    links = []

    async def peer(stream):
        challenge = Challenge("c", 2, "raft", WIRE_VERSION, handshake.new_nonce())
        await stream.send_all(codec.encode(challenge))
        hello = await read_frame(stream)
        await stream.send_all(codec.encode(Welcome(acceptor_proof(SECRET, challenge, hello))))
        links.append(stream)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_tcp, peer, ports[1])
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        await wait_until(lambda: links and 2 in t1.connected)
        await trio.sleep(0.1)  # the new link's pump task is waiting for its first message
        raw = socket.socket(fileno=links[0].socket.fileno())
        try:
            for req_id in range(3):
                t1.send(ForwardRequest(1, 2, req_id, ("kv",), (b"now",)))
                assert select.select([raw], [], [], 5)[0], "the frame was not written by send()"
                frames = FrameReader().feed(raw.recv(1 << 16))
                assert [codec.decode(f).req_id for f in frames] == [req_id]
        finally:
            raw.detach()
        nursery.cancel_scope.cancel()


async def test_frames_larger_than_the_socket_takes_at_once_arrive_whole_and_in_order():
    """A frame send() cannot write whole has its rest sent by the pump, before what follows."""
    ports = free_ports(2)
    inbox2 = []
    t1, t2 = make(1, ports, []), make(2, ports, inbox2)
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        await nursery.start(t2.run, ("127.0.0.1", ports[1]))
        t1.send(ForwardRequest(1, 2, 0, ("kv",), (b"",)))
        await wait_until(lambda: inbox2)
        await trio.sleep(0.1)  # the link is idle: the next send writes itself
        sizes = [(16 << 20) if i % 4 == 0 else i for i in range(1, 13)]
        for req_id, size in enumerate(sizes, start=1):
            t1.send(ForwardRequest(1, 2, req_id, ("kv",), (bytes([req_id]) * size,)))
        await wait_until(lambda: len(inbox2) == 1 + len(sizes))
        assert [m.req_id for m in inbox2[1:]] == list(range(1, 1 + len(sizes)))
        assert [m.commands[0] for m in inbox2[1:]] == [bytes([i]) * n for i, n in enumerate(sizes, start=1)]
        nursery.cancel_scope.cancel()


async def test_insecure_peers_talk_without_a_secret(caplog):
    ports = free_ports(2)
    inbox1, inbox2 = [], []
    t1, t2 = make(1, ports, inbox1, secret=None), make(2, ports, inbox2, secret=None)
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        await nursery.start(t2.run, ("127.0.0.1", ports[1]))
        t1.send(ForwardRequest(1, 2, 1, ("kv",), (b"",)))
        await wait_until(lambda: inbox2)
        nursery.cancel_scope.cancel()
    assert sum("PEER AUTHENTICATION IS OFF" in r.message for r in caplog.records) == 2


@pytest.mark.parametrize(
    "secrets",
    [(SECRET, generate_secret().encode()), (SECRET, None), (None, SECRET)],
    ids=["different", "dialer-has-none", "acceptor-has-none"],
)
async def test_a_wrong_or_missing_secret_on_either_side_links_nothing(secrets):
    """Each transport dials the other, so each side's acceptor and dialer check are exercised."""
    ports = free_ports(2)
    inbox1, inbox2 = [], []
    t1, t2 = make(1, ports, inbox1, secret=secrets[0]), make(2, ports, inbox2, secret=secrets[1])
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        await nursery.start(t2.run, ("127.0.0.1", ports[1]))
        for i in range(20):
            t1.send(ForwardRequest(1, 2, i, ("kv",), (b"",)))
            t2.send(ForwardRequest(2, 1, i, ("kv",), (b"",)))
        await wait_until(lambda: t1.rejected["handshake"] >= 2 and t2.rejected["handshake"] >= 2)
        assert inbox1 == inbox2 == [] and not t1.connected and not t2.connected
        nursery.cancel_scope.cancel()


async def fake_acceptor(port, welcome_for, got_after_welcome: list, task_status=trio.TASK_STATUS_IGNORED):
    """Listens as node 2 would, but answers a dialer's Hello with welcome_for(challenge, hello)."""

    async def serve(stream):
        nonce = handshake.new_nonce()
        challenge = Challenge("c", 2, "raft", WIRE_VERSION, nonce)
        await stream.send_all(codec.encode(challenge))
        hello = await read_frame(stream)
        await stream.send_all(codec.encode(Welcome(welcome_for(challenge, hello))))
        with trio.move_on_after(0.5):
            data = await stream.receive_some(1 << 16)
            got_after_welcome.append(data)

    await trio.serve_tcp(serve, port, host="127.0.0.1", task_status=task_status)


def acceptor_proof(key, challenge, hello):
    return handshake.proof(
        key,
        handshake.ACCEPTOR,
        cluster_id="c",
        protocol="raft",
        version=WIRE_VERSION,
        dialer=hello.node_id,
        acceptor=2,
        acceptor_nonce=challenge.nonce,
        dialer_nonce=hello.nonce,
    )


@pytest.mark.parametrize(
    "welcome_for, links",
    [
        (lambda challenge, hello: acceptor_proof(SECRET, challenge, hello), True),  # the control: a real acceptor
        (lambda challenge, hello: acceptor_proof(b"not the secret at all", challenge, hello), False),
        (lambda challenge, hello: hello.proof, False),  # reflection: the dialer's own proof sent back
        (lambda challenge, hello: b"", False),
    ],
    ids=["right", "wrong-secret", "reflected", "empty"],
)
async def test_the_dialer_sends_nothing_to_an_acceptor_that_does_not_prove_the_secret(welcome_for, links):
    ports = free_ports(2)
    got = []
    t1 = make(1, ports, [])
    async with trio.open_nursery() as nursery:
        await nursery.start(fake_acceptor, ports[1], welcome_for, got)
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        t1.send(ForwardRequest(1, 2, 1, ("kv",), (b"secret data",)))
        await wait_until(lambda: got)
        assert (b"secret data" in got[0]) if links else got[0] == b"", got  # b"": the dialer hung up
        nursery.cancel_scope.cancel()


async def test_a_recorded_handshake_replayed_on_a_new_connection_is_refused():
    """A man in the middle records a real link from node 1 to node 2, then replays node 1's bytes."""
    ports = free_ports(3)
    inbox2 = []
    recorded = bytearray()
    t1 = make(1, [ports[0], ports[2]], [])  # node 1 dials node 2 through the recorder on ports[2]
    t2 = make(2, ports, inbox2)

    async def recorder(down):
        async with down, await trio.open_tcp_stream("127.0.0.1", ports[1]) as up:

            async def pipe(src, dst, record):
                async for data in src:
                    if record:
                        recorded.extend(data)
                    await dst.send_all(data)

            async with trio.open_nursery() as n:
                n.start_soon(pipe, down, up, True)
                n.start_soon(pipe, up, down, False)

    async with trio.open_nursery() as nursery:
        await nursery.start(t2.run, ("127.0.0.1", ports[1]))
        await nursery.start(trio.serve_tcp, recorder, ports[2])
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        t1.send(ForwardRequest(1, 2, 1, ("kv",), (b"SET k v",)))
        await wait_until(lambda: len(inbox2) == 1)
        assert t2.rejected_connections == 0
        stream = await trio.open_tcp_stream("127.0.0.1", ports[1])
        await stream.send_all(bytes(recorded))  # the Hello with its proof, then the message
        assert await closed_by_node(stream)
        await wait_until(lambda: t2.rejected["handshake"] == 1)
        assert len(inbox2) == 1  # the replayed message was not delivered again
        nursery.cancel_scope.cancel()


async def test_a_hello_bounced_back_from_the_nodes_own_dialer_is_refused():
    """Reflection: a stranger squats on node 1's address. Node 2 dials it; the stranger hands node 2's
    dialer the challenge node 2's acceptor gave it, and hands the acceptor the Hello the dialer made."""
    ports = free_ports(2)
    inbox2 = []
    t2 = make(2, ports, inbox2)
    bounced = trio.Event()

    async def squatter(dialer_side):
        to_acceptor = await trio.open_tcp_stream("127.0.0.1", ports[1])
        challenge = await read_frame(to_acceptor)
        await dialer_side.send_all(codec.encode(Challenge("c", 1, "raft", WIRE_VERSION, challenge.nonce)))
        hello = await read_frame(dialer_side)  # node 2's proof as dialer, over the acceptor's own nonce
        await to_acceptor.send_all(codec.encode(Hello("c", 1, "raft", WIRE_VERSION, hello.nonce, hello.proof)))
        bounced.set()
        assert await closed_by_node(to_acceptor)

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_tcp, squatter, ports[0])
        await nursery.start(t2.run, ("127.0.0.1", ports[1]))
        await bounced.wait()
        await wait_until(lambda: t2.rejected["handshake"] >= 1)
        assert inbox2 == [] and 1 not in t2.connected
        nursery.cancel_scope.cancel()


async def test_strangers_and_garbage_lose_their_connection_only(caplog):
    ports = free_ports(2)
    inbox = []
    t1 = make(1, ports, inbox)
    no_proof = Hello("c", 2, "raft", WIRE_VERSION, b"n" * 32, b"p" * 32)
    attempts = [
        b"\x00\x00\x00\x03abc",  # not msgpack
        b"GET / HTTP/1.1\r\n\r\n",
        codec.encode(Hello("other-cluster", 2, "raft", WIRE_VERSION, b"n" * 32)),
        codec.encode(Hello("c", 2, "zab", WIRE_VERSION, b"n" * 32)),
        codec.encode(Hello("c", 9, "raft", WIRE_VERSION, b"n" * 32)),  # not a member
        codec.encode(Hello("c", 2, "raft")),  # wire version 2: no nonce, no proof
        codec.encode(no_proof),  # a member's name without its proof
        codec.encode(no_proof) + codec.encode(ForwardRequest(2, 1, 1, ("kv",), (b"",))),
        codec.encode(ForwardRequest(2, 1, 1, ("kv",), (b"",))),  # a message instead of a handshake
        b"\xff\xff\xff\xff",  # an absurd frame length
    ]
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        for n, data in enumerate(attempts, start=1):
            stream = await trio.open_tcp_stream("127.0.0.1", ports[0])
            await stream.send_all(data)
            assert await closed_by_node(stream)
            await stream.aclose()
            await wait_until(lambda: t1.rejected["handshake"] == n)
        assert inbox == []
        # finding 8: one line for all of them (per remote host and minute), not one each
        refusals = [r.getMessage() for r in caplog.records if "refusing peer connection" in r.getMessage()]
        assert len(refusals) == 1, refusals
        # a proper peer still gets through, and may only speak for itself
        stream, welcome = await handshake_as(ports[0], 2)
        assert isinstance(welcome, Welcome)
        await stream.send_all(codec.encode(ForwardRequest(2, 1, 1, ("kv",), (b"ok",))))
        await wait_until(lambda: inbox == [ForwardRequest(2, 1, 1, ("kv",), (b"ok",))])
        await stream.send_all(codec.encode(ForwardRequest(3, 1, 1, ("kv",), (b"",))))  # spoofed src
        assert await closed_by_node(stream)
        await wait_until(lambda: t1.rejected["protocol"] == 1)
        assert len(inbox) == 1
        nursery.cancel_scope.cancel()


# --- what a stranger can cost before proving anything ---------------------------------------
async def test_a_huge_frame_announced_before_the_handshake_is_refused_at_its_header():
    """Finding 6: a stranger announced a 200 MiB frame and the node waited to buffer it."""
    ports = free_ports(2)
    t1 = make(1, ports, [], handshake_timeout_s=600)  # so only the header check can close the connection
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        for size in (200 << 20, HANDSHAKE_FRAME_BYTES + 1):
            stream = await trio.open_tcp_stream("127.0.0.1", ports[0])
            await stream.send_all(struct.pack(">I", size) + b"\x00" * 1000)  # a header and the start of a body
            assert await closed_by_node(stream)
        await wait_until(lambda: t1.rejected["handshake"] == 2)
        nursery.cancel_scope.cancel()


async def test_a_slowloris_is_cut_off_by_the_handshake_timeout(loopback_clock):
    """One byte every 0.1 s of an otherwise valid Hello: the whole handshake has a deadline, not each
    read. On trio's MockClock (tests/conftest.py): the trickle and the deadline run in virtual time, at once."""
    ports = free_ports(2)
    t1 = make(1, ports, [], handshake_timeout_s=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        stream = await trio.open_tcp_stream("127.0.0.1", ports[0])
        challenge = await read_frame(stream)
        nonce = handshake.new_nonce()
        hello = codec.encode(Hello("c", 2, "raft", WIRE_VERSION, nonce, dialer_proof(SECRET, challenge, 2, nonce)))
        sent = 0
        with trio.fail_after(30):
            try:
                for byte in hello[:-1]:  # never the last byte: only the timeout can end this
                    await stream.send_all(bytes([byte]))
                    sent += 1
                    await trio.sleep(0.1)
            except trio.BrokenResourceError:
                pass
            assert await closed_by_node(stream)
        assert sent < len(hello) - 1, "the node waited for the whole trickle"
        assert t1.rejected["timeout"] == 1 and t1.unproven == 0
        nursery.cancel_scope.cancel()


async def test_unproven_connections_are_capped_and_a_member_still_gets_in():
    ports = free_ports(2)
    inbox = []
    cap = 8
    t1 = make(1, ports, inbox, max_unproven=cap, handshake_timeout_s=60)
    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        idle = []
        for _ in range(cap):
            idle.append(await trio.open_tcp_stream("127.0.0.1", ports[0]))
        await wait_until(lambda: t1.unproven == cap)
        extra = [await trio.open_tcp_stream("127.0.0.1", ports[0]) for _ in range(40)]
        for stream in extra:
            data = b""
            with trio.fail_after(10):
                while chunk := await stream.receive_some(1 << 16):
                    data += chunk
            assert data == b""  # closed at once, not even challenged
            await stream.aclose()
        assert t1.rejected["busy"] == 40 and t1.unproven == cap
        for stream in idle:
            await stream.aclose()
        await wait_until(lambda: t1.unproven == 0)
        stream, welcome = await handshake_as(ports[0], 2)
        assert isinstance(welcome, Welcome)
        await stream.aclose()
        nursery.cancel_scope.cancel()


# --- redialling -----------------------------------------------------------------------------
async def test_a_peer_that_accepts_and_closes_at_once_is_redialled_with_backoff(caplog, loopback_clock):
    """Finding 8: the old dial loop reset its backoff on every successful connect, so such a
    peer was redialled in a busy loop (thousands of times in 2 s, ~800 log lines a second).
    On trio's MockClock (tests/conftest.py), the time between two dials is the dialer's own doing: each waits at
    least half its backoff (equal jitter), which doubles up to BACKOFF_MAX_S."""
    ports = free_ports(2)
    t1 = make(1, ports, [])
    dials: list[float] = []  # when the peer accepted each connection
    enough = trio.Event()

    async def slam(stream):
        dials.append(trio.current_time())
        if len(dials) == 9:
            enough.set()
        await stream.aclose()

    caplog.set_level(logging.INFO, logger="replicator.runtime.transport")
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_tcp, slam, ports[1])
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        with trio.fail_after(120):
            await enough.wait()
        nursery.cancel_scope.cancel()
    gaps = [b - a for a, b in zip(dials, dials[1:])]
    floors = [0.5 * min(BACKOFF_MIN_S * 2**k, BACKOFF_MAX_S) for k in range(len(gaps))]
    assert all(gap >= floor for gap, floor in zip(gaps, floors)), (gaps, floors)
    assert floors[-1] == 0.5 * BACKOFF_MAX_S  # enough dials to reach the cap (more if the constants grow)
    lines = [r for r in caplog.records if "node 2" in r.getMessage()]
    assert 1 <= len(lines) <= 2, [r.getMessage() for r in lines]


async def test_a_peer_resetting_mid_flood_ends_that_link_not_the_node():
    ports = free_ports(2)
    t1 = make(1, ports, [])
    resets = 0

    async def rude_peer(stream):
        nonlocal resets
        nonce = handshake.new_nonce()
        challenge = Challenge("c", 2, "raft", WIRE_VERSION, nonce)
        await stream.send_all(codec.encode(challenge))
        hello = await read_frame(stream)
        await stream.send_all(codec.encode(Welcome(acceptor_proof(SECRET, challenge, hello))))
        await stream.receive_some(1 << 16)  # some frames
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        resets += 1
        await stream.aclose()  # RST: the sender's next send_all fails

    async with trio.open_nursery() as nursery:
        await nursery.start(t1.run, ("127.0.0.1", ports[0]))
        await nursery.start(trio.serve_tcp, rude_peer, ports[1])
        with trio.fail_after(20):
            while resets < 5:
                for i in range(200):
                    t1.send(ForwardRequest(1, 2, i, ("kv",), (b"x" * 1000,)))
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


# --- the log limit --------------------------------------------------------------------------
def test_rate_limited_log_says_how_many_lines_it_held_back(caplog):
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("test.limit"), window_s=60, max_keys=2, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="test.limit")
    assert limited.warning("10.0.0.9", "refused %s", "a")
    for _ in range(1000):
        assert not limited.warning("10.0.0.9", "refused %s", "b")
    assert limited.warning("10.0.0.8", "refused %s", "c")  # another key has its own line
    now[0] = 61
    assert limited.warning("10.0.0.9", "refused %s", "d")
    assert [r.getMessage() for r in caplog.records] == [
        "refused a",
        "refused c",
        "refused d (and 1000 more like it in the last 60s, not logged)",
    ]
    # more keys than max_keys: the stale ones are forgotten, and a flood of fresh ones shares one line
    assert limited.warning("k3", "x")
    assert limited.warning("k4", "x") and not limited.warning("k5", "x") and not limited.warning("k6", "x")
