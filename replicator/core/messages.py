"""Messages the node core sends between peers beside the engine's (their wire tags: runtime/messages.py).

The forwarding pair lets a client write to any node: a follower forwards a batch
of commands (a client's pipeline burst) to the leader in one message; the leader
proposes them with its own clock and answers them all in one reply once every
one is decided. `Incarnation` opens every outgoing link (replicator/incarnations.py).
The runtime's handshake messages and the table of every tag are in
runtime/messages.py: the core never sees a connection.
"""

from __future__ import annotations

from dataclasses import dataclass


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
