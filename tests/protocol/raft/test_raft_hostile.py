"""Messages no correct peer sends: the Raft engine drops and counts them (drops.py).

Each test scripts what a buggy or forged peer could send and checks that the
engine neither raises nor acts on it (no entry appended, no commit, no term or
leader change), and that the drop is counted by reason. Stale-but-valid
messages (old terms, duplicates) are the paper tests' business and stay
uncounted. Issue 10, finding 2: a forged AppendEntries at a follower's last
index + 1 made both followers ack past the leader's log, and the leader died
of a KeyError on the first such ack.
"""

from __future__ import annotations

import pytest

from replicator.protocol.progress import ProgressState
from replicator.protocol.raft.messages import (
    AppendEntries,
    AppendEntriesResp,
    Heartbeat,
    HeartbeatResp,
    InstallSnapshot,
    InstallSnapshotResp,
    PreVote,
    PreVoteResp,
    ReadIndexResp,
    RequestVote,
    RequestVoteResp,
    TimeoutNow,
    TransferLeader,
)
from replicator.types import Entry, Role, SnapshotMeta
from tests.protocol.engine_harness import RaftCluster
from tests.protocol.raft.test_raft_paper import ack_all, make_leader, new_engine, run


def following(leader=2, term=2, terms=(1, 1, 2), commit=2):
    """Node 1, following `leader` in `term`, with entries of `terms` and `commit` committed."""
    engine, store = new_engine(terms=terms, hard=(term, 0, commit), applied=commit)
    engine.step(Heartbeat(leader, 1, term, commit=commit))
    run(engine, store)
    assert engine.leader == leader
    return engine, store


def unchanged(engine):
    return (engine.role, engine.term, engine.leader, engine.vote, engine.log.last_index(), engine.log.committed)


# --- the leader -----------------------------------------------------------------------------
def test_an_ack_past_the_leaders_log_is_dropped_not_a_crash():
    """Finding 2: the leader trusted an acknowledged index beyond its last index (KeyError)."""
    engine, store = make_leader()
    ack_all(engine, store)
    last = engine.log.last_index()
    before = unchanged(engine)
    engine.step(AppendEntriesResp(2, 1, engine.term, index=last + 1))
    engine.step(AppendEntriesResp(3, 1, engine.term, index=last + 1))
    assert unchanged(engine) == before
    while engine.has_ready():
        run(engine, store)
    assert engine.log.committed == last and engine._prs[2].match == last
    assert engine.dropped_messages == {"beyond_log": 2}


def test_a_rejection_past_the_leaders_log_is_dropped():
    engine, store = make_leader()
    last, nxt = engine.log.last_index(), engine._prs[2].next
    engine.step(AppendEntriesResp(2, 1, engine.term, index=last + 5, reject=True, hint_index=last + 5))
    assert engine._prs[2].next == nxt
    assert engine.dropped_messages == {"beyond_log": 1}


def test_a_heartbeat_answer_for_a_round_never_sent_confirms_no_read():
    engine, store = make_leader()
    ack_all(engine, store)
    engine.read_index(7)
    run(engine, store)
    engine.step(HeartbeatResp(2, 1, engine.term, ctx=10**6))  # would confirm every future round
    engine.read_index(8)
    assert all(not run(engine, store).read_states for _ in range(2))
    assert engine.dropped_messages == {"beyond_log": 1}


def test_snapshot_answers_for_chunks_the_snapshot_lacks_are_dropped():
    engine, store = make_leader()
    pr = engine._prs[2]
    meta = SnapshotMeta(1, 1, chunk_count=2)
    pr.become_snapshot(meta)
    engine.step(InstallSnapshotResp(2, 1, engine.term, 1, next_chunk=9, chunk_index=8))
    assert pr.snap_acked == 0 and engine.dropped_messages == {"beyond_log": 1}


def test_another_leader_of_our_own_term_is_refused():
    engine, store = make_leader()
    before = unchanged(engine)
    engine.step(AppendEntries(2, 1, engine.term, 1, 1, (Entry(2, engine.term, b"forged"),), commit=2))
    engine.step(Heartbeat(3, 1, engine.term, commit=2))
    assert unchanged(engine) == before and engine.role is Role.LEADER
    assert engine.dropped_messages == {"not_leader": 2}


