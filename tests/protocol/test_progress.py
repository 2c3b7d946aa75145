"""Per-follower progress: probe / replicate / snapshot and the in-flight window."""

from replicator.protocol.progress import Inflights, Progress, ProgressState
from replicator.types import SnapshotMeta


def test_inflights_window():
    w = Inflights(3)
    for last in (5, 9, 12):
        w.add(last)
    assert w.full()
    w.free_le(9)
    assert len(w) == 1 and not w.full()
    w.free_first_one()
    assert len(w) == 0


def test_probe_sends_one_then_pauses_until_answered():
    pr = Progress(next_index=11, max_inflight=4)
    assert pr.state is ProgressState.PROBE and not pr.is_paused()
    pr.sent_entries(15)
    assert pr.is_paused() and pr.next == 11  # probes are not optimistic
    assert pr.maybe_update(15)
    assert not pr.is_paused() and (pr.match, pr.next) == (15, 16)


def test_replicate_is_optimistic_and_windowed():
    pr = Progress(next_index=1, max_inflight=2)
    pr.maybe_update(0)
    pr.become_replicate()
    pr.sent_entries(5)
    pr.sent_entries(9)
    assert pr.next == 10 and pr.is_paused()
    pr.maybe_update(5)
    pr.inflights.free_le(5)
    assert not pr.is_paused()


def test_decrement_uses_hint_and_ignores_stale_rejections():
    pr = Progress(next_index=101, max_inflight=4)
    assert not pr.maybe_decr_to(50, 10)  # not the probe we sent (next-1 == 100)
    assert pr.maybe_decr_to(100, 40)
    assert pr.next == 41
    pr.maybe_update(40)
    pr.become_replicate()
    pr.sent_entries(60)
    assert not pr.maybe_decr_to(30, 0)  # rejected index <= match: stale
    assert pr.maybe_decr_to(55, 0) and pr.next == 41


def test_snapshot_state_pauses_and_resumes_after_the_snapshot():
    pr = Progress(next_index=5, max_inflight=4)
    pr.become_snapshot(SnapshotMeta(index=100, epoch=3, chunk_count=2))
    assert pr.is_paused() and pr.pending_snapshot == 100
    pr.become_probe()
    assert pr.next == 101 and pr.state is ProgressState.PROBE
