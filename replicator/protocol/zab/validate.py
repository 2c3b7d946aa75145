"""Messages that cannot be true whatever the receiver's state (drops.MALFORMED).

`MALFORMED[type(msg)](msg)` is True for a message no correct ZAB peer sends:
numbers out of range, entries out of primary order, a sync marker whose
position contradicts itself. The engine drops such a message before any role
sees it (replicator/protocol/drops.py counts it); what can only be judged
against the receiver's state (a stale epoch, a gap) is the roles' business.
"""

from __future__ import annotations

from replicator.protocol import drops
from replicator.protocol.drops import valid_number
from replicator.protocol.zab.election import PeerState
from replicator.protocol.zab.messages import (
    Ack,
    AckEpoch,
    Commit,
    Diff,
    FollowerInfo,
    Handover,
    Inform,
    LeaderInfo,
    NewLeader,
    Notification,
    Ping,
    PingAck,
    Proposal,
    Snap,
    SnapAck,
    SyncReq,
    SyncResp,
    Trunc,
    UpToDate,
)
from replicator.protocol.zab.zxid import EPOCH_SHIFT, MAX_EPOCH, make_zxid, zxid_epoch
from replicator.types import Entry

_SESSION_MAX = (1 << 64) - 1
_PEER_STATES = frozenset(int(state) for state in PeerState)


def _epoch_ok(epoch: int) -> bool:
    return 0 <= epoch <= MAX_EPOCH


def _entries_ok(entries: tuple[Entry, ...], epoch_max: int) -> bool:
    """A leader's entries: contiguous, epochs never decreasing and at most its
    own, each zxid of its entry's epoch and growing within it (primary order)."""
    if not entries:
        return True
    index = entries[0].index - 1
    if index < 0:
        return False
    epoch = 0
    last = -1
    for entry in entries:  # one pass: this runs for every proposal a learner takes
        index += 1
        e = entry.epoch
        zxid = entry.zxid
        if entry.index != index or e < epoch or e > epoch_max or zxid >> EPOCH_SHIFT != e or zxid <= last:
            return False
        epoch = e
        last = zxid
    return True


def _bad_notification(m: Notification) -> bool:
    return not (
        m.state in _PEER_STATES
        and valid_number(m.election_epoch)
        and valid_number(m.leader)
        and valid_number(m.zxid)
        and valid_number(m.index)
        and _epoch_ok(m.peer_epoch)
        and valid_number(m.commit_index)
        and valid_number(m.config_digest)
    )


def _bad_follower_info(m: FollowerInfo) -> bool:
    # An acceptedEpoch of MAX_EPOCH leaves no epoch for any leader to choose.
    return not (0 <= m.accepted_epoch < MAX_EPOCH and 0 <= m.session <= _SESSION_MAX)


def _bad_leader_info(m: LeaderInfo) -> bool:
    return not (1 <= m.epoch <= MAX_EPOCH and 0 <= m.session <= _SESSION_MAX)


def _bad_ack_epoch(m: AckEpoch) -> bool:
    # The learner accepted m.epoch: every epoch it knows is at most that.
    return not (
        _epoch_ok(m.epoch)
        and 0 <= m.session <= _SESSION_MAX
        and 0 <= m.current_epoch <= m.epoch
        and 0 <= m.last_epoch <= m.epoch
        and valid_number(m.last_index)
        and valid_number(m.last_zxid)
        and 0 <= m.commit <= m.last_index
        and (m.last_index > 0 or m.last_epoch == 0)
    )


def _bad_marker(m: Diff | Trunc) -> bool:
    return not (
        _epoch_ok(m.epoch)
        and 0 <= m.session <= _SESSION_MAX
        and valid_number(m.index)
        and 0 <= m.log_epoch <= m.epoch
        and valid_number(m.zxid)
        and (m.index > 0 or m.log_epoch == 0)
    )