def test_a_transfer_to_a_non_voter_is_dropped():
    engine, store = make_leader()
    engine.step(TransferLeader(2, 1, engine.term, 9))
    assert engine._transferee is None and engine.dropped_messages == {"malformed": 1}


# --- followers ------------------------------------------------------------------------------
def test_a_second_leader_of_our_term_is_refused():
    """Election Safety: we follow node 2 in term 2, so node 3 cannot lead term 2."""
    engine, store = following()
    before = unchanged(engine)
    engine.step(AppendEntries(3, 1, 2, 3, 2, (Entry(4, 2, b"forged"),), commit=4))
    engine.step(InstallSnapshot(3, 1, 2, SnapshotMeta(9, 2, chunk_count=1), 0, b"x"))
    engine.step(Heartbeat(3, 1, 2, commit=3))
    assert unchanged(engine) == before
    assert not engine.has_ready()
    assert engine.dropped_messages == {"not_leader": 3}


@pytest.mark.parametrize(
    "entries",
    [
        (Entry(5, 2),),  # a gap: prev_index is 3
        (Entry(4, 2), Entry(6, 2)),  # not contiguous
        (Entry(4, 2), Entry(5, 1)),  # terms decrease
        (Entry(4, 3),),  # a term above the message's
        (Entry(4, 1),),  # below prev_term
    ],
)
def test_entries_that_do_not_extend_the_log_are_refused(entries):
    engine, store = following()
    before = unchanged(engine)
    engine.step(AppendEntries(2, 1, 2, 3, 2, entries, commit=5))
    assert unchanged(engine) == before and not engine.has_ready()
    assert engine.dropped_messages == {"malformed": 1}


def test_entries_below_the_commit_index_cannot_crash_the_follower():
    """On the old code a non-contiguous batch after prev = commit tripped the
    'never truncate a committed entry' assertion."""
    engine, store = following()
    engine.step(AppendEntries(2, 1, 2, 2, 1, (Entry(1, 2, b"x"),), commit=1))
    assert engine.log.committed == 2 and engine.log.term(1) == 1
    assert engine.dropped_messages == {"malformed": 1}


@pytest.mark.parametrize(
    "msg",
    [
        Heartbeat(2, 1, 2, commit=-1),
        AppendEntries(2, 1, 2, -1, 0),
        AppendEntries(2, 1, 2, 3, 2, commit=-4),
        AppendEntries(2, 1, 1 << 64 - 1, 3, 2),  # an absurd term
        AppendEntries(2, 1, 2, 0, 1),  # index 0 has term 0
        InstallSnapshot(2, 1, 2, SnapshotMeta(9, 2, chunk_count=2), 2, b"x"),  # chunk past the count
        InstallSnapshot(2, 1, 2, SnapshotMeta(9, 3, chunk_count=1), 0, b"x"),  # epoch above the term
        InstallSnapshot(2, 1, 2, SnapshotMeta(9, 2, chunk_count=0), 0, b"x"),  # data for no chunk
        InstallSnapshot(2, 1, 2, SnapshotMeta(9, 2, chunk_count=1), -1, b"x"),
    ],
)
def test_malformed_leader_messages_are_refused(msg):
    engine, store = following()
    before = unchanged(engine)
    engine.step(msg)
    assert unchanged(engine) == before and not engine.has_ready()
    assert engine.dropped_messages == {"malformed": 1}


def test_an_append_that_contradicts_our_commit_gets_no_answer():
    """Our entry 2 (term 1) is committed: no leader's prev_term there differs."""
    engine, store = following()
    engine.step(AppendEntries(2, 1, 2, 2, 2, (Entry(3, 2),)))
    assert not engine.has_ready() and engine.dropped_messages == {"conflicts_commit": 1}


def test_a_snapshot_that_contradicts_our_commit_is_refused():
    engine, store = following()
    engine.step(InstallSnapshot(2, 1, 2, SnapshotMeta(2, 2, chunk_count=1), 0, b"x"))
    assert not engine.has_ready() and engine.dropped_messages == {"conflicts_commit": 1}


