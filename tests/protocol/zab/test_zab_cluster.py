"""Several ZabEngines over MemoryStores, driven in the driver's order (tests/protocol/engine_harness.py):
elections, the named crash-recovery scenarios of ZAB, observers, reads, restarts,
and a randomized fault run over many seeds."""

from __future__ import annotations

import os

import pytest

from replicator.protocol.zab.election import PeerState
from replicator.protocol.zab.engine import ZabPhase
from replicator.protocol.zab.messages import (
    Ack,
    Diff,
    Inform,
    Notification,
    Proposal,
    Snap,
    SyncResp,
    Trunc,
)
from replicator.protocol.zab.zxid import make_zxid
from replicator.types import EntryKind, NotLeader, ReadState, Role
from tests.protocol.engine_harness import ZabCluster
from tests.protocol.soak import soak


def log_data(c: ZabCluster, i: int) -> list[bytes]:
    store = c.nodes[i].store
    return [e.data for e in store.entries(store.first_index(), store.last_index() + 1) if e.kind is EntryKind.NORMAL]


# --- elections --------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 3, 5])
@pytest.mark.parametrize("seed", range(3))
def test_exactly_one_leader_and_everyone_in_broadcast(n, seed):
    c = ZabCluster(n, seed=seed)
    leader = c.elect()
    assert [c[i].status().role for i in c.ids].count(Role.LEADER) == 1
    assert {c[i].accepted_epoch for i in c.ids} == {c[i].current_epoch for i in c.ids} == {1}
    assert leader == n  # empty logs: the highest server id wins


def test_the_node_with_the_newest_history_wins():
    c = ZabCluster(3)
    c.elect()  # 3 leads epoch 1
    c.propose(3, b"a")
    c.crash(1)
    c.propose(3, b"b")  # 2 and 3 hold b; 1 does not
    c.crash(3)
    c.restart(1)
    leader = c.elect(nodes=(1, 2))
    assert leader == 2  # 2 beats 1: same currentEpoch, newer zxid (3, with the newest, is down)
    assert c.applied(1) == c.applied(2) == [b"a", b"b"]


def test_same_seed_same_run():
    def run(seed):
        c = ZabCluster(5, seed=seed)
        leader = c.elect()
        c.propose(leader, b"a", b"b")
        return c.delivered

    assert run(4) == run(4)


def test_a_minority_cannot_commit_and_a_cut_off_leader_steps_down():
    c = ZabCluster(3)
    leader = c.elect()
    c.isolate(leader)
    index = c[leader].propose(b"lost")
    c.tick(2 * c[leader].config.election_ticks + 1)
    assert c[leader].log.committed < index and c.applied(leader) == []
    assert c[leader].state is PeerState.LOOKING  # no false leader
    new = c.leader()
    assert new is not None and new != leader and c[new].accepted_epoch == 2


def test_followers_of_a_dead_leader_elect_a_new_one():
    c = ZabCluster(5, seed=2)
    old = c.elect()
    c.propose(old, b"a")
    c.crash(old)
    new = c.elect()
    assert new != old and c[new].accepted_epoch == 2
    c.propose(new, b"b")
    assert all(c.applied(i) == [b"a", b"b"] for i in c.ids if i != old)


# --- the named scenarios ------------------------------------------------------------------------------
def test_scenario_1_a_proposal_only_the_crashed_leader_wrote_is_truncated():
    """The leader writes a proposal to its own log and dies before anyone sees it;
    when it comes back, TRUNC drops it (ZAB requirement 2: discard what only the
    old leader proposed)."""
    c = ZabCluster(3)
    old = c.elect()
    c.propose(old, b"a")
    c[old].propose(b"lost")
    c.isolate(old)
    c.process_ready(old)  # the entry is on its disk ...
    c.crash(old)
    c.deliver()  # ... but its PROPOSAL is lost with it
    c.heal()
    assert log_data(c, old) == [b"a", b"lost"]
    new = c.elect(nodes=[i for i in c.ids if i != old])
    c.propose(new, b"b")
    c.restart(old)
    c.elect()
    truncs = c.sent(Trunc, dst=old)
    assert truncs and truncs[-1].index == 2  # truncated back to "a", the last entry it shares
    assert log_data(c, old) == [b"a", b"b"]
    assert all(c.applied(i) == [b"a", b"b"] for i in c.ids)


