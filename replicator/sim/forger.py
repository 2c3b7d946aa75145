"""The Byzantine-lite forger: malformed, forged, misrouted and replayed peer messages.

What it models. A member that runs the protocol and holds the cluster secret
can always break a crash-tolerant protocol: it votes twice, or acknowledges an
entry it never wrote, and no Raft or ZAB node can tell that lie from the
truth. So the forger never tells a *plausible* lie in a correct node's name.
It sits on the wire next to every node (a faulty-but-authenticated peer, a
corrupting network, a buggy peer version) and injects, straight into a node's
inbox, only messages of these kinds:

replay      a copy of any message sent earlier in the run, to its original
            destination, at any later time: what an asynchronous network may
            always do (duplication with unbounded delay), incarnations past
            included;
stranger    a copy of a message re-addressed to any node, with a sender that
            is not a member (ids 0 and nodes+1..nodes+3) or is the receiver
            itself;
misrouted   a copy delivered to a node it is not addressed to (`dst` kept);
malformed   a copy with a field made impossible whatever the receiver's state:
            a negative or absurd (>= 2**63) number, entries that do not follow
            each other or carry an epoch above their message's, a chunk number
            past the snapshot's chunk count, an unknown election state, a
            NEWLEADER zxid that is not its epoch's first;
impossible  a message built when the receiver steps it, from the receiver's
            own state, that no correct peer can send then: an ACK (or a
            rejection) past the leader's last index; a heartbeat or PING round
            the leader never sent; a claim to lead the receiver's current
            term (Raft) from a member that is not its known leader (or sent to
            the leader itself); TimeoutNow or a read answer from a non-leader;
            a vote granted for a term above the receiver's; a COMMIT or an
            append whose epoch contradicts an entry the receiver holds as
            committed; snapshot answers for chunks the snapshot lacks. (ZAB:
            proposals, commits and pings in the receiver's leader's epoch from
            another member. Two prospective leaders may pick one epoch and the
            one that established it may still reach a learner of the other, so
            ZAB ignores these without counting them.)

Every engine must survive all of it: no exception, and every invariant of the
simulator (election safety, log matching, leader completeness, state machine
safety, committed durability, linearizable client histories, liveness after
healing) still holds. The forger stops when the chaos phase ends.

All choices come from the cluster's seeded rng, so a run replays exactly.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

import msgspec

from replicator.core.messages import ForwardReply, ForwardRequest
from replicator.protocol.raft import messages as rm
from replicator.protocol.zab import messages as zm
from replicator.protocol.zab.zxid import MAX_EPOCH, make_zxid
from replicator.types import Entry, Role, SnapshotMeta

KINDS = ("replay", "stranger", "misrouted", "malformed", "impossible")
_UNREPLAYED = (ForwardRequest, ForwardReply)
_WEIGHTS = (30, 15, 5, 30, 20)
RECENT_MAX = 256  # the newest messages sent, kept for replay
ARCHIVE_MAX = 256  # a uniform sample of everything older (reservoir sampling)
ABSURD = 1 << 63

Recipe = Callable[[Any], Any]  # engine -> message to step, or None (nothing fits its state now)


class Forger:
    """Records the messages the cluster sends; hands out forged ones on demand."""

    def __init__(self, rng: random.Random, protocol: str, ids: tuple[int, ...]) -> None:
        self.rng = rng
        self.protocol = protocol
        self.ids = ids
        self.strangers = (0, *range(len(ids) + 1, len(ids) + 4))
        self._recent: list[Any] = []
        self._archive: list[Any] = []
        self._seen = 0
        self.injected = dict.fromkeys(KINDS, 0)

    def record(self, msg: Any) -> None:
        """A message some node sent (before the network decides its fate). Not the node
        cores' forwarded writes: a leader drops a copy of a ForwardRequest it has seen, but
        only in memory, so a copy replayed to it after it restarted would be proposed again.
        TCP never delivers such a copy; closing it for any network needs durable client
        sessions (Raft thesis 6.3), which the forwarding protocol does not have yet."""
        if msg.__class__ in _UNREPLAYED:
            return
        recent = self._recent
        recent.append(msg)
        if len(recent) > RECENT_MAX:
            old = recent.pop(0)
            self._seen += 1
            if len(self._archive) < ARCHIVE_MAX:
                self._archive.append(old)
            else:
                slot = self.rng.randrange(self._seen)
                if slot < ARCHIVE_MAX:
                    self._archive[slot] = old

    def _past(self) -> Any | None:
        pool = self._archive if self._archive and self.rng.random() < 0.3 else self._recent
        return self.rng.choice(pool) if pool else None

    def forge(self, alive: list[int]) -> tuple[int, str, Recipe] | None:
        """Pick a forgery: (receiving node, kind, recipe)."""
        rng = self.rng
        if not alive:
            return None
        kind = rng.choices(KINDS, _WEIGHTS)[0]
        if kind == "impossible":
            node = rng.choice(alive)
            recipes = _RAFT_IMPOSSIBLE if self.protocol == "raft" else _ZAB_IMPOSSIBLE
            make = rng.choice(recipes)
            peers = [i for i in self.ids if i != node]
            seed = rng.getrandbits(32)
            self.injected[kind] += 1
            return node, kind, lambda engine: make(engine, random.Random(seed), node, peers)
        past = self._past()
        if past is None:
            return None
        if kind == "replay":
            msg, node = past, past.dst
        elif kind == "stranger":
            node = rng.choice(alive)
            src = node if rng.random() < 0.2 else rng.choice(self.strangers)
            msg = dataclasses.replace(past, src=src, dst=node)
        elif kind == "misrouted":
            others = [i for i in alive if i != past.dst]
            if not others:
                return None
            msg, node = past, rng.choice(others)
        else:
            msg, node = malform(past, rng), past.dst
        if node not in alive:
            return None
        self.injected[kind] += 1
        return node, kind, lambda engine: msg


# --- malformed: impossible whatever the receiver's state ----------------------------------------
def _int_fields(msg: Any) -> list[str]:
    return [
        f.name for f in dataclasses.fields(msg) if f.name not in ("src", "dst") and type(getattr(msg, f.name)) is int
    ]


def malform(msg: Any, rng: random.Random) -> Any:
    """A copy of `msg` with one field made impossible (see the module docstring)."""
    special = _SPECIAL.get(type(msg))
    if special is not None and rng.random() < 0.6:
        out = special(msg, rng)
        if out is not None:
            return out
    names = _int_fields(msg)
    if not names:
        return msg
    name = rng.choice(names)
    # Sessions use all 64 bits (another one is another registration: plausible),
    # so only a negative one is impossible.
    if name == "session" or rng.random() < 0.5:
        value = -rng.randint(1, 1 << 20)
    else:
        value = ABSURD + rng.randint(0, 1 << 20)
    return dataclasses.replace(msg, **{name: value})


def _bad_entries(msg: Any, rng: random.Random, epoch: int) -> Any | None:
    ents = list(msg.entries)
    if not ents:
        return None
    choice = rng.randrange(4)
    if choice == 0 and len(ents) >= 3:
        del ents[rng.randrange(1, len(ents) - 1)]  # a gap inside the batch
    elif choice == 1 and len(ents) >= 2:
        i = rng.randrange(len(ents) - 1)
        ents[i], ents[i + 1] = ents[i + 1], ents[i]  # out of order
    elif choice == 2:
        i = rng.randrange(len(ents))
        e = ents[i]
        bad = epoch + rng.randint(1, 5)  # an epoch above the message's own
        zxid = make_zxid(min(bad, MAX_EPOCH), 1) if e.zxid else 0
        ents[i] = msgspec.structs.replace(e, epoch=bad, zxid=zxid)
    else:
        i = rng.randrange(len(ents))
        ents[i] = msgspec.structs.replace(ents[i], index=-1 - rng.randrange(5))
    return dataclasses.replace(msg, entries=tuple(ents))


def _bad_meta(msg: Any, rng: random.Random, epoch: int) -> Any:
    meta = msg.meta
    if rng.random() < 0.5:
        return dataclasses.replace(msg, chunk_index=max(meta.chunk_count, 1) + rng.randrange(3))
    return dataclasses.replace(msg, meta=dataclasses.replace(meta, epoch=epoch + 1 + rng.randrange(3)))


_SPECIAL: dict[type, Callable[[Any, random.Random], Any]] = {
    rm.AppendEntries: lambda m, r: _bad_entries(m, r, m.term),
    rm.InstallSnapshot: lambda m, r: _bad_meta(m, r, m.term),
    rm.RequestVote: lambda m, r: dataclasses.replace(m, last_term=m.term + r.randrange(3)),
    rm.PreVote: lambda m, r: dataclasses.replace(m, last_term=m.term + r.randrange(3)),
    rm.AppendEntriesResp: lambda m, r: dataclasses.replace(m, reject=True, hint_index=m.index + 1 + r.randrange(3)),
    zm.Proposal: lambda m, r: _bad_entries(m, r, m.epoch),
    zm.Inform: lambda m, r: _bad_entries(m, r, m.epoch),
    zm.Snap: lambda m, r: _bad_meta(m, r, m.epoch),
    zm.Notification: lambda m, r: dataclasses.replace(m, state=4 + r.randrange(60)),
    zm.NewLeader: lambda m, r: dataclasses.replace(m, zxid=m.zxid + 1 + r.randrange(9)),
    zm.AckEpoch: lambda m, r: dataclasses.replace(m, current_epoch=m.epoch + 1),
    zm.FollowerInfo: lambda m, r: dataclasses.replace(m, accepted_epoch=MAX_EPOCH),
}


# --- impossible: built from the receiver's state when it steps the message ---------------------
def _last_term(engine) -> int:
    return engine.log.last_term()


def _raft_ack_beyond(engine, rng, node, peers):
    if engine.role is not Role.LEADER or not peers:
        return None
    last = engine.log.last_index()
    index = last + 1 + rng.randrange(5)
    if rng.random() < 0.5:
        return rm.AppendEntriesResp(rng.choice(peers), node, engine.term, index=index)
    return rm.AppendEntriesResp(
        rng.choice(peers), node, engine.term, index=index, reject=True, hint_index=rng.randrange(index + 1)
    )


def _raft_round_beyond(engine, rng, node, peers):
    if engine.role is not Role.LEADER or not peers:
        return None
    return rm.HeartbeatResp(rng.choice(peers), node, engine.term, ctx=(1 << 40) + rng.randrange(1000))


def _raft_snapshot_resp_beyond(engine, rng, node, peers):
    if engine.role is not Role.LEADER or not peers:
        return None
    index = engine.store.snapshot_meta().index if engine.store.snapshot_meta() is not None else 0
    return rm.InstallSnapshotResp(rng.choice(peers), node, engine.term, index, next_chunk=10**6, chunk_index=10**6)


def _raft_impostor(engine, rng, node, peers):
    """A member claims to lead the receiver's term while the receiver knows its leader (or leads)."""
    known = engine.leader
    if known is None:
        return None
    impostors = [p for p in peers if p != known]
    if not impostors:
        return None
    src = rng.choice(impostors)
    term = engine.term
    log = engine.log
    last = log.last_index()
    choice = rng.randrange(5)
    if choice == 0:
        ents = (Entry(last + 1, term, b"forged"),)
        return rm.AppendEntries(src, node, term, last, _last_term(engine), ents, commit=last + 1)
    if choice == 1:
        return rm.Heartbeat(src, node, term, commit=last)
    if choice == 2:
        meta = SnapshotMeta(last + 5, term, chunk_count=1, size_bytes=6)
        return rm.InstallSnapshot(src, node, term, meta, 0, b"forged")
    if choice == 3:
        return rm.TimeoutNow(src, node, term)
    return rm.ReadIndexResp(src, node, term, ctx=rng.randrange(1, 1 << 20), index=0)


