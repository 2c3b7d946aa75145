"""Fast Leader Election (ZooKeeper's FastLeaderElection.lookForLeader), pure.

A LOOKING node bumps its logical clock (the election round, `electionEpoch`),
votes for itself and sends its vote to every voter. On a notification:

* LOOKING sender, newer round: adopt the round, empty the vote box, and vote
  for the better of the sender's vote and our own initial vote.
* LOOKING sender, same round: adopt its vote if it beats ours (total order).
  Either way it goes in the vote box (`recv`: the last vote of each voter).
* LOOKING sender, older round: ignored here (the engine answers it with our
  vote, as ZooKeeper's WorkerReceiver does).
* FOLLOWING/LEADING sender: the cluster may already have a leader. Its vote
  goes in `out` (out of election); once a quorum of those votes names one
  leader, and that leader itself says LEADING, join it.

When a quorum of the vote box agrees with our vote we do not decide at once:
the *finalize wait* (`finalize_ticks`) gives a better vote that is still in
flight the chance to arrive; one that does cancels the wait. When every voter
agrees there is nothing to wait for.

Total order (`total_order`): by the candidate's currentEpoch, then its last
zxid, then its server id. The zxid is compared as (epoch of the last entry,
last index), which is the zxid's order inside one history (zxid.py).

Observers (and learners) never vote for themselves and are never voted for,
and they only ever join a leader that a quorum of voters already follows. As
in ZooKeeper they still pass on the best vote they hear: a node whose pending
configuration makes them voters counts it (below), so that a change that
promotes them can still elect a leader before they hold it.

While a membership change is pending in the node's log, every vote-box quorum
above is a quorum of both the committed and the new ensemble (ZooKeeper's
`hasAllQuorums`, ensemble.py): `quorums` holds one voter tuple per ensemble.
Joining a leader that already leads needs a following quorum of one of them
only: a join decides nothing (see has_quorum_following), and a node whose
pending change was never committed (a new leader truncates it away) must
still find the leader of the ensemble that did go on.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from replicator.protocol.zab.zxid import zxid_epoch
from replicator.types import NodeId


class PeerState(enum.IntEnum):
    """ZooKeeper's QuorumPeer.ServerState (the `state` of a Notification)."""

    LOOKING = 0
    FOLLOWING = 1
    LEADING = 2
    OBSERVING = 3


@dataclass(frozen=True, slots=True)
class Vote:
    """Who a node wants to lead, and why: that candidate's last logged entry
    (`index`, `zxid`) and its currentEpoch (`peer_epoch`)."""

    leader: NodeId
    zxid: int
    index: int
    peer_epoch: int

    def key(self) -> tuple[int, int, int, int]:
        return (self.peer_epoch, zxid_epoch(self.zxid), self.index, self.leader)


def total_order(new: Vote, current: Vote) -> bool:
    """Whether `new` beats `current` (ZooKeeper totalOrderPredicate):
    higher currentEpoch, else higher last zxid, else higher server id."""
    return new.key() > current.key()


def has_quorum(votes: Mapping[NodeId, Vote], voters: Iterable[NodeId], target: Vote) -> bool:
    """ZooKeeper termPredicate: a majority of `voters` cast exactly `target`."""
    voters = tuple(voters)
    agree = sum(1 for v in voters if votes.get(v) == target)
    return agree >= len(voters) // 2 + 1


def has_all_quorums(votes: Mapping[NodeId, Vote], quorums: Iterable[tuple[NodeId, ...]], target: Vote) -> bool:
    """has_quorum in every ensemble in play (ZooKeeper SyncedLearnerTracker.hasAllQuorums)."""
    return all(has_quorum(votes, q, target) for q in quorums)