def test_snapshot_chunks_that_do_not_add_up_are_not_installed():
    engine, store = following()
    meta = SnapshotMeta(9, 2, chunk_count=2, size_bytes=10)
    engine.step(InstallSnapshot(2, 1, 2, meta, 0, b"abc"))
    engine.step(InstallSnapshot(2, 1, 2, meta, 1, b"def"))  # 6 bytes, not 10
    rd = run(engine, store)
    assert rd.snapshot is None and engine.log.committed == 2
    assert engine.dropped_messages == {"snapshot_mismatch": 1}


def test_timeout_now_from_anyone_but_our_leader_is_refused():
    """Finding 2: a stranger's TimeoutNow moved leadership."""
    engine, store = following()
    engine.step(TimeoutNow(3, 1, 2))
    assert engine.role is Role.FOLLOWER and engine.term == 2
    engine.step(TimeoutNow(2, 1, 2))
    assert engine.role is Role.CANDIDATE and engine.term == 3
    assert engine.dropped_messages == {"not_leader": 1}


def test_read_answers_from_anyone_but_our_leader_are_refused():
    engine, store = following()
    engine.step(ReadIndexResp(3, 1, 2, ctx=5, index=1))
    engine.step(ReadIndexResp(2, 1, 2, ctx=6, index=3))
    assert [r.ctx for r in run(engine, store).read_states] == [6]
    assert engine.dropped_messages == {"not_leader": 1}


def test_votes_granted_for_a_term_we_never_campaigned_in_change_nothing():
    engine, store = following()
    engine.step(RequestVoteResp(3, 1, 7))  # granted, term 7: we never campaigned there
    engine.step(PreVoteResp(3, 1, 9))  # granted pre-vote, far beyond our next term
    assert unchanged(engine)[:3] == (Role.FOLLOWER, 2, 2)
    assert engine.dropped_messages == {"not_campaigning": 2}


def test_a_stale_pre_vote_grant_is_not_counted_in_a_new_round():
    engine, store = new_engine(pre_vote=True)
    engine.campaign()
    assert engine.role is Role.PRE_CANDIDATE and engine.term == 0
    engine.step(PreVoteResp(2, 1, 0))  # granted in a round for term 0: not this one (term 1)
    assert engine.role is Role.PRE_CANDIDATE
    engine.step(PreVoteResp(2, 1, 1))
    assert engine.role is Role.CANDIDATE


def test_a_candidate_whose_last_term_is_not_older_than_its_term_is_refused():
    engine, store = new_engine(terms=(1,), hard=(1, 0, 0))
    engine.step(RequestVote(2, 1, 2, last_index=9, last_term=2))
    engine.step(PreVote(2, 1, 2, last_index=9, last_term=2))
    assert engine.vote == 0 and engine.term == 1 and not engine.has_ready()
    assert engine.dropped_messages == {"malformed": 2}


def test_messages_from_strangers_and_for_others_are_counted():
    """A sender in none of our configurations may lead one we have not received yet, so its
    leader and candidate messages are judged like anyone's (here: a second leader of our
    term); nothing else it sends counts. (Strangers are the transport's to refuse.)"""
    engine, store = following()
    engine.step(Heartbeat(9, 1, 2))
    engine.step(Heartbeat(2, 3, 2))
    engine.step(TimeoutNow(9, 1, 2))
    engine.step(ReadIndexResp(9, 1, 2, ctx=5, index=1))
    assert unchanged(engine)[:3] == (Role.FOLLOWER, 2, 2)
    assert engine.dropped_messages == {"not_leader": 1, "misrouted": 1, "not_member": 2}
    leader, store = make_leader()
    leader.step(AppendEntriesResp(9, 1, leader.term, index=1))
    assert leader.dropped_messages == {"not_member": 1}


def test_a_leader_we_do_not_know_is_followed():
    """A member added in entries we lack leads now: we take its appends (thesis §4.1)."""
    engine, store = new_engine(terms=(1, 1), hard=(1, 0, 2), applied=2)
    engine.step(AppendEntries(7, 1, 3, prev_index=2, prev_term=1, entries=[Entry(3, 3, b"x")], commit=3))
    run(engine, store)
    assert engine.leader == 7 and engine.term == 3 and engine.log.committed == 3


