"""The leader's side of a membership change (replicator/members.py): every refusal
names its reason, and a change that is accepted changes exactly one member."""

from __future__ import annotations

import pytest

from replicator.members import ADD, PROMOTE, REMOVE, MemberChange, MembershipError, changed_membership, decode_change
from replicator.types import ClusterMember, MemberRole, Membership

CURRENT = Membership(
    (
        ClusterMember(1, MemberRole.VOTER, "10.0.0.1:7101", "10.0.0.1:7001"),
        ClusterMember(2, MemberRole.VOTER, "10.0.0.2:7102", "10.0.0.2:7002"),
        ClusterMember(3, MemberRole.LEARNER, "10.0.0.3:7103", "10.0.0.3:7003"),
    )
)


def change(c: MemberChange, current: Membership = CURRENT, match=None, last_index: int = 1000) -> Membership:
    return changed_membership(current, c, match=match or {}, last_index=last_index)


def test_add_remove_promote():
    added = change(MemberChange(ADD, 4, MemberRole.OBSERVER, "10.0.0.4:7104", "10.0.0.4:7004"))
    assert added.get(4) == ClusterMember(4, MemberRole.OBSERVER, "10.0.0.4:7104", "10.0.0.4:7004")
    assert added.without(4) == CURRENT
    assert change(MemberChange(REMOVE, 2)).voters == (1,)
    promoted = change(MemberChange(PROMOTE, 3), match={3: 990})
    assert promoted.voters == (1, 2, 3) and promoted.get(3).peer == "10.0.0.3:7103"


@pytest.mark.parametrize(
    "bad,why",
    [
        (MemberChange(ADD, 2, MemberRole.LEARNER, "h:1", "h:2"), "already a member"),
        (MemberChange(ADD, 4, MemberRole.VOTER, "h:1", "h:2"), "joins as a learner"),
        (MemberChange(ADD, 4, MemberRole.LEARNER, "10.0.0.1:7101", "h:2"), "already used by node 1"),
        (MemberChange(ADD, 4, MemberRole.LEARNER, "h:1", "10.0.0.2:7002"), "already used by node 2"),
        (MemberChange(ADD, 4, MemberRole.LEARNER, "h:1", "h:1"), "must differ"),
        (MemberChange(ADD, 4, MemberRole.LEARNER, "nohostport", "h:2"), "host:port"),
        (MemberChange(ADD, 4, MemberRole.LEARNER, "h:70000", "h:2"), "host:port"),
        (MemberChange(ADD, 4, MemberRole.LEARNER, "h" * 300 + ":1", "h:2"), "host:port"),
        (MemberChange(ADD, 0, MemberRole.LEARNER, "h:1", "h:2"), "node ids are"),
        (MemberChange(ADD, -(2**63), MemberRole.LEARNER, "h:1", "h:2"), "node ids are"),
        (MemberChange(REMOVE, 9), "not a member"),
        (MemberChange(PROMOTE, 1), "not a learner"),
        (MemberChange(PROMOTE, 3), "has not caught up"),
        (MemberChange("rename", 1), "unknown membership change"),
    ],
)
def test_refusals(bad, why):
    with pytest.raises(MembershipError, match=why):
        change(bad, match={3: 10})


def test_the_last_voter_stays():
    alone = Membership((ClusterMember(1, MemberRole.VOTER, "h:1", "h:2"),))
    with pytest.raises(MembershipError, match="last voter"):
        change(MemberChange(REMOVE, 1), alone)


@pytest.mark.parametrize("data", [b"", b"\xff", b"\x93\x01\x02\x03", b"\x92\xa3add\xc0"])
def test_garbage_is_not_a_change(data):
    with pytest.raises(MembershipError, match="not a membership change"):
        decode_change(data)
