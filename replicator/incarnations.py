"""What this node knows of its peers' disks, kept durable, told to the engine.

Every data directory has a random incarnation id (storage). Each new outgoing
link to a peer opens with `Incarnation(src, dst, ours)` right behind the Hello
(runtime/driver.py), so it reaches the peer before anything else we send on that
link; the simulator tells each delivery's sender's incarnation instead. The receiver
records the first incarnation it sees for each member. When a member shows up
with a DIFFERENT one, it lost its data: the receiver records it as suspect until
its own commit index at that moment, durably and before it steps any later
message of that peer (the engine loop handles its inbox in order), and tells its
engine `peer_lost_data` (protocol/lost_data.py). When the engine has seen the
peer catch up, the suspicion is cleared on disk too. A restart keeps both.
"""

from __future__ import annotations

class Incarnations:
    def __init__(self, node_id: int, store, engine) -> None:
        self.node_id, self.store, self.engine = node_id, store, engine
        self._known = store.peers()  # peer -> (incarnation, suspect-until or 0)
        self.suspecting = False  # some peer is suspect (on disk): the driver then calls sync_cleared
        for peer, (_, until) in self._known.items():
            if until:
                engine.peer_lost_data(peer, until)
                self.suspecting = True

    def received(self, peer: int, incarnation: int, commit: int) -> tuple[int, int] | None:
        """`peer`'s data directory is `incarnation`; `commit` is our commit index now.
        (its incarnation as we knew it, suspect-until index) if it lost its data."""
        known = self._known.get(peer)
        if known is not None and known[0] == incarnation:
            return None
        if known is None:
            self._save(peer, incarnation, 0)
            return None
        until = max(commit, known[1])
        self._save(peer, incarnation, until)
        self.engine.peer_lost_data(peer, until)
        return known[0], until

    def sync_cleared(self) -> list[int]:
        """Clear on disk the suspicions the engine has dropped (the peer caught up): those peers."""
        suspected = self.engine.lost_data.until
        cleared = [peer for peer, (_, until) in self._known.items() if until and peer not in suspected]
        for peer in cleared:
            self._save(peer, self._known[peer][0], 0)
        return cleared

    def _save(self, peer: int, incarnation: int, until: int) -> None:
        self.store.save_peer(peer, incarnation, until)
        self._known[peer] = (incarnation, until)
        self.suspecting = any(until for _, until in self._known.values())
