"""One engine, scripted messages in, whole Readies out (etcd's raft_paper_test.go).

Each test names the sentence of the paper or thesis it checks:
"Reference: §5.x" is the Raft paper (Ongaro & Ousterhout 2014), "thesis §x"
is Ongaro's dissertation (2014).
"""

from __future__ import annotations

import random

import pytest

from replicator.protocol import EngineConfig
from replicator.protocol.raft.engine import RaftEngine, decode_hard_state, encode_hard_state
from replicator.protocol.raft.messages import (
    AppendEntries,
    AppendEntriesResp,
    Heartbeat,
    HeartbeatResp,
    PreVote,
    PreVoteResp,
    ReadIndexReq,
    ReadIndexResp,
    RequestVote,
    RequestVoteResp,
    TimeoutNow,
    TransferLeader,
)
from replicator.storage.memory_store import MemoryStore
from replicator.types import Entry, EntryKind, NotLeader, ProposalDropped, ReadState, Role, SoftState
from tests.protocol.engine_harness import blank_ready as ready
from tests.protocol.engine_harness import run_lone as run

NOOP = EntryKind.NOOP


def hs(term, vote, commit):
    return encode_hard_state(term, vote, commit)


def new_engine(node_id=1, voters=(1, 2, 3), *, terms=(), hard=None, seed=0, **overrides):
    """An engine over a MemoryStore holding entries of the given terms."""
    store = MemoryStore()
    if terms or hard:
        entries = tuple(Entry(i, t) for i, t in enumerate(terms, start=1))
        store.save(ready(0, hard_state=hs(*hard) if hard else None, entries=entries, must_sync=True))
    overrides.setdefault("pre_vote", False)
    config = EngineConfig(node_id=node_id, voters=voters, **overrides)
    return RaftEngine(config, store, random.Random(seed)), store


def make_leader(voters=(1, 2, 3), **kw):
    """Node 1 elected by node 2's vote; its first Ready (the NOOP) carried out."""
    engine, store = new_engine(1, voters, **kw)
    engine.campaign()
    run(engine, store)
    if len(voters) > 1:
        engine.step(RequestVoteResp(2, 1, engine.term))
    assert engine.role is Role.LEADER
    run(engine, store)
    return engine, store


def ack_all(engine, store):
    """Every follower acknowledges everything: leader's peers go to REPLICATE."""
    last = engine.log.last_index()
    for peer in engine._peers:
        engine.step(AppendEntriesResp(peer, 1, engine.term, index=last))
    while engine.has_ready():
        run(engine, store)


# --- §5.1 terms ----------------------------------------------------------------------------
def test_follower_adopts_a_higher_term_and_its_leader():
    """Reference: §5.1 "If a server's current term is smaller than the other's, it updates its
    current term to the larger value." The ack waits for the write (thesis §3.8)."""
    engine, _ = new_engine()
    engine.step(AppendEntries(2, 1, 2, prev_index=0, prev_term=0))
    assert engine.ready() == ready(
        1,
        hard_state=hs(2, 0, 0),
        must_sync=True,
        messages_after_persist=(AppendEntriesResp(1, 2, 2, index=0),),
        soft_state=SoftState(Role.FOLLOWER, 2, 2),
    )


def test_stale_term_messages_are_refused():
    """Reference: §5.1 "If a server receives a request with a stale term number, it rejects
    the request." The answer carries our term so the stale leader steps down."""
    engine, _ = new_engine(hard=(3, 0, 0))
    engine.step(AppendEntries(2, 1, 2, prev_index=0, prev_term=0, entries=(Entry(1, 2),)))
    engine.step(RequestVote(2, 1, 2, last_index=9, last_term=2))  # ignored
    assert engine.ready() == ready(1, messages_after_persist=(AppendEntriesResp(1, 2, 3),))
    assert engine.term == 3 and engine.log.last_index() == 0


