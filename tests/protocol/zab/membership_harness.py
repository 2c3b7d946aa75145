"""Membership changes in the ZAB engine harness: CONFIG entry data as a node builds
it, memberships in one line, and a ZabCluster that starts new members and changes the
configuration through its leader (tests/protocol/zab/test_zab_membership*.py)."""

from __future__ import annotations

import msgspec

from replicator.protocol import EngineConfig
from replicator.storage.memory_store import MemoryStore
from replicator.types import MEMBERSHIP, ClusterMember, MemberRole, Membership, Payload, Role
from tests.protocol.engine_harness import Node, ZabCluster

VOTER, LEARNER, OBSERVER = MemberRole.VOTER, MemberRole.LEARNER, MemberRole.OBSERVER


def config_data(membership: Membership, seq: int = 1) -> bytes:
    """A CONFIG entry's data, as the node builds it (types.config_entry_membership)."""
    return msgspec.msgpack.encode(Payload(0, 0, seq, MEMBERSHIP, membership.encode()))


def members(**roles: str) -> Membership:
    """members(n1=VOTER, n4=LEARNER) -> a Membership without addresses."""
    return Membership(tuple(sorted((ClusterMember(int(k[1:]), r) for k, r in roles.items()), key=lambda m: m.id)))


def voters(*ids: int, **others: str) -> Membership:
    return members(**{f"n{i}": VOTER for i in ids}, **others)


class MemberCluster(ZabCluster):
    """A ZabCluster that can start new members (with the membership they are told to
    start with) and change the configuration through the leader."""

    def start_member(self, i: int, membership: Membership) -> None:
        config = EngineConfig(node_id=i, voters=membership.voters, membership=membership)
        self.nodes[i] = Node(self.protocol, config, MemoryStore(), 1000 + i)
        self.ids = (*self.ids, i)

    def change(self, membership: Membership, seq: int = 1) -> int:
        leader = self.leader()
        assert leader is not None
        index = self[leader].propose_config(config_data(membership, seq))
        self.stabilize()
        return index

    def settle(self, group, limit: int = 300, ticking=None) -> int:
        """Tick `ticking` (default: `group`) until one of `group` leads and every node
        of it follows that leader's epoch, serving; return the leader."""
        group = tuple(group)
        for _ in range(limit):
            self.stabilize()
            leaders = [i for i in group if self[i].status().role is Role.LEADER]
            if len(leaders) == 1:
                lead = self[leaders[0]]
                if all(
                    self[i].leader == lead.id and self.serving(i) and self[i].accepted_epoch == lead.accepted_epoch
                    for i in group
                ):
                    return lead.id
            self.tick(nodes=ticking or group)
        raise AssertionError("no leader:\n" + "\n".join(f"{self[i]!r} {self[i].ensemble}" for i in group))

    def _lost(self, msg) -> str | None:
        if msg.dst not in self.nodes:
            return "down"  # a member no process was started for (yet)
        return super()._lost(msg)

    def committed_everywhere(self, index: int, group) -> bool:
        return all(self[i].log.committed >= index for i in group)
