"""Raft membership changes: learners, single-server changes in force on append, the
safety refusals, a removed leader, recovery of the configuration from the store."""

from __future__ import annotations

import pytest

from replicator.protocol.membership import MembershipChangeRefused
from replicator.types import ClusterMember, EntryKind, MemberRole, Membership, NotLeader, Role
from tests.protocol.engine_harness import RaftCluster, config_data

VOTER, LEARNER, OBSERVER = MemberRole.VOTER, MemberRole.LEARNER, MemberRole.OBSERVER


def members(**roles: str) -> Membership:
    """members(n1="voter", n4="learner") -> a Membership of those ids and roles."""
    return Membership(tuple(ClusterMember(int(k[1:]), r, f"127.0.0.1:{7100 + int(k[1:])}") for k, r in roles.items()))


def three() -> tuple[RaftCluster, int]:
    c = RaftCluster(3, seed=1)
    leader = c.elect()
    c.propose(leader, b"a")
    return c, leader


def test_learner_receives_the_log_without_counting_then_is_promoted():
    c, leader = three()
    with_learner = members(n1=VOTER, n2=VOTER, n3=VOTER, n4=LEARNER)
    c.add_node(4, with_learner)
    c.change_config(leader, with_learner)
    c.stabilize()
    c.propose(leader, b"b")
    assert c.applied(4) == [b"a", b"b"]
    assert c[leader].configs.latest == with_learner
    # A learner never counts: with two voters cut off nothing commits, although the
    # leader and the learner make two of four.
    others = [i for i in (1, 2, 3) if i != leader]
    c.partition((leader, 4), tuple(others))
    index = c[leader].propose(b"c")
    c.stabilize()
    assert c[leader].log.committed < index
    c.heal()
    c.tick(2)
    assert c[leader].log.committed >= index
    promoted = members(n1=VOTER, n2=VOTER, n3=VOTER, n4=VOTER)
    c.change_config(leader, promoted)
    c.stabilize()
    assert all(c[i].configs.latest == promoted for i in (1, 2, 3, 4))
    # Now four voters: the leader and node 4 alone no longer commit, three of four do.
    c.partition((leader, 4), tuple(others))
    index = c[leader].propose(b"d")
    c.stabilize()
    assert c[leader].log.committed < index
    c.heal()
    c.partition((leader, 4, others[0]), (others[1],))
    c.tick(2)
    assert c[leader].log.committed >= index


def test_grow_to_five_and_shrink_back_to_three():
    c, leader = three()
    config = {f"n{i}": VOTER for i in (1, 2, 3)}
    for new in (4, 5):
        config[f"n{new}"] = VOTER
        c.add_node(new, members(**config))
        c.change_config(leader, members(**config))
        c.stabilize()
        c.propose(leader, b"x%d" % new)
    assert len(c[leader].configs.latest.voters) == 5
    for gone in (5, 4):
        del config[f"n{gone}"]
        c.change_config(leader, members(**config))
        c.stabilize()
    assert c[leader].configs.latest.voters == (1, 2, 3)
    c.propose(leader, b"y")
    assert all(c.applied(i)[-1] == b"y" for i in (1, 2, 3))
    # The removed nodes never campaign again, and messages they send are dropped.
    c.crash(leader)
    c.tick(200, nodes=(4, 5))
    assert c[4].role is Role.FOLLOWER and c[5].role is Role.FOLLOWER
    assert not c[4]._promotable and not c[5]._promotable