def test_leader_steps_down_on_a_higher_term():
    """Reference: §5.1 "If a candidate or leader discovers that its term is out of date, it
    immediately reverts to follower state." """
    engine, _ = make_leader()
    engine.step(AppendEntriesResp(3, 1, 5))
    assert (engine.role, engine.term, engine.leader) == (Role.FOLLOWER, 5, None)


# --- §5.2 elections ------------------------------------------------------------------------
def test_nodes_start_as_followers_with_nothing_to_do():
    """Reference: §5.2 "When servers start up, they begin as followers." A Ready is only
    produced when there is something to do."""
    engine, _ = new_engine()
    assert engine.role is Role.FOLLOWER
    engine.tick()
    assert not engine.has_ready()


def test_election_timeouts_are_randomized_from_the_injected_rng():
    """Reference: §5.2 "election timeouts are chosen randomly from a fixed interval"."""
    seen = set()
    for seed in range(40):
        engine, _ = new_engine(seed=seed)
        ticks = 0
        while engine.role is Role.FOLLOWER:
            engine.tick()
            ticks += 1
        assert 10 <= ticks < 20
        seen.add(ticks)
        again, _ = new_engine(seed=seed)  # same seed, same timeout
        for _ in range(ticks - 1):
            again.tick()
        assert again.role is Role.FOLLOWER
        again.tick()
        assert again.role is Role.CANDIDATE
    assert len(seen) > 4


def test_candidate_increments_term_votes_for_itself_and_requests_votes():
    """Reference: §5.2 "a follower increments its current term and transitions to candidate
    state. It then votes for itself and issues RequestVote RPCs in parallel"."""
    engine, _ = new_engine(terms=(1, 1), hard=(1, 0, 0))
    engine.campaign()
    assert engine.ready() == ready(
        1,
        hard_state=hs(2, 1, 0),
        must_sync=True,
        messages=(RequestVote(1, 2, 2, last_index=2, last_term=1), RequestVote(1, 3, 2, last_index=2, last_term=1)),
        soft_state=SoftState(Role.CANDIDATE, None, 2),
    )


def test_candidate_counts_its_own_vote_only_once_it_is_durable():
    """Thesis §3.8: a vote counts only once on disk; a single node wins after its write."""
    engine, store = new_engine(voters=(1,))
    engine.campaign()
    rd = engine.ready()
    assert engine.role is Role.CANDIDATE and rd.hard_state == hs(1, 1, 0)
    store.save(rd)
    engine.advance(rd)
    assert engine.role is Role.LEADER


def test_candidate_wins_with_a_majority_and_loses_with_a_majority_against():
    """Reference: §5.2 "A candidate wins an election if it receives votes from a majority"."""
    engine, store = new_engine(voters=(1, 2, 3, 4, 5))
    engine.campaign()
    run(engine, store)
    engine.step(RequestVoteResp(2, 1, 1))
    assert engine.role is Role.CANDIDATE
    engine.step(RequestVoteResp(3, 1, 1))
    assert engine.role is Role.LEADER
    loser, store = new_engine(voters=(1, 2, 3, 4, 5))
    loser.campaign()
    run(loser, store)
    for peer in (2, 3, 4):
        loser.step(RequestVoteResp(peer, 1, 1, reject=True))
    assert loser.role is Role.FOLLOWER


def test_one_vote_per_term_first_come_first_served():
    """Reference: §5.2 "each server will vote for at most one candidate in a given term, on a
    first-come-first-served basis". The grant is sent only after the vote is durable."""
    engine, _ = new_engine()
    engine.step(RequestVote(2, 1, 1, last_index=0, last_term=0))
    engine.step(RequestVote(3, 1, 1, last_index=0, last_term=0))
    engine.step(RequestVote(2, 1, 1, last_index=0, last_term=0))  # a retry is granted again
    assert engine.ready() == ready(
        1,
        hard_state=hs(1, 2, 0),
        must_sync=True,
        messages_after_persist=(
            RequestVoteResp(1, 2, 1),
            RequestVoteResp(1, 3, 1, reject=True),
            RequestVoteResp(1, 2, 1),
        ),
        soft_state=SoftState(Role.FOLLOWER, None, 1),
    )


