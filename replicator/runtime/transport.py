"""TCP between peers: a handshake that proves the cluster secret, then length-prefixed msgspec frames.

Each node dials one outgoing connection per peer (to send) and accepts the
peers' connections (to receive), so once the handshake is done every link
carries traffic one way and needs no request/response pairing.

The handshake (handshake.py has the proofs, messages.py the messages): the
acceptor sends a Challenge, the dialer answers with a Hello holding its proof
and its own nonce, the acceptor proves itself with a Welcome. Both sides prove
the secret, so a node neither accepts a stranger's messages nor sends its own
to a stranger that answers on a peer's address.

Rules:
- send() never blocks the engine task. Each peer has a bounded queue; when it
  is full the message is dropped (the protocols tolerate loss, etcd does the
  same) and the engine is told the peer is unreachable.
- A message to a peer whose link is up and idle (its queue empty, its pump task
  holding nothing) is written to the socket right away by send() itself: a
  single write's append and ack then cost no wake-up of a pump task (and no
  trip through the scheduler that trio's send_all takes), about a fifth of a
  millisecond each way on a busy machine (bench/trace_write.py). What the
  socket does not take at once, and everything after it, goes through the queue.
  Sockets are read the same way: the data waiting is taken without a trip
  through the scheduler; the task waits only when there is none.
- A connection whose send fails is closed and dialled again after a backoff
  with jitter. The backoff starts over only once a link has proven itself and
  stayed up LINK_STABLE_S: a peer (or proxy) that accepts and closes at once
  is redialled ever more slowly, never in a busy loop. A half-written frame is
  never resumed (h11's send_failed).
- Until a connection has proven the secret, it may hold at most a few KiB
  (codec.HANDSHAKE_FRAME_BYTES per frame and per read), must finish within
  handshake_timeout_s, and at most MAX_UNPROVEN_CONNECTIONS such connections
  exist at once. A stranger costs a node a few hundred KiB at worst.
- With tls_cluster (replicator/tls.py), every connection is mutual TLS first:
  both sides show a certificate from the cluster's CA, and the certificate must
  name the member id the connection is for (SAN URI replicator-node:<id>, else
  CN replicator-node-<id>): the dialer checks the peer it dials, the acceptor
  the id the Hello claims. The secret's handshake then runs inside TLS, and
  everything after it (appends, forwarded writes, snapshots). A TLS link is
  written by its pump only, through trio's SSLStream (no direct socket writes).
- After the handshake every message must come from that member and be
  addressed to us. Anything else (garbage, a stranger, a wrong secret, a wrong
  cluster) drops that connection and nothing else: counted by reason in
  `rejected`, logged in at most one line per remote host per minute.
"""

from __future__ import annotations

import logging
import random
import socket
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import trio

from replicator.codec import HANDSHAKE_FRAME_BYTES, MAX_FRAME_BYTES, Codec, CodecError, FrameReader
from replicator.config import Address, address_of, format_address
from replicator.hoptrace import TRACING, message_hop, message_key, stamp
from replicator.runtime import handshake
from replicator.runtime.listen import serve_tcp
from replicator.runtime.log_limit import RateLimitedLog
from replicator.runtime.messages import HANDSHAKE_TYPES, WIRE_VERSION, Challenge, Hello, Welcome
from replicator.tls import ReloadableContext, describe_ids, handshake_failure, member_ids

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_S = 5.0  # the whole exchange, not per byte: a slowloris gets no more
MAX_UNPROVEN_CONNECTIONS = 64  # x a few KiB each; real peers need one each, briefly
QUEUE_MESSAGES = 8192  # per peer
SEND_BATCH_BYTES = 4 << 20  # frames coalesced into one send_all
RECEIVE_BYTES = 1 << 16
BACKOFF_MIN_S = 0.02
BACKOFF_MAX_S = 1.0
LINK_STABLE_S = 2.0  # a link up this long was a real one: the next dial may be quick again

# Reasons a connection is refused (labels of the rejected-connections metric).
REFUSED_HANDSHAKE = "handshake"  # garbage, a stranger, a wrong secret, cluster, protocol or version
REFUSED_TIMEOUT = "timeout"  # no complete handshake within handshake_timeout_s
REFUSED_BUSY = "busy"  # too many connections were still unproven
REFUSED_PROTOCOL = "protocol"  # a proven peer sent a malformed or misaddressed message
REFUSAL_REASONS = (REFUSED_HANDSHAKE, REFUSED_TIMEOUT, REFUSED_BUSY, REFUSED_PROTOCOL)


