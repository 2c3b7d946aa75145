"""ZAB messages: stable wire tags (32..63) and a lossless msgspec round trip.

The round trip uses msgspec the way replicator/codec.py does (msgpack array
[tag, message], one typed Decoder per class) without importing it.
"""

import dataclasses

import msgspec
import pytest

from replicator.protocol.zab import MESSAGE_TYPES
from replicator.protocol.zab import messages as m
from replicator.types import Entry, EntryKind, SnapshotMeta

Z = (3 << 32) | 4
ENTRIES = (Entry(5, 3, b"", EntryKind.NOOP, 3 << 32), Entry(6, 3, b"x", EntryKind.NORMAL, (3 << 32) | 1))
SAMPLES = [
    m.Notification(1, 2, election_epoch=4, leader=3, zxid=Z, index=9, peer_epoch=2, state=1),
    m.FollowerInfo(2, 1, accepted_epoch=3, session=77, observer=True),
    m.LeaderInfo(1, 2, epoch=4, session=77),
    m.AckEpoch(2, 1, 4, 77, current_epoch=3, last_index=9, last_epoch=3, last_zxid=Z, commit=8, repeat=True),
    m.Diff(1, 2, 4, 77, index=9, log_epoch=3, zxid=Z),
    m.Trunc(1, 2, 4, 77, index=8, log_epoch=3, zxid=Z - 1),
    m.Snap(1, 2, 4, 77, SnapshotMeta(10, 2, (1, 2, 3), (4,), Z, 2, 5), 1, b"chunk"),
    m.SnapAck(2, 1, 4, 77, index=10, next_chunk=2, chunk_index=1, reject=True),
    m.NewLeader(1, 2, 4, 77, index=11, zxid=4 << 32),
    m.Ack(2, 1, 4, 77, index=11, zxid=4 << 32),
    m.UpToDate(1, 2, 4, 77, commit=11),
    m.Proposal(1, 2, 4, ENTRIES),
    m.Commit(1, 2, 4, index=6, zxid=(3 << 32) | 1),
    m.Inform(1, 4, 4, ENTRIES, commit=6),
    m.Ping(1, 2, 4, commit=6, round=12),
    m.PingAck(2, 1, 4, 77, round=12, index=6),
    m.SyncReq(2, 1, 4, ctx=99),
    m.SyncResp(1, 2, 4, ctx=99, index=6),
    m.Handover(1, 2, 4, leader=3, zxid=Z, index=9),
]


def test_tags_are_zab_range_and_cover_every_message():
    assert set(MESSAGE_TYPES) <= set(range(32, 64))
    assert len(set(MESSAGE_TYPES.values())) == len(MESSAGE_TYPES)
    assert {type(s) for s in SAMPLES} == set(MESSAGE_TYPES.values())


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda s: type(s).__name__)
def test_round_trip(msg):
    tag = {cls: tag for tag, cls in MESSAGE_TYPES.items()}[type(msg)]
    body = msgspec.msgpack.encode((tag, msg))
    got_tag, raw = msgspec.msgpack.Decoder(tuple[int, msgspec.Raw]).decode(body)
    assert msgspec.msgpack.Decoder(MESSAGE_TYPES[got_tag]).decode(raw) == msg


@pytest.mark.parametrize("cls", list(MESSAGE_TYPES.values()), ids=lambda c: c.__name__)
def test_messages_are_frozen_slotted_with_routing_fields(cls):
    params = cls.__dataclass_params__
    assert params.frozen and hasattr(cls, "__slots__")
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields[:2]] == ["src", "dst"]
    if cls not in (m.Notification, m.FollowerInfo):  # sent before the learner knows an epoch
        assert fields[2].name == "epoch"  # the leader's epoch: a stale leadership is recognised