@pytest.mark.parametrize(
    ("last_index", "last_term", "granted"),
    [(5, 1, False), (1, 2, False), (2, 2, True), (1, 3, True)],
)
def test_vote_requires_an_up_to_date_log(last_index, last_term, granted):
    """Reference: §5.4.1 "the voter denies its vote if its own log is more up-to-date than
    that of the candidate"."""
    engine, _ = new_engine(terms=(1, 2), hard=(2, 0, 0))
    engine.step(RequestVote(2, 1, 4, last_index=last_index, last_term=last_term))
    rd = engine.ready()
    assert rd.messages_after_persist == (RequestVoteResp(1, 2, 4, reject=not granted),)


# --- §5.3 replication ------------------------------------------------------------------------
def test_new_leader_appends_a_noop_and_sends_it_before_persisting():
    """Reference: §5.4.2 / thesis §6.4: a leader commits a no-op entry at the start of its
    term. Thesis §10.2.1: its appends go out in `messages`, in parallel with its own write."""
    engine, store = new_engine(terms=(1,), hard=(1, 0, 1))
    engine.campaign()
    run(engine, store)
    engine.step(RequestVoteResp(2, 1, 2))
    noop = Entry(2, 2, b"", NOOP)
    assert engine.ready() == ready(
        2,
        entries=(noop,),
        must_sync=True,
        messages=(
            AppendEntries(1, 2, 2, prev_index=1, prev_term=1, entries=(noop,), commit=1),
            AppendEntries(1, 3, 2, prev_index=1, prev_term=1, entries=(noop,), commit=1),
        ),
        soft_state=SoftState(Role.LEADER, 1, 2),
    )


def test_many_proposals_travel_as_one_append_per_follower():
    """Batching: proposals before one ready() share one message per follower."""
    engine, store = make_leader()
    ack_all(engine, store)
    indexes = [engine.propose(b"%d" % i) for i in range(100)]
    assert indexes == list(range(2, 102))
    rd = engine.ready()
    assert [type(m) for m in rd.messages] == [AppendEntries, AppendEntries]
    assert [len(m.entries) for m in rd.messages] == [100, 100]
    assert rd.entries == rd.messages[0].entries and rd.messages_after_persist == ()


def test_appends_respect_batch_bytes_and_the_inflight_window():
    engine, store = make_leader(max_batch_bytes=10, max_inflight_msgs=3)
    ack_all(engine, store)
    for _ in range(10):
        engine.propose(b"12345")
    sizes = [len(m.entries) for m in engine.ready().messages if m.dst == 2]
    assert sizes == [2, 2, 2]  # 10 bytes a message, 3 messages in flight, then wait
    engine.step(AppendEntriesResp(2, 1, 1, index=3))
    assert [len(m.entries) for m in engine.ready().messages if m.dst == 2] == [2]


def test_leader_counts_itself_only_after_its_own_write():
    """Thesis §10.2.1: the leader may commit once a majority *including itself after its
    write* holds the entry; here one follower acks before the leader's write is done."""
    engine, store = make_leader()
    ack_all(engine, store)
    index = engine.propose(b"x")
    rd = engine.ready()
    engine.step(AppendEntriesResp(2, 1, 1, index=index))
    assert engine.log.committed == index - 1
    store.save(rd)
    engine.advance(rd)
    assert engine.log.committed == index
    assert [e.data for e in engine.ready().committed] == [b"x"]