class HandshakeError(Exception):
    """The other end did not prove itself; the text says what it did instead."""


class TcpTransport:
    def __init__(
        self,
        *,
        node_id: int,
        cluster_id: str,
        protocol: str,
        codec: Codec,
        peers: dict[int, Address],
        deliver: Callable[[Any], None],
        secret: bytes | None,
        delivered: Callable[[], None] = lambda: None,
        on_unreachable: Callable[[int], None] = lambda peer: None,
        handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
        max_unproven: int = MAX_UNPROVEN_CONNECTIONS,
        on_link_up: Callable[[int], tuple] = lambda peer: (),
        tls: ReloadableContext | None = None,
    ) -> None:
        """`secret` is the cluster secret (config.peer_secret); None runs without peer
        authentication (insecure_peers), which run() announces with a warning. `tls`: mutual
        TLS on every peer connection (its context is a tls.PeerContexts; reloaded on SIGHUP).
        `deliver` takes each message received; `delivered` is called after the messages of one
        read from a socket were delivered (the node steps once for them all)."""
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.protocol = protocol
        self.codec = codec
        self.peers = {pid: addr for pid, addr in peers.items() if pid != node_id}
        self.deliver = deliver
        self.delivered = delivered
        self.on_unreachable = on_unreachable
        self.handshake_timeout_s = handshake_timeout_s
        self.max_unproven = max_unproven
        self._key = secret or b""
        self._authenticated = secret is not None
        self._handshake_codec = Codec(HANDSHAKE_TYPES)
        self.on_link_up = on_link_up  # messages to send first on each new link to a peer
        self.tls = tls
        self._queues: dict[int, trio.MemorySendChannel] = {}
        self._links: dict[int, _Link] = {}  # peers whose outgoing link is up, by id
        self._dialers: dict[int, trio.CancelScope] = {}  # each peer's dial loop
        self._listen = ""  # our peer address, as dialers tell acceptors (Hello.listen)
        self._nursery: trio.Nursery | None = None
        self._rng = random.Random()  # backoff jitter only
        self.connected: set[int] = set()  # peers we currently have a proven outgoing link to
        self.unproven = 0  # accepted connections still in their handshake
        self.rejected: Counter[str] = Counter()  # refused incoming connections, by reason
        self._refusals = RateLimitedLog(log)  # keyed by remote host
        self._link_log = RateLimitedLog(log)  # keyed by peer id

    @property
    def rejected_connections(self) -> int:
        return sum(self.rejected.values())

    def send(self, msg: Any) -> None:
        dst = msg.dst
        queue = self._queues.get(dst)
        if queue is None:  # a member whose address no configuration we hold names (yet)
            self._link_log.warning(dst, "dropping messages to node %s: no address known for it", dst)
            return
        if TRACING:
            stamp(message_hop("queue", msg, dst), message_key(msg))
        link = self._links.get(dst)
        if link is not None:
            if link.idle:
                frame = self.codec.encode(msg)
                sent = link.write(frame)
                if sent == len(frame):
                    if TRACING:
                        stamp(message_hop("sent", msg, dst), message_key(msg))
                    return
                if sent > 0:  # the rest of the frame goes first, and only on this link
                    msg = _Rest(link, frame[sent:])
                # Else the socket is full (or failed: the pump ends the link) and all of it queues.
            link.idle = False  # the pump has something to send now: what follows queues behind it
        try:
            queue.send_nowait(msg)
        except trio.WouldBlock:
            self.on_unreachable(dst)

    async def run(self, listen: Address, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        if not self._authenticated and self.peers:
            log.warning(
                "PEER AUTHENTICATION IS OFF (insecure_peers = true): anyone who can reach %s can act as a "
                "member of cluster %r, write data and depose the leader. Set cluster_secret_file on every "
                "member to turn it on.",
                format_address(listen),
                self.cluster_id,
            )
        async with trio.open_nursery() as nursery:
            listeners = await serve_tcp(nursery, self._serve_incoming, listen[0], listen[1], "peers")
            self._nursery = nursery
            self._listen = format_address((listen[0], listeners[0].socket.getsockname()[1]))
            for peer, addr in self.peers.items():
                self._start_dialing(peer, addr)
            task_status.started(listeners[0].socket.getsockname()[1])

    def add_peers(self, peers: dict[int, Address]) -> None:
        """Members that joined (or moved): dial them and accept them. Peers are never
        dropped while the node runs: a removed member must still hear of its removal."""
        for peer, addr in peers.items():
            if peer == self.node_id or self.peers.get(peer) == addr:
                continue
            old = self._dialers.pop(peer, None)
            if old is not None:
                old.cancel()  # it moved: dial the new address
            self.peers[peer] = addr
            if self._nursery is not None:
                self._start_dialing(peer, addr)

    def _start_dialing(self, peer: int, addr: Address) -> None:
        send, receive = trio.open_memory_channel(QUEUE_MESSAGES)
        self._queues[peer] = send
        scope = self._dialers[peer] = trio.CancelScope()

        async def dial() -> None:
            with scope:
                await self._dial_loop(peer, addr, receive)

        self._nursery.start_soon(dial)

    def _proof(self, role: str, dialer: int, acceptor: int, acceptor_nonce: bytes, dialer_nonce: bytes) -> bytes:
        return handshake.proof(
            self._key,
            role,
            cluster_id=self.cluster_id,
            protocol=self.protocol,
            version=WIRE_VERSION,
            dialer=dialer,
            acceptor=acceptor,
            acceptor_nonce=acceptor_nonce,
            dialer_nonce=dialer_nonce,
        )

    # --- outgoing ---------------------------------------------------------------
    async def _dial_loop(self, peer: int, addr: Address, queue: trio.MemoryReceiveChannel) -> None:
        backoff = BACKOFF_MIN_S
        while True:
            up_s = await self._link(peer, addr, queue)
            if up_s is None:  # no proven link: what queued up would be stale on arrival
                self._drain_stale(peer, queue)
            elif up_s >= LINK_STABLE_S:
                backoff = BACKOFF_MIN_S
            # Equal jitter: nodes that lost a peer together do not redial it in lockstep.
            await trio.sleep(backoff * (0.5 + 0.5 * self._rng.random()))
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _link(self, peer: int, addr: Address, queue: trio.MemoryReceiveChannel) -> float | None:
        """One outgoing link: connect, prove both ways, pump the queue until it breaks.
        How long it was up once proven, or None if it never was."""
        try:
            stream = await trio.open_tcp_stream(*addr)
        except OSError:
            return None  # the peer is down: normal while it restarts, not worth a line
        if self.tls is not None:
            stream = trio.SSLStream(stream, self.tls.context.dial)
        async with stream:
            try:
                with trio.fail_after(self.handshake_timeout_s):
                    if self.tls is not None:
                        await self._dial_tls(stream, peer)
                    await self._dial_handshake(stream, peer)
            except (HandshakeError, CodecError, trio.TooSlowError, trio.BrokenResourceError, OSError) as exc:
                why = "no handshake in time" if isinstance(exc, trio.TooSlowError) else str(exc) or type(exc).__name__
                if self.tls is not None and isinstance(
                    exc, trio.BrokenResourceError
                ):  # e.g. it refused our certificate
                    why = f"TLS: {handshake_failure(exc)}"
                self._link_log.warning(peer, "cannot link to node %d at %s: %s", peer, format_address(addr), why)
                return None
            self.connected.add(peer)  # the one place an authenticated outgoing link comes up
            up_since = trio.current_time()
            why = "closed by the peer"
            link = _Link(stream) if self.tls is None else _TlsLink(stream)
            try:
                greeting = self.on_link_up(peer)
                if greeting:
                    await stream.send_all(b"".join(map(self.codec.encode, greeting)))
                async with trio.open_nursery() as tasks:
                    tasks.start_soon(self._pump, peer, link, queue)
                    # Peers never write on our link after the handshake, so any return is its
                    # end: notice it now rather than losing the next frames into a dead socket.
                    await stream.receive_some(1)
                    tasks.cancel_scope.cancel()
            except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as group:
                # The link's nursery wraps these in a group; they end this link, never the node.
                why = str(group.exceptions[0]) or type(group.exceptions[0]).__name__
            finally:
                self.connected.discard(peer)
                if self._links.get(peer) is link:
                    del self._links[peer]
                link.close()
            up_s = trio.current_time() - up_since
            self._link_log.info(peer, "link to node %d lost after %.1fs: %s", peer, up_s, why)
            return up_s

    async def _dial_tls(self, stream: trio.SSLStream, peer: int) -> None:
        """Mutual TLS with the peer we dial: its certificate chains to our CA and names it."""
        try:
            await stream.do_handshake()
        except trio.BrokenResourceError as exc:
            raise HandshakeError(f"TLS: {handshake_failure(exc)}") from None
        ids = member_ids(stream.getpeercert())
        if peer not in ids:
            raise HandshakeError(f"TLS: its certificate names {describe_ids(ids)}, not node {peer}")

    async def _dial_handshake(self, stream: trio.abc.Stream, peer: int) -> None:
        reader = FrameReader(HANDSHAKE_FRAME_BYTES)
        challenge = await self._receive_handshake(stream, reader)
        if not isinstance(challenge, Challenge):
            raise HandshakeError(f"expected a challenge, got {type(challenge).__name__}")
        problem = self._check_identity(challenge, challenge.nonce)
        if problem is None and challenge.node_id != peer:
            problem = f"it is node {challenge.node_id}, not node {peer}"
        if problem:
            raise HandshakeError(problem)
        nonce = handshake.new_nonce()
        mine = self._proof(handshake.DIALER, self.node_id, peer, challenge.nonce, nonce)
        await stream.send_all(
            self._handshake_codec.encode(
                Hello(self.cluster_id, self.node_id, self.protocol, WIRE_VERSION, nonce, mine, self._listen)
            )
        )
        welcome = await self._receive_handshake(stream, reader)
        if not isinstance(welcome, Welcome):
            raise HandshakeError(f"expected a welcome, got {type(welcome).__name__}")
        theirs = self._proof(handshake.ACCEPTOR, self.node_id, peer, challenge.nonce, nonce)
        if not handshake.proof_holds(theirs, welcome.proof):
            raise HandshakeError("it did not prove the cluster secret (is its cluster_secret the same as ours?)")

    async def _pump(self, peer: int, link: _Link, queue: trio.MemoryReceiveChannel) -> None:
        """Send what queued up, many frames per write; while there is nothing, the link is
        idle and send() writes to the socket itself (the module docstring)."""
        encode = self.codec.encode
        self._links[peer] = link
        while True:
            try:
                item = queue.receive_nowait()
            except trio.WouldBlock:
                link.idle = True  # until send() queues something (it clears this first)
                item = await queue.receive()
            link.idle = False
            if TRACING:
                traced = [item]
                stamp(message_hop("pump", item, peer), message_key(item))
            batch, size = [], 0
            while True:
                if item.__class__ is not _Rest:
                    frame = encode(item)
                elif item.link is link:
                    frame = item.data
                else:  # the start of its frame went out on a link that has failed since
                    frame = b""
                batch.append(frame)
                size += len(frame)
                if size >= SEND_BATCH_BYTES:
                    break
                try:
                    item = queue.receive_nowait()
                except trio.WouldBlock:
                    break
                if TRACING:
                    traced.append(item)
            await link.write_all(b"".join(batch))
            if TRACING:
                for item in traced:
                    stamp(message_hop("sent", item, peer), message_key(item))

    def _drain_stale(self, peer: int, queue: trio.MemoryReceiveChannel) -> None:
        """While a peer is unreachable, drop what queued up: it would be stale on arrival."""
        dropped = 0
        while True:
            try:
                queue.receive_nowait()
            except trio.WouldBlock:
                break
            dropped += 1
        if dropped:
            self.on_unreachable(peer)

    # --- incoming ---------------------------------------------------------------
    async def _serve_incoming(self, stream: trio.SocketStream) -> None:
        remote = _remote(stream)
        try:
            async with stream:
                if self.unproven >= self.max_unproven:
                    self._refuse(REFUSED_BUSY, remote, f"{self.unproven} connections are still in their handshake")
                    return
                reader = FrameReader(HANDSHAKE_FRAME_BYTES)
                conn: trio.abc.Stream = stream
                self.unproven += 1
                try:
                    with trio.move_on_after(self.handshake_timeout_s) as timer:
                        certified = None
                        if self.tls is not None:
                            conn = trio.SSLStream(stream, self.tls.context.accept, server_side=True)
                            certified = await _accept_tls(conn)
                        peer = await self._accept_handshake(conn, reader, certified)
                finally:
                    self.unproven -= 1
                if timer.cancelled_caught:
                    self._refuse(REFUSED_TIMEOUT, remote, f"no handshake within {self.handshake_timeout_s:.0f}s")
                    return
                reader.max_frame_bytes = MAX_FRAME_BYTES  # proven: full-size frames from here on
                if conn is not stream:  # TLS: every byte through the SSLStream
                    receive = partial(conn.receive_some, RECEIVE_BYTES)
                    raw = None
                else:
                    raw = socket.socket(fileno=stream.socket.fileno())  # shares the descriptor (detached below)
                    raw.setblocking(False)
                    receive = partial(_receive, raw)
                try:
                    while True:
                        data = await receive()
                        if not data:
                            return
                        self._accept(peer, reader.feed(data))
                        self.delivered()
                except CodecError as exc:
                    self._refuse(REFUSED_PROTOCOL, remote, f"node {peer} sent {exc}")
                finally:
                    if raw is not None:
                        raw.detach()
        except HandshakeError as exc:
            self._refuse(REFUSED_HANDSHAKE, remote, str(exc))
        except CodecError as exc:
            self._refuse(REFUSED_HANDSHAKE, remote, f"not a handshake: {exc}")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    async def _accept_handshake(
        self, stream: trio.abc.Stream, reader: FrameReader, certified: frozenset[int] | None = None
    ) -> int:
        """Challenge the dialer, check its proof, prove ourselves; the dialer's node id.
        `certified`: with TLS, the member ids the dialer's certificate names (its id must be one)."""
        nonce = handshake.new_nonce()
        await stream.send_all(
            self._handshake_codec.encode(Challenge(self.cluster_id, self.node_id, self.protocol, WIRE_VERSION, nonce))
        )
        hello = await self._receive_handshake(stream, reader)
        if not isinstance(hello, Hello):
            raise HandshakeError(f"expected a hello, got {type(hello).__name__}")
        problem = self._check_identity(hello, hello.nonce)
        if problem is None and certified is not None and hello.node_id not in certified:
            problem = f"TLS: claims to be node {hello.node_id} but its certificate names {describe_ids(certified)}"
        joining = None  # a dialer we do not know yet: a member added in entries we lack
        if problem is None and hello.node_id not in self.peers:
            joining = address_of(hello.listen) if self._authenticated and hello.node_id != self.node_id else None
            if joining is None:
                problem = f"node id {hello.node_id} is not a member"
        if problem:
            raise HandshakeError(problem)
        expected = self._proof(handshake.DIALER, hello.node_id, self.node_id, nonce, hello.nonce)
        if not handshake.proof_holds(expected, hello.proof):
            raise HandshakeError(f"claims to be node {hello.node_id} but did not prove the cluster secret")
        if reader.buffered:  # our dialers wait for the Welcome; whoever does not is not one of them
            raise HandshakeError(f"node {hello.node_id} sent data before the handshake was done")
        mine = self._proof(handshake.ACCEPTOR, hello.node_id, self.node_id, nonce, hello.nonce)
        await stream.send_all(self._handshake_codec.encode(Welcome(mine)))
        if joining is not None:
            log.info("node %d (at %s) proved the cluster secret: linking to it", hello.node_id, hello.listen)
            self.add_peers({hello.node_id: joining})
        return hello.node_id

    async def _receive_handshake(self, stream: trio.abc.Stream, reader: FrameReader) -> Any:
        """The next handshake message, read at most HANDSHAKE_FRAME_BYTES at a time."""
        while True:
            data = await stream.receive_some(HANDSHAKE_FRAME_BYTES)
            if not data:
                raise HandshakeError("connection closed during the handshake")
            frames = reader.feed(data)
            if len(frames) > 1:
                raise HandshakeError("sent more than one message before the handshake was done")
            if frames:
                return self._handshake_codec.decode(frames[0])

    def _check_identity(self, msg: Challenge | Hello, nonce: bytes) -> str | None:
        if msg.version != WIRE_VERSION:
            return f"wire version {msg.version} is not {WIRE_VERSION} (upgrade every member)"
        if msg.cluster_id != self.cluster_id:
            return f"it belongs to cluster {msg.cluster_id!r}, not {self.cluster_id!r}"
        if msg.protocol != self.protocol:
            return f"it runs protocol {msg.protocol!r}, not {self.protocol!r}"
        if len(nonce) != handshake.NONCE_BYTES:
            return f"its nonce has {len(nonce)} bytes, not {handshake.NONCE_BYTES}"
        return None

    def _accept(self, peer: int, frames: list[bytes]) -> None:
        for frame in frames:
            msg = self.codec.decode(frame)
            if getattr(msg, "src", None) != peer or getattr(msg, "dst", None) != self.node_id:
                raise CodecError(f"message {type(msg).__name__} that is not from node {peer} to node {self.node_id}")
            if TRACING:
                stamp(message_hop("recv", msg, peer), message_key(msg))
            self.deliver(msg)

    def _refuse(self, reason: str, remote: str, why: str) -> None:
        self.rejected[reason] += 1
        host = remote.rpartition(":")[0] or remote  # per host: a stranger's source ports are endless
        self._refusals.warning(host, "refusing peer connection from %s: %s", remote, why)


class _Link:
    """An outgoing link's socket, written without trio's stream (which passes through the
    scheduler on every send, even one the socket takes at once): a plain non-blocking
    socket on the same descriptor, detached again by close()."""

    __slots__ = ("sock", "idle")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.sock = socket.socket(fileno=stream.socket.fileno())
        self.sock.setblocking(False)
        # The pump holds nothing and its queue is empty: send() may write to the socket itself.
        self.idle = False

    def write(self, frame: bytes) -> int:
        """Write `frame` now, as far as the socket takes it: the bytes sent, 0 if the socket is
        full or failed (the pump, which sends what is left, meets the failure and ends the link)."""
        try:
            return self.sock.send(frame)
        except OSError:  # BlockingIOError included
            return 0

    async def write_all(self, data: bytes) -> None:
        """Write all of `data`, waiting for room when the socket is full. OSError ends the link."""
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self.sock)

    def close(self) -> None:
        self.sock.detach()  # the trio stream owns the descriptor and closes it


