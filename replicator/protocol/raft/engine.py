"""RaftEngine: Raft as a pure state machine (after etcd-io/raft `raft.go`).

Theory of operation
-------------------
Inputs are tick(), step(msg), propose(), read_index(), transfer_leadership()
and report_unreachable(); the one output is ready(), acknowledged by
advance(). Nothing here blocks, reads a clock, or touches a file: the durable
log is read through the LogStore's read methods only (via `LogView`), every
write leaves in a Ready, and randomness (election jitter) comes from the
injected `random.Random`. Same inputs in the same order => same outputs.

step() first applies the term rules common to every role (§5.1, thesis §4.2.3
and §9.6), then dispatches on (role, message type) through one handler table
per role, swapped by the become_* methods (etcd's `step` function field).

Rule 1 - durability before acknowledgement. A follower's append acks and every
vote answer go to `messages_after_persist`: a peer that counts our ack before
our disk has it could commit an entry we lose on restart (thesis §3.8). A
candidate counts its own vote only once the Ready carrying that vote is
advance()d, for the same reason.

Rule 2 - the leader writes in parallel (thesis §10.2.1). Its AppendEntries go
out in `messages` of the very Ready that carries the entries to its disk; it
counts itself in the commit quorum only after advance() of that Ready.

Rule 3 - commit by counting only in the current term (§5.4.2, Figure 8). Each
leader appends a NOOP at the start of its term (`_term_start`); an index
commits when a majority of voters match it and it is >= `_term_start`, which
commits every earlier entry with it.

Rule 4 - batching. propose() only appends to the unstable tail; messages to
followers are built when the Ready is taken (`_flush`), so many proposals
before one ready() travel as ONE AppendEntries per follower (up to
max_batch_bytes per message, max_inflight_msgs messages in flight).

Choices, where the papers leave room (etcd's, unless said otherwise):
* Pre-vote and check-quorum: a node that heard from a leader within
  election_ticks ignores (pre-)votes of a higher term unless the candidate was
  told to campaign by TimeoutNow. A leader that has not heard from a majority
  within election_ticks steps down.
* Fast backtracking: a rejection carries the follower's last index whose term
  is <= the leader's prev_term; the leader jumps to its own matching index.
* Snapshots stream in chunks under a window of SNAPSHOT_WINDOW_CHUNKS
  unacknowledged chunks; a chunk that arrives out of order is refused and the
  leader rewinds to the follower's position (go-back-N); a stream with no ack
  for election_ticks is resent from the last acked chunk.
* A follower forwards ReadIndex and TransferLeader to its leader.
* Observers (non-voting learners) get appends and heartbeats, never campaign,
  never vote, and never count toward a commit or a read quorum.
"""

from __future__ import annotations

import random
import struct

from replicator.protocol import EngineConfig, drops
from replicator.protocol.drops import DropCounter, entries_extend, valid_number
from replicator.protocol.log import LogView
from replicator.protocol.log_store import Compacted, LogStore
from replicator.protocol.lost_data import LostData
from replicator.protocol.membership import ConfigHistory, MembershipChangeRefused
from replicator.protocol.progress import Progress, ProgressState
from replicator.protocol.quorum import VoteResult, quorum_index, vote_result
from replicator.protocol.raft.messages import (
    AppendEntries,
    AppendEntriesResp,
    Heartbeat,
    HeartbeatResp,
    InstallSnapshot,
    InstallSnapshotResp,
    PreVote,
    PreVoteResp,
    ReadIndexReq,
    ReadIndexResp,
    RequestVote,
    RequestVoteResp,
    TimeoutNow,
    TransferLeader,
)
from replicator.protocol.raft.read_index import ReadOnly
from replicator.protocol.ready import Ready
from replicator.protocol.ready_builder import ReadyBuilder
from replicator.protocol.snapshot_receiver import Received, SnapshotReceiver
from replicator.types import (
    Entry,
    EntryKind,
    MemberRole,
    Membership,
    NodeId,
    NotLeader,
    PeerProgress,
    ReadState,
    Role,
    Snapshot,
    Status,
    config_entry_membership,
)

# Hard state: version, term, vote (0 = none), commit. Node ids are >= 1.
_HARD_STATE = struct.Struct(">BQQQ")
_HARD_STATE_VERSION = 1

SNAPSHOT_WINDOW_CHUNKS = 4  # unacknowledged InstallSnapshot chunks per follower

_PROBE = ProgressState.PROBE
_REPLICATE = ProgressState.REPLICATE
_SNAPSHOT = ProgressState.SNAPSHOT
_LEADER = Role.LEADER
_FOLLOWER = Role.FOLLOWER
_CANDIDATE = Role.CANDIDATE
_PRE_CANDIDATE = Role.PRE_CANDIDATE

# Answers that vouch for durable state: sent only after the Ready's write (Rule 1).
_AFTER_PERSIST = frozenset({AppendEntriesResp, RequestVoteResp, PreVoteResp})
# Messages only a leader of the message's term sends.
_FROM_LEADER = frozenset({AppendEntries, Heartbeat, InstallSnapshot})
_FROM_ANYONE = _FROM_LEADER | {RequestVote, PreVote}  # also from ids in none of our configurations


class _AnyNode:
    """Every possible sender (node ids are >= 1)."""

    def __contains__(self, node: object) -> bool:
        return isinstance(node, int) and node >= 1


_ANYONE = _AnyNode()
_TO_LEADER = frozenset({AppendEntriesResp, HeartbeatResp, InstallSnapshotResp, ReadIndexReq, TransferLeader})


# --- messages that cannot be true whatever our state (drops.MALFORMED) ----------------
def _bad_append(m: AppendEntries) -> bool:
    return not (
        valid_number(m.prev_index)
        and valid_number(m.prev_term)
        and valid_number(m.commit)
        and m.prev_term <= m.term
        and (m.prev_index > 0 or m.prev_term == 0)
        and entries_extend(m.prev_index, m.prev_term, m.term, m.entries)
        and not (m.notice and m.entries)
    )


def _bad_append_resp(m: AppendEntriesResp) -> bool:
    if not (valid_number(m.index) and valid_number(m.hint_index) and valid_number(m.hint_term)):
        return True
    # A rejection's hint is the follower's last index at or below the rejected
    # one whose term is at most the leader's prev_term (hence its term).
    # Index 0 (the empty prefix) always matches: no follower rejects it.
    return m.reject and (m.index == 0 or m.hint_index > m.index or m.hint_term > m.term)


def _bad_heartbeat(m: Heartbeat) -> bool:
    return not (valid_number(m.commit) and valid_number(m.ctx))