def test_scenario_2_a_proposal_acked_by_a_quorum_survives_the_leaders_crash():
    """The leader got a quorum of ACKs but died before sending COMMIT: the next
    leader has the proposal (FLE picks the newest history) and its NOOP commits it
    (ZAB requirement 1)."""
    c = ZabCluster(3)
    old = c.elect()
    c.propose(old, b"a")
    c[old].propose(b"x")
    c.process_ready(old)  # PROPOSAL out, written locally
    c.deliver()  # the followers get it
    for i in c.ids:
        if i != old:
            c.process_ready(i)  # written durably, ACK out
    c.deliver()  # the leader has its quorum of ACKs ...
    assert c[old].log.committed == 3 and c.applied(old) == [b"a"]
    c.crash(old)  # ... and dies before any COMMIT or apply
    assert all(c[i].log.committed == 2 for i in c.ids if i != old)
    new = c.elect(nodes=[i for i in c.ids if i != old])
    assert c.applied(new) == [b"a", b"x"]
    c.restart(old)
    c.elect()
    assert all(c.applied(i) == [b"a", b"x"] for i in c.ids)
    assert all(c[i].log.entries(3, 4)[0].data == b"x" for i in c.ids)  # same index everywhere


def test_scenario_3_a_follower_inside_the_window_gets_a_diff():
    c = ZabCluster(3)
    leader = c.elect()
    lagging = 1
    c.propose(leader, b"a")
    c.crash(lagging)
    c.propose(leader, b"b", b"c")
    c.restart(lagging)
    c.elect()
    diffs = c.sent(Diff, dst=lagging)
    assert diffs and (diffs[-1].index, diffs[-1].log_epoch) == (2, 1)  # its last entry: "a"
    assert not c.sent(Trunc, dst=lagging) and not c.sent(Snap, dst=lagging)
    assert [e.index for m in c.sent(Proposal, dst=lagging) for e in m.entries][-2:] == [3, 4]
    assert c.applied(lagging) == [b"a", b"b", b"c"]


def test_scenario_4_a_follower_behind_the_window_gets_the_snapshot_then_a_diff():
    c = ZabCluster(3)
    leader = c.elect()
    lagging = 1
    c.crash(lagging)
    c.propose(leader, *(b"%d" % i for i in range(12)))
    node = c.nodes[leader]
    snap = node.take_snapshot()  # a host snapshot: it records no zxid
    node.store.save_snapshot(snap)
    node.store.compact(snap.meta.index)
    c.propose(leader, b"after")  # beyond the snapshot: sent as a diff
    c.restart(lagging)
    c.elect()
    chunks = c.sent(Snap, dst=lagging)
    assert [m.chunk_index for m in chunks] == list(range(12))  # one message per chunk
    assert snap.meta.index == 13 and snap.meta.zxid == 0
    assert chunks[0].meta.zxid == make_zxid(1, 12)  # the leader fills it in, from the entry after it
    assert c.nodes[lagging].store.snapshot_meta().index == snap.meta.index
    assert c.applied(lagging) == c.applied(leader) == [*(b"%d" % i for i in range(12)), b"after"]
    c.propose(leader, b"more")
    assert c.applied(lagging)[-1] == b"more"


def test_scenario_5_an_old_leader_with_extra_proposals_gets_trunc_then_diff():
    c = ZabCluster(5, seed=1)
    old = c.elect()
    c.propose(old, b"a")
    c.isolate(old)
    for i in range(4):
        c[old].propose(b"stale%d" % i)  # written on its own disk only
    c.stabilize()
    others = [i for i in c.ids if i != old]
    new = c.elect(nodes=others)
    c.propose(new, b"b", b"c")
    c.heal()
    c.elect()  # the old leader lost its quorum, went LOOKING, and joins the new one
    truncs = c.sent(Trunc, dst=old)
    assert truncs and truncs[-1].index == 2 and truncs[-1].log_epoch == 1
    assert log_data(c, old) == log_data(c, new) == [b"a", b"b", b"c"]
    assert all(c.applied(i) == [b"a", b"b", b"c"] for i in c.ids)


# --- snapshots, restarts -------------------------------------------------------------------------------
def test_snapshot_survives_a_lost_chunk():
    c = ZabCluster(3, seed=8)
    leader = c.elect()
    c.crash(1)
    c.propose(leader, *(b"%d" % i for i in range(12)))
    node = c.nodes[leader]
    snap = node.take_snapshot()
    node.store.save_snapshot(snap)
    node.store.compact(snap.meta.index)
    lost = []

    def drop_chunk_5_once(m):
        if type(m) is Snap and m.chunk_index == 5 and not lost:
            lost.append(m)
            return True
        return False

    c.drop = drop_chunk_5_once
    c.restart(1)
    c.elect()
    c.tick(5)
    assert lost and c.applied(1) == c.applied(leader)


def test_restart_recovers_epochs_and_log_and_everyone_restarting_loses_nothing():
    c = ZabCluster(3, seed=10)
    leader = c.elect()
    c.propose(leader, b"a", b"b", b"c")
    follower = 1 if leader != 1 else 2
    before = (c[follower].accepted_epoch, c[follower].current_epoch, c[follower].log.last_index())
    c.crash(follower)
    c.restart(follower)
    assert (c[follower].accepted_epoch, c[follower].current_epoch, c[follower].log.last_index()) == before
    assert c[follower].log.committed == 4  # the commit index is in the hard state too
    c.elect()
    assert c.applied(follower) == [b"a", b"b", b"c"]
    for i in c.ids:
        c.crash(i)
    for i in c.ids:
        c.restart(i)
    leader = c.elect()
    assert c[leader].accepted_epoch == 2
    c.propose(leader, b"d")
    assert all(c.applied(i) == [b"a", b"b", b"c", b"d"] for i in c.ids)


