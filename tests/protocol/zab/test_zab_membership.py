"""Membership changes in ZAB (ZooKeeper 3.5 reconfig), driven through the engine harness:
learners added and promoted, voters added and removed (the leader too), the joint rule
(an entry at or after a pending configuration commits only with a quorum of both the
committed and the new ensemble), elections during a pending change, a pending change a
new leader truncates away, and the refusals of propose_config."""

from __future__ import annotations

from dataclasses import replace

import msgspec
import pytest

from replicator.protocol.membership import MembershipChangeRefused
from replicator.protocol.zab.election import PeerState
from replicator.protocol.zab.messages import Notification, Proposal
from replicator.protocol.zab.zxid import make_zxid
from replicator.types import ClusterMember, Entry, EntryKind, Membership, NotLeader, Payload, Role
from tests.protocol.zab.membership_harness import (
    LEARNER,
    OBSERVER,
    VOTER,
    MemberCluster,
    config_data,
    members,
    voters,
)


def test_add_a_learner_then_promote_it():
    c = MemberCluster(3, seed=1)
    leader = c.elect()
    c.propose(leader, b"a")
    with_learner = voters(1, 2, 3, n4=LEARNER)
    index = c.change(with_learner)
    # A learner counts in no quorum: the change commits on the voters alone.
    assert c.committed_everywhere(index, (1, 2, 3))
    assert c[leader].configs.latest == with_learner
    c.start_member(4, with_learner)
    c.settle((1, 2, 3, 4))
    assert c[4].state is PeerState.OBSERVING and c[4].leader == leader
    c.propose(leader, b"b")
    assert c.applied(4) == [b"a", b"b"]
    assert set(c[leader].status().progress) == {1, 2, 3, 4} - {leader}

    promoted = voters(1, 2, 3, 4)
    index = c.change(promoted, seq=2)
    assert c.committed_everywhere(index, (1, 2, 3, 4))
    assert c[4].state is PeerState.FOLLOWING and c[4].status().role is Role.FOLLOWER
    assert all(c[i].configs.latest == promoted for i in c.ids)
    # Four voters: three must ack. With two of them down nothing commits.
    others = [i for i in (1, 2, 3) if i != leader]
    c.crash(others[0])
    c.propose(leader, b"c")
    assert c.applied(4)[-1] == b"c"  # leader + 4 + the other: a quorum of four
    c.crash(others[1])
    i = c[leader].propose(b"d")
    c.stabilize()
    assert c[leader].log.committed < i


def test_grow_from_three_to_five_voters_and_shrink_back():
    c = MemberCluster(3, seed=2)
    leader = c.elect()
    for new, seq in ((4, 1), (5, 2)):
        current = c[leader].configs.latest
        grown = current.replace(ClusterMember(new, VOTER))
        c.start_member(new, grown)
        index = c.change(grown, seq)
        c.settle(c.ids)
        assert c.committed_everywhere(index, c.ids)
    assert c[leader].configs.latest.voters == (1, 2, 3, 4, 5)
    c.propose(leader, b"five")
    assert all(c.applied(i) == [b"five"] for i in c.ids)

    for gone, seq in ((5, 3), (4, 4)):
        leader = c.leader()
        shrunk = c[leader].configs.latest.without(gone)
        index = c.change(shrunk, seq)
        c.tick(c[gone].config.election_ticks)  # its leader stopped streaming to it: it looks, silent
        assert c[gone].state is PeerState.LOOKING and c[gone].status().extra["member"] == 0
        stay = tuple(i for i in c.ids if i in shrunk.ids())
        assert c.committed_everywhere(index, stay)
    leader = c.settle((1, 2, 3))
    c.propose(leader, b"three")
    assert all(c.applied(i)[-1] == b"three" for i in (1, 2, 3))
    assert c[leader].configs.latest.voters == (1, 2, 3)
    assert set(c[leader].status().progress) == {1, 2, 3} - {leader}


