"""choose_sync: ZooKeeper's five cases (LearnerHandler.syncFollower) as a table.

The leader's log in most rows: indexes 1-7 with epochs 1 1 1 2 2 4 4 (epoch 3's
leader never got an entry onto it). A learner's last entry is (index, epoch);
`commit` is the learner's commit index.
"""

import pytest

from replicator.protocol.zab.sync import Diff, ListHistory, Snap, Trunc, TruncDiff, choose_sync
from replicator.protocol.zab.zxid import LogPos

LEADER = ListHistory([1, 1, 1, 2, 2, 4, 4])
# Compacted through index 3 (a snapshot at 3, epoch 1): entries 4-7 remain.
COMPACTED = ListHistory([2, 2, 4, 4], base=LogPos(3, 1))
P = LogPos


@pytest.mark.parametrize(
    ("history", "peer", "commit", "plan"),
    [
        # 1. DIFF, nothing to send: the learner ends where we end.
        (LEADER, P(7, 4), 5, Diff(P(7, 4))),
        # 2. TRUNC: ahead of us on proposals of our last epoch that we never had.
        (LEADER, P(9, 4), 5, Trunc(P(7, 4))),
        # 3. DIFF: inside the window, on our history.
        (LEADER, P(4, 2), 2, Diff(P(4, 2))),
        (LEADER, P(0, 0), 0, Diff(P(0, 0))),  # an empty learner: everything
        (COMPACTED, P(3, 1), 3, Diff(P(3, 1))),  # exactly at our snapshot
        # 4. TRUNC+DIFF: a divergent tail. Within its epoch: our last entry of epoch 2 ...
        (LEADER, P(6, 2), 3, TruncDiff(P(5, 2))),
        (LEADER, P(5, 1), 2, TruncDiff(P(3, 1))),  # ... or of epoch 1
        # ... or, across epochs (epoch 3 is not in our log), its commit index.
        (LEADER, P(6, 3), 4, TruncDiff(P(4, 2))),
        (LEADER, P(9, 3), 5, TruncDiff(P(5, 2))),  # longer than our log, still divergent
        # 5. SNAP: behind the window ...
        (COMPACTED, P(2, 1), 2, Snap()),
        # ... or what we can prove it shares is compacted away.
        (COMPACTED, P(6, 3), 2, Snap()),
    ],
)
def test_five_cases(history, peer, commit, plan):
    assert choose_sync(peer, history, commit) == plan


def test_diff_and_trunc_points_are_on_the_learners_log():
    """Property over small histories: whenever choose_sync names a point, the
    learner's log holds our entry there; a DIFF point is its last entry."""
    leader = [1, 1, 2, 2, 2, 5, 5, 6]
    history = ListHistory(leader)
    cases = 0
    for shared in range(len(leader) + 1):
        prefix = leader[:shared]
        top = prefix[-1] if prefix else 0
        # A divergent tail (uncommitted proposals of an old leader) is of an epoch
        # our log never had (3, 4, or 7: ahead of us), or continues the prefix's
        # epoch past the point where our log moved on to a later epoch.
        tails = {e for e in (3, 4, 7) if e >= top}
        if top and (shared == len(leader) or leader[shared] != top):
            tails.add(top)
        for tail_epoch in sorted(tails):
            for tail_len in range(0, 3):
                learner = prefix + [tail_epoch] * tail_len
                last = P(len(learner), learner[-1] if learner else 0)
                for commit in range(0, min(shared, len(learner)) + 1):
                    plan = choose_sync(last, history, peer_commit=commit)
                    cases += 1
                    if isinstance(plan, Diff):
                        assert learner == leader[: len(learner)] and plan.prev == last
                    elif isinstance(plan, (Trunc, TruncDiff)):
                        j = plan.to.index
                        assert commit <= j <= len(learner) and learner[:j] == leader[:j], (learner, plan)
                        assert learner != leader[: len(learner)] or len(learner) > len(leader)
                    else:
                        raise AssertionError(f"no snapshot without compaction: {learner} -> {plan}")
    assert cases > 100