def test_an_ack_in_the_leaders_own_name_does_not_count_it_early():
    """Rule 2: the leader counts itself once its own write is durable; a message
    that claims to come from the leader itself must not do it sooner."""
    engine, store = make_leader()
    ack_all(engine, store)
    index = engine.propose(b"a")
    rd = engine.ready()  # the entry is on its way to the disk, not durable yet
    engine.step(AppendEntriesResp(1, 1, engine.term, index=index))
    engine.step(AppendEntriesResp(2, 1, engine.term, index=index))
    assert engine.log.committed == index - 1 and engine.dropped_messages == {"not_member": 1}
    store.save(rd)
    engine.advance(rd)
    assert engine.log.committed == index


def test_stale_messages_are_not_counted():
    engine, store = following()
    engine.step(AppendEntries(2, 1, 1, 0, 0))  # an older term: answered, not counted
    engine.step(Heartbeat(2, 1, 2, commit=2))  # a duplicate
    engine.step(RequestVoteResp(3, 1, 2))  # a late vote for a campaign we lost
    assert engine.dropped_messages == {}


# --- finding 4: a follower that lost its data --------------------------------------------------
def test_a_follower_that_lost_acked_entries_is_probed_from_what_it_has():
    """Finding 4: the leader kept a wiped follower in probe at next = match + 1
    forever (maybe_decr_to never moves next below match). A rejection at or
    below the follower's match resets its progress."""
    engine, store = make_leader()
    engine.propose(b"a")
    run(engine, store)
    ack_all(engine, store)
    pr = engine._prs[2]
    match = pr.match
    assert match == 2 and pr.state is ProgressState.REPLICATE
    # Its disk was wiped: it rejects the append after its match with an empty
    # hint, and the probe at its match that follows, twice (one refusal could be
    # a duplicate from before its ack).
    engine.step(AppendEntriesResp(2, 1, engine.term, index=match, reject=True, hint_index=0))
    assert (pr.state, pr.next) == (ProgressState.PROBE, match + 1)
    engine.step(AppendEntriesResp(2, 1, engine.term, index=match, reject=True, hint_index=0))
    assert (pr.match, pr.next, pr.state) == (match, match + 1, ProgressState.PROBE) and engine.progress_resets == 0
    probe = [m for m in run(engine, store).messages if type(m) is AppendEntries and m.dst == 2]
    assert probe and probe[0].prev_index == match  # asked once more
    engine.step(AppendEntriesResp(2, 1, engine.term, index=match, reject=True, hint_index=0))
    assert (pr.match, pr.next, pr.state) == (0, 1, ProgressState.PROBE)
    assert engine.progress_resets == 1 and engine.dropped_messages == {}
    appends = [m for m in run(engine, store).messages if type(m) is AppendEntries and m.dst == 2]
    assert appends and appends[0].prev_index == 0 and len(appends[0].entries) == 2


def test_a_duplicate_refusal_from_before_an_ack_does_not_reset():
    """Under duplication and reordering a refusal of the probe at the match
    index may predate the ack of that index: it is asked once more, and the
    ack that follows clears the suspicion."""
    engine, store = make_leader()
    engine.propose(b"a")
    run(engine, store)
    ack_all(engine, store)
    pr = engine._prs[2]
    pr.become_probe()
    engine.step(AppendEntriesResp(2, 1, engine.term, index=2, reject=True, hint_index=1))  # an old copy
    engine.step(AppendEntriesResp(2, 1, engine.term, index=2))  # the answer to the probe asked again
    engine.step(AppendEntriesResp(2, 1, engine.term, index=2, reject=True, hint_index=1))  # another old copy
    assert pr.match == 2 and engine.progress_resets == 0


def test_a_wiped_follower_catches_up_in_a_cluster():
    """End to end in the engine harness: node 3 acks everything, loses its
    store while down, restarts empty and is brought back to the leader's log."""
    from replicator.storage.memory_store import MemoryStore

    c = RaftCluster(3)
    c.campaign(1)
    c.propose(1, b"a", b"b", b"c")
    assert c.nodes[3].store.last_index() == 4
    c.crash(3)
    c.nodes[3].store = MemoryStore()  # the wiped disk
    c.restart(3)
    c.propose(1, b"d")
    c.tick(5)
    assert c.nodes[3].store.last_index() == c[1].log.last_index() == 5
    assert c.nodes[3].applied == [b"a", b"b", b"c", b"d"]
    assert c[1].progress_resets == 1
