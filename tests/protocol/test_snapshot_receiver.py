"""SnapshotReceiver: chunks in order, go-back-N refusals, one stream at a time."""

from replicator.protocol.snapshot_receiver import Received, SnapshotReceiver
from replicator.types import Snapshot, SnapshotMeta

META = SnapshotMeta(10, 2, (1, 2, 3), chunk_count=3, size_bytes=6)
LEADER_2 = (2, 5)  # (sender, term): the stream's key


def test_chunks_in_order_assemble_the_snapshot():
    rx = SnapshotReceiver()
    assert rx.receive(LEADER_2, META, 0, b"ab") == (Received.PARTIAL, 1, None)
    assert rx.receive(LEADER_2, META, 1, b"cd") == (Received.PARTIAL, 2, None)
    assert rx.receive(LEADER_2, META, 2, b"ef") == (Received.COMPLETE, 3, Snapshot(META, (b"ab", b"cd", b"ef")))
    # The stream is over: a resent last chunk starts nothing.
    assert rx.receive(LEADER_2, META, 2, b"ef") == (Received.REFUSED, 0, None)


def test_a_gap_is_refused_with_the_position_to_resend_from():
    rx = SnapshotReceiver()
    rx.receive(LEADER_2, META, 0, b"ab")
    assert rx.receive(LEADER_2, META, 2, b"ef") == (Received.REFUSED, 1, None)
    assert rx.receive(LEADER_2, META, 0, b"ab") == (Received.REFUSED, 1, None)  # a duplicate chunk 0
    assert rx.receive(LEADER_2, META, 1, b"cd") == (Received.PARTIAL, 2, None)


def test_another_stream_starts_only_at_chunk_zero_and_never_mixes():
    rx = SnapshotReceiver()
    rx.receive(LEADER_2, META, 0, b"ab")
    # A delayed chunk of another leader/term or another snapshot: refused, ours kept.
    assert rx.receive((3, 6), META, 1, b"zz") == (Received.REFUSED, 0, None)
    newer = SnapshotMeta(12, 2, (1, 2, 3), chunk_count=3, size_bytes=6)
    assert rx.receive(LEADER_2, newer, 1, b"zz") == (Received.REFUSED, 0, None)
    assert rx.receive(LEADER_2, META, 1, b"cd") == (Received.PARTIAL, 2, None)
    # Chunk 0 of another stream replaces ours.
    assert rx.receive((3, 6), META, 0, b"AB") == (Received.PARTIAL, 1, None)
    assert rx.receive(LEADER_2, META, 2, b"ef") == (Received.REFUSED, 0, None)


def test_chunks_that_do_not_add_up_install_nothing():
    rx = SnapshotReceiver()
    rx.receive(LEADER_2, META, 0, b"ab")
    rx.receive(LEADER_2, META, 1, b"cd")
    assert rx.receive(LEADER_2, META, 2, b"e") == (Received.MISMATCH, 3, None)
    assert rx.receive(LEADER_2, META, 1, b"cd") == (Received.REFUSED, 0, None)  # start over


def test_an_empty_snapshot_is_one_empty_chunk():
    rx = SnapshotReceiver()
    meta = SnapshotMeta(4, 1, (1,))
    assert rx.receive(LEADER_2, meta, 0, b"") == (Received.COMPLETE, 1, Snapshot(meta, ()))


def test_reset_forgets_a_partial_stream():
    rx = SnapshotReceiver()
    rx.receive(LEADER_2, META, 0, b"ab")
    rx.reset()
    assert rx.receive(LEADER_2, META, 1, b"cd") == (Received.REFUSED, 0, None)