def _bad_vote(m: RequestVote | PreVote) -> bool:
    # A candidate's last entry is older than the term it campaigns in: the
    # term was raised for the campaign, and only its leader writes a term's entries.
    return not (valid_number(m.last_index) and valid_number(m.last_term) and m.last_term < m.term) or (
        m.last_index == 0 and m.last_term != 0
    )


def _bad_snapshot(m: InstallSnapshot) -> bool:
    meta = m.meta
    count = meta.chunk_count
    return not (
        valid_number(meta.index)
        and valid_number(meta.epoch)
        and valid_number(count)
        and valid_number(meta.size_bytes)
        and meta.epoch <= m.term
        and (meta.index > 0 or meta.epoch == 0)
        and 0 <= m.chunk_index < max(count, 1)
        and (count > 0 or not m.data)
    )


def _bad_snapshot_resp(m: InstallSnapshotResp) -> bool:
    return not (valid_number(m.index) and valid_number(m.next_chunk) and valid_number(m.chunk_index))


def _bad_heartbeat_resp(m: HeartbeatResp) -> bool:
    return not valid_number(m.ctx)


def _bad_read_index_resp(m: ReadIndexResp) -> bool:
    return not valid_number(m.index)


_MALFORMED = {
    AppendEntries: _bad_append,
    AppendEntriesResp: _bad_append_resp,
    Heartbeat: _bad_heartbeat,
    HeartbeatResp: _bad_heartbeat_resp,
    RequestVote: _bad_vote,
    PreVote: _bad_vote,
    InstallSnapshot: _bad_snapshot,
    InstallSnapshotResp: _bad_snapshot_resp,
    ReadIndexResp: _bad_read_index_resp,
}


def encode_hard_state(term: int, vote: int, commit: int) -> bytes:
    return _HARD_STATE.pack(_HARD_STATE_VERSION, term, vote, commit)


def decode_hard_state(data: bytes) -> tuple[int, int, int]:
    """(term, vote, commit) from bytes written by encode_hard_state."""
    if len(data) != _HARD_STATE.size or data[0] != _HARD_STATE_VERSION:
        raise ValueError(f"not a Raft hard state (version {_HARD_STATE_VERSION}): {data!r}")
    _, term, vote, commit = _HARD_STATE.unpack(data)
    return term, vote, commit


def committed_index(hard_state: bytes) -> int:
    """The commit index recorded in a Raft hard state (as written by encode_hard_state)."""
    return decode_hard_state(hard_state)[2]