class _TlsLink:
    """An outgoing TLS link: written by its pump only, through the SSLStream (records are
    encrypted there), so it is never idle for send() to write to directly."""

    __slots__ = ("stream",)

    def __init__(self, stream: trio.SSLStream) -> None:
        self.stream = stream

    @property
    def idle(self) -> bool:
        return False

    @idle.setter
    def idle(self, value: bool) -> None:
        pass

    def write(self, frame: bytes) -> int:
        return 0

    async def write_all(self, data: bytes) -> None:
        await self.stream.send_all(data)

    def close(self) -> None:
        pass  # the SSLStream and its socket are closed by the link's `async with`


async def _accept_tls(stream: trio.SSLStream) -> frozenset[int]:
    """The TLS handshake of an incoming peer connection: the member ids its certificate names."""
    try:
        await stream.do_handshake()
    except trio.BrokenResourceError as exc:
        raise HandshakeError(f"TLS: {handshake_failure(exc)}") from None
    return member_ids(stream.getpeercert())


async def _receive(raw: socket.socket) -> bytes:
    """What the socket holds (up to RECEIVE_BYTES): without a trip through the scheduler
    when data is waiting, though with a checkpoint after it, so a peer that never stops
    sending cannot starve the other tasks; b"" at the end of the stream."""
    try:
        data = raw.recv(RECEIVE_BYTES)
    except BlockingIOError:
        pass
    else:
        await trio.lowlevel.checkpoint()
        return data
    while True:
        await trio.lowlevel.wait_readable(raw)
        try:
            return raw.recv(RECEIVE_BYTES)
        except BlockingIOError:
            continue


class _Rest:
    """The end of a frame whose start send() wrote on `link`: it may follow on that link only."""

    __slots__ = ("link", "data")

    def __init__(self, link: _Link, data: bytes) -> None:
        self.link, self.data = link, data


def _remote(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "?"
