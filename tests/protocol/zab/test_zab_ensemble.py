"""ensemble.py: the quorums a ZAB node counts while a change is pending and after."""

from __future__ import annotations

from replicator.protocol.membership import ConfigHistory
from replicator.protocol.zab.ensemble import Ensemble, config_digest
from replicator.types import Entry, EntryKind
from tests.protocol.zab.membership_harness import LEARNER, config_data, voters


def history(*changes):
    """A ConfigHistory: {1,2,3} at the base, then (index, membership) CONFIG entries."""
    h = ConfigHistory(0, voters(1, 2, 3))
    h.appended(Entry(i, 1, config_data(m), EntryKind.CONFIG) for i, m in changes)
    return h


def test_without_a_pending_change_one_quorum_counts():
    e = Ensemble.of(history(), committed=0)
    assert e.quorums == ((1, 2, 3),) and e.pending_at == 0 and e.members == {1, 2, 3}
    assert e.has_quorums({1, 2}) and not e.has_quorums({3})
    assert e.commit_index({1: 9, 2: 7, 3: 0}) == 7


def test_a_pending_change_counts_both_from_its_entry_on():
    e = Ensemble.of(history((5, voters(1, 4, 5))), committed=4)
    assert e.quorums == ((1, 2, 3), (1, 4, 5)) and e.pending_at == 5
    assert e.voters == (1, 2, 3, 4, 5) and e.members == {1, 2, 3, 4, 5}
    assert not e.has_quorums({1, 2, 3}) and not e.has_quorums({1, 4, 5}) and e.has_quorums({1, 2, 4})
    # {1,2,3} hold 9: what precedes the change commits, not the change.
    assert e.commit_index({1: 9, 2: 9, 3: 9}) == 4
    # Both quorums hold 7: 7 commits, the rest waits for the new one.
    assert e.commit_index({1: 9, 2: 9, 4: 7}) == 7
    assert e.commit_index({1: 3, 2: 3, 4: 9, 5: 9}) == 3
    assert e.agreed({1: 5, 2: 4, 4: 6}) == 4


def test_a_change_that_keeps_the_voters_counts_one_quorum():
    e = Ensemble.of(history((5, voters(1, 2, 3, n4=LEARNER))), committed=4)
    assert e.quorums == ((1, 2, 3),) and e.pending_at == 5 and 4 in e.members


def test_once_committed_only_the_new_one_counts():
    e = Ensemble.of(history((5, voters(1, 4, 5))), committed=5)
    assert e.quorums == ((1, 4, 5),) and e.members == {1, 4, 5} and e.pending_at == 0


def test_config_digest():
    assert config_digest(voters(1, 2)) == config_digest(voters(1, 2)) != config_digest(voters(1, 3))
    assert 0 < config_digest(voters(1)) < 1 << 62
