"""Membership changes in the simulator: members added, removed and replaced at random
while the nemesis does its worst.

Every change goes in the way an operator's does: a MemberChange written through the
core of a random live member (forwarded to the leader from a follower), refused or
applied like any write. An added node boots first, with the configuration the CLI
would print for it (the leader's, plus itself as a learner), and catches up by log or
snapshot; the leader promotes it once it is close (core/node.py housekeeping, run
here every HOUSEKEEPING_EVERY_MS). A removed node keeps running: it must learn of its
removal and never disturb the others. A node added again after its removal is the
"replace a node whose disk died" case: it returns with a wiped disk (a new
incarnation), so its peers do not count its votes until it has caught up.

The draws come from their own seeded generator, so a seed run without --reconfig is
exactly the run it always was.
"""

from __future__ import annotations

import random
from typing import Any

from replicator.members import ADD, REMOVE, MemberChange
from replicator.types import MEMBERSHIP, ClusterMember, MemberRole, Membership

SimCluster = Any  # sim/cluster.py's, which imports this module (no import back: no cycle)

STEP_MS_MIN, STEP_MS_MAX = 150, 600  # between two changes asked for
HOUSEKEEPING_EVERY_MS = 50
# Voters are removed only from a healthy cluster of more than this: every voter up, no disk
# being rebuilt. Removing a healthy voter while another's disk is lost can leave a
# configuration no leader can be elected in (the lost disk's vote does not count until a
# leader has seen it catch up): an operator's mistake the simulator does not make.
MIN_VOTERS = 3


class ChangeAnswers:
    """The operator's side of one change: it logs how it ended."""

    __slots__ = ("cluster", "change", "started", "deadline")

    def __init__(self, cluster: SimCluster, change: MemberChange) -> None:
        self.cluster = cluster
        self.change = change
        self.started = cluster.now / 1000
        self.deadline = self.started + 2.0

    def set(self, slot: int, value, index: int = 0) -> None:
        stats = self.cluster.stats
        outcome = "error" if isinstance(value, Exception) or hasattr(value, "message") else "ok"
        stats.reconfigs[outcome] = stats.reconfigs.get(outcome, 0) + 1
        self.cluster._log(None, f"member {self.change.op} {self.change.id}: {outcome} {value!r}"[:200])


class Reconfigurer:
    def __init__(self, cluster: SimCluster, rng: random.Random) -> None:
        self.c = cluster
        self.rng = rng

    def start(self) -> None:
        c = self.c
        c.at(c.now + self.rng.randint(STEP_MS_MIN, STEP_MS_MAX), self.step)
        c.at(c.now + HOUSEKEEPING_EVERY_MS, self.housekeeping)

    def housekeeping(self) -> None:
        """The runtime's housekeeping timer; only a leader acts on it (it promotes learners
        that caught up), so only the nodes that believe they lead are woken."""
        c = self.c
        if c.phase == "done":
            return
        c.at(c.now + HOUSEKEEPING_EVERY_MS, self.housekeeping)
        for node in c.nodes.values():
            if node.alive and node.lead_term is not None:
                c.call_on(node.id, lambda host, node=node: node.core.housekeeping())

    def step(self) -> None:
        c = self.c
        if c.phase != "chaos":
            return
        rng = self.rng
        c.at(c.now + rng.randint(STEP_MS_MIN, STEP_MS_MAX), self.step)
        leader = c.leader()
        if leader is None:
            return
        latest = c.nodes[leader].host.membership_in_force()
        outsiders = [i for i in c.ids if latest.get(i) is None]
        voters = latest.voters
        healthy = len(voters) > MIN_VOTERS and all(c.nodes[v].alive and v not in c._recovering for v in voters)
        removable = [m.id for m in latest.members if m.role != MemberRole.VOTER or healthy]
        if outsiders and (not removable or rng.random() < 0.5):
            self._add(rng.choice(outsiders), latest)
        elif removable:
            self._ask(latest, MemberChange(REMOVE, rng.choice(removable)))

    def _add(self, node_id: int, latest: Membership) -> None:
        c = self.c
        node = c.nodes[node_id]
        if node.booted:  # back after a removal: a replacement, with a new disk
            if node.alive:
                c.crash(node_id, "stopped for replacement")
            c.wipe_disk(node_id)
        role = MemberRole.OBSERVER if self.rng.random() < 0.2 else MemberRole.LEARNER
        member = ClusterMember(node_id, role, f"n{node_id}:7000", f"n{node_id}:6379")
        node.bootstrap = latest.replace(member)
        c.restart(node_id)
        self._ask(latest, MemberChange(ADD, node_id, role, member.peer, member.resp))

    def _ask(self, latest: Membership, change: MemberChange) -> None:
        """Send `change` through a random live member, as a client connected to it would."""
        c = self.c
        via = [i for i in sorted(latest.ids()) if c.nodes[i].alive]
        if not via:
            return
        node = c.nodes[self.rng.choice(via)]
        c.stats.reconfigs["asked"] = c.stats.reconfigs.get("asked", 0) + 1
        c._log(node, f"member {change.op} {change.id} asked")
        answers = ChangeAnswers(c, change)
        c.call_on(node.id, lambda host: node.core.submit_batch([(MEMBERSHIP, change.encode())], answers))


__all__ = ["Reconfigurer"]
