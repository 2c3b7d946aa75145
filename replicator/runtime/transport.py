"""TCP between peers: a handshake, then length-prefixed msgspec frames.

Each node dials one outgoing connection per peer (to send) and accepts the
peers' connections (to receive), so every link carries traffic one way and
needs no request/response pairing.

Rules:
- send() never blocks the engine task. Each peer has a bounded queue; when it
  is full the message is dropped (the protocols tolerate loss, etcd does the
  same) and the engine is told the peer is unreachable.
- A connection whose send fails is closed and dialled again with backoff; a
  half-written frame is never resumed (h11's send_failed).
- An incoming connection must open with a Hello naming our cluster, our
  protocol, the wire version and a known member, within HELLO_TIMEOUT_S. Every
  later message must come from that member and be addressed to us. Anything
  else (garbage, a stranger, a wrong cluster) drops that connection and
  nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import trio

from replicator.codec import Codec, CodecError, FrameReader
from replicator.config import Address
from replicator.runtime.messages import WIRE_VERSION, Hello

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 5.0
QUEUE_MESSAGES = 8192  # per peer
SEND_BATCH_BYTES = 4 << 20  # frames coalesced into one send_all
BACKOFF_MIN_S = 0.02
BACKOFF_MAX_S = 1.0


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
        on_unreachable: Callable[[int], None] = lambda peer: None,
        on_link_up: Callable[[int], tuple] = lambda peer: (),
    ) -> None:
        self.node_id = node_id
        self.cluster_id = cluster_id
        self.protocol = protocol
        self.codec = codec
        self.peers = {pid: addr for pid, addr in peers.items() if pid != node_id}
        self.deliver = deliver
        self.on_unreachable = on_unreachable
        self.on_link_up = on_link_up  # messages to send first on each new link to a peer
        self._queues: dict[int, trio.MemorySendChannel] = {}
        self.connected: set[int] = set()  # peers we currently have an outgoing link to
        self.rejected_connections = 0

    def send(self, msg: Any) -> None:
        queue = self._queues.get(msg.dst)
        if queue is None:
            log.warning("dropping message to unknown peer %s", msg.dst)
            return
        try:
            queue.send_nowait(msg)
        except trio.WouldBlock:
            self.on_unreachable(msg.dst)

    async def run(self, listen: Address, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, self._serve_incoming, listen[1], host=listen[0]))
            for peer, addr in self.peers.items():
                send, receive = trio.open_memory_channel(QUEUE_MESSAGES)
                self._queues[peer] = send
                nursery.start_soon(self._dial_loop, peer, addr, receive)
            task_status.started(listeners[0].socket.getsockname()[1])

    # --- outgoing ---------------------------------------------------------------
    async def _dial_loop(self, peer: int, addr: Address, queue: trio.MemoryReceiveChannel) -> None:
        backoff = BACKOFF_MIN_S
        hello = self.codec.encode(Hello(self.cluster_id, self.node_id, self.protocol, WIRE_VERSION))
        while True:
            try:
                stream = await trio.open_tcp_stream(*addr)
            except OSError:
                self._drain_stale(peer, queue)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = BACKOFF_MIN_S
            self.connected.add(peer)
            try:
                async with stream, trio.open_nursery() as link:
                    await stream.send_all(hello + b"".join(map(self.codec.encode, self.on_link_up(peer))))
                    link.start_soon(self._pump, stream, queue)
                    # Peers never write on our outgoing link, so any return is its end:
                    # notice it now rather than losing the next frames into a dead socket.
                    await stream.receive_some(1)
                    link.cancel_scope.cancel()
            except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as group:
                # The link's nursery wraps these in a group; they end this link, never the node.
                log.info("link to node %d lost: %s", peer, group.exceptions[0])
            finally:
                self.connected.discard(peer)

    async def _pump(self, stream: trio.SocketStream, queue: trio.MemoryReceiveChannel) -> None:
        encode = self.codec.encode
        while True:
            batch = [encode(await queue.receive())]
            size = len(batch[0])
            while size < SEND_BATCH_BYTES:
                try:
                    frame = encode(queue.receive_nowait())
                except trio.WouldBlock:
                    break
                batch.append(frame)
                size += len(frame)
            await stream.send_all(b"".join(batch))

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
        reader = FrameReader()
        try:
            async with stream:
                accepted = await self._handshake(stream, reader)
                if accepted is None:
                    self.rejected_connections += 1
                    return
                peer, frames = accepted
                while True:
                    self._accept(peer, frames)
                    data = await stream.receive_some(1 << 16)
                    if not data:
                        return
                    frames = reader.feed(data)
        except CodecError as exc:
            self.rejected_connections += 1
            log.warning("dropping peer connection from %s: %s", _remote(stream), exc)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    def _accept(self, peer: int, frames: list[bytes]) -> None:
        for frame in frames:
            msg = self.codec.decode(frame)
            if getattr(msg, "src", None) != peer or getattr(msg, "dst", None) != self.node_id:
                raise CodecError(f"message {type(msg).__name__} is not from node {peer} to node {self.node_id}")
            self.deliver(msg)

    async def _handshake(self, stream: trio.SocketStream, reader: FrameReader) -> tuple[int, list[bytes]] | None:
        """The peer's node id and any frames that came right behind its Hello."""
        frames: list[bytes] = []
        with trio.move_on_after(HELLO_TIMEOUT_S):
            while not frames:
                data = await stream.receive_some(1 << 16)
                if not data:
                    return None
                frames = reader.feed(data)
        if not frames:
            log.warning("peer connection from %s sent no handshake in %.0fs", _remote(stream), HELLO_TIMEOUT_S)
            return None
        hello = self.codec.decode(frames[0])
        problem = self._check_hello(hello)
        if problem:
            log.warning("refusing peer connection from %s: %s", _remote(stream), problem)
            return None
        return hello.node_id, frames[1:]

    def _check_hello(self, hello: Any) -> str | None:
        if not isinstance(hello, Hello):
            return f"expected a handshake, got {type(hello).__name__}"
        if hello.cluster_id != self.cluster_id:
            return f"it belongs to cluster {hello.cluster_id!r}, not {self.cluster_id!r}"
        if hello.protocol != self.protocol:
            return f"it runs protocol {hello.protocol!r}, not {self.protocol!r}"
        if hello.version != WIRE_VERSION:
            return f"wire version {hello.version} is not {WIRE_VERSION}"
        if hello.node_id not in self.peers:
            return f"node id {hello.node_id} is not a member"
        return None


def _remote(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "?"