def test_follower_rejects_a_gap_with_a_conflict_hint():
    """Reference: §5.3 "If the follower does not find an entry in its log with the same index
    and term, then it refuses the new entries." The hint names the follower's last index whose
    term is <= the leader's prev term, so the leader skips a whole term per round trip."""
    engine, _ = new_engine(terms=(1, 1, 2, 2, 2), hard=(2, 0, 2))
    engine.step(AppendEntries(2, 1, 5, prev_index=7, prev_term=4))
    engine.step(AppendEntries(2, 1, 5, prev_index=5, prev_term=4))
    engine.step(AppendEntries(2, 1, 5, prev_index=4, prev_term=1))
    assert engine.ready().messages_after_persist == (
        AppendEntriesResp(1, 2, 5, index=7, reject=True, hint_index=5, hint_term=2),
        AppendEntriesResp(1, 2, 5, index=5, reject=True, hint_index=5, hint_term=2),
        AppendEntriesResp(1, 2, 5, index=4, reject=True, hint_index=2, hint_term=1),
    )


def test_follower_replaces_conflicting_entries_and_commits():
    """Reference: §5.3 "If an existing entry conflicts with a new one (same index but different
    terms), delete the existing entry and all that follow it." """
    engine, store = new_engine(terms=(1, 1, 2, 2), hard=(2, 0, 1))
    new = (Entry(3, 3, b"c"), Entry(4, 3, b"d"))
    engine.step(AppendEntries(2, 1, 3, prev_index=2, prev_term=1, entries=new, commit=4))
    assert engine.ready() == ready(
        1,
        hard_state=hs(3, 0, 4),
        entries=new,
        must_sync=True,
        messages_after_persist=(AppendEntriesResp(1, 2, 3, index=4),),
        committed=(Entry(1, 1), Entry(2, 1), *new),
        soft_state=SoftState(Role.FOLLOWER, 2, 3),
    )


def test_leader_backtracks_by_term_using_the_hint():
    """Fast backtracking: the leader jumps to its own last index with term <= hint term."""
    engine, store = new_engine(terms=(1, 1, 1, 4, 4, 5, 5), hard=(5, 0, 3))
    engine.campaign()
    run(engine, store)
    engine.step(RequestVoteResp(2, 1, 6))
    run(engine, store)  # NOOP at 8; probes at prev 7
    engine.step(AppendEntriesResp(2, 1, 6, index=7, reject=True, hint_index=6, hint_term=2))
    (probe,) = [m for m in engine.ready().messages if m.dst == 2]
    assert (probe.prev_index, probe.prev_term) == (3, 1)  # skipped terms 4 and 5 in one step
    assert [e.index for e in probe.entries] == [4, 5, 6, 7, 8]


def test_heartbeat_commit_is_capped_by_the_followers_match():
    """A follower must never commit past what it shares with the leader (etcd)."""
    engine, store = make_leader()
    ack_all(engine, store)
    engine.propose(b"x")
    run(engine, store)
    engine.step(AppendEntriesResp(2, 1, 1, index=2))
    assert engine.log.committed == 2
    for _ in range(engine.config.heartbeat_ticks):
        engine.tick()
    beats = {m.dst: m for m in engine.ready().messages if type(m) is Heartbeat}
    assert (beats[2].commit, beats[3].commit) == (2, 1)


def test_a_new_commit_index_reaches_followers_as_a_notice_that_only_a_refusal_answers():
    """AppendEntries.notice: the commit index alone goes to a follower that acknowledged all
    it was sent, and the follower does not acknowledge it (nothing new for the leader);
    a follower still behind gets a plain append, and a notice it cannot match is refused."""
    engine, store = make_leader()
    ack_all(engine, store)
    index = engine.propose(b"x")
    run(engine, store)
    engine.step(AppendEntriesResp(2, 1, 1, index=index))
    notices = {m.dst: m for m in run(engine, store).messages if type(m) is AppendEntries}
    assert notices[2] == AppendEntries(1, 2, 1, index, 1, (), index, notice=True)
    assert notices[3] == AppendEntries(1, 3, 1, index, 1, (), index)  # its ack is still due

    follower, fstore = new_engine(2, terms=(1, 1), hard=(1, 0, 1))
    follower.step(AppendEntries(1, 2, 1, 2, 1, (), 2, notice=True))
    rd = run(follower, fstore)
    assert follower.log.committed == 2 and rd.committed[-1].index == 2
    assert not [*rd.messages, *rd.messages_after_persist]
    follower.step(AppendEntries(1, 2, 1, 5, 1, (), 5, notice=True))  # beyond its log: refused
    (refusal,) = run(follower, fstore).messages_after_persist
    assert refusal.reject and refusal.index == 5