class RaftEngine:
    """One Raft node's protocol state. See the module docstring for the rules.

    Public attributes are read-only views for tests and status: `id`, `term`,
    `vote`, `role`, `leader`, `log` (a LogView).
    """

    def __init__(self, config: EngineConfig, store: LogStore, rng: random.Random) -> None:
        _validate(config)
        self.config = config
        self.id: NodeId = config.node_id
        self.store = store
        self._rng = rng
        # The configuration in force: the newest in the log (membership.py), set by _set_members.
        self._voters: tuple[NodeId, ...] = ()
        self._observers: frozenset[NodeId] = frozenset()  # learners and observers: never counted
        self._members: frozenset[NodeId] = frozenset()
        # Leader: removed members still told of their removal -> (index of the configuration
        # that removed it, the heartbeat round that told it that is committed, or 0).
        self._leaving: dict[NodeId, tuple[int, int]] = {}
        self._known: frozenset[NodeId] = (
            frozenset()
        )  # in some configuration we hold, or leaving: we take their messages
        self._peers: tuple[NodeId, ...] = ()  # everyone but us that we replicate to
        self._promotable = False  # a voter of the newest configuration
        self._electorate: tuple[NodeId, ...] = ()  # the voters of the campaign under way
        self._answers_votes = False
        configs = self._history = ConfigHistory.recover(store, config.bootstrap_membership())
        self._set_members(configs.latest)
        self._max_batch_bytes = config.max_batch_bytes

        # Recover the durable state (§5 "Persistent state on all servers").
        raw = store.hard_state()
        term, vote, commit = decode_hard_state(raw) if raw is not None else (0, 0, 0)
        meta = store.snapshot_meta()
        # The state machine's position proves its entries committed even if the
        # last commit-only hard state write was not synced.
        commit = max(commit, config.applied, meta.index if meta is not None else 0)
        self.log = LogView(store, committed=commit, applied=config.applied, configs=configs)
        self.term = term
        self.vote: NodeId = vote
        self.role = _FOLLOWER
        self.leader: NodeId | None = None

        # The Ready: outboxes, state diffs, the uncommitted budget (ready_builder.py).
        self._ready = ReadyBuilder(
            self.log,
            node_id=self.id,
            hard_state=(term, vote, commit),
            encode_hard_state=encode_hard_state,
            soft_state=(_FOLLOWER, None, term),
            max_apply_bytes=config.max_apply_bytes,
            max_uncommitted_bytes=config.max_uncommitted_bytes,
        )
        self._msgs = self._ready.msgs
        self._msgs_after = self._ready.msgs_after
        self._read_states = self._ready.read_states

        # Clocks, in ticks.
        self._ticks = 0  # since construction: lease arithmetic
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._randomized_timeout = config.election_ticks

        # Role state; reset by _reset().
        self._prs: dict[NodeId, Progress] = {}
        self._votes: dict[NodeId, bool] = {}
        self._self_vote: tuple[int, int] | None = None  # (term, number of the Ready carrying it)
        self._transferee: NodeId | None = None
        self._term_start = 0  # index of this leader's NOOP
        self._read_only = ReadOnly()
        self._reads_waiting_commit: list[tuple[NodeId | None, int]] = []
        self._bcast = False  # every follower may have something to send (new entries, commit)
        self._dirty = False  # some follower is marked dirty
        self._recv_snap = SnapshotReceiver()  # reset on a new term
        self.lost_data = LostData()  # peers that lost their disk (protocol/lost_data.py)

        # Peer messages that could not be true (drops.py), by reason; and how
        # often a follower turned out to have lost entries it had acknowledged.
        self.dropped_messages = DropCounter()
        self.progress_resets = 0

        common = {RequestVote: self._on_vote_request, PreVote: self._on_vote_request}
        self._handlers_follower = {
            **common,
            AppendEntries: self._on_append,
            Heartbeat: self._on_heartbeat,
            InstallSnapshot: self._on_snapshot_chunk,
            TimeoutNow: self._on_timeout_now,
            ReadIndexResp: self._on_read_index_resp,
            TransferLeader: self._forward_to_leader,
        }
        self._handlers_candidate = {
            **common,
            AppendEntries: self._candidate_sees_leader,
            Heartbeat: self._candidate_sees_leader,
            InstallSnapshot: self._candidate_sees_leader,
            RequestVoteResp: self._on_vote_resp,
            PreVoteResp: self._on_vote_resp,
        }
        self._handlers_leader = {
            **common,
            AppendEntriesResp: self._on_append_resp,
            HeartbeatResp: self._on_heartbeat_resp,
            InstallSnapshotResp: self._on_snapshot_resp,
            ReadIndexReq: self._on_read_index_req,
            TransferLeader: self._on_transfer_request,
        }
        self._handlers = self._handlers_follower
        self._become_follower(term, None)
        configs.on_change = self._config_changed

    def __repr__(self) -> str:
        return f"RaftEngine(id={self.id}, {self.role.value}, term={self.term}, leader={self.leader}, {self.log!r})"

    # ===================================================================
    # Inputs
    # ===================================================================
    def tick(self) -> None:
        """One logical clock tick."""
        self._ticks += 1
        if self.role is _LEADER:
            self._tick_leader()
        else:
            self._tick_election()

    def step(self, msg) -> None:
        """Advance by one peer message. Effects appear in the next ready().

        A message that cannot be true (drops.py) is dropped and counted in
        `dropped_messages`; nothing a peer sends raises."""
        kind = type(msg)
        # From members of any configuration we hold (a pending one may leave out the leader of
        # the committed one) and removed nodes we still tell; leader and candidate messages
        # from anyone: a member added in entries we have not received may lead now (thesis
        # §4.1: servers take RPCs whatever their configuration). Strangers never get here:
        # the transport admits only nodes that prove the cluster secret.
        problem = drops.misaddressed(msg, self.id, self._known if kind not in _FROM_ANYONE else _ANYONE)
        if problem is not None:
            self._drop(problem)
            return
        term = msg.term
        malformed = _MALFORMED.get(kind)
        if not valid_number(term) or (malformed is not None and malformed(msg)):
            self._drop(drops.MALFORMED)
            return
        if term > self.term:
            if kind is RequestVote or kind is PreVote:
                # Thesis §4.2.3: a node that heard from a live leader recently
                # ignores higher-term (pre-)votes, so a partitioned or removed
                # node cannot depose a healthy leader. A TimeoutNow campaign
                # is the leader's own wish and passes.
                if not msg.transfer and self._in_lease():
                    return
            if (kind is RequestVoteResp or kind is PreVoteResp) and not msg.reject:
                if kind is RequestVoteResp or term > self.term + 1:
                    # A vote granted in a term above the one we campaign in: only
                    # a campaign a crash made us forget (its term was not yet
                    # durable) explains it. It names no leader: nothing to learn.
                    self._drop(drops.NOT_CAMPAIGNING)
                    return
                # pre-vote never changes our term (§9.6); a won pre-vote does, later
            elif kind is not PreVote:
                self._become_follower(term, msg.src if kind in _FROM_LEADER else None)
        elif term == self.term and kind in _FROM_LEADER:
            if self.role is _LEADER or (self.leader is not None and self.leader != msg.src):
                # Election Safety (§5.2): one leader per term, and we know who it is.
                self._drop(drops.NOT_LEADER)
                return
        elif term < self.term:
            if kind is AppendEntries or kind is Heartbeat:
                # A stale leader (partitioned, or deposed while check-quorum kept
                # our term moving) learns the newer term from this and steps down.
                if self.config.check_quorum or self.config.pre_vote:
                    self._send(AppendEntriesResp(self.id, msg.src, self.term))
            elif kind is PreVote:
                self._send(PreVoteResp(self.id, msg.src, self.term, reject=True))
            return  # every other stale message is ignored (§5.1)
        handler = self._handlers.get(kind)
        if handler is not None:
            if self.role is _LEADER and kind in _TO_LEADER and msg.src not in self._prs:
                self._drop(drops.NOT_MEMBER)  # no longer replicated to (removed): it cannot count
                return
            handler(msg)
        if self.lost_data:
            self._lost_data_shown(msg)

    def peer_lost_data(self, peer: NodeId, until_index: int) -> None:
        """`peer` came back without its disk (a new incarnation): do not count its votes
        until it has shown it holds the log up to `until_index`; as leader, replicate to
        it from scratch (its match index is gone with its disk)."""
        if peer == self.id or peer not in self._members:
            return
        self.lost_data.mark(peer, until_index)
        pr = self._prs.get(peer)
        if self.role is _LEADER and pr is not None:
            pr.match = 0
            pr.become_probe()
            pr.next = self.log.last_index() + 1  # the probe's rejection hint walks it back
            pr.dirty = self._dirty = True

    def caught_up_peers(self) -> list[NodeId]:
        if self.role is not _LEADER:
            return []
        suspected = self.lost_data.until
        return [
            peer
            for peer, pr in self._prs.items()
            if peer != self.id and pr.match >= self._term_start and peer not in suspected
        ]

    def _lost_data_shown(self, msg) -> None:
        # Past our NOOP too: the peer then holds every entry committed before our term.
        if self.role is _LEADER and (pr := self._prs.get(msg.src)) is not None and pr.match >= self._term_start:
            self.lost_data.showed(msg.src, pr.match)

    def propose(self, data: bytes) -> int:
        """Append a client command; return its log index.

        Raises NotLeader (with the known leader, or the transferee during a
        leadership transfer) and ProposalDropped (too much uncommitted data).
        """
        if self.role is not _LEADER:
            raise NotLeader(self.leader)
        if self._transferee is not None:
            raise NotLeader(self._transferee)  # thesis §3.10: stop accepting during a transfer
        self._ready.admit(len(data))
        log = self.log
        index = log.last_index() + 1
        log.append(Entry(index, self.term, data))
        self._bcast = True
        return index

    def propose_config(self, data: bytes) -> int:
        """Append a membership change (a CONFIG entry; types.config_entry_membership).

        Single-server changes (thesis §4.1, with its §4.1 erratum): the new
        configuration is in force on every node as soon as it appends it, so two
        configurations in use at once differ by at most one voter and any majority
        of one meets any majority of the other. Hence the refusals: another change
        not yet committed; no entry of this term committed yet (a change made
        before could meet an uncommitted one of an earlier leader's); more than one
        voter added or removed; no voter left. Learners and observers may change
        freely alongside one voter: they never count.
        """
        if self.role is not _LEADER:
            raise NotLeader(self.leader)
        if self._transferee is not None:
            raise NotLeader(self._transferee)
        log = self.log
        configs = log.configs
        if configs.pending(log.committed):
            raise MembershipChangeRefused("another membership change is in progress; retry when it is committed")
        if log.committed < self._term_start:
            raise MembershipChangeRefused("the leader has not committed an entry of its term yet; retry")
        new = config_entry_membership(data)
        if new is None:
            raise MembershipChangeRefused("not a membership: a configuration needs at least one voter")
        changed = set(configs.latest.voters) ^ set(new.voters)
        if len(changed) > 1:
            raise MembershipChangeRefused(f"voters change one at a time (this changes {sorted(changed)})")
        self._ready.admit(len(data))
        index = log.last_index() + 1
        log.append(Entry(index, self.term, data, EntryKind.CONFIG))  # in force now (_config_changed)
        self._bcast = True
        return index

    @property
    def configs(self) -> ConfigHistory:
        return self.log.configs

    def read_index(self, ctx: int, lease: bool = False) -> None:
        """Ask for a linearizable read point for `ctx` (ReadIndex, thesis §6.4).

        Answered by ReadState(ctx, index) in a later Ready. A follower forwards
        the request to its leader. Raises NotLeader when no leader is known.
        A request the leader cannot finish (it loses leadership) is dropped.

        lease=True: a leader holding a valid lease (thesis §6.4.1: config.lease_read
        allows leases, check_quorum makes followers refuse votes while they hear
        from us; see `_lease_valid`) answers at once from its commit index, with no
        heartbeat round. Without one, on a follower, and before our NOOP commits,
        the read takes the ordinary barrier.
        """
        if self.role is _LEADER:
            self._leader_read(None, ctx, lease)
            return
        if self.leader is None:
            raise NotLeader(None)
        self._send(ReadIndexReq(self.id, self.leader, self.term, ctx))

    def transfer_leadership(self, to: NodeId) -> None:
        """Hand leadership to voter `to` (thesis §3.10), best effort.

        On a follower the request is forwarded to the leader; with no leader
        known it is dropped (etcd), like a transfer that does not finish
        within an election timeout: the caller watches the leader change
        (Ready.soft_state) with a deadline. Raises ValueError if `to` is not
        a voter (a caller's bug, not a cluster condition).
        """
        if to not in self._voters:
            raise ValueError(f"node {to} is not a voter: cannot lead")
        if self.role is _LEADER:
            self._start_transfer(to)
        elif self.leader is not None:
            self._send(TransferLeader(self.id, self.leader, self.term, to))

    def campaign(self) -> None:
        """Start an election now (with pre-vote if configured), as on a timeout."""
        if self.role is not _LEADER:
            self._hup(transfer=False)

    def report_unreachable(self, peer: NodeId) -> None:
        """The transport could not deliver to `peer`: stop streaming to it and
        probe again (etcd ReportUnreachable); it may have missed appends."""
        if self.role is _LEADER:
            pr = self._prs.get(peer)
            if pr is not None and pr.state is _REPLICATE:
                pr.become_probe()

    # ===================================================================
    # Output
    # ===================================================================
    def has_ready(self) -> bool:
        self._flush()
        return self._ready.has_ready((self.term, self.vote, self.log.committed), (self.role, self.leader, self.term))

    def ready(self) -> Ready:
        """Everything to persist, send, apply and report, in the order of
        ready.py. Call advance() with it before asking for the next one."""
        self._flush()
        # The hard state: term and vote must never be lost; the commit index last.
        return self._ready.ready((self.term, self.vote, self.log.committed), (self.role, self.leader, self.term))

    def advance(self, rd: Ready) -> None:
        """The driver carried `rd` out: its writes are durable, its committed
        entries applied."""
        self._ready.advance(rd)
        if rd.entries and self.role is _LEADER and self._prs[self.id].maybe_update(self.log.stable_last_index()):
            # Rule 2: the leader counts itself only now, after its own write.
            self._maybe_commit()
        vote = self._self_vote
        if vote is not None and vote[1] == rd.number:
            self._self_vote = None
            if self.role is _CANDIDATE and self.term == vote[0]:
                self._poll(self.id, True)  # Rule 1: our own vote is durable now

    def status(self) -> Status:
        log = self.log
        progress = {}
        if self.role is _LEADER:
            for peer in self._peers:
                pr = self._prs[peer]
                progress[peer] = PeerProgress(pr.match, pr.next, pr.state.value, pr.recent_active)
        extra: dict[str, int | str] = {"vote": self.vote}
        if self._transferee is not None:
            extra["transferee"] = self._transferee
        if self.role is _LEADER:
            extra["term_start"] = self._term_start
            extra["pending_reads"] = len(self._read_only) + len(self._reads_waiting_commit)
        if not self._promotable:
            extra["observer"] = 1
        return Status(
            node_id=self.id,
            role=self.role,
            leader=self.leader,
            epoch=self.term,
            commit=log.committed,
            applied=log.applied,
            first_index=log.first_index(),
            last_index=log.last_index(),
            progress=progress,
            extra=extra,
        )

    # ===================================================================
    # Roles
    # ===================================================================
    # ===================================================================
    # Membership (membership.py)
    # ===================================================================
    def _set_members(self, membership: Membership) -> None:
        self._voters = membership.voters
        self._observers = frozenset(membership.non_voters)
        self._members = membership.ids()
        replicated = self._members | self._leaving.keys()
        self._peers = tuple(sorted(replicated - {self.id}))
        self._known = replicated | self._history.all_ids()
        self._promotable = self.id in self._voters
        me = membership.get(self.id)
        # Observers never vote. A node removed answers still (thesis §4.1: RPCs are taken
        # whatever the configuration): a candidate that still counts it may need it.
        self._answers_votes = me is None or me.role != MemberRole.OBSERVER

    def _config_changed(self, membership: Membership) -> None:
        """The newest configuration in the log changed (an append, a truncation, a
        snapshot): it is in force from now on."""
        if self.role is _LEADER:
            # A removed member goes on receiving the log until it holds the entry that
            # removed it: it then knows, and stops campaigning (etcd leaves that to its
            # transport; a removed node here must learn it from the log).
            leaving = self._leaving
            config_index = self.log.configs.latest_index
            for node in self._prs:
                if node not in membership.ids() and node != self.id and node not in leaving:
                    leaving[node] = (config_index, 0)
            for node in list(leaving):
                if node in membership.ids():
                    del leaving[node]
        self._set_members(membership)
        if self.role is _LEADER:
            prs = self._prs
            last = self.log.last_index()
            for node in self._leaving:
                prs[node].is_observer = True
            for node in self._members:
                pr = prs.get(node)
                if pr is None:
                    pr = prs[node] = Progress(last + 1, self.config.max_inflight_msgs)
                    pr.recent_active = False  # a new member proves itself before check-quorum counts it
                    self._mark(pr)
                pr.is_observer = node in self._observers
            if self._transferee is not None and self._transferee not in self._voters:
                self._transferee = None
            self._maybe_commit()  # a smaller quorum may already hold more
        elif self.role is not _FOLLOWER and self._election_voters() != self._electorate:
            self._become_follower(self.term, None)  # it campaigned in a configuration no longer in force

    def _forget_leaving(self, node: NodeId) -> None:
        """A removed member holds its removal, or went quiet: stop replicating to it."""
        del self._leaving[node]
        self._prs.pop(node, None)
        self._set_members(self.log.configs.latest)

    def _leave_if_removed(self) -> None:
        """A leader that committed a configuration without itself as a voter stops
        leading (thesis §4.2.2); the most caught-up voter is told to campaign at once."""
        if self._promotable or self.log.configs.pending(self.log.committed):
            return
        last = self.log.last_index()
        ready = [v for v in self._voters if self._prs[v].match == last]
        if ready:
            self._send(TimeoutNow(self.id, ready[0], self.term))
        self._become_follower(self.term, None)

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = 0
            self._recv_snap.reset()
        self.leader = None
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        # §5.2: randomized in [election_ticks, 2 * election_ticks) from the injected rng.
        ticks = self.config.election_ticks
        self._randomized_timeout = ticks + self._rng.randrange(ticks)
        self._transferee = None
        self._votes = {}
        self._self_vote = None
        self._prs = {}
        if self._leaving:
            self._leaving = {}
            self._set_members(self.log.configs.latest)
        self._read_only.reset()
        self._reads_waiting_commit = []
        self._ready.reset_uncommitted()
        self._bcast = self._dirty = False

    def _become_follower(self, term: int, leader: NodeId | None) -> None:
        self._reset(term)
        self.leader = leader
        self.role = _FOLLOWER
        self._handlers = self._handlers_follower

    def _become_pre_candidate(self) -> None:
        assert self.role is not _LEADER, "a leader does not campaign"
        # Term and vote stay: a pre-vote changes nothing durable (§9.6).
        self.role = _PRE_CANDIDATE
        self.leader = None
        self._votes = {}
        self._self_vote = None
        self._handlers = self._handlers_candidate

    def _become_candidate(self) -> None:
        assert self.role is not _LEADER, "a leader does not campaign"
        self._reset(self.term + 1)  # §5.2: increment the term, vote for self
        self.vote = self.id
        self.role = _CANDIDATE
        self._handlers = self._handlers_candidate

    def _become_leader(self) -> None:
        assert self.role is _CANDIDATE, self.role
        self._reset(self.term)
        self.leader = self.id
        self.role = _LEADER
        self._handlers = self._handlers_leader
        log = self.log
        last = log.last_index()
        inflight = self.config.max_inflight_msgs
        for node in self._members | {self.id}:  # itself too, when elected to remove itself
            pr = Progress(last + 1, inflight, is_observer=node in self._observers)
            pr.recent_active = node == self.id  # peers prove themselves before check-quorum
            self._prs[node] = pr
        own = self._prs[self.id]
        own.match = log.stable_last_index()  # Rule 2: only what our disk holds
        own.become_replicate()
        own.next = last + 1
        # §5.4.2 / thesis §6.4: a NOOP of our term commits everything before it
        # and unlocks ReadIndex.
        self._term_start = last + 1
        log.append(Entry(last + 1, self.term, b"", EntryKind.NOOP))
        self._bcast = True

    def _in_lease(self) -> bool:
        """Whether we heard from a live leader within the minimum election timeout."""
        config = self.config
        if not config.check_quorum:
            return False
        if self.leader is not None and self.election_elapsed < config.election_ticks:
            return True
        # With lease reads on, a node that just started may have answered a
        # heartbeat before it restarted: honour that lease for one timeout.
        return config.lease_read and self._ticks < config.election_ticks

    # --- elections --------------------------------------------------------
    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.election_elapsed >= self._randomized_timeout and self._election_voters():
            self.election_elapsed = 0
            self._hup(transfer=False)

    def _election_voters(self) -> tuple[NodeId, ...]:
        """The voters this node campaigns among: those of its newest configuration; or,
        while that one is pending and leaves it out, those of the committed one. A leader
        that crashed while removing itself may hold the only complete log, and the new
        configuration may not be able to elect anyone without it (a lost disk). Safe:
        the two differ by one voter, so their majorities meet (as etcd, which campaigns
        in its applied configuration)."""
        if self._promotable:
            return self._voters
        log = self.log
        if log.configs.pending(log.committed):
            committed = log.configs.committed_config(log.committed).voters
            if self.id in committed:
                return committed
        return ()

    def _hup(self, *, transfer: bool) -> None:
        if self.role is _LEADER or not self._election_voters():
            return
        if self.config.pre_vote and not transfer:
            self._campaign(pre=True, transfer=False)
        else:
            self._campaign(pre=False, transfer=transfer)

    def _campaign(self, *, pre: bool, transfer: bool) -> None:
        if pre:
            self._become_pre_candidate()
            term = self.term + 1
            kind = PreVote
        else:
            self._become_candidate()
            term = self.term
            kind = RequestVote
        log = self.log
        last_index, last_term = log.last_index(), log.last_term()
        self._electorate = self._election_voters()
        for voter in self._electorate:
            if voter != self.id:
                self._send(kind(self.id, voter, term, last_index, last_term, transfer))
        if pre:
            self._poll(self.id, True)  # nothing durable to wait for
        else:
            self._self_vote = (self.term, self._ready.next_number)  # Rule 1: counted in advance()

    def _poll(self, voter: NodeId, granted: bool) -> None:
        if granted and not self.lost_data.counts_vote(voter):
            return  # it lost its disk and has not caught up: its grant proves nothing
        self._votes.setdefault(voter, granted)
        result = vote_result(self._electorate, self._votes)
        if result is VoteResult.WON:
            if self.role is _PRE_CANDIDATE:
                self._campaign(pre=False, transfer=False)
            else:
                self._become_leader()
        elif result is VoteResult.LOST:
            self._become_follower(self.term, None)

    def _on_vote_request(self, m: RequestVote | PreVote) -> None:
        if not self._answers_votes:
            return  # observers never vote
        # A learner answers: in the candidate's log it may be a voter already (etcd does
        # the same); a candidate counts only the voters of its own configuration.
        pre = type(m) is PreVote
        # §5.2: one vote per term, first come first served; a pre-vote for a
        # later term may be granted whatever we voted in ours.
        can_vote = self.vote == m.src or (self.vote == 0 and self.leader is None) or (pre and m.term > self.term)
        # Nor to a candidate that lost its disk and has not caught up (lost_data.py): it
        # counts its own vote, and its log may lack what its lost disk acknowledged; with
        # the only other holder of those entries away, our grant would elect it without
        # them (the simulator's wiped-disks profile: tests/sim/test_sim_wiped_disks.py,
        # SUSPECT_CANDIDATE). ZAB's FLE does not count a suspect's report that it leads,
        # for the same reason.
        can_vote = can_vote and self._may_elect(m.src)
        if can_vote and self.log.is_up_to_date(m.last_index, m.last_term):  # §5.4.1
            if pre:
                self._send(PreVoteResp(self.id, m.src, m.term))
            else:
                self.election_elapsed = 0
                self.vote = m.src
                self._send(RequestVoteResp(self.id, m.src, m.term))
        elif pre:
            self._send(PreVoteResp(self.id, m.src, self.term, reject=True))
        else:
            self._send(RequestVoteResp(self.id, m.src, self.term, reject=True))

    def _may_elect(self, candidate: NodeId) -> bool:
        """Whether our grant may help `candidate` win: not while it is suspected of a lost disk."""
        return self.lost_data.counts_vote(candidate)

    def _on_vote_resp(self, m: RequestVoteResp | PreVoteResp) -> None:
        pre = type(m) is PreVoteResp
        if pre != (self.role is _PRE_CANDIDATE):
            return  # an answer to a round we are no longer in
        if m.src not in self._electorate:
            self._drop(drops.NOT_CAMPAIGNING)  # observers never vote
            return
        if pre and not m.reject and m.term != self.term + 1:
            return  # granted in a pre-vote round of an older term
        self._poll(m.src, not m.reject)

    def _candidate_sees_leader(self, m: AppendEntries | Heartbeat | InstallSnapshot) -> None:
        # §5.2: a leader of our term exists; step down and follow it.
        self._become_follower(self.term, m.src)
        self._handlers_follower[type(m)](m)

    # --- follower ---------------------------------------------------------
    def _on_append(self, m: AppendEntries) -> None:
        log = self.log
        if m.prev_index < log.committed:
            self._heard_leader(m.src)
            self._send(AppendEntriesResp(self.id, m.src, self.term, index=log.committed))
            return
        last_new = log.maybe_append(m.prev_index, m.prev_term, m.commit, m.entries)
        if last_new is None and m.prev_index == log.committed:
            # Our committed entry there is in every later leader's log with its
            # term (§5.4 Leader Completeness): no leader sends another. Nor is
            # this a sign of the leader's life.
            self._drop(drops.CONFLICTS_COMMIT)
            return
        self._heard_leader(m.src)
        if last_new is not None:
            if not m.notice:
                self._send(AppendEntriesResp(self.id, m.src, self.term, index=last_new))
            return
        # §5.3 with fast backtracking: tell the leader our last index whose term
        # is <= its prev_term; everything above it cannot match.
        hint_index, hint_term = log.find_conflict_by_term(min(m.prev_index, log.last_index()), m.prev_term)
        self._send(
            AppendEntriesResp(
                self.id, m.src, self.term, index=m.prev_index, reject=True, hint_index=hint_index, hint_term=hint_term
            )
        )

    def _heard_leader(self, leader: NodeId) -> None:
        self.election_elapsed = 0
        self.leader = leader

    def _on_heartbeat(self, m: Heartbeat) -> None:
        self._heard_leader(m.src)
        log = self.log
        log.commit_to(min(m.commit, log.last_index()))
        self._send(HeartbeatResp(self.id, m.src, self.term, m.ctx))

    def _on_snapshot_chunk(self, m: InstallSnapshot) -> None:
        log = self.log
        meta = m.meta
        if meta.index <= log.committed and not log.may_hold(meta.index, meta.epoch):
            self._drop(drops.CONFLICTS_COMMIT)  # a committed entry of ours says otherwise
            return
        self._heard_leader(m.src)
        if meta.index <= log.committed:
            # Already covered (or this is a resend after our ack was lost).
            self._recv_snap.reset()
            self._send(AppendEntriesResp(self.id, m.src, self.term, index=log.committed))
            return
        outcome, held, snapshot = self._recv_snap.receive((m.src, m.term), meta, m.chunk_index, m.data)
        if outcome is Received.REFUSED or outcome is Received.PARTIAL:
            refused = outcome is Received.REFUSED
            self._send(InstallSnapshotResp(self.id, m.src, self.term, meta.index, held, m.chunk_index, refused))
            return
        if outcome is Received.MISMATCH:
            self._drop(drops.SNAPSHOT_MISMATCH)
            return
        if self._restore(snapshot):
            self._send(AppendEntriesResp(self.id, m.src, self.term, index=log.last_index()))
        else:
            self._send(AppendEntriesResp(self.id, m.src, self.term, index=log.committed))

    def _restore(self, snapshot: Snapshot) -> bool:
        """Install a leader's snapshot; False if our log already covers it."""
        meta = snapshot.meta
        log = self.log
        if meta.index <= log.committed:
            return False
        if log.match_term(meta.index, meta.epoch):
            # Our log holds the snapshot's last entry: by Log Matching it holds
            # everything before it too; just fast-forward the commit.
            log.commit_to(meta.index)
            return False
        log.restore(snapshot)
        return True

    def _on_timeout_now(self, m: TimeoutNow) -> None:
        # Thesis §3.10: the leader asks us to campaign at once, skipping pre-vote.
        # Only our leader may: anyone else's TimeoutNow would move leadership.
        if m.src != self.leader:
            if self.leader is not None:
                self._drop(drops.NOT_LEADER)
            # else we lost track of our leader (a pre-vote round): a transfer is
            # best effort, and an unknown sender must not start a campaign.
            return
        self._hup(transfer=True)

    def _on_read_index_resp(self, m: ReadIndexResp) -> None:
        # Only the leader of our term answers ReadIndex. While we know who that
        # is (we may forget it in a pre-vote round), nobody else's answer counts.
        if self.leader is not None and m.src != self.leader:
            self._drop(drops.NOT_LEADER)
            return
        self._read_states.append(ReadState(m.ctx, m.index))

    def _forward_to_leader(self, m: TransferLeader) -> None:
        if self.leader is not None and self.leader != m.src:
            self._send(TransferLeader(self.id, self.leader, self.term, m.target))

    # --- leader -----------------------------------------------------------
    def _tick_leader(self) -> None:
        config = self.config
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= config.election_ticks:
            self.election_elapsed = 0
            if config.check_quorum and not self._quorum_active():
                # A leader cut off from its majority steps down (thesis §6.2),
                # so its clients learn to look elsewhere.
                self._become_follower(self.term, None)
                return
            if self._transferee is not None:
                self._transferee = None  # thesis §3.10: abort after an election timeout
        for peer in self._peers:
            pr = self._prs[peer]
            if pr.state is _SNAPSHOT:
                pr.snap_stall_ticks += 1
                if pr.snap_stall_ticks >= config.election_ticks:
                    if pr.recent_active:
                        pr.snap_rewind_end = pr.snap_next_chunk
                        pr.snap_next_chunk = pr.snap_acked  # resend what was not acked
                        pr.snap_stall_ticks = 0
                    else:
                        pr.become_probe()  # gone quiet: retry from scratch later
                    self._mark(pr)
        if self.heartbeat_elapsed >= config.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            self._bcast_heartbeat()

    def _quorum_active(self) -> bool:
        prs = self._prs
        for node in list(self._leaving):
            if not prs[node].recent_active:
                self._forget_leaving(node)  # silent for an election timeout: it may be gone for good
        active = sum(1 for v in self._voters if v == self.id or prs[v].recent_active)
        for peer in self._peers:
            prs[peer].recent_active = False
        return active >= len(self._voters) // 2 + 1

    def _mark(self, pr: Progress) -> None:
        pr.dirty = True
        self._dirty = True

    def _flush(self) -> None:
        """Turn pending work for followers into messages (Rule 4: batching)."""
        if self.role is not _LEADER:
            return
        if self._bcast or self._dirty:
            bcast = self._bcast
            self._bcast = self._dirty = False
            commit = self.log.committed
            prs = self._prs
            for peer in self._peers:
                pr = prs[peer]
                if not (bcast or pr.dirty):
                    continue
                pr.dirty = False
                if pr.state is _SNAPSHOT:
                    pr.send_empty = False
                    self._send_snapshot_chunks(peer, pr)
                    continue
                empty = pr.send_empty or pr.sent_commit < commit
                # Only the commit index is news to a follower that has acknowledged all we sent it.
                notice = not pr.send_empty and pr.state is _REPLICATE and pr.match == pr.next - 1
                pr.send_empty = False
                while self._send_append(peer, pr, empty, notice):
                    empty = False
        if self._read_only.needs_round():
            self._bcast_heartbeat()

    def _send_append(self, peer: NodeId, pr: Progress, send_empty: bool, notice: bool = False) -> bool:
        """Send `peer` the entries it lacks (one message); True if one went out. An empty
        one goes out if `send_empty`, as a commit notice (AppendEntries.notice) if `notice`."""
        if pr.is_paused():
            return False
        log = self.log
        nxt = pr.next
        last = log.last_index()
        try:
            prev_term = log.term(nxt - 1)
            ents = log.entries(nxt, last + 1, self._max_batch_bytes) if nxt <= last else None
        except Compacted:
            # The entries are gone from our log: only the snapshot covers them.
            self._start_snapshot(peer, pr)
            return False
        if ents:
            last_sent = ents[-1].index
            ents = tuple(ents)
        elif send_empty:
            last_sent = None
            ents = ()
        else:
            return False
        commit = log.committed
        self._msgs.append(
            AppendEntries(self.id, peer, self.term, nxt - 1, prev_term, ents, commit, notice and not ents)
        )
        pr.sent_entries(last_sent)
        pr.sent_commit = commit
        return True

    def _start_snapshot(self, peer: NodeId, pr: Progress) -> None:
        if not pr.recent_active:
            return  # do not stream a snapshot into the void; a heartbeat answer retries
        meta = self.store.snapshot_meta()
        assert meta is not None, "log compacted without a snapshot"
        pr.become_snapshot(meta)
        self._send_snapshot_chunks(peer, pr)

    def _send_snapshot_chunks(self, peer: NodeId, pr: Progress) -> None:
        store = self.store
        meta = store.snapshot_meta()
        assert meta is not None, "log compacted without a snapshot"
        if meta != pr.snap_meta:
            pr.become_snapshot(meta)  # the host took a newer snapshot: stream that one
        count = max(meta.chunk_count, 1)
        msgs = self._msgs
        while pr.snap_next_chunk < count and pr.snap_next_chunk - pr.snap_acked < SNAPSHOT_WINDOW_CHUNKS:
            i = pr.snap_next_chunk
            data = store.snapshot_chunk(i) if meta.chunk_count else b""
            msgs.append(InstallSnapshot(self.id, peer, self.term, meta, i, data))
            pr.snap_next_chunk = i + 1

    def _bcast_heartbeat(self) -> None:
        rnd = self._read_only.new_round(self._ticks)
        commit = self.log.committed
        prs = self._prs
        msgs = self._msgs
        for peer in self._peers:
            # Never tell a follower to commit past what it shares with us.
            told = min(prs[peer].match, commit)
            msgs.append(Heartbeat(self.id, peer, self.term, told, rnd))
            leaving = self._leaving.get(peer)
            if leaving is not None and told >= leaving[0] and leaving[1] == 0:
                self._leaving[peer] = (leaving[0], rnd)  # its answer to this one means it knows
        self._maybe_release_reads()

    def _on_append_resp(self, m: AppendEntriesResp) -> None:
        log = self.log
        if m.index > log.last_index():
            # We never sent an entry (or a prev_index) past our last index in our
            # term, and our log does not shrink while we lead.
            self._drop(drops.BEYOND_LOG)
            return
        pr = self._prs[m.src]
        pr.recent_active = True
        if m.reject:
            hint = m.hint_index
            if m.hint_term > 0:
                # Jump to our last index whose term is <= the follower's term there.
                hint, _ = log.find_conflict_by_term(m.hint_index, m.hint_term)
            if pr.state is _PROBE and m.index == pr.next - 1 and m.index <= pr.match:
                # Our probe at an index it acknowledged is refused: it lost
                # entries it had made durable (a wiped or damaged disk), or this
                # is a duplicate of a refusal older than its ack. Ask once more:
                # a second refusal there means the loss is real.
                if pr.lost_suspect != m.index:
                    pr.lost_suspect = m.index
                    pr.probe_sent = False
                    pr.send_empty = True
                    self._mark(pr)
                else:
                    self.reset_progress(m.src, hint)
                return
            if pr.maybe_decr_to(m.index, hint):
                if pr.state is _REPLICATE:
                    pr.become_probe()
                self._mark(pr)
            return
        if pr.maybe_update(m.index) or (pr.match == m.index and pr.state is _PROBE):
            state = pr.state
            if state is _PROBE:
                pr.become_replicate()
            elif state is _SNAPSHOT:
                if pr.match + 1 >= self.log.first_index():
                    pr.become_probe()
                    pr.become_replicate()
            else:
                pr.inflights.free_le(m.index)
            if not pr.is_observer:
                self._maybe_commit()
            self._mark(pr)
            if m.src == self._transferee and pr.match == self.log.last_index():
                self._send(TimeoutNow(self.id, m.src, self.term))

    def _on_heartbeat_resp(self, m: HeartbeatResp) -> None:
        if m.ctx > self._read_only.round:
            self._drop(drops.BEYOND_LOG)  # a round we never sent: it would confirm reads
            return
        pr = self._prs[m.src]
        pr.recent_active = True
        pr.probe_sent = False
        if pr.state is _REPLICATE and pr.inflights.full():
            pr.inflights.free_first_one()  # appends may be lost: let one more through
        if pr.match < self.log.last_index():
            pr.send_empty = True  # an empty append finds where it really is
            self._mark(pr)
        if not pr.is_observer and m.ctx > pr.acked_round:
            pr.acked_round = m.ctx
            self._maybe_release_reads()
        leaving = self._leaving.get(m.src)
        if leaving is not None and leaving[1] and m.ctx >= leaving[1]:
            self._forget_leaving(m.src)  # it knows its removal is committed: it will not campaign

    def _on_snapshot_resp(self, m: InstallSnapshotResp) -> None:
        pr = self._prs[m.src]
        pr.recent_active = True
        if pr.state is not _SNAPSHOT or pr.snap_meta is None or pr.snap_meta.index != m.index:
            return
        count = max(pr.snap_meta.chunk_count, 1)
        if m.next_chunk > count or m.chunk_index >= count:
            self._drop(drops.BEYOND_LOG)  # chunks this snapshot does not have
            return
        held = m.next_chunk  # the follower's position: it holds chunks 0..held-1
        if held > pr.snap_acked:
            pr.snap_acked = held
            pr.snap_stall_ticks = 0  # progress
        elif m.reject and held < pr.snap_next_chunk and (m.chunk_index >= pr.snap_rewind_end or held < pr.snap_acked):
            # A gap (a chunk was lost) or the follower lost its chunks (restart):
            # go back to where it is. Refusals of chunks sent before the last
            # rewind say nothing new, so they do not rewind again; if a resent
            # chunk is lost too, the stall timer resends from snap_acked.
            pr.snap_rewind_end = pr.snap_next_chunk
            pr.snap_next_chunk = held
            pr.snap_acked = held
            pr.snap_stall_ticks = 0
        self._mark(pr)

    def _maybe_commit(self) -> None:
        prs = self._prs
        index = quorum_index([prs[v].match for v in self._voters])
        log = self.log
        # Rule 3 (§5.4.2): only an entry of the current term commits by
        # counting; entries >= _term_start are exactly those.
        if index > log.committed and index >= self._term_start:
            log.commit_to(index)
            self._bcast = True  # followers learn the new commit index
            if not self._promotable:
                self._leave_if_removed()
                return
            if self._reads_waiting_commit:
                waiting, self._reads_waiting_commit = self._reads_waiting_commit, []
                for requester, ctx in waiting:
                    self._leader_read(requester, ctx)

    # --- leadership transfer (thesis §3.10) -------------------------------
    def _on_transfer_request(self, m: TransferLeader) -> None:
        if m.target not in self._voters:
            self._drop(drops.MALFORMED)  # only a voter can lead
            return
        self._start_transfer(m.target)

    def _start_transfer(self, to: NodeId) -> None:
        if self._transferee is not None:
            if self._transferee == to:
                return
            self._transferee = None
        if to == self.id:
            return
        self.election_elapsed = 0  # the transfer must finish within one election timeout
        self._transferee = to
        pr = self._prs[to]
        if pr.match == self.log.last_index():
            self._send(TimeoutNow(self.id, to, self.term))
        else:
            # Catch it up first (an empty append finds its log end if appends were
            # lost); the ack that completes it sends TimeoutNow.
            pr.send_empty = True
            self._mark(pr)

    # --- reads (thesis §6.4) ----------------------------------------------
    def _on_read_index_req(self, m: ReadIndexReq) -> None:
        self._leader_read(m.src, m.ctx)

    def _leader_read(self, requester: NodeId | None, ctx: int, lease: bool = False) -> None:
        log = self.log
        if log.committed < self._term_start:
            # §6.4 step 1: until our NOOP commits, our commit index may lag
            # entries committed by earlier leaders.
            self._reads_waiting_commit.append((requester, ctx))
            return
        index = log.committed
        if self._voters == (self.id,) or (lease and self._lease_valid()):
            self._deliver_read(requester, ctx, index)
            return
        self._read_only.add(index, requester, ctx)

    def _lease_valid(self) -> bool:
        config = self.config
        return (
            config.lease_read
            and config.check_quorum
            and self._transferee is None
            and self._ticks < self._read_only.lease_until_tick
        )

    def _maybe_release_reads(self) -> None:
        ro = self._read_only
        prs = self._prs
        rnd = ro.round
        quorum_round = quorum_index([rnd if v == self.id else prs[v].acked_round for v in self._voters])
        for index, requester, ctx in ro.acknowledge(quorum_round, self.config.election_ticks - 1):
            self._deliver_read(requester, ctx, index)

    def _deliver_read(self, requester: NodeId | None, ctx: int, index: int) -> None:
        if requester is None or requester == self.id:
            self._read_states.append(ReadState(ctx, index))
        else:
            self._send(ReadIndexResp(self.id, requester, self.term, ctx, index))

    # --- followers that lost their data ------------------------------------
    def reset_progress(self, peer: NodeId, probe_from: int = 0) -> None:
        """Leader: `peer` no longer holds entries it acknowledged (its disk was
        wiped or damaged). Forget what it matched - counting it for commits or
        telling it a commit index on that basis would be wrong - and probe
        from `probe_from` + 1 down; a snapshot follows if that is compacted.

        The one place a follower's progress is reset; also for callers that
        learn of the loss otherwise (a new incarnation of its data directory).
        """
        if self.role is not _LEADER or peer == self.id:
            return
        pr = self._prs.get(peer)
        if pr is None:
            return
        self.progress_resets += 1
        pr.reset_after_data_loss(probe_from)
        self._mark(pr)

    # --- sending ----------------------------------------------------------
    def _drop(self, reason: str) -> None:
        self.dropped_messages.count(reason)

    def _send(self, msg) -> None:
        if type(msg) in _AFTER_PERSIST:
            self._msgs_after.append(msg)  # Rule 1
        else:
            self._msgs.append(msg)


def _validate(config: EngineConfig) -> None:
    bootstrap = config.bootstrap_membership()
    ids = tuple(m.id for m in bootstrap.members)
    if any(node < 1 for node in ids):
        raise ValueError(f"node ids must be >= 1 (0 means 'no vote'): {ids}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"a node is listed twice in voters/observers: {ids}")
    if not bootstrap.voters:
        raise ValueError("a cluster needs at least one voter")
    if config.node_id not in ids:
        raise ValueError(f"node {config.node_id} is not a member")
    if config.election_ticks < 2 or config.heartbeat_ticks < 1 or config.heartbeat_ticks >= config.election_ticks:
        raise ValueError(
            f"need election_ticks > heartbeat_ticks >= 1 (got {config.election_ticks}, {config.heartbeat_ticks})"
        )
    if config.max_inflight_msgs < 1 or config.max_batch_bytes < 1:
        raise ValueError("max_inflight_msgs and max_batch_bytes must be positive")


__all__ = ["SNAPSHOT_WINDOW_CHUNKS", "RaftEngine", "committed_index", "decode_hard_state", "encode_hard_state"]
