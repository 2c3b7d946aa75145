"""What this node knows of its peers' disks, kept durable, told to the engine.

Every data directory has a random incarnation id (storage). Each new outgoing
link to a peer opens with `Incarnation(src, dst, ours)` right behind the Hello,
so it reaches the peer before anything else we send on that link. The receiver
records the first incarnation it sees for each member. When a member shows up
with a DIFFERENT one, it lost its data: the receiver records it as suspect until
its own commit index at that moment, durably and before it steps any later
message of that peer (the engine loop handles its inbox in order), and tells its
engine `peer_lost_data` (protocol/lost_data.py). When the engine has seen the
peer catch up, the suspicion is cleared on disk too. A restart keeps both.
"""

from __future__ import annotations

import logging

from replicator.runtime.messages import Incarnation

log = logging.getLogger(__name__)


class Incarnations:
    def __init__(self, node_id: int, store, engine) -> None:
        self.node_id, self.store, self.engine = node_id, store, engine
        self._known = store.peers()  # peer -> (incarnation, suspect-until or 0)
        self.suspecting = False  # some peer is suspect (on disk): the driver then calls sync_cleared
        for peer, (_, until) in self._known.items():
            if until:
                engine.peer_lost_data(peer, until)
                self.suspecting = True

    def greeting(self, peer: int) -> tuple[Incarnation]:
        """What a new outgoing link to `peer` carries first."""
        return (Incarnation(self.node_id, peer, self.store.incarnation),)

    def received(self, msg: Incarnation, commit: int) -> None:
        peer, incarnation = msg.src, msg.incarnation
        known = self._known.get(peer)
        if known is not None and known[0] == incarnation:
            return
        if known is None:
            self._save(peer, incarnation, 0)
            log.info("node %d has data directory incarnation %x", peer, incarnation)
            return
        until = max(commit, known[1])
        self._save(peer, incarnation, until)
        log.warning("node %d lost its data (its data directory is new: incarnation %x, was %x): its votes do "
                    "not count until it holds the log up to index %d", peer, incarnation, known[0], until)  # fmt: skip
        self.engine.peer_lost_data(peer, until)

    def sync_cleared(self) -> None:
        """Clear on disk the suspicions the engine has dropped (the peer caught up)."""
        suspected = self.engine.lost_data.until
        for peer, (incarnation, until) in list(self._known.items()):
            if until and peer not in suspected:
                self._save(peer, incarnation, 0)
                log.info("node %d has caught up after losing its data: its votes count again", peer)

    def _save(self, peer: int, incarnation: int, until: int) -> None:
        self.store.save_peer(peer, incarnation, until)
        self._known[peer] = (incarnation, until)
        self.suspecting = any(until for _, until in self._known.values())