def test_a_notice_carrying_entries_is_dropped_as_malformed():
    follower, store = new_engine(2, terms=(1,), hard=(1, 0, 1))
    run(follower, store)
    follower.step(AppendEntries(1, 2, 1, 1, 1, (Entry(2, 1, b"x"),), 2, notice=True))
    assert follower.log.last_index() == 1
    assert not follower.has_ready()


# --- §5.4.2 Figure 8 -------------------------------------------------------------------------
def test_leader_commits_only_entries_of_its_own_term_by_counting():
    """Reference: §5.4.2 "Raft never commits log entries from previous terms by counting
    replicas. Only log entries from the leader's current term are committed by counting
    replicas" (Figure 8: index 2 of term 2 on a majority is still not committed)."""
    engine, store = new_engine(terms=(1, 2), hard=(3, 0, 1))
    engine.campaign()
    run(engine, store)
    engine.step(RequestVoteResp(3, 1, 4))
    run(engine, store)  # NOOP (index 3, term 4) on our disk
    engine.step(AppendEntriesResp(2, 1, 4, index=2))  # a majority {1, 2} holds index 2
    assert engine.log.committed == 1
    engine.step(AppendEntriesResp(2, 1, 4, index=3))  # ... and now the term-4 entry
    assert engine.log.committed == 3  # which commits index 2 with it


# --- pre-vote and check-quorum (thesis §9.6, §6.2, §4.2.3) -----------------------------------
def test_pre_vote_asks_for_the_next_term_without_taking_it():
    """Thesis §9.6: a pre-candidate asks whether it could win before incrementing its term."""
    engine, _ = new_engine(terms=(1,), hard=(1, 0, 1), pre_vote=True, applied=1)
    engine.campaign()
    assert engine.ready() == ready(
        1,
        messages=(PreVote(1, 2, 2, last_index=1, last_term=1), PreVote(1, 3, 2, last_index=1, last_term=1)),
        soft_state=SoftState(Role.PRE_CANDIDATE, None, 1),
    )
    engine.step(PreVoteResp(2, 1, 2))  # granted in the term asked for: a real campaign follows
    assert (engine.role, engine.term) == (Role.CANDIDATE, 2)


def test_pre_vote_is_granted_without_changing_the_voters_state():
    engine, _ = new_engine(terms=(1,), hard=(1, 3, 1), pre_vote=True, applied=1)
    engine.step(PreVote(2, 1, 2, last_index=1, last_term=1))
    assert engine.ready() == ready(1, messages_after_persist=(PreVoteResp(1, 2, 2),))
    assert (engine.term, engine.vote) == (1, 3)


def test_a_node_that_hears_its_leader_ignores_votes():
    """Thesis §4.2.3: "if a server receives a RequestVote request within the minimum election
    timeout of hearing from a current leader, it does not update its term or grant its vote".
    A TimeoutNow-initiated campaign is exempt (§3.10)."""
    engine, _ = new_engine(pre_vote=True)
    engine.step(Heartbeat(2, 1, 1))
    engine.advance(engine.ready())
    engine.step(PreVote(3, 1, 2, last_index=5, last_term=1))
    engine.step(RequestVote(3, 1, 2, last_index=5, last_term=1))
    assert not engine.has_ready() and engine.term == 1
    engine.step(RequestVote(3, 1, 2, last_index=5, last_term=1, transfer=True))
    assert engine.ready().messages_after_persist == (RequestVoteResp(1, 3, 2),)


