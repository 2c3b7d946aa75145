"""The ZooKeeper transaction id: `epoch << 32 | counter`.

The high 32 bits are the epoch of the leader that proposed the transaction, the
low 32 bits a counter that restarts at 0 with every epoch. Each epoch's first
entry is its leader's NOOP, counter 0: it plays the role of ZooKeeper's
NEWLEADER zxid (`newEpoch << 32`). Client proposals then count 1, 2, 3...

Order: zxids compare as integers, which is (epoch, counter) order. Inside one
history the counter grows with the log index, so (epoch of the last entry,
last index) orders two logs exactly like their last zxids do. The engine
compares positions that way (see `LogPos`): an index survives compaction,
while a snapshot taken by the host may not record the zxid it ends at.
"""

from __future__ import annotations

from dataclasses import dataclass

EPOCH_SHIFT = 32
COUNTER_MASK = (1 << EPOCH_SHIFT) - 1
MAX_EPOCH = COUNTER_MASK
MAX_COUNTER = COUNTER_MASK  # ZooKeeper forces a new election before the counter wraps


def make_zxid(epoch: int, counter: int) -> int:
    """`epoch << 32 | counter`; both must fit 32 bits."""
    if not (0 <= epoch <= MAX_EPOCH and 0 <= counter <= MAX_COUNTER):
        raise ValueError(f"zxid out of range: epoch {epoch}, counter {counter}")
    return epoch << EPOCH_SHIFT | counter


def zxid_epoch(zxid: int) -> int:
    return zxid >> EPOCH_SHIFT


def zxid_counter(zxid: int) -> int:
    return zxid & COUNTER_MASK


def format_zxid(zxid: int) -> str:
    """ZooKeeper's rendering: 0x<hex> (as in its logs and `stat` output)."""
    return f"0x{zxid:x}"


@dataclass(frozen=True, slots=True, order=True)
class Zxid:
    """A zxid as its two halves; orders like the integer."""

    epoch: int
    counter: int

    @classmethod
    def from_int(cls, zxid: int) -> Zxid:
        return cls(zxid_epoch(zxid), zxid_counter(zxid))

    def __int__(self) -> int:
        return make_zxid(self.epoch, self.counter)

    def __str__(self) -> str:
        return format_zxid(int(self))


@dataclass(frozen=True, slots=True)
class LogPos:
    """A point in a log: an entry's index and epoch (and its zxid, for humans).

    Two positions with the same index and epoch name the same entry in every
    log (one leader per epoch writes each index once). `key()` orders
    positions like their zxids (module docstring); the zxid itself is carried
    but never compared, as it may be unknown (0 counter) at a snapshot base.
    """

    index: int
    epoch: int
    zxid: int = 0

    def key(self) -> tuple[int, int]:
        return (self.epoch, self.index)

    def same(self, other: LogPos) -> bool:
        return self.index == other.index and self.epoch == other.epoch

    def before(self, other: LogPos) -> bool:
        return self.key() < other.key()


__all__ = [
    "COUNTER_MASK",
    "EPOCH_SHIFT",
    "MAX_COUNTER",
    "MAX_EPOCH",
    "LogPos",
    "Zxid",
    "format_zxid",
    "make_zxid",
    "zxid_counter",
    "zxid_epoch",
]
