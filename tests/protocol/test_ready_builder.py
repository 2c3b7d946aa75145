"""ReadyBuilder: what both engines' Ready holds and what advance() does, driven
the way an engine drives it (its state passed in, outboxes appended to)."""

import pytest

from replicator.protocol.log import LogView
from replicator.protocol.ready_builder import ReadyBuilder
from replicator.storage.memory_store import MemoryStore
from replicator.types import Entry, ProposalDropped, ReadState, Role, Snapshot, SnapshotMeta, SoftState


class FakeEngine:
    """An engine's state as far as the builder sees it: (epoch, vote, commit) and a role."""

    def __init__(self, *, max_apply_bytes=1 << 20, max_uncommitted_bytes=1 << 20):
        self.store = MemoryStore()
        self.log = LogView(self.store, committed=0, applied=0)
        self.epoch, self.vote = 0, 0
        self.soft = (Role.FOLLOWER, None, 0)
        self.builder = ReadyBuilder(
            self.log,
            node_id=1,
            hard_state=(0, 0, 0),
            encode_hard_state=lambda *hs: repr(hs).encode(),
            soft_state=self.soft,
            max_apply_bytes=max_apply_bytes,
            max_uncommitted_bytes=max_uncommitted_bytes,
        )

    def has_ready(self):
        return self.builder.has_ready((self.epoch, self.vote, self.log.committed), self.soft)

    def ready(self):
        return self.builder.ready((self.epoch, self.vote, self.log.committed), self.soft)

    def cycle(self):
        """ready() -> store -> advance(), as a driver does."""
        rd = self.ready()
        if rd.must_sync:
            self.store.save(rd)
        self.builder.advance(rd)
        return rd


def test_nothing_changed_nothing_ready():
    e = FakeEngine()
    assert not e.has_ready()


def test_outboxes_are_emptied_in_place():
    e = FakeEngine()
    msgs, after, reads = e.builder.msgs, e.builder.msgs_after, e.builder.read_states
    msgs.append("m")
    after.append("a")
    reads.append(ReadState(7, 0))
    assert e.has_ready()
    rd = e.cycle()
    assert (rd.messages, rd.messages_after_persist, rd.read_states) == (("m",), ("a",), (ReadState(7, 0),))
    # A role holding the lists keeps writing into the ones the next Ready takes.
    assert e.builder.msgs is msgs and not msgs and not after and not reads
    msgs.append("m2")
    assert e.cycle().messages == ("m2",)


@pytest.mark.parametrize("field", ["epoch", "vote"])
def test_a_durable_field_of_the_hard_state_forces_a_sync(field):
    e = FakeEngine()
    setattr(e, field, 3)
    assert e.has_ready()
    rd = e.cycle()
    assert rd.must_sync and rd.hard_state is not None
    assert e.builder.hard_durable[:2] == (e.epoch, e.vote)
    assert not e.has_ready()


def test_a_commit_only_change_is_handed_out_without_a_sync():
    e = FakeEngine()
    e.log.append(Entry(1, 1, b"x"))
    rd = e.cycle()
    assert rd.must_sync and rd.entries == (Entry(1, 1, b"x"),) and rd.hard_state is None
    e.log.commit_to(1)
    rd = e.cycle()
    assert not rd.must_sync and rd.hard_state == repr((0, 0, 1)).encode()
    assert rd.committed == (Entry(1, 1, b"x"),)
    assert e.log.applied == 1


def test_soft_state_is_reported_when_it_changes():
    e = FakeEngine()
    e.soft = (Role.LEADER, 1, 2)
    rd = e.cycle()
    assert rd.soft_state == SoftState(Role.LEADER, 1, 2)
    assert e.cycle().soft_state is None


def test_committed_entries_are_bounded_by_max_apply_bytes():
    e = FakeEngine(max_apply_bytes=10)
    for i in range(1, 4):
        e.log.append(Entry(i, 1, b"x" * 6))
    e.cycle()
    e.log.commit_to(3)
    assert [en.index for en in e.cycle().committed] == [1]
    assert [en.index for en in e.cycle().committed] == [2]
    assert [en.index for en in e.cycle().committed] == [3]
    assert not e.has_ready()


def test_uncommitted_budget_refuses_past_the_limit_and_is_refunded_at_apply():
    e = FakeEngine(max_uncommitted_bytes=10)
    b = e.builder
    b.admit(25)  # a first proposal always fits, however large
    with pytest.raises(ProposalDropped):
        b.admit(1)
    e.log.append(Entry(1, 1, b"x" * 25))
    e.cycle()
    e.log.commit_to(1)
    e.cycle()
    assert b.uncommitted_bytes == 0
    b.admit(6)
    with pytest.raises(ProposalDropped):
        b.admit(5)
    b.reset_uncommitted()
    b.admit(5)


def test_a_received_snapshot_becomes_durable_and_applied_on_advance():
    e = FakeEngine()
    meta = SnapshotMeta(5, 2, (1,), chunk_count=1, size_bytes=2)
    e.log.restore(Snapshot(meta, (b"ab",)))
    rd = e.cycle()
    assert rd.snapshot == Snapshot(meta, (b"ab",)) and rd.must_sync
    assert (e.log.applied, e.log.stable_last_index(), e.store.snapshot_meta()) == (5, 5, meta)


def test_next_number_names_the_ready_that_carries_what_happens_now():
    e = FakeEngine()
    first = e.builder.next_number
    assert e.ready().number == first
    assert e.builder.next_number == first + 1


def test_advance_must_acknowledge_the_last_ready():
    e = FakeEngine()
    old = e.cycle()
    e.ready()
    with pytest.raises(AssertionError):
        e.builder.advance(old)