def _raft_vote_beyond(engine, rng, node, peers):
    if not peers:
        return None
    kind = rm.RequestVoteResp if rng.random() < 0.5 else rm.PreVoteResp
    return kind(rng.choice(peers), node, engine.term + 2 + rng.randrange(5))


def _raft_against_commit(engine, rng, node, peers):
    """The receiver's leader (its real id) sends an append whose prev_term contradicts
    the receiver's committed entry there."""
    log = engine.log
    commit = log.committed
    if engine.role is Role.LEADER or engine.leader is None or commit == 0:
        return None
    try:
        term = log.term(commit)
    except Exception:
        return None
    if term >= engine.term:
        return None  # no other term fits below the message's
    return rm.AppendEntries(engine.leader, node, engine.term, commit, term + 1, (), commit=commit)


_RAFT_IMPOSSIBLE = (
    _raft_ack_beyond,
    _raft_round_beyond,
    _raft_snapshot_resp_beyond,
    _raft_impostor,
    _raft_vote_beyond,
    _raft_against_commit,
)


def _zab_ack_beyond(engine, rng, node, peers):
    epoch = engine._new_epoch
    if engine.state.name != "LEADING" or epoch is None or not peers:
        return None
    last = engine.log.last_index()
    src = rng.choice(peers)
    session = rng.getrandbits(64)
    if rng.random() < 0.5:
        return zm.Ack(src, node, epoch, session, last + 1 + rng.randrange(5))
    return zm.PingAck(src, node, epoch, session, rng.randrange(10), last + 1 + rng.randrange(5))


