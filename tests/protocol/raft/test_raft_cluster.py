"""Several RaftEngines over MemoryStores, driven in the driver's order (tests/protocol/engine_harness.py)."""

from __future__ import annotations

import pytest

from replicator.protocol.progress import ProgressState
from replicator.protocol.raft.messages import (
    AppendEntriesResp,
    InstallSnapshot,
    PreVote,
    ReadIndexReq,
    RequestVote,
    TimeoutNow,
)
from replicator.types import EntryKind, NotLeader, ReadState, Role
from tests.protocol.engine_harness import RaftCluster
from tests.protocol.soak import soak


# --- elections ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [3, 5])
@pytest.mark.parametrize("seed", range(3))
def test_ticks_elect_exactly_one_leader(n, seed):
    c = RaftCluster(n, seed=seed)
    leader = c.elect()
    assert [c[i].role for i in c.ids].count(Role.LEADER) == 1
    assert {c[i].term for i in c.ids} == {c[leader].term}


def test_single_node_elects_itself_and_commits_after_its_own_write():
    c = RaftCluster(1)
    c.elect()
    index = c[1].propose(b"x")
    first = c.process_ready(1)
    assert [e.index for e in first.entries] == [index] and first.committed == ()
    second = c.process_ready(1)
    assert [e.data for e in second.committed] == [b"x"]
    assert c.process_ready(1) is None


def test_same_seed_same_run():
    def run(seed):
        c = RaftCluster(5, seed=seed)
        c.elect()
        c.propose(c.leader(), b"a", b"b")
        return c.delivered

    assert run(4) == run(4)
    assert run(4) != run(5)


# --- replication -------------------------------------------------------------------------------
def test_replication_and_commit_on_every_node():
    c = RaftCluster(5, seed=1)
    leader = c.elect()
    c.propose(leader, *(b"%d" % i for i in range(50)))
    for i in c.ids:
        assert c.applied(i) == [b"%d" % i for i in range(50)]
        assert c[i].log.committed == 51  # NOOP + 50


def test_a_minority_cannot_commit():
    c = RaftCluster(3)
    c.campaign(1)
    c.partition((1,), (2, 3))
    index = c[1].propose(b"lost")
    c.stabilize()
    assert c[1].log.committed < index and c.applied(1) == []


def test_conflicting_log_is_repaired_with_few_round_trips():
    """An old leader's uncommitted tail (50 entries of term 1) is replaced by the new
    leader's log; the conflict hint skips the whole tail at once."""
    c = RaftCluster(3, seed=2)
    c.campaign(1)
    c.propose(1, b"a", b"b")
    c.isolate(1)
    for i in range(50):
        c[1].propose(b"stale%d" % i)
    c.stabilize()
    first = c.elect(nodes=(2, 3))
    c.propose(first, *(b"new%d" % i for i in range(30)))
    leader = 5 - first
    c[first].transfer_leadership(leader)  # the new leader's probes start past the stale tail
    c.stabilize()
    assert c.leader() == leader
    c.heal()
    before = len(c.delivered)
    c.elect()
    c.stabilize()
    rejections = [m for m in c.delivered[before:] if type(m) is AppendEntriesResp and m.reject and m.src == 1]
    assert 1 <= len(rejections) <= 2
    assert c.applied(1) == c.applied(leader) == [b"a", b"b", *(b"new%d" % i for i in range(30))]
    assert all(e.kind is not EntryKind.NORMAL or not e.data.startswith(b"stale") for e in c[1].log.entries(1, 36))


# --- pre-vote and check-quorum -----------------------------------------------------------------
def test_pre_vote_keeps_a_partitioned_node_from_disrupting_the_leader():
    c = RaftCluster(3, seed=3)
    c.campaign(1)
    term = c[1].term
    c.isolate(3)
    c.tick(60)
    assert c[3].term == term  # pre-votes fail: its term never moves
    assert any(type(m) is PreVote and m.src == 3 for m in c.queue + c.delivered) or c[3].role is Role.PRE_CANDIDATE
    c.heal()
    c.tick(5)
    assert c.leader() == 1 and c[1].term == term and c[3].leader == 1


