"""Messages the runtime itself sends between peers (wire tags 64-95).

The handshake opens every peer connection (transport.py tells the whole
exchange): the acceptor's `Challenge`, the dialer's `Hello` with its proof of
the cluster secret, the acceptor's `Welcome` with its own. Only then does the
dialer send messages. The forwarding pair lets a client write to any node: a
follower forwards a batch of commands (a client's pipeline burst) to the
leader in one message; the leader proposes them with its own clock and
answers them all in one reply once every one is decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from replicator.incarnations import CaughtUp

WIRE_VERSION = (
    3  # 2: forwarding carries batches; 3: both sides prove the cluster secret, and a link opens with Incarnation
)


@dataclass(frozen=True, slots=True)
class Challenge:
    """Acceptor -> dialer, first on every connection: who answers, and a fresh nonce to prove against."""

    cluster_id: str
    node_id: int
    protocol: str
    version: int
    nonce: bytes


@dataclass(frozen=True, slots=True)
class Hello:
    """Dialer -> acceptor: who dials, its own fresh nonce, and its proof (handshake.proof, role "dialer").

    `nonce` and `proof` default to empty so that a Hello of wire version 2 (which had
    neither) still decodes, and its sender is told its version is wrong rather than
    that its bytes are."""

    cluster_id: str
    node_id: int
    protocol: str
    version: int = WIRE_VERSION
    nonce: bytes = b""
    proof: bytes = b""


@dataclass(frozen=True, slots=True)
class Welcome:
    """Acceptor -> dialer, once the dialer's proof holds: the acceptor's proof (role "acceptor")."""

    proof: bytes


@dataclass(frozen=True, slots=True)
class ForwardRequest:
    src: int
    dst: int
    req_id: int
    machines: tuple[str, ...]  # per command: its machine, or TRANSACTIONS (a whole MULTI/EXEC)
    commands: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ForwardReply:
    src: int
    dst: int
    req_id: int
    # Per command of the request, in order: codec.encode_result() of the machine's
    # result, or, where `errors` holds a non-empty text, that client-visible error
    # (e.g. outcome unknown) instead.
    results: tuple[bytes, ...] = ()
    errors: tuple[str, ...] = ()
    retry: tuple[int, ...] = ()  # positions the leader did not propose (it stopped leading): send them again
    indexes: tuple[int, ...] = ()  # per command: the log index it was applied at (0 if none), for read-your-writes


@dataclass(frozen=True, slots=True)
class Incarnation:
    """The first message on every new outgoing link: the sender's data directory id
    (replicator/incarnations.py), so a peer notices a node that lost its disk."""

    src: int
    dst: int
    incarnation: int


# Every runtime tag, so that one table shows which are taken; before the handshake
# is done a connection may carry only HANDSHAKE_TYPES.
MESSAGE_TYPES: dict[int, type] = {
    64: Hello,
    65: ForwardRequest,
    66: ForwardReply,
    67: Challenge,
    68: Welcome,
    69: Incarnation,
    70: CaughtUp,
}
HANDSHAKE_TYPES: dict[int, type] = {64: Hello, 67: Challenge, 68: Welcome}
