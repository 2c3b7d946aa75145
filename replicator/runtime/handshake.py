"""Proofs of the cluster secret for the peer handshake (sans-I/O: bytes in, bytes out).

The exchange (transport.py carries it out; messages.py has the messages):

    acceptor -> dialer    Challenge(cluster, acceptor id, protocol, version, nonce_a)
    dialer   -> acceptor  Hello(cluster, dialer id, protocol, version, nonce_d,
                                proof("dialer", ..., nonce_a, nonce_d))
    acceptor -> dialer    Welcome(proof("acceptor", ..., nonce_a, nonce_d))

then the dialer sends messages and the acceptor only listens. A proof is
HMAC-SHA256 keyed by the secret over everything that names this one exchange:
both fresh nonces (so a recorded transcript proves nothing on a new
connection: replay), the role (so the acceptor's proof is never a valid
dialer's proof: reflection), both node ids, cluster id, protocol and wire
version (so a proof for one link, cluster or version is worthless on any
other). The secret itself never travels. Checks use hmac.compare_digest.

A node configured with `insecure_peers = true` and no secret proves with the
empty key: the same exchange, no protection, and it fails against any node
that has a secret (which is what an operator mixing the two should see).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import msgspec

NONCE_BYTES = 32
DIALER = "dialer"
ACCEPTOR = "acceptor"
_LABEL = "replicator peer handshake"  # domain separation: these MACs mean nothing elsewhere
_transcript = msgspec.msgpack.Encoder()


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def proof(
    key: bytes,
    role: str,
    *,
    cluster_id: str,
    protocol: str,
    version: int,
    dialer: int,
    acceptor: int,
    acceptor_nonce: bytes,
    dialer_nonce: bytes,
) -> bytes:
    """What `role` sends to show it holds `key` in the exchange named by the other arguments."""
    # msgpack of a tuple is unambiguous (lengths are encoded), unlike joined strings.
    message = _transcript.encode(
        (_LABEL, role, cluster_id, protocol, version, dialer, acceptor, acceptor_nonce, dialer_nonce)
    )
    return hmac.new(key, message, hashlib.sha256).digest()


def proof_holds(expected: bytes, received: bytes) -> bool:
    """Constant-time comparison: how long it takes says nothing of how much matched."""
    return hmac.compare_digest(expected, received)