def test_leader_without_a_majority_steps_down():
    """Thesis §6.2 (check quorum): a leader that has not heard from a majority within an
    election timeout steps down."""
    engine, store = make_leader()
    for _ in range(engine.config.election_ticks):  # no peer answers anything
        engine.tick()
    assert engine.role is Role.FOLLOWER and engine.leader is None
    alive, store = make_leader()
    for _ in range(2 * alive.config.election_ticks):
        alive.step(HeartbeatResp(2, 1, 1))
        alive.tick()
    assert alive.role is Role.LEADER


# --- leadership transfer (thesis §3.10) ------------------------------------------------------
def test_transfer_sends_timeout_now_once_the_target_is_caught_up():
    engine, store = make_leader()
    engine.step(AppendEntriesResp(3, 1, 1, index=1))
    engine.propose(b"x")
    run(engine, store)
    engine.transfer_leadership(3)
    with pytest.raises(NotLeader) as err:
        engine.propose(b"y")
    assert err.value.leader == 3
    assert not any(type(m) is TimeoutNow for m in engine.ready().messages)
    engine.step(AppendEntriesResp(3, 1, 1, index=2))
    assert TimeoutNow(1, 3, 1) in engine.ready().messages


def test_transfer_is_aborted_after_an_election_timeout():
    engine, store = make_leader()
    engine.transfer_leadership(2)
    for _ in range(engine.config.election_ticks - 1):
        engine.step(HeartbeatResp(2, 1, 1))
        engine.tick()
    with pytest.raises(NotLeader):
        engine.propose(b"y")
    engine.step(HeartbeatResp(2, 1, 1))
    engine.tick()
    assert engine.propose(b"y") == 2


def test_timeout_now_starts_an_election_at_once_without_pre_vote():
    engine, _ = new_engine(terms=(1,), hard=(1, 0, 1), pre_vote=True, applied=1)
    engine.step(Heartbeat(2, 1, 1))
    engine.step(TimeoutNow(2, 1, 1))
    assert (engine.role, engine.term) == (Role.CANDIDATE, 2)
    assert engine.ready().messages[-2:] == (
        RequestVote(1, 2, 2, last_index=1, last_term=1, transfer=True),
        RequestVote(1, 3, 2, last_index=1, last_term=1, transfer=True),
    )


def test_follower_forwards_a_transfer_request_to_its_leader():
    engine, _ = new_engine()
    engine.transfer_leadership(3)  # no leader known: dropped
    assert not engine.has_ready()
    engine.step(Heartbeat(2, 1, 1))
    engine.transfer_leadership(3)
    assert TransferLeader(1, 2, 1, 3) in engine.ready().messages
    with pytest.raises(ValueError):
        engine.transfer_leadership(9)


# --- ReadIndex (thesis §6.4) -----------------------------------------------------------------
def test_read_index_waits_for_the_noop_then_a_heartbeat_round():
    """Thesis §6.4: (1) the leader must have committed an entry of its term, (2) read_index =
    commit, (3) a majority answers a heartbeat sent after the request."""
    engine, store = make_leader()
    engine.read_index(7)
    assert not any(type(m) is Heartbeat for m in engine.ready().messages)  # NOOP not committed
    engine.step(AppendEntriesResp(2, 1, 1, index=1))  # NOOP commits
    rd = engine.ready()
    beats = [m for m in rd.messages if type(m) is Heartbeat]
    assert [m.dst for m in beats] == [2, 3] and rd.read_states == ()
    engine.advance(rd)
    engine.step(HeartbeatResp(3, 1, 1, beats[0].ctx))
    assert engine.ready().read_states == (ReadState(7, 1),)


def test_reads_batch_into_one_heartbeat_round():
    engine, store = make_leader()
    ack_all(engine, store)
    for ctx in range(5):
        engine.read_index(ctx)
    beats = [m for m in engine.ready().messages if type(m) is Heartbeat]
    assert len(beats) == 2
    engine.step(HeartbeatResp(2, 1, 1, beats[0].ctx))
    assert engine.ready().read_states == tuple(ReadState(c, 1) for c in range(5))


