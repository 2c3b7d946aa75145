"""A deliberately small Raft used to test the simulator itself.

It satisfies the Engine protocol (tick/step/propose/read_index/ready/advance/
status) with the plain algorithm of the paper: no pre-vote, no check-quorum,
naive flow control, whole-snapshot InstallSnapshot in one message, ReadIndex
confirmed by a heartbeat round. `bugs` switches on classic mistakes, so the
tests can show that the simulator catches each one:

- "ack-before-persist": a follower acks appends before its write is durable;
- "vote-before-persist": a voter grants its vote before its write is durable;
- "commit-old-term": a leader commits by counting replicas of an old term's
  entry (the Figure 8 bug, §5.4.2);
- "stale-read": ReadIndex answered at once, with no heartbeat round;
- "truncate-always": a follower drops its tail on every append, even a stale
  one whose entries all match.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import msgspec

from replicator.protocol import EngineConfig
from replicator.protocol.log_store import Compacted, Unavailable, snapshot_chunks
from replicator.protocol.membership import ConfigHistory, MembershipChangeRefused
from replicator.protocol.ready import Ready
from replicator.types import Entry, EntryKind, NotLeader, ReadState, Role, Snapshot, SoftState, Status

_hs = msgspec.msgpack.Decoder(tuple[int, int, int])
_enc = msgspec.msgpack.Encoder()


@dataclass(frozen=True, slots=True)
class Msg:
    src: int
    dst: int
    kind: str  # vote, vote-resp, app, app-resp, snap
    term: int
    index: int = 0  # vote: last index; app: prev index; app-resp: match or hint
    log_term: int = 0  # vote: last term; app: prev term
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    ctx: int = 0  # heartbeat round
    snapshot: Snapshot | None = None


class ToyRaft:
    def __init__(self, config: EngineConfig, store, rng: random.Random, bugs: frozenset[str] = frozenset()) -> None:
        self.cfg = config
        self.id = config.node_id
        self.peers = [v for v in config.voters if v != self.id]
        self.quorum = len(config.voters) // 2 + 1
        self.store = store
        self.rng = rng
        self.bugs = bugs
        hs = store.hard_state()
        self.term, self.vote, self.commit = _hs.decode(hs) if hs else (0, 0, 0)
        meta = store.snapshot_meta()
        self.commit = max(self.commit, meta.index if meta else 0)
        self.applied = config.applied
        self.unstable: list[Entry] = []
        self.pending_snap: Snapshot | None = None
        self.role = Role.FOLLOWER
        self.leader: int | None = None
        self.elapsed = 0
        self.timeout = 0
        self._reset_timeout()
        self.votes: set[int] = set()
        self.self_vote_durable = False
        self.next: dict[int, int] = {}
        self.match: dict[int, int] = {}
        self.round = 0
        self.acked_round: dict[int, int] = {}
        # Membership is static here: one configuration, never changed (propose_config refuses).
        self.configs = ConfigHistory(0, config.bootstrap_membership())
        self.reads: list[tuple[int, int, int]] = []  # (ctx, index, round)
        self.waiting_reads: list[int] = []  # until the leader commits in its term
        self.ready_reads: list[ReadState] = []
        self.msgs: list[Msg] = []
        self.after: list[Msg] = []
        self.number = 0
        self._last_hs = (self.term, self.vote, self.commit)
        self._last_soft = (self.role, self.leader, self.term)

    # --- log view ---------------------------------------------------------------
    def last_index(self) -> int:
        if self.unstable:
            return self.unstable[-1].index
        if self.pending_snap is not None:
            return self.pending_snap.meta.index
        return self.store.last_index()

    def term_at(self, i: int) -> int | None:
        if self.unstable and i >= self.unstable[0].index:
            return self.unstable[i - self.unstable[0].index].epoch if i <= self.unstable[-1].index else None
        if self.pending_snap is not None:
            return self.pending_snap.meta.epoch if i == self.pending_snap.meta.index else None
        try:
            return self.store.term(i)
        except (Compacted, Unavailable):
            return None

    def first_index(self) -> int:
        if self.pending_snap is not None:
            return self.pending_snap.meta.index + 1
        return self.store.first_index()

    def entries(self, lo: int, hi: int) -> list[Entry]:
        out: list[Entry] = []
        u0 = self.unstable[0].index if self.unstable else self.last_index() + 1
        if lo < u0:
            out = list(self.store.entries(lo, min(hi, u0)))
        if hi > u0:
            out += self.unstable[max(lo, u0) - u0 : hi - u0]
        return out

    def append(self, entries: list[Entry]) -> None:
        first = entries[0].index
        if self.unstable and first >= self.unstable[0].index:
            del self.unstable[first - self.unstable[0].index :]
            self.unstable.extend(entries)
        else:
            self.unstable = list(entries)

    # --- inputs -------------------------------------------------------------------
    def _reset_timeout(self) -> None:
        self.elapsed = 0
        self.timeout = self.rng.randrange(self.cfg.election_ticks, 2 * self.cfg.election_ticks)

    def tick(self) -> None:
        if self.role == Role.LEADER:
            self.elapsed += 1
            if self.elapsed >= self.cfg.heartbeat_ticks:
                self.elapsed = 0
                self.round += 1
                self._broadcast()
            return
        self.elapsed += 1
        if self.elapsed >= self.timeout:
            self._campaign()

    def _campaign(self) -> None:
        self._reset_timeout()
        self.role = Role.CANDIDATE
        self.term += 1
        self.vote = self.id
        self.leader = None
        self.votes = set()
        self.self_vote_durable = False
        for p in self.peers:
            self.msgs.append(
                Msg(self.id, p, "vote", self.term, self.last_index(), self.term_at(self.last_index()) or 0)
            )

    def _become_follower(self, term: int, leader: int | None) -> None:
        if term > self.term:
            self.term = term
            self.vote = 0
        self.role = Role.FOLLOWER
        self.leader = leader
        self.reads.clear()
        self.waiting_reads.clear()

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader = self.id
        self.elapsed = 0
        last = self.last_index()
        self.next = dict.fromkeys(self.peers, last + 1)
        self.match = dict.fromkeys(self.peers, 0)
        self.acked_round = dict.fromkeys(self.peers, 0)
        self.append([Entry(last + 1, self.term, b"", EntryKind.NOOP)])
        self._broadcast()

    def step(self, m: Msg) -> None:
        if m.term > self.term:
            self._become_follower(m.term, m.src if m.kind in ("app", "snap") else None)
        elif m.term < self.term:
            if m.kind in ("app", "snap", "vote"):
                kind = "vote-resp" if m.kind == "vote" else "app-resp"
                self.msgs.append(Msg(self.id, m.src, kind, self.term, reject=True))
            return
        getattr(self, "_on_" + m.kind.replace("-", "_"))(m)

    def _on_vote(self, m: Msg) -> None:
        last = self.last_index()
        up_to_date = (m.log_term, m.index) >= (self.term_at(last) or 0, last)
        can = self.vote in (0, m.src) or "vote-before-persist" in self.bugs
        grant = can and up_to_date and self.role != Role.LEADER
        if grant:
            self.vote = m.src
            self._reset_timeout()
        out = Msg(self.id, m.src, "vote-resp", self.term, reject=not grant)
        (self.msgs if "vote-before-persist" in self.bugs else self.after).append(out)

    def _on_vote_resp(self, m: Msg) -> None:
        if self.role != Role.CANDIDATE or m.reject:
            return
        self.votes.add(m.src)
        self._maybe_win()

    def _maybe_win(self) -> None:
        if self.role == Role.CANDIDATE and len(self.votes) + (1 if self.self_vote_durable else 0) >= self.quorum:
            self._become_leader()

    def _on_app(self, m: Msg) -> None:
        self.role = Role.FOLLOWER
        self.leader = m.src
        self._reset_timeout()
        snap_index = self.first_index() - 1
        prev, entries = m.index, list(m.entries)
        if prev < snap_index:  # below our snapshot: those entries are committed here already
            entries = [e for e in entries if e.index > snap_index]
            prev = snap_index
        elif self.term_at(prev) != m.log_term:
            self._ack(m.src, reject=True, index=min(prev - 1, self.last_index()), ctx=m.ctx)
            return
        if entries:
            conflict = None
            for e in entries:
                if self.term_at(e.index) != e.epoch:
                    conflict = e.index
                    break
            if conflict is not None:
                self.append([e for e in entries if e.index >= conflict])
            elif "truncate-always" in self.bugs:
                self.append(entries)
        match = max(prev + len(entries), prev)
        if m.commit > self.commit:
            self.commit = max(self.commit, min(m.commit, match))
        self._ack(m.src, reject=False, index=match, ctx=m.ctx)

    def _ack(self, to: int, reject: bool, index: int, ctx: int) -> None:
        out = Msg(self.id, to, "app-resp", self.term, index=max(0, index), reject=reject, ctx=ctx)
        (self.msgs if "ack-before-persist" in self.bugs else self.after).append(out)

    def _on_snap(self, m: Msg) -> None:
        self.role = Role.FOLLOWER
        self.leader = m.src
        self._reset_timeout()
        snap = m.snapshot
        assert snap is not None
        if snap.meta.index <= self.commit:
            self._ack(m.src, reject=False, index=self.commit, ctx=m.ctx)
            return
        if self.term_at(snap.meta.index) == snap.meta.epoch:
            # Our log holds the snapshot's last entry, so all of it: keep the log.
            self.commit = snap.meta.index
            self._ack(m.src, reject=False, index=snap.meta.index, ctx=m.ctx)
            return
        self.pending_snap = snap
        self.unstable = []
        self.commit = snap.meta.index
        self._ack(m.src, reject=False, index=snap.meta.index, ctx=m.ctx)

    def _on_app_resp(self, m: Msg) -> None:
        if self.role != Role.LEADER:
            return
        p = m.src
        self.acked_round[p] = max(self.acked_round.get(p, 0), m.ctx)
        if m.reject:
            self.next[p] = max(1, min(self.next[p] - 1, m.index + 1))
            self._send_append(p)
        else:
            if m.index > self.match[p]:
                self.match[p] = m.index
            self.next[p] = max(self.next[p], m.index + 1)
            self._maybe_commit()
            if self.next[p] <= self.last_index():
                self._send_append(p)
        self._release_reads()

    def _maybe_commit(self) -> None:
        own = self.store.last_index()  # only what is durable here counts for us
        matches = sorted([own] + list(self.match.values()), reverse=True)
        n = matches[self.quorum - 1]
        if n > self.commit and ("commit-old-term" in self.bugs or self.term_at(n) == self.term):
            self.commit = n
            if self.waiting_reads and self.term_at(self.commit) == self.term:
                for ctx in self.waiting_reads:
                    self._start_read(ctx)
                self.waiting_reads.clear()

    def _broadcast(self) -> None:
        for p in self.peers:
            self._send_append(p, heartbeat=True)

    def _send_append(self, p: int, heartbeat: bool = False) -> None:
        nxt = self.next[p]
        last = self.last_index()
        if nxt < self.first_index():
            meta = self.store.snapshot_meta()
            snap = Snapshot(meta, tuple(snapshot_chunks(self.store)))
            self.msgs.append(Msg(self.id, p, "snap", self.term, commit=self.commit, ctx=self.round, snapshot=snap))
            self.next[p] = meta.index + 1
            return
        if nxt > last and not heartbeat:
            return
        hi = min(last + 1, nxt + 16)
        ents = tuple(self.entries(nxt, hi)) if nxt <= last else ()
        prev = nxt - 1
        self.msgs.append(
            Msg(
                self.id,
                p,
                "app",
                self.term,
                prev,
                self.term_at(prev) or 0,
                ents,
                min(self.commit, prev + len(ents)),
                ctx=self.round,
            )
        )
        self.next[p] = hi if ents else nxt

    def propose_config(self, data: bytes) -> int:
        raise MembershipChangeRefused("the toy engine's membership is static")

    def propose(self, data: bytes) -> int:
        if self.role != Role.LEADER:
            raise NotLeader(self.leader)
        index = self.last_index() + 1
        self.append([Entry(index, self.term, data)])
        for p in self.peers:
            self._send_append(p)
        return index

    def read_index(self, ctx: int, lease: bool = False) -> None:
        if self.role != Role.LEADER:
            raise NotLeader(self.leader)
        if "stale-read" in self.bugs:
            self.ready_reads.append(ReadState(ctx, self.commit))
            return
        if self.term_at(self.commit) != self.term:
            self.waiting_reads.append(ctx)
            return
        self._start_read(ctx)

    def _start_read(self, ctx: int) -> None:
        self.round += 1
        self.reads.append((ctx, self.commit, self.round))
        self._broadcast()

    def _release_reads(self) -> None:
        if not self.reads:
            return
        acks = sorted(self.acked_round.values(), reverse=True)
        confirmed = acks[self.quorum - 2] if self.quorum >= 2 else self.round
        keep = []
        for ctx, index, rnd in self.reads:
            if rnd <= confirmed:
                self.ready_reads.append(ReadState(ctx, index))
            else:
                keep.append((ctx, index, rnd))
        self.reads = keep

    def transfer_leadership(self, to: int) -> None:
        pass

    def caught_up_peers(self) -> list[int]:
        return []  # the self-tests lose no disks: nobody to vouch for

    # --- output -------------------------------------------------------------------
    def has_ready(self) -> bool:
        return bool(
            self.msgs
            or self.after
            or self.unstable
            or self.pending_snap is not None
            or self.ready_reads
            or self.commit > self.applied
            or (self.term, self.vote, self.commit) != self._last_hs
            or (self.role, self.leader, self.term) != self._last_soft
        )

    def ready(self) -> Ready:
        self.number += 1
        hs = (self.term, self.vote, self.commit)
        soft = (self.role, self.leader, self.term)
        committed = ()
        lo = max(self.applied, self.pending_snap.meta.index if self.pending_snap else 0) + 1
        if self.commit >= lo:
            committed = tuple(self.entries(lo, self.commit + 1))
        rd = Ready(
            number=self.number,
            hard_state=_enc.encode(hs) if hs != self._last_hs else None,
            entries=tuple(self.unstable),
            snapshot=self.pending_snap,
            must_sync=hs != self._last_hs or bool(self.unstable) or self.pending_snap is not None,
            messages=tuple(self.msgs),
            messages_after_persist=tuple(self.after),
            committed=committed,
            read_states=tuple(self.ready_reads),
            soft_state=SoftState(*soft) if soft != self._last_soft else None,
        )
        self.msgs, self.after, self.ready_reads = [], [], []
        return rd

    def advance(self, rd: Ready) -> None:
        if rd.hard_state is not None:
            self._last_hs = _hs.decode(rd.hard_state)
            if self.role == Role.CANDIDATE and self._last_hs[:2] == (self.term, self.id):
                self.self_vote_durable = True
        if rd.soft_state is not None:
            self._last_soft = (rd.soft_state.role, rd.soft_state.leader, rd.soft_state.epoch)
        self.unstable = []
        if rd.snapshot is not None:
            self.pending_snap = None
            self.applied = max(self.applied, rd.snapshot.meta.index)
        if rd.committed:
            self.applied = rd.committed[-1].index
        if self.role == Role.LEADER:
            self._maybe_commit()
            self._release_reads()
        self._maybe_win()

    def status(self) -> Status:
        return Status(
            node_id=self.id,
            role=self.role,
            leader=self.leader,
            epoch=self.term,
            commit=self.commit,
            applied=self.applied,
            first_index=self.first_index(),
            last_index=self.last_index(),
        )


def toy_factory(bugs: frozenset[str] | set[str] = frozenset()):
    def make(config: EngineConfig, store, rng: random.Random) -> ToyRaft:
        return ToyRaft(config, store, rng, frozenset(bugs))

    return make
