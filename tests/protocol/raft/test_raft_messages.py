"""Raft messages: stable wire tags and a lossless msgspec round trip.

The round trip uses msgspec the way replicator/codec.py does (msgpack array
[tag, message], one typed Decoder per class) without importing it, so this
file depends on nothing outside replicator.protocol and msgspec.
"""

import dataclasses

import msgspec
import pytest

from replicator.protocol.raft import messages as m
from replicator.types import Entry, EntryKind, SnapshotMeta

SAMPLES = [
    m.AppendEntries(1, 2, 3, 4, 2, (Entry(5, 3, b"x"), Entry(6, 3, b"", EntryKind.NOOP)), 4),
    m.AppendEntriesResp(2, 1, 3, index=4, reject=True, hint_index=2, hint_term=1),
    m.Heartbeat(1, 2, 3, commit=4, ctx=9),
    m.HeartbeatResp(2, 1, 3, ctx=9),
    m.RequestVote(1, 2, 3, last_index=4, last_term=2, transfer=True),
    m.RequestVoteResp(2, 1, 3, reject=True),
    m.PreVote(1, 2, 4, last_index=4, last_term=2),
    m.PreVoteResp(2, 1, 4),
    m.InstallSnapshot(1, 2, 3, SnapshotMeta(10, 2, (1, 2, 3), (4,), chunk_count=2, size_bytes=5), 1, b"chunk"),
    m.InstallSnapshotResp(2, 1, 3, index=10, next_chunk=2, chunk_index=1),
    m.TimeoutNow(1, 2, 3),
    m.TransferLeader(3, 1, 3, target=2),
    m.ReadIndexReq(2, 1, 3, ctx=77),
    m.ReadIndexResp(1, 2, 3, ctx=77, index=12),
]


def test_tags_are_raft_range_and_cover_every_message():
    assert set(m.MESSAGE_TYPES) <= set(range(1, 32))
    assert len(set(m.MESSAGE_TYPES.values())) == len(m.MESSAGE_TYPES)
    assert {type(s) for s in SAMPLES} == set(m.MESSAGE_TYPES.values())


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda s: type(s).__name__)
def test_round_trip(msg):
    tag = {cls: tag for tag, cls in m.MESSAGE_TYPES.items()}[type(msg)]
    body = msgspec.msgpack.encode((tag, msg))
    got_tag, raw = msgspec.msgpack.Decoder(tuple[int, msgspec.Raw]).decode(body)
    assert msgspec.msgpack.Decoder(m.MESSAGE_TYPES[got_tag]).decode(raw) == msg


@pytest.mark.parametrize("cls", list(m.MESSAGE_TYPES.values()), ids=lambda c: c.__name__)
def test_messages_are_frozen_slotted_with_routing_fields(cls):
    params = cls.__dataclass_params__
    assert params.frozen and hasattr(cls, "__slots__")
    names = [f.name for f in dataclasses.fields(cls)]
    assert names[:3] == ["src", "dst", "term"]