def test_follower_forwards_reads_to_the_leader():
    engine, _ = new_engine()
    with pytest.raises(NotLeader):
        engine.read_index(1)
    engine.step(Heartbeat(2, 1, 1))
    engine.read_index(42)
    assert ReadIndexReq(1, 2, 1, 42) in engine.ready().messages
    engine.step(ReadIndexResp(2, 1, 1, 42, 9))
    assert engine.ready().read_states == (ReadState(42, 9),)


def test_leader_answers_a_forwarded_read():
    engine, store = make_leader()
    ack_all(engine, store)
    engine.step(ReadIndexReq(3, 1, 1, 42))
    beat = next(m for m in engine.ready().messages if type(m) is Heartbeat)
    engine.step(HeartbeatResp(2, 1, 1, beat.ctx))
    assert engine.ready().messages == (ReadIndexResp(1, 3, 1, 42, 1),)


def test_lease_read_skips_the_round_while_the_lease_holds():
    engine, store = make_leader(lease_read=True)
    ack_all(engine, store)
    engine.tick()  # heartbeat round at tick 1
    beat = next(m for m in engine.ready().messages if type(m) is Heartbeat)
    engine.step(HeartbeatResp(2, 1, 1, beat.ctx))  # lease until tick 1 + 10 - 1
    engine.read_index(5, lease=True)
    assert engine.ready().read_states == (ReadState(5, 1),)
    engine.read_index(7)  # a linearizable read takes its round, lease or not
    rd = engine.ready()
    assert rd.read_states == () and any(type(m) is Heartbeat for m in rd.messages)
    for _ in range(9):
        engine.tick()
    while engine.has_ready():
        run(engine, store)
    engine.read_index(6, lease=True)  # tick 10: lease expired, a round is needed
    rd = engine.ready()
    assert rd.read_states == () and any(type(m) is Heartbeat for m in rd.messages)


# --- proposals, observers, restart -----------------------------------------------------------
def test_followers_refuse_proposals_and_name_the_leader():
    engine, _ = new_engine()
    engine.step(Heartbeat(2, 1, 1))
    with pytest.raises(NotLeader) as err:
        engine.propose(b"x")
    assert err.value.leader == 2


def test_leader_drops_proposals_past_the_uncommitted_limit():
    engine, store = make_leader(max_uncommitted_bytes=10)
    engine.propose(b"123456")
    with pytest.raises(ProposalDropped):
        engine.propose(b"123456")
    engine.propose(b"1234")


def test_observer_never_campaigns_nor_votes():
    store = MemoryStore()
    engine = RaftEngine(EngineConfig(node_id=4, voters=(1, 2, 3), observers=(4,)), store, random.Random(1))
    for _ in range(100):
        engine.tick()
    assert engine.role is Role.FOLLOWER and not engine.has_ready()
    engine.step(RequestVote(1, 4, 1, last_index=0, last_term=0))
    assert engine.ready().messages_after_persist == ()
    assert engine.status().extra["observer"] == 1


def test_restart_recovers_term_vote_commit_and_log():
    engine, store = new_engine(terms=(1, 2, 2), hard=(3, 2, 2), applied=1)
    assert (engine.term, engine.vote, engine.log.committed, engine.log.last_index()) == (3, 2, 2, 3)
    assert decode_hard_state(store.hard_state()) == (3, 2, 2)
    assert engine.ready().committed == (Entry(2, 2),)  # applied 1 -> commit 2


def test_hard_state_is_versioned_bytes():
    assert decode_hard_state(encode_hard_state(7, 3, 99)) == (7, 3, 99)
    with pytest.raises(ValueError):
        decode_hard_state(b"zab!")


def test_advance_must_follow_the_last_ready():
    engine, store = make_leader()
    engine.propose(b"x")
    rd = engine.ready()
    with pytest.raises(AssertionError):
        engine.advance(ready(rd.number - 1))