# --- observers -------------------------------------------------------------------------------------------
def test_observer_receives_committed_data_but_never_votes_or_counts():
    c = ZabCluster(3, observers=1, seed=11)
    leader = c.elect()
    assert c[4].status().role is Role.OBSERVER and c[4].leader == leader
    c.propose(leader, b"a")
    assert c.applied(4) == [b"a"]
    # In BROADCAST it gets INFORM (committed entries), never a PROPOSAL it could ack.
    assert [e.data for m in c.sent(Inform, dst=4) for e in m.entries] == [b"a"]
    assert not [m for m in c.sent(Proposal, dst=4) if any(e.data for e in m.entries)]
    # It never votes for itself (it only passes on the best vote it heard: election.py) ...
    assert all(m.src != 4 or m.leader != 4 for m in c.sent(Notification))
    assert all(4 not in c[i]._election.recv for i in (1, 2, 3))  # nor is it counted
    c[4].read_index(1)
    c.stabilize()
    assert c.nodes[4].reads == [ReadState(1, c[leader].log.committed)]
    for i in (1, 2, 3):
        if i != leader:
            c.crash(i)
    index = c[leader].propose(b"b")
    c.stabilize()
    assert c[leader].log.committed < index  # leader + observer is no quorum
    assert c[4].log.last_index() == index - 1  # INFORM: it never holds what is not committed
    c.tick(2 * c[leader].config.election_ticks + 1)
    assert c[leader].state is PeerState.LOOKING  # the observer kept no false leader alive


# --- reads ------------------------------------------------------------------------------------------------
def test_read_barrier_on_leader_and_through_a_follower():
    c = ZabCluster(3, seed=5)
    leader = c.elect()
    (index,) = c.propose(leader, b"x")
    follower = 1 if leader != 1 else 2
    c[leader].read_index(10)
    c[follower].read_index(20)
    c.stabilize()
    assert c.nodes[leader].reads == [ReadState(10, index)]
    assert c.nodes[follower].reads == [ReadState(20, index)]
    assert c.sent(SyncResp, dst=follower)
    assert c.nodes[follower].applied_index >= index


def test_read_waits_for_the_new_leaders_noop():
    c = ZabCluster(3, seed=5)
    old = c.elect()
    c.propose(old, b"x")
    c.crash(old)
    c.drop = lambda m: type(m) is Ack  # the new leader cannot reach BROADCAST
    for _ in range(60):
        c.tick()
        # Established but not serving: it does not report itself leader yet.
        new = next((i for i in c.ids if i not in c.down and c[i]._established), None)
        if new is not None:
            break
    assert new is not None and c[new].phase is ZabPhase.SYNCHRONIZATION
    assert c.leader() is None
    c[new].read_index(30)
    c.stabilize()
    assert c.nodes[new].reads == []
    c.drop = None
    c.tick(3)
    assert c.nodes[new].reads == [ReadState(30, c[new].status().extra["noop_index"])]


def test_a_leader_that_cannot_confirm_its_quorum_serves_no_read():
    c = ZabCluster(3, seed=6)
    leader = c.elect()
    c.isolate(leader)
    c[leader].read_index(1)
    c.tick(2)
    assert c.nodes[leader].reads == []


def test_status_everywhere():
    c = ZabCluster(3, observers=1)
    leader = c.elect()
    c.propose(leader, b"a")
    for i in c.ids:
        st = c[i].status()
        assert (st.epoch, st.commit, st.applied, st.last_index) == (1, 2, 2, 2)
        assert st.extra["phase"] == "broadcast" and st.extra["zxid_epoch"] == 1 and st.extra["zxid_counter"] == 1
    assert set(c[leader].status().progress) == set(c.ids) - {leader}
    with pytest.raises(NotLeader) as exc:
        c[1 if leader != 1 else 2].propose(b"x")
    assert exc.value.leader == leader


# --- randomized fault run ----------------------------------------------------------------------------------
SOAK_SEEDS = int(os.environ.get("ZAB_SOAK_SEEDS", "16"))


@pytest.mark.parametrize("seed", range(SOAK_SEEDS))
def test_random_faults_keep_the_safety_invariants(seed):
    soak(ZabCluster, seed, steps=1500, election_ticks=10)


def test_the_soak_does_real_work():
    """Over the soak seeds, leaders are established and commit during the faults."""
    proposed = [soak(ZabCluster, seed, steps=1500, election_ticks=10).stats["proposed"] for seed in range(4)]
    assert sum(proposed) > 40, proposed