def _bad_snap(m: Snap) -> bool:
    meta = m.meta
    count = meta.chunk_count
    return not (
        _epoch_ok(m.epoch)
        and 0 <= m.session <= _SESSION_MAX
        and valid_number(meta.index)
        and 0 <= meta.epoch <= m.epoch
        and valid_number(meta.zxid)
        and valid_number(count)
        and valid_number(meta.size_bytes)
        and (meta.index > 0 or meta.epoch == 0)
        and 0 <= m.chunk_index < max(count, 1)
        and (count > 0 or not m.data)
    )


def _bad_snap_ack(m: SnapAck) -> bool:
    return not (
        _epoch_ok(m.epoch)
        and 0 <= m.session <= _SESSION_MAX
        and valid_number(m.index)
        and valid_number(m.next_chunk)
        and valid_number(m.chunk_index)
    )


def _bad_new_leader(m: NewLeader) -> bool:
    # NEWLEADER names the epoch's NOOP: zxid epoch << 32, at an index >= 1.
    return not (
        1 <= m.epoch <= MAX_EPOCH
        and 0 <= m.session <= _SESSION_MAX
        and 1 <= m.index <= drops.FIELD_MAX
        and m.zxid == make_zxid(m.epoch, 0)
    )


def _bad_ack(m: Ack) -> bool:
    return not (
        _epoch_ok(m.epoch) and 0 <= m.session <= _SESSION_MAX and valid_number(m.index) and valid_number(m.zxid)
    )


def _bad_up_to_date(m: UpToDate) -> bool:
    return not (_epoch_ok(m.epoch) and 0 <= m.session <= _SESSION_MAX and valid_number(m.commit))


def _bad_proposal(m: Proposal) -> bool:
    return not (_epoch_ok(m.epoch) and _entries_ok(m.entries, m.epoch))


def _bad_inform(m: Inform) -> bool:
    return not (_epoch_ok(m.epoch) and valid_number(m.commit) and _entries_ok(m.entries, m.epoch))


def _bad_commit(m: Commit) -> bool:
    return not (_epoch_ok(m.epoch) and valid_number(m.index) and 0 <= m.zxid and zxid_epoch(m.zxid) <= m.epoch)


def _bad_ping(m: Ping) -> bool:
    return not (_epoch_ok(m.epoch) and valid_number(m.commit) and valid_number(m.round))


def _bad_ping_ack(m: PingAck) -> bool:
    return not (
        _epoch_ok(m.epoch) and 0 <= m.session <= _SESSION_MAX and valid_number(m.round) and valid_number(m.index)
    )


def _bad_sync_req(m: SyncReq) -> bool:
    return not _epoch_ok(m.epoch)


def _bad_handover(m: Handover) -> bool:
    # The target's vote: our last position, an entry of an epoch up to ours.
    return not (
        _epoch_ok(m.epoch)
        and valid_number(m.leader)
        and valid_number(m.index)
        and valid_number(m.zxid)
        and zxid_epoch(m.zxid) <= m.epoch
    )


def _bad_sync_resp(m: SyncResp) -> bool:
    return not (_epoch_ok(m.epoch) and valid_number(m.index))


MALFORMED = {
    Notification: _bad_notification,
    FollowerInfo: _bad_follower_info,
    LeaderInfo: _bad_leader_info,
    AckEpoch: _bad_ack_epoch,
    Diff: _bad_marker,
    Trunc: _bad_marker,
    Snap: _bad_snap,
    SnapAck: _bad_snap_ack,
    NewLeader: _bad_new_leader,
    Ack: _bad_ack,
    UpToDate: _bad_up_to_date,
    Proposal: _bad_proposal,
    Inform: _bad_inform,
    Commit: _bad_commit,
    Ping: _bad_ping,
    PingAck: _bad_ping_ack,
    SyncReq: _bad_sync_req,
    SyncResp: _bad_sync_resp,
    Handover: _bad_handover,
}

__all__ = ["MALFORMED"]
