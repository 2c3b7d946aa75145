"""Messages the runtime itself sends between peers (wire tags 64-95).

`Hello` opens every peer connection; the forwarding pair lets a client write
to any node: a follower forwards the command to the leader, which proposes it
with its own clock and answers once it is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

WIRE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Hello:
    cluster_id: str
    node_id: int
    protocol: str
    version: int = WIRE_VERSION


@dataclass(frozen=True, slots=True)
class ForwardRequest:
    src: int
    dst: int
    req_id: int
    machine: str  # a machine's name, or TRANSACTIONS (a whole MULTI/EXEC)
    command: bytes


@dataclass(frozen=True, slots=True)
class ForwardReply:
    src: int
    dst: int
    req_id: int
    result: bytes = b""  # codec.encode_result() of the state machine's result
    error: str = ""  # non-empty: the client-visible error text instead of a result
    unknown: bool = False  # the error means "outcome unknown", not "not done"


MESSAGE_TYPES: dict[int, type] = {64: Hello, 65: ForwardRequest, 66: ForwardReply}