def test_a_removed_node_stops_campaigning():
    c = MemberCluster(3, seed=3)
    leader = c.elect()
    gone = next(i for i in (1, 2, 3) if i != leader)
    c.change(c[leader].configs.latest.without(gone))
    # It is told the commit, then nothing: once its leader is silent for an election
    # timeout it looks, and stays silent.
    assert c[gone].status().extra["member"] == 0
    c.tick(c[gone].config.election_ticks)
    assert c[gone].state is PeerState.LOOKING and c[gone].role is None
    sent = len(c.delivered)
    c.tick(5 * c[gone].config.election_ticks)
    assert not [m for m in c.delivered[sent:] if m.src == gone]  # no notification, nothing
    assert c[gone].state is PeerState.LOOKING
    # And the others drop what it might still send.
    before = c[leader].dropped_messages.get("not_member", 0)
    c[leader].step(Notification(gone, leader, 9, gone, 0, 0, 0, int(PeerState.LOOKING)))
    assert c[leader].dropped_messages["not_member"] == before + 1


def test_remove_the_leader_hands_over_and_leaves():
    c = MemberCluster(3, seed=4)
    old = c.elect()
    c.propose(old, b"a")
    rest = tuple(i for i in (1, 2, 3) if i != old)
    index = c.change(c[old].configs.latest.without(old))
    # The change committed with both quorums; the old leader handed over to a caught-up
    # voter at once: the others elect it within the finalize wait, no election timeout.
    assert c.committed_everywhere(index, (1, 2, 3))
    assert c[old].state is PeerState.LOOKING
    new = c.settle(rest, limit=c[old].config.election_ticks // 2)
    assert new in rest
    assert c[old].status().role is not Role.LEADER
    c.propose(new, b"b")
    assert all(c.applied(i) == [b"a", b"b"] for i in rest)
    c.tick(3 * c[old].config.election_ticks)
    assert c.leader() == new


def test_demote_the_leader_to_observer():
    c = MemberCluster(3, seed=5)
    old = c.elect()
    rest = tuple(i for i in (1, 2, 3) if i != old)
    demoted = c[old].configs.latest.replace(ClusterMember(old, OBSERVER))
    c.change(demoted)
    new = c.settle((1, 2, 3))
    assert new in rest and c[old].state is PeerState.OBSERVING and c[old].leader == new
    c.propose(new, b"x")
    assert c.applied(old) == [b"x"]


def test_a_change_is_refused_while_another_is_pending_and_before_the_epochs_first_commit():
    c = MemberCluster(3, seed=6)
    leader = c.elect()
    followers = [i for i in (1, 2, 3) if i != leader]
    for f in followers:
        c.isolate(f)
    c[leader].propose_config(config_data(voters(1, 2, 3, n4=LEARNER)))
    c.stabilize()
    assert c[leader].configs.pending(c[leader].log.committed)
    with pytest.raises(MembershipChangeRefused, match="not committed yet"):
        c[leader].propose_config(config_data(voters(1, 2, 3, n5=LEARNER), 2))
    with pytest.raises(NotLeader):
        c[followers[0]].propose_config(config_data(voters(1, 2, 3)))
    c.heal()
    c.tick(c[leader].config.election_ticks)  # the leader resends what the cut lost
    assert not c[leader].configs.pending(c[leader].log.committed)

    # A new leader in SYNCHRONIZATION (its NOOP not committed yet) refuses too.
    c2 = MemberCluster(3, seed=7)
    leader = c2.elect()
    c2.crash(leader)
    survivors = [i for i in (1, 2, 3) if i != leader]
    c2.drop = lambda m: type(m).__name__ == "Ack"  # no NEWLEADER ack reaches the new leader
    for _ in range(200):
        c2.tick(nodes=survivors)
        lead = [i for i in survivors if c2[i].state is PeerState.LEADING and c2[i]._established]
        if lead:
            break
    assert lead, "no new leader established"
    with pytest.raises(MembershipChangeRefused, match="has not committed an entry of its epoch"):
        c2[lead[0]].propose_config(config_data(voters(1, 2, 3, n4=LEARNER)))


@pytest.mark.parametrize("data", [b"", b"\x00garbage", msgspec.msgpack.encode(Payload(0, 0, 1, "kv", b"x"))])
def test_data_that_is_no_membership_is_refused(data):
    c = MemberCluster(3, seed=8)
    leader = c.elect()
    with pytest.raises(MembershipChangeRefused):
        c[leader].propose_config(data)
    with pytest.raises(MembershipChangeRefused, match="at least one voter"):
        c[leader].propose_config(config_data(members(n1=LEARNER, n2=OBSERVER)))
    with pytest.raises(MembershipChangeRefused, match=">= 1"):
        c[leader].propose_config(config_data(voters(0, 1, 2)))
    assert c[leader].configs.latest == voters(1, 2, 3)


def test_an_entry_after_a_pending_change_needs_a_quorum_of_both_ensembles():
    c = MemberCluster(3, seed=9)
    leader = c.elect()
    # {1,2,3} -> {leader,4,5}: two voters replaced at once. The new members start as
    # learners of it: never a quorum of their own before the leader reaches them.
    new = voters(leader, 4, 5)
    c.start_member(4, voters(1, 2, 3, n4=LEARNER, n5=LEARNER))
    c.start_member(5, voters(1, 2, 3, n4=LEARNER, n5=LEARNER))
    # 4 and 5 are cut off: the old ensemble acks everything, the new one has the leader only.
    for i in (4, 5):
        c.isolate(i)
    before = c[leader].propose(b"before")
    c.stabilize()
    assert c[leader].log.committed >= before  # the old quorum commits what precedes the change
    index = c[leader].propose_config(config_data(new))
    after = c[leader].propose(b"after")
    c.stabilize()
    assert all(c[i].log.last_index() >= after for i in (1, 2, 3))  # the old ensemble holds (acked) both
    assert c[leader].log.committed < index  # ... and that is not enough
    c.tick(3 * c[leader].config.election_ticks, nodes=(1, 2, 3))
    assert c[leader].log.committed < index
    c.heal()
    new_leader = c.settle((leader, 4, 5), ticking=c.ids)
    assert c[new_leader].log.committed >= after
    assert all(c[i].status().extra["member"] == 0 for i in (1, 2, 3) if i != leader)
    assert c.applied(5) == [b"before", b"after"]


def test_an_election_during_a_pending_change_needs_both_quorums():
    c = MemberCluster(3, seed=10)
    leader = c.elect()
    # 4 and 5 join as learners, then one change promotes both (two voters at once: ZK allows it).
    learners = voters(1, 2, 3, n4=LEARNER, n5=LEARNER)
    c.change(learners)
    c.start_member(4, learners)
    c.start_member(5, learners)
    c.settle(c.ids)
    for i in (4, 5):
        c.isolate(i)
    c[leader].propose_config(config_data(voters(1, 2, 3, 4, 5), 2))
    c.stabilize()  # 1, 2, 3 hold the change; 4 and 5 do not
    c.crash(leader)
    rest = [i for i in (1, 2, 3) if i != leader]
    c.tick(6 * c[rest[0]].config.election_ticks, nodes=rest)
    # Two of {1,2,3} is a quorum of the old ensemble, not of {1..5}: no leader.
    assert all(c[i].status().role is not Role.LEADER for i in rest)
    # 4 and 5 hold no vote of their own (learners in their log) but pass on the best one.
    c.heal()
    new = c.settle((*rest, 4, 5))
    assert new in rest
    assert all(c[i].configs.latest.voters == (1, 2, 3, 4, 5) for i in (*rest, 4, 5))
    assert c[4].state is PeerState.FOLLOWING
    # Their notifications before they heard a vote (no leader named) were answered, not
    # taken for forgeries.
    assert all("malformed" not in c[i].dropped_messages for i in rest)


def test_a_pending_change_truncated_away_by_a_new_leader():
    c = MemberCluster(3, seed=11)
    leader = c.elect()
    c.propose(leader, b"a")
    keeper, other = (i for i in (1, 2, 3) if i != leader)
    # The change reaches `keeper` only, and the leader dies before its own write.
    c.cut.add((leader, other))
    c[leader].propose_config(config_data(voters(1, 2, 3, n4=VOTER)))
    c.process_ready(leader, persist=False)
    c.deliver()
    c.stabilize()
    assert c[keeper].configs.latest.voters == (1, 2, 3, 4)  # in force on append
    assert leader in c.down
    # keeper is cut off; the old leader comes back without the change and, with `other`, goes on.
    c.heal()
    c.isolate(keeper)
    c.restart(leader)
    new = c.settle((leader, other))
    c.propose(new, b"b")
    c.heal()
    c.settle((1, 2, 3))  # keeper joins (a quorum of its committed ensemble follows) and is truncated
    assert c[keeper].configs.latest == voters(1, 2, 3)
    assert not c[keeper].configs.pending(c[keeper].log.committed)
    assert all(e.kind is not EntryKind.CONFIG for e in c.nodes[keeper].store.entries(1, c[keeper].log.last_index() + 1))
    assert c.applied(keeper) == [b"a", b"b"]


@pytest.mark.parametrize("lagging", [False, True], ids=["holds-the-commit-point", "lagging"])
def test_a_node_that_missed_a_commit_learns_it_from_a_notification(lagging):
    """{1..7} -> {1,2,3}: `other` holds the change but not its commit (nor, lagging,
    the entries after it) when 4..7 leave and the third voter is down. With the
    committed configuration a peer's notification names it counts {1,2,3} and elects;
    else it would wait forever for a quorum of {1..7}."""
    c = MemberCluster(7, seed=12)
    leader = c.elect()
    if leader != 1:
        c[leader].transfer_leadership(1)
        c.stabilize()
        leader = c.settle(c.ids)
    other, third = 2, 3
    c.drop = lambda m: m.dst == other and type(m).__name__ in ("Commit", "Ping")
    index = c.change(voters(1, 2, 3))
    if lagging:  # and the entries after it
        c.drop = lambda m: m.dst == other and type(m).__name__ in ("Commit", "Ping", "Proposal")
        c.propose(leader, b"x", b"y")
        assert c[leader].log.committed > c[other].log.last_index()
    assert c[leader].log.committed >= index
    assert c[other].configs.pending(c[other].log.committed)  # it holds the change, not the commit
    for gone in (third, 4, 5, 6, 7):
        c.crash(gone)
    c.drop = None
    c.crash(leader)
    c.restart(leader)
    new = c.settle((leader, other))
    assert c[other].ensemble.quorums == ((1, 2, 3),)
    c.propose(new, b"z")
    assert c.applied(other)[-1] == b"z"


def compact(c: MemberCluster, i: int, membership: Membership | None) -> None:
    """Node i snapshots its machine and compacts its log, the way a host does; the
    snapshot records `membership` (None: a host that records none)."""
    node = c.nodes[i]
    snap = node.take_snapshot()
    snap = type(snap)(replace(snap.meta, membership=membership), snap.chunks)
    node.store.save_snapshot(snap)
    node.store.compact(snap.meta.index)


@pytest.mark.parametrize("recorded", [True, False], ids=["host-recorded", "engine-filled"])
def test_a_member_that_catches_up_by_snapshot_takes_its_membership(recorded):
    c = MemberCluster(3, seed=13)
    leader = c.elect()
    c.propose(leader, b"a")
    with_learner = voters(1, 2, 3, n4=LEARNER)
    c.change(with_learner)
    c.propose(leader, b"b")
    compact(c, leader, with_learner if recorded else None)
    # Node 4 was told an outdated membership (no role for itself as a voter, say): the
    # snapshot's replaces it.
    c.start_member(4, voters(1, 2, 3, n4=OBSERVER))
    c.settle(c.ids)
    snaps = [rd.snapshot for rd in c.nodes[4].readies if rd.snapshot is not None]
    assert snaps and snaps[0].meta.membership == with_learner
    assert c[4].configs.latest == with_learner and c[4].state is PeerState.OBSERVING
    assert c.applied(4) == [b"a", b"b"]


def test_a_restarted_member_reads_its_membership_from_its_store():
    c = MemberCluster(3, seed=14)
    c.elect()
    learner = voters(1, 2, 3, n4=LEARNER)
    c.change(learner)
    c.start_member(4, learner)
    c.settle(c.ids)
    c.change(voters(1, 2, 3, 4), seq=2)
    c.settle(c.ids)
    # Restarted with the file it was first started with (a learner there): its store says voter.
    c.crash(4)
    c.restart(4)
    assert c[4].configs.latest == voters(1, 2, 3, 4) and c[4]._participant
    c.settle(c.ids)
    assert c[4].state is PeerState.FOLLOWING
    # A removed node restarted with its old file stays out.
    c.change(voters(1, 2, 4), seq=3)
    c.crash(3)
    c.restart(3)
    assert c[3].status().extra["member"] == 0
    sent = len(c.delivered)
    c.tick(3 * c[3].config.election_ticks)
    assert not [m for m in c.delivered[sent:] if m.src == 3]
    assert c.leader() in (1, 2, 4)


def test_a_removed_node_that_missed_the_commit_learns_it_and_falls_silent():
    c = MemberCluster(3, seed=15)
    leader = c.elect()
    gone = next(i for i in (1, 2, 3) if i != leader)
    c.drop = lambda m: m.dst == gone and type(m).__name__ in ("Commit", "Ping")
    c.change(c[leader].configs.latest.without(gone))
    assert c[gone].configs.pending(c[gone].log.committed) and c[gone].role is not None
    c.drop = None
    # It times out on its leader (which dropped it) and looks: a member answers with its
    # committed configuration, the entry it holds itself.
    c.tick(2 * c[gone].config.election_ticks)
    assert c[gone].status().extra["member"] == 0
    sent = len(c.delivered)
    c.tick(3 * c[gone].config.election_ticks)
    assert not [m for m in c.delivered[sent:] if m.src == gone]


def test_hostile_membership_input_changes_nothing():
    c = MemberCluster(3, seed=16)
    leader = c.elect()
    c.propose(leader, b"a")
    follower = next(i for i in (1, 2, 3) if i != leader)
    f = c[follower]
    epoch = c[leader].current_epoch
    last = f.log.last_index()
    session = f._session
    before = f.configs.latest
    # A CONFIG entry that decodes to no membership (garbage, another machine, no voters): kept
    # in the log as the leader sent it, ignored as a configuration.
    bad = [
        b"\xff\x00",
        msgspec.msgpack.encode(Payload(0, 0, 1, "kv", voters(1).encode())),
        config_data(members(n1=LEARNER)),
    ]
    entries = tuple(
        Entry(last + 1 + k, epoch, data, EntryKind.CONFIG, make_zxid(epoch, 100 + k)) for k, data in enumerate(bad)
    )
    f.step(Proposal(leader, follower, epoch, entries))
    c.stabilize()
    assert f.configs.latest == before and f.log.last_index() == last + len(bad)
    assert f._session == session
    # Notifications that claim a committed configuration we do not hold, or out of range.
    n = Notification(leader, follower, 1, leader, 0, 0, 0, int(PeerState.LEADING), last + 1, 12345)
    f.step(n)
    n = Notification(leader, follower, 1, leader, 0, 0, 0, int(PeerState.LEADING), 1 << 70, 0)
    f.step(n)
    assert f.dropped_messages["malformed"] == 1
    assert f.configs.latest == before


def test_a_member_back_from_a_long_absence_joins_a_leader_it_never_heard_of():
    """3 is down while 4 joins, is promoted, takes the lead and 1 leaves: back, 3's
    configuration is {1,2,3}, of which only 2 is left, following 4 - a node 3 never
    knew. 2's notification vouches for 4, 4 calls 3, 3 joins it and catches up."""
    c = MemberCluster(3, seed=17)
    leader = c.elect()
    c.crash(3)
    if leader == 3:
        leader = c.settle((1, 2))
    learner = voters(1, 2, 3, n4=LEARNER)
    c.change(learner)
    c.start_member(4, learner)
    c.settle((1, 2, 4))
    c.change(voters(1, 2, 3, 4), seq=2)
    c[c.leader()].transfer_leadership(4)
    c.stabilize()
    assert c.settle((1, 2, 4)) == 4
    c.change(voters(2, 3, 4), seq=3)
    c.settle((2, 4), ticking=(1, 2, 4))
    c.propose(4, b"while 3 was away")
    c.restart(3)
    assert c[3].configs.latest == voters(1, 2, 3) and 4 not in c[3].members
    assert c.settle((2, 3, 4), ticking=(1, 2, 3, 4)) == 4
    assert c[3].configs.latest == voters(2, 3, 4) and c.applied(3)[-1] == b"while 3 was away"