def _zab_round_beyond(engine, rng, node, peers):
    epoch = engine._new_epoch
    if engine.state.name != "LEADING" or epoch is None or not peers:
        return None
    return zm.PingAck(rng.choice(peers), node, epoch, rng.getrandbits(64), (1 << 40) + rng.randrange(9), 0)


def _zab_snap_ack_beyond(engine, rng, node, peers):
    epoch = engine._new_epoch
    if engine.state.name != "LEADING" or epoch is None or not peers:
        return None
    lr = engine._learners.get(rng.choice(peers))
    if lr is None or lr.snap_meta is None:
        return None
    return zm.SnapAck(lr.id, node, epoch, lr.session, lr.snap_meta.index, next_chunk=10**6, chunk_index=3)


def _zab_commit_against_log(engine, rng, node, peers):
    """The receiver's leader (its real id) commits an index the receiver shares with it,
    under a zxid of another epoch than the entry there."""
    synced = engine._synced_to
    epoch = engine._leader_epoch
    if engine.leader is None or synced is None or epoch is None or engine.state.name == "LEADING":
        return None
    log = engine.log
    lo = max(log.first_index(), 1)
    if synced < lo:
        return None
    index = rng.randint(lo, synced)
    try:
        term = log.term(index)
    except Exception:
        return None
    other = term + 1 if term < MAX_EPOCH else term - 1
    return zm.Commit(engine.leader, node, epoch, index, make_zxid(other, 1))