def has_quorum_following(
    out: Mapping[NodeId, tuple[Vote, PeerState, int]], voters: Iterable[NodeId], target: Vote
) -> bool:
    """termPredicate over out-of-election votes: a majority of voters follow or
    lead `target.leader`.

    Departure from ZooKeeper, which also requires the same peer epoch: a
    follower that stayed with its leader across that leader's re-election keeps
    reporting the vote it once joined with, and a node that waits for equal
    epochs can then stay LOOKING forever (simulator, ZAB seed 1864 'stalls').
    Joining is safe on the leader id alone: the leader must say LEADING itself
    (checkLeader), and Discovery and Sync check every epoch before anything is
    accepted, so a stale join ends in LOOKING again, never in a wrong log."""
    voters = tuple(voters)
    agree = 0
    for v in voters:
        got = out.get(v)
        if got is not None and got[0].leader == target.leader:
            agree += 1
    return agree >= len(voters) // 2 + 1


@dataclass(frozen=True, slots=True)
class Decision:
    """The election is over for this node: follow (or lead, or observe) `vote.leader`."""

    vote: Vote
    election_epoch: int
    state: PeerState


class Election:
    """One node's Fast Leader Election state. Pure: the engine feeds it
    notifications and ticks and sends what it says to send.

    After any call, `changed` tells the engine that our vote changed and must
    be sent to every voter (the engine clears it).
    """

    __slots__ = (
        "id",
        "quorums",
        "voters",
        "participant",
        "finalize_ticks",
        "logical_clock",
        "own",
        "proposal",
        "recv",
        "out",
        "finalize_left",
        "changed",
    )

    def __init__(self, node_id: NodeId, voters: tuple[NodeId, ...], finalize_ticks: int) -> None:
        self.id = node_id
        self.set_quorums((tuple(voters),))
        self.finalize_ticks = finalize_ticks
        self.logical_clock = 0  # electionEpoch: in memory only, as in ZooKeeper
        self.own: Vote | None = None  # our initial vote for ourselves (voters only)
        self.proposal: Vote | None = None  # our current vote
        self.recv: dict[NodeId, Vote] = {}  # the vote box of this round
        self.out: dict[NodeId, tuple[Vote, PeerState, int]] = {}  # FOLLOWING/LEADING reports
        self.finalize_left: int | None = None
        self.changed = False

    def set_quorums(self, quorums: tuple[tuple[NodeId, ...], ...]) -> None:
        """The ensembles whose quorums a decision needs (one voter tuple each): the
        node's configuration changed. Votes already in the box stay; the next
        notification or tick decides with the new quorums."""
        self.quorums = quorums
        self.voters = tuple(sorted({v for q in quorums for v in q}))
        self.participant = self.id in self.voters

    def join(self, src: NodeId, n) -> Decision:
        """Follow (or observe) the leader `src` on its own word (its notification
        says LEADING): the engine decided our configuration cannot be trusted to
        find it (it has committed entries we do not even hold)."""
        vote = Vote(n.leader, n.zxid, n.index, n.peer_epoch)
        self.out[src] = (vote, PeerState.LEADING, n.election_epoch)
        self.logical_clock = n.election_epoch
        return self._decide(vote)

    def recheck(self) -> Decision | None:
        """After set_quorums: the votes in the box may be a quorum now."""
        return self._check_round()

    def start(self, own: Vote | None, join_round: int = 0) -> Decision | None:
        """Begin a new round (we just went LOOKING). `own` is our vote for
        ourselves; observers pass None. `join_round`: the round of the election
        we go to join, if it is not behind ours (the node we followed is looking
        in it), rather than the next one."""
        self.logical_clock = join_round if join_round and join_round >= self.logical_clock else self.logical_clock + 1
        self.recv = {}
        self.out = {}
        self.finalize_left = None
        self.own = own if self.participant else None
        self.proposal = self.own
        if self.proposal is not None:
            self.recv[self.id] = self.proposal
        self.changed = True
        return self._check_round()

    def receive(self, src: NodeId, n, counted: bool = True) -> Decision | None:
        """A Notification from voter `src` (the engine drops those of non-voters
        and those naming a non-voter). `counted=False`: learn from it (a better
        proposal, a later round) but keep it out of every tally: `src` lost its disk
        and has not caught up (protocol/lost_data.py)."""
        vote = Vote(n.leader, n.zxid, n.index, n.peer_epoch)
        state = PeerState(n.state)
        if state is PeerState.LOOKING:
            self.out.pop(src, None)  # it no longer follows anyone
            if not self.participant:
                # We wait for a leader to exist, passing on the best vote we hear.
                # Our rounds count for nothing: we take the round of whoever tells us
                # another one (the voter whose pending change counts us may be behind
                # others, and drop a vote of theirs it cannot count).
                if n.election_epoch != self.logical_clock or self.proposal is None:
                    self.logical_clock = n.election_epoch
                    self.recv = {}
                    self._set_proposal(vote)
                elif n.election_epoch == self.logical_clock and (
                    self.proposal is None or total_order(vote, self.proposal)
                ):
                    self._set_proposal(vote)
                return None
            own = self.own
            if own is None:
                return None  # a voter only since this round began: the engine starts a new one
            if n.election_epoch > self.logical_clock:
                self.logical_clock = n.election_epoch
                self.recv = {}
                self.finalize_left = None
                self._set_proposal(vote if total_order(vote, own) else own)
            elif n.election_epoch < self.logical_clock:
                return None
            elif self.proposal is None or total_order(vote, self.proposal):
                self._set_proposal(vote)
            if counted:
                self.recv[src] = vote
            return self._check_round()
        # FOLLOWING, OBSERVING or LEADING: a leader may exist already. (The engine
        # passes on notifications of voters only: an OBSERVING one is a node our
        # pending change promotes, which still observes in its own configuration.)
        if not counted:
            return None
        self.out[src] = (vote, state, n.election_epoch)
        if not self.participant and state is PeerState.LEADING and src == vote.leader:
            # A learner joins a leader on its own word: it counts in no quorum, and
            # Discovery checks the epoch (has_quorum_following's argument). A learner
            # that has not received the configurations since it was added may know
            # of no quorum that still follows.
            self.logical_clock = n.election_epoch
            return self._decide(vote)
        if n.election_epoch == self.logical_clock and self.participant:
            self.recv[src] = vote
            if has_all_quorums(self.recv, self.quorums, vote) and self._check_leader(vote.leader, n.election_epoch):
                return self._decide(vote)
        following = any(has_quorum_following(self.out, q, vote) for q in self.quorums)
        if following and self._check_leader(vote.leader, n.election_epoch):
            self.logical_clock = n.election_epoch
            return self._decide(vote)
        return None

    def tick(self) -> Decision | None:
        """One tick of the finalize wait."""
        if self.finalize_left is None:
            return None
        self.finalize_left -= 1
        if self.finalize_left > 0:
            return None
        self.finalize_left = None
        proposal = self.proposal
        if proposal is not None and has_all_quorums(self.recv, self.quorums, proposal):
            return self._decide(proposal)
        return None

    # --- helpers ---------------------------------------------------------
    def _set_proposal(self, vote: Vote) -> None:
        if vote != self.proposal:
            self.proposal = vote
            self.changed = True
            self.finalize_left = None  # a better vote arrived: the wait starts over
        self.recv[self.id] = vote  # our own notification reaches us too

    def _check_round(self) -> Decision | None:
        proposal = self.proposal
        if proposal is None or not has_all_quorums(self.recv, self.quorums, proposal):
            self.finalize_left = None
            return None
        if all(self.recv.get(v) == proposal for v in self.voters):
            return self._decide(proposal)  # every vote is in: nothing better can come
        if self.finalize_left is None:
            self.finalize_left = self.finalize_ticks
            if self.finalize_left <= 0:
                return self._decide(proposal)
        return None

    def _check_leader(self, leader: NodeId, election_epoch: int) -> bool:
        """ZooKeeper checkLeader: we join `leader` only if it says LEADING itself;
        we lead only if it is our own round that elected us."""
        if leader != self.id:
            got = self.out.get(leader)
            return got is not None and got[1] is PeerState.LEADING
        return self.logical_clock == election_epoch

    def _decide(self, vote: Vote) -> Decision:
        self.finalize_left = None
        if vote.leader == self.id:
            state = PeerState.LEADING
        elif self.participant:
            state = PeerState.FOLLOWING
        else:
            state = PeerState.OBSERVING
        return Decision(vote, self.logical_clock, state)


__all__ = [
    "Decision",
    "Election",
    "PeerState",
    "Vote",
    "has_all_quorums",
    "has_quorum",
    "has_quorum_following",
    "total_order",
]