def test_without_pre_vote_a_partitioned_node_does_disrupt():
    """The contrast: with neither pre-vote nor check-quorum, the rejoining node's inflated
    term deposes a healthy leader (thesis §9.6)."""
    c = RaftCluster(3, seed=3, pre_vote=False, check_quorum=False)
    c.campaign(1)
    term = c[1].term
    c.isolate(3)
    c.tick(60)
    assert c[3].term > term
    c.heal()
    c.tick(2 * c[3].config.election_ticks)  # 3's next timeout: its RequestVote deposes 1
    assert c[1].term > term


def test_check_quorum_steps_a_cut_off_leader_down():
    c = RaftCluster(3, seed=4)
    c.campaign(1)
    c.isolate(1)
    c.tick(3 * c[1].config.election_ticks)
    assert c[1].role is Role.FOLLOWER and c[1].leader is None
    new = c.leader()
    assert new in (2, 3) and c[new].term > 1
    c.heal()
    c.tick(3)
    assert c[1].leader == new and c[1].term == c[new].term


# --- reads -------------------------------------------------------------------------------------
def test_read_index_on_leader_and_through_a_follower():
    c = RaftCluster(3, seed=5)
    c.campaign(1)
    (index,) = c.propose(1, b"x")
    c[1].read_index(10)
    c[2].read_index(20)
    c.stabilize()
    assert c.nodes[1].reads == [ReadState(10, index)]
    assert c.nodes[2].reads == [ReadState(20, index)]
    assert c.nodes[2].applied_index >= index


def test_read_through_a_follower_waits_for_the_new_leaders_noop():
    c = RaftCluster(3, seed=5)
    c.campaign(1)
    c.propose(1, b"x")
    c.drop = lambda m: type(m) is AppendEntriesResp  # the new leader's NOOP cannot commit
    c[1].transfer_leadership(2)
    c.stabilize()
    assert c[2].role is Role.LEADER
    c[3].read_index(30)
    c.stabilize()
    assert any(type(m) is ReadIndexReq for m in c.delivered) and c.nodes[3].reads == []
    c.drop = None
    c.tick(2)
    assert c.nodes[3].reads == [ReadState(30, c[2].log.committed)]


# --- leadership transfer -----------------------------------------------------------------------
def test_leadership_transfer_to_a_lagging_follower():
    c = RaftCluster(3, seed=6)
    c.campaign(1)
    c.cut.add((1, 3))
    c.propose(1, b"a", b"b")
    c.heal()
    c[1].transfer_leadership(3)  # 3 lacks a, b: it is caught up first
    c.stabilize()
    assert c.leader() == 3 and c[3].term == 2
    assert any(type(m) is TimeoutNow for m in c.delivered)
    assert any(type(m) is RequestVote and m.transfer for m in c.delivered)
    c.propose(3, b"c")
    assert c.applied(1) == c.applied(3) == [b"a", b"b", b"c"]


def test_transfer_requested_on_a_follower_is_forwarded():
    c = RaftCluster(3, seed=6)
    c.campaign(1)
    c[2].transfer_leadership(2)
    c.stabilize()
    assert c.leader() == 2


# --- snapshots ---------------------------------------------------------------------------------
def compact_leader(c: RaftCluster, leader: int) -> int:
    """Host-style: snapshot the state machine, save it, compact the log behind it."""
    node = c.nodes[leader]
    snap = node.take_snapshot()
    node.store.save_snapshot(snap)
    node.store.compact(snap.meta.index)
    return snap.meta.index


def test_lagging_follower_gets_a_chunked_snapshot_after_compaction():
    c = RaftCluster(3, seed=7)
    c.campaign(1)
    c.crash(3)
    c.propose(1, *(b"%d" % i for i in range(20)))
    snap_index = compact_leader(c, 1)
    assert c.nodes[1].store.first_index() == snap_index + 1
    c.restart(3)
    c.tick(3)
    chunks = [m for m in c.delivered if type(m) is InstallSnapshot]
    assert [m.chunk_index for m in chunks] == list(range(20))  # one message per chunk
    assert c.nodes[3].store.snapshot_meta().index == snap_index
    assert c[3].log.first_index() == snap_index + 1
    c.propose(1, b"after")
    assert c.applied(3) == c.applied(1) == [*(b"%d" % i for i in range(20)), b"after"]
    assert c[1].status().progress[3].state == "replicate"


