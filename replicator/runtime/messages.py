"""The handshake messages, and the table of every non-engine wire tag (64-95).

The handshake opens every peer connection (transport.py tells the whole
exchange): the acceptor's `Challenge`, the dialer's `Hello` with its proof of
the cluster secret, the acceptor's `Welcome` with its own. Only then does the
dialer send messages. The node core's own messages (forwarding, incarnations)
are defined in core/messages.py; their tags are listed here, with the
handshake's, so that one table shows which are taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from replicator.core.messages import ForwardReply, ForwardRequest, Incarnation
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
    # Where the dialer takes peer connections ("host:port"): a member added in entries the
    # acceptor has not received yet is otherwise unknown to it, and could get no answer.
    listen: str = ""


@dataclass(frozen=True, slots=True)
class Welcome:
    """Acceptor -> dialer, once the dialer's proof holds: the acceptor's proof (role "acceptor")."""

    proof: bytes


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