def test_refusals_change_nothing():
    c, leader = three()
    follower = next(i for i in (1, 2, 3) if i != leader)
    with pytest.raises(NotLeader):
        c.change_config(follower, members(n1=VOTER, n2=VOTER))
    with pytest.raises(MembershipChangeRefused, match="one at a time"):
        c.change_config(leader, members(n1=VOTER, n2=VOTER, n3=VOTER, n4=VOTER, n5=VOTER))
    with pytest.raises(MembershipChangeRefused, match="at least one voter"):
        c.change_config(leader, members(n1=LEARNER, n2=LEARNER, n3=LEARNER))
    with pytest.raises(MembershipChangeRefused, match="not a membership"):
        c[leader].propose_config(b"\x93\x01\x02")
    # One change at a time: the second waits until the first is committed.
    others = [i for i in (1, 2, 3) if i != leader]
    c.isolate(leader)
    c.change_config(leader, members(n1=VOTER, n2=VOTER, n3=VOTER, n4=LEARNER))
    with pytest.raises(MembershipChangeRefused, match="in progress"):
        c.change_config(leader, members(n1=VOTER, n2=VOTER, n3=VOTER, n4=OBSERVER))
    # A new leader's log holds neither change: the old leader's pending one is
    # truncated away when it rejoins, and its configuration falls back.
    new_leader = c.elect(nodes=others)
    c.heal()
    c.stabilize()
    c.tick(30)
    assert c[leader].configs.latest.voters == (1, 2, 3)
    assert c[leader].configs.latest.get(4) is None
    assert c.elect() == new_leader or c[new_leader].role is Role.LEADER


def test_no_change_before_the_leaders_term_commits():
    c, leader = three()
    others = [i for i in (1, 2, 3) if i != leader]
    c.crash(leader)
    new = others[0]
    c[new]._hup(transfer=True)  # as TimeoutNow does: the other voter still honours the old lease
    # Deliver only the votes: the new leader's NOOP is not acknowledged yet.
    for _ in range(10):
        c.process_ready(new)
        c.process_ready(others[1])
        c.deliver(lambda m: type(m).__name__ in ("PreVote", "PreVoteResp", "RequestVote", "RequestVoteResp"))
    assert c[new].role is Role.LEADER
    with pytest.raises(MembershipChangeRefused, match="not committed an entry of its term"):
        c.change_config(new, members(n1=VOTER, n2=VOTER, n3=VOTER, n4=LEARNER))


def test_removing_the_leader_hands_over_after_commit():
    c, leader = three()
    rest = {f"n{i}": VOTER for i in (1, 2, 3) if i != leader}
    index = c.change_config(leader, members(**rest))
    c.stabilize()
    # It stays leader until the change commits (it counts the others, not itself), then
    # leaves, and a caught-up voter campaigns at once (TimeoutNow).
    assert c[leader].role is not Role.LEADER
    new = c.elect(nodes=[i for i in (1, 2, 3) if i != leader])
    assert new != leader and c[new].log.committed >= index
    c.propose(new, b"after")
    assert c.applied(new)[-1] == b"after"


def test_configuration_is_recovered_from_the_store_and_from_snapshots():
    c, leader = three()
    config = members(n1=VOTER, n2=VOTER, n3=VOTER, n4=LEARNER)
    c.add_node(4, config)
    c.change_config(leader, config)
    c.stabilize()
    follower = next(i for i in (1, 2, 3) if i != leader)
    c.crash(follower)
    c.restart(follower)  # its config file still says three voters: the store wins
    assert c[follower].configs.latest == config
    # A snapshot carries it too: compact a node's log behind one and restart.
    node = c.nodes[follower]
    c.stabilize()
    snap = node.take_snapshot()
    node.store.save_snapshot(snap)
    node.store.compact(snap.meta.index)
    c.crash(follower)
    c.restart(follower)
    assert c[follower].configs.latest == config
    assert any(e.kind is EntryKind.CONFIG for e in c[leader].log.entries(1, c[leader].log.last_index() + 1))


def test_forged_config_entries_are_ignored():
    c, leader = three()
    before = c[leader].configs.latest
    # A CONFIG entry that carries no membership changes nothing (and never crashes).
    c[leader].propose(b"noise")
    c.stabilize()
    assert c[leader].configs.latest == before
    bad = config_data(members(n1=VOTER)).replace(b"__membership__", b"__transactions")
    with pytest.raises(MembershipChangeRefused):
        c[leader].propose_config(bad)