def _zab_junk_vote(engine, rng, node, peers):
    if not peers:
        return None
    src = rng.choice(peers)
    if rng.random() < 0.5:
        return zm.Notification(src, node, rng.randrange(100), src, 0, 0, 0, 5 + rng.randrange(50))
    return zm.Notification(src, node, rng.randrange(100), 1000 + rng.randrange(9), 1 << 40, 10**6, 7, 0)


def _zab_impostor(engine, rng, node, peers):
    """A member that is not the receiver's leader sends what only its leader sends,
    in its leader's epoch, with an entry of its own after the receiver's log."""
    leader, epoch = engine.leader, engine._leader_epoch
    if leader is None or epoch is None or engine.state.name == "LEADING":
        return None
    impostors = [p for p in peers if p != leader]
    if not impostors:
        return None
    src = rng.choice(impostors)
    last = engine.log.last_index()
    choice = rng.randrange(3)
    if choice == 0:
        counter = rng.randrange(1, 1 << 20)
        return zm.Proposal(src, node, epoch, (Entry(last + 1, epoch, b"forged", zxid=make_zxid(epoch, counter)),))
    if choice == 1:
        return zm.Commit(src, node, epoch, last + 1)
    return zm.Ping(src, node, epoch, commit=last, round=rng.randrange(1, 100))


_ZAB_IMPOSSIBLE = (
    _zab_impostor,
    _zab_ack_beyond,
    _zab_round_beyond,
    _zab_snap_ack_beyond,
    _zab_commit_against_log,
    _zab_junk_vote,
)

__all__ = ["KINDS", "Forger", "malform"]
