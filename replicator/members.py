"""Membership changes as operators ask for them: add, remove, promote.

An operator's request (`replicator member add ...`, `REPLICATOR.MEMBER ADD ...`)
travels to the leader as a write of the reserved machine MEMBERSHIP whose
command is an encoded `MemberChange`; forwarding, deduplication and "outcome
unknown" are those of every write. Only the leader turns it into the whole new
Membership (`changed_membership`), against the configuration in force in its
own log, so two operators racing on two followers cannot each build on a stale
view; the engine then checks that the change is safe (protocol/membership.py).
Every refusal names its reason and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from replicator.config import address_of
from replicator.protocol.membership import MembershipChangeRefused
from replicator.types import ClusterMember, MemberRole, Membership, NodeId

ADD, REMOVE, PROMOTE = "add", "remove", "promote"
MAX_NODE_ID = (1 << 31) - 1
# A learner is promoted once it holds all but this many of the leader's entries: close
# enough that, as a voter, it does not hold commits back while it fetches the rest.
PROMOTE_LAG_ENTRIES = 64


class MemberChange(msgspec.Struct, array_like=True, frozen=True):
    """One operator request. `role`, `peer` and `resp` matter to ADD only."""

    op: str
    id: NodeId
    role: str = ""
    peer: str = ""
    resp: str = ""

    def encode(self) -> bytes:
        return _encoder.encode(self)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(MemberChange)


class MembershipError(MembershipChangeRefused):
    """A change that cannot be made as asked (an id in use, an unknown member...)."""


def decode_change(data: bytes) -> MemberChange:
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, TypeError, ValueError):
        raise MembershipError("not a membership change") from None


MAX_ADDRESS_CHARS = 261  # a DNS name (253) and ":65535"


def valid_address(text: str) -> bool:
    address = address_of(text) if len(text) <= MAX_ADDRESS_CHARS else None
    return address is not None and address[1] > 0


def changed_membership(
    current: Membership, change: MemberChange, *, match: Mapping[NodeId, int], last_index: int
) -> Membership:
    """The configuration `change` makes of `current`; raises MembershipError.

    `match` is the leader's view of what each peer holds (its progress), and
    `last_index` its log's end: a learner is promoted only once it is close."""
    node = change.id
    if not 1 <= node <= MAX_NODE_ID:
        raise MembershipError(f"node ids are 1..{MAX_NODE_ID}, not {node}")
    member = current.get(node)
    if change.op == ADD:
        if member is not None:
            raise MembershipError(f"node {node} is already a member ({member.role} at {member.peer or '?'})")
        if change.role not in (MemberRole.LEARNER, MemberRole.OBSERVER):
            raise MembershipError(
                f"a new member joins as a learner (promoted to voter once it has caught up) or an observer, "
                f"not as a {change.role or '?'}"
            )
        for what, address in (("peer", change.peer), ("resp", change.resp)):
            if not valid_address(address):
                raise MembershipError(f"the {what} address must be host:port, not {address!r}")
        for other in current.members:
            if change.peer in (other.peer, other.resp) or change.resp in (other.peer, other.resp):
                raise MembershipError(f"an address of node {node} is already used by node {other.id}")
        if change.peer == change.resp:
            raise MembershipError("the peer and resp addresses must differ")
        return current.replace(ClusterMember(node, change.role, change.peer, change.resp))
    if member is None:
        raise MembershipError(f"node {node} is not a member")
    if change.op == REMOVE:
        if current.voters == (node,):
            raise MembershipError(f"node {node} is the last voter: a cluster cannot remove its last voter")
        return current.without(node)
    if change.op == PROMOTE:
        if member.role != MemberRole.LEARNER:
            raise MembershipError(f"node {node} is a {member.role}, not a learner: only learners are promoted")
        held = match.get(node, 0)
        if held + PROMOTE_LAG_ENTRIES < last_index:
            raise MembershipError(f"node {node} has not caught up yet (it holds {held} of {last_index} entries)")
        return current.replace(ClusterMember(node, MemberRole.VOTER, member.peer, member.resp))
    raise MembershipError(f"unknown membership change {change.op!r}")


def promotable(current: Membership, match: Mapping[NodeId, int], last_index: int) -> list[NodeId]:
    """Learners close enough to the leader's log to become voters."""
    return [
        m.id
        for m in current.members
        if m.role == MemberRole.LEARNER and match.get(m.id, 0) + PROMOTE_LAG_ENTRIES >= last_index
    ]


__all__ = [
    "ADD",
    "PROMOTE",
    "REMOVE",
    "MemberChange",
    "MembershipError",
    "changed_membership",
    "decode_change",
    "promotable",
]
