"""zxid = epoch << 32 | counter, and log positions ordered like zxids."""

import pytest

from replicator.protocol.zab.zxid import LogPos, Zxid, format_zxid, make_zxid, zxid_counter, zxid_epoch


def test_layout():
    z = make_zxid(5, 7)
    assert z == (5 << 32) | 7 == 0x500000007
    assert (zxid_epoch(z), zxid_counter(z)) == (5, 7)
    assert format_zxid(z) == "0x500000007"
    assert int(Zxid.from_int(z)) == z and str(Zxid(5, 7)) == "0x500000007"


def test_a_new_epoch_orders_after_every_counter_of_the_old_one():
    assert make_zxid(2, 0) > make_zxid(1, 0xFFFFFFFF)
    assert Zxid(2, 0) > Zxid(1, 0xFFFFFFFF) > Zxid(1, 3)


@pytest.mark.parametrize(("epoch", "counter"), [(-1, 0), (0, -1), (1 << 32, 0), (0, 1 << 32)])
def test_out_of_range(epoch, counter):
    with pytest.raises(ValueError):
        make_zxid(epoch, counter)


def test_positions_order_like_zxids_within_one_history():
    # One history: epoch 1 at indexes 1-3 (counters 0-2), epoch 3 from index 4 (counters 0-1).
    history = [
        LogPos(1, 1, make_zxid(1, 0)),
        LogPos(2, 1, make_zxid(1, 1)),
        LogPos(3, 1, make_zxid(1, 2)),
        LogPos(4, 3, make_zxid(3, 0)),
        LogPos(5, 3, make_zxid(3, 1)),
    ]
    for a in history:
        for b in history:
            assert a.before(b) == (a.zxid < b.zxid)
    # The zxid is carried, never compared: a snapshot base may not know it.
    assert LogPos(3, 1).same(LogPos(3, 1, make_zxid(1, 2)))
    assert not LogPos(3, 1).same(LogPos(3, 2))
