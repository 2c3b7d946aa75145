"""What this node knows of its peers' disks, kept durable, told to the engine.

Every data directory has a random incarnation id (storage). Each new outgoing
link to a peer opens with `Incarnation(src, dst, ours)` right behind the Hello
(runtime/driver.py), so it reaches the peer before anything else we send on that
link; the simulator tells each delivery's sender's incarnation instead.

The receiver records the first incarnation it sees for each member. When a
member shows up with a DIFFERENT one, it lost its data: the receiver records it
as suspect until its own last index at that moment (durably, and before it steps
any later message of that peer: the engine loop handles its inbox in order) and
tells its engine `peer_lost_data` (protocol/lost_data.py).

Only a leader can tell that the peer caught up: its log holds every committed
entry, so a peer that matches it up to the leader's last index at the time it
learned of the loss holds everything the lost disk may have helped commit. A
follower's own log and commit index may lag, so it takes the leader's word: the
leader sends `CaughtUp(peer, incarnation)` to every member, again every few
election timeouts (a member may learn of the loss after the first one), and a
member that suspects that incarnation of that peer clears it when the message
comes from the leader it follows. A leader vouches for itself too: voters with
intact disks elected it (the fault model: a minority of disks lost at once), so
it holds every committed entry, whatever it lost once. The incarnation in the
message matters: a message the peer sent before it lost its disk may arrive
late, and must not clear the suspicion of the new one. A restart keeps what is
on disk.

Introductions. A member that never heard from a peer's earlier disk (it was
down or cut off the whole time) cannot notice that the peer lost it, and would
count the new disk's vote: with the only other holder of some committed entries
down, that vote elected a leader without them (the simulator's wiped-disks
profile, raft seeds 20032 and 20213). So the leader vouches, each tick for what
it has not told yet and again every VOUCH_EVERY_TICKS, for every peer it does
not suspect and has seen hold every entry committed before its term
(Engine.caught_up_peers), and a member that has no record of that peer records
the disk the leader names: a later disk of that peer is then a loss it notices.
The leader's word is sound for the suspicion above too: an earlier disk of that
peer can have helped commit only entries the leader holds (committed before its
term) or entries acknowledged to this leader, which met that earlier disk and
suspects the new one. What is left (docs/operations.md): a member cut off from
every leader through a peer's whole earlier incarnation still counts the new
disk's vote (raft seed 30387: 1 of the 2,520 raft seeds of the wiped-disks
profile scanned, where main failed 7 of 1,020). Suspecting every peer met for
the first time instead would leave two followers that never exchanged a message
(Raft followers talk only to the leader) unable to elect each other once the
leader is gone (raft seed 10112), and telling a new disk by a flag it sends
stalled clusters for good whenever a node that never caught up met the others
late (raft seed 20300).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """From a leader: `peer`, with data directory `incarnation`, holds the log it lost."""

    src: int
    dst: int
    peer: int
    incarnation: int


def is_incarnation(value: int) -> bool:
    """Whether `value` can be a disk's incarnation id (a non-zero u64, as stores draw and keep
    them): a peer's message naming any other is forged, and must not reach the store."""
    return 0 < value < 1 << 64


class Incarnations:
    def __init__(self, node_id: int, store, engine) -> None:
        self.node_id, self.store, self.engine = node_id, store, engine
        self._known = store.peers()  # peer -> (incarnation, suspect-until or 0)
        self.suspecting = False  # some peer is suspect (on disk): the driver then calls sync_cleared
        self.vouched: dict[int, int] = {}  # peer -> incarnation we saw catch up as leader (CaughtUp)
        for peer, (_, until) in self._known.items():
            if until:
                engine.peer_lost_data(peer, until)
                self.suspecting = True

    def received(self, peer: int, incarnation: int, last_index: int) -> tuple[int, int] | None:
        """`peer`'s data directory is `incarnation`; `last_index` is our log's now.
        (its incarnation as we knew it, suspect-until index) if it lost its data."""
        known = self._known.get(peer)
        if known is not None and known[0] == incarnation:
            return None
        if known is None:
            self._save(peer, incarnation, 0)
            return None
        until = max(last_index, known[1])
        self._save(peer, incarnation, until)
        self.vouched.pop(peer, None)
        self.engine.peer_lost_data(peer, until)
        return known[0], until

    def sync_cleared(self) -> list[int]:
        """Clear on disk the suspicions the engine dropped (it saw, as leader, the peer
        catch up); those peers, now vouched for."""
        suspected = self.engine.lost_data.until
        cleared = [peer for peer, (_, until) in self._known.items() if until and peer not in suspected]
        for peer in cleared:
            incarnation = self._known[peer][0]
            self._save(peer, incarnation, 0)
            self.vouched[peer] = incarnation
        return cleared

    def vouches(self, caught_up: list[int]) -> list[tuple[int, int]]:
        """(peer, incarnation) a leader tells every member: itself, the peers it saw catch
        up after a loss, and the `caught_up` peers (Engine.caught_up_peers) it suspects not."""
        told = {self.node_id: self.store.incarnation, **self.vouched}
        for peer in caught_up:
            known = self._known.get(peer)
            if known is not None and not known[1]:
                told.setdefault(peer, known[0])
        return list(told.items())

    def caught_up(self, msg: CaughtUp, leader: int | None) -> bool:
        """The leader's word that a peer caught up; whether it cleared a suspicion."""
        if msg.src != leader or msg.peer == self.node_id:
            return False
        known = self._known.get(msg.peer)
        if known is None:
            self.introduce(msg.peer, msg.incarnation)
            return False
        if known != (msg.incarnation, known[1]) or not known[1]:
            return False
        self.engine.lost_data.forgive(msg.peer)
        self._save(msg.peer, msg.incarnation, 0)
        return True

    def introduce(self, peer: int, incarnation: int) -> None:
        """The leader names a disk of `peer`, of which we have no record: record it, so that
        a later disk of that peer is a loss we notice (the module docstring, Introductions)."""
        self._save(peer, incarnation, 0)

    def _save(self, peer: int, incarnation: int, until: int) -> None:
        self.store.save_peer(peer, incarnation, until)
        self._known[peer] = (incarnation, until)
        self.suspecting = any(until for _, until in self._known.values())
