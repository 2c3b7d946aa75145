"""The PrimaryOrder invariant catches a committed log whose epochs or zxids go backwards."""

import pytest

from replicator.protocol.ready import Ready
from replicator.sim.invariants import Invariants, Violation
from replicator.storage.memory_store import MemoryStore
from replicator.types import Entry


def stores_holding(entries):
    stores = {}
    for node in (1, 2, 3):
        store = MemoryStore()
        store.save(Ready(1, None, tuple(entries), None, True, (), (), (), (), None))
        stores[node] = store
    return stores


def zxid(epoch, counter):
    return epoch << 32 | counter


def test_increasing_zxids_pass():
    log = [Entry(1, 1, b"a", zxid=zxid(1, 1)), Entry(2, 1, b"b", zxid=zxid(1, 2)), Entry(3, 2, b"c", zxid=zxid(2, 1))]
    inv = Invariants((1, 2, 3))
    inv.on_applied(1, 2, log, stores_holding(log), {})


@pytest.mark.parametrize(
    "second",
    [
        Entry(2, 1, b"b", zxid=zxid(1, 1)),  # same zxid twice
        Entry(2, 1, b"b", zxid=zxid(0, 9)),  # zxid goes back
    ],
)
def test_zxid_going_back_is_caught(second):
    log = [Entry(1, 1, b"a", zxid=zxid(1, 1)), second]
    inv = Invariants((1, 2, 3))
    with pytest.raises(Violation, match="PrimaryOrder"):
        inv.on_applied(1, 1, log, stores_holding(log), {})


def test_epoch_going_back_is_caught_in_either_order_of_discovery():
    first, second = Entry(1, 3, b"a"), Entry(2, 2, b"b")
    inv = Invariants((1, 2, 3))
    inv.on_applied(1, 3, [second], stores_holding([first, second]), {})  # index 2 seen first
    with pytest.raises(Violation, match="PrimaryOrder"):
        inv.on_applied(2, 3, [first], stores_holding([first, second]), {})