def test_snapshot_survives_a_lost_chunk():
    c = RaftCluster(3, seed=8)
    c.campaign(1)
    c.isolate(3)
    c.propose(1, *(b"%d" % i for i in range(12)))
    compact_leader(c, 1)
    lost = []

    def drop_chunk_5_once(m):
        if type(m) is InstallSnapshot and m.chunk_index == 5 and not lost:
            lost.append(m)
            return True
        return False

    c.drop = drop_chunk_5_once
    c.heal()
    c.tick(5)
    assert lost and c.applied(3) == c.applied(1)


def test_snapshot_of_zero_chunks():
    c = RaftCluster(3, seed=9)
    c.campaign(1)
    c.isolate(3)
    for _ in range(3):
        c[1].propose(b"")  # empty payloads: the toy machine stores them as items
    c.stabilize()
    node = c.nodes[1]
    node.applied = []  # an empty state machine: a snapshot of zero chunks
    compact_leader(c, 1)
    c.heal()
    c.tick(5)
    assert c.nodes[3].store.snapshot_meta().chunk_count == 0
    assert c[3].log.committed == c[1].log.committed


# --- restart and observers ---------------------------------------------------------------------
def test_restart_recovers_term_vote_and_log():
    c = RaftCluster(3, seed=10)
    c.campaign(2)
    c.propose(2, b"a", b"b", b"c")
    before = (c[3].term, c[3].vote, c[3].log.last_index(), c[3].log.committed)
    c.crash(3)
    c.restart(3)
    assert (c[3].term, c[3].vote, c[3].log.last_index(), c[3].log.committed) == before
    c.stabilize()
    assert c.applied(3) == [b"a", b"b", b"c"]  # re-applied from 1 (config.applied = 0)
    for i in c.ids:
        c.crash(i)
    for i in c.ids:
        c.restart(i)
    leader = c.elect()
    c.propose(leader, b"d")
    assert all(c.applied(i) == [b"a", b"b", b"c", b"d"] for i in c.ids)


def test_observer_receives_entries_but_never_counts():
    c = RaftCluster(3, observers=1, seed=11)
    c.campaign(1)
    c.propose(1, b"a")
    assert c.applied(4) == [b"a"]
    c[4].read_index(1)
    c.stabilize()
    assert c.nodes[4].reads == [ReadState(1, 2)]
    c.crash(2)
    c.crash(3)
    (index,) = c.propose(1, b"b")
    assert c[1].log.committed < index  # leader + observer is no majority
    assert all(type(m) is not RequestVote or m.dst != 4 for m in c.delivered)
    assert c[1].status().progress[4].match == index


def test_report_unreachable_drops_a_peer_back_to_probe():
    c = RaftCluster(3)
    c.campaign(1)
    c.propose(1, b"a")
    assert c[1]._prs[2].state is ProgressState.REPLICATE
    c[1].report_unreachable(2)
    assert c[1]._prs[2].state is ProgressState.PROBE
    c.propose(1, b"b")
    assert c[1]._prs[2].state is ProgressState.REPLICATE and c.applied(2) == [b"a", b"b"]


def test_status_reports_the_leaders_view():
    c = RaftCluster(3)
    c.campaign(1)
    c.propose(1, b"a")
    st = c[1].status()
    assert (st.role, st.leader, st.epoch, st.commit, st.applied, st.first_index, st.last_index) == (
        Role.LEADER,
        1,
        1,
        2,
        2,
        1,
        2,
    )
    assert set(st.progress) == {2, 3} and st.progress[2].match == 2 and st.extra["vote"] == 1
    with pytest.raises(NotLeader):
        c[2].propose(b"x")


# --- randomized soak ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_random_faults_keep_the_safety_invariants(seed):
    soak(RaftCluster, seed, steps=1500, election_ticks=6)


def test_the_soak_does_real_work():
    """Over the soak seeds, leaders are elected and commit during the faults."""
    proposed = [soak(RaftCluster, seed, steps=1500, election_ticks=6).stats["proposed"] for seed in range(4)]
    assert sum(proposed) > 40, proposed
