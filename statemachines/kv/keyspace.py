"""The keyspace of the `kv` machine: values, expiry deadlines, shared helpers.

Theory of operation
-------------------
One dict maps key -> value; the Python type of the value is the Redis type
(bytes = string; later modules add hash, list, set and zset classes and
register them in TYPES). A second dict maps key -> absolute deadline in ms, for
keys that have a TTL only.

Time never comes from a clock here. Writes run inside `apply` with `ts_ms`,
the leader's stamp carried by the log entry, so every replica sees the same
deadline and the same "now". Two lookups follow Redis' lookupKeyRead/Write:

- `get(key, now_ms)`: for reads (query, or readonly commands at apply). An
  expired key is hidden but left alone: a read never changes state.
- `get_for_write(key, ts_ms)`: for writes. An expired key (deadline <= ts_ms)
  is deleted first, so the write sees it absent. Deterministic: every replica
  deletes it at the same log position.

Active expiry: a min-heap of (deadline, key) lets `expire_due` reclaim up to a
bounded number of expired keys per apply, so keys nobody touches again do not
keep memory forever. The heap holds stale entries (a TTL that was changed or
removed); they are checked against `expires` when popped, and the heap is
rebuilt when stale entries outnumber live ones. Which keys get reclaimed is
invisible to clients (expired keys are absent either way), and it is
deterministic too: heap order is total on (deadline, key).
"""

from __future__ import annotations

import heapq

from statemachines import ReplyError

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

OK = "OK"
WRONGTYPE = ReplyError("WRONGTYPE Operation against a key holding the wrong kind of value")
NOT_INTEGER = ReplyError("ERR value is not an integer or out of range")
SYNTAX = ReplyError("ERR syntax error")
OVERFLOW = ReplyError("ERR increment or decrement would overflow")

EXPIRE_PER_APPLY_MAX = 16  # keys reclaimed by active expiry per apply (Redis samples 20 per cycle)

# Redis type name of each value class; a new type module adds its class here.
TYPE_NAMES: dict[type, str] = {bytes: "string"}


def parse_int(raw: bytes) -> int | None:
    """Redis' string2ll: optional '-', no '+', no spaces, no leading zeros, fits in int64."""
    size = len(raw)
    if size == 0 or size > 20:
        return None
    if raw.isdigit():
        if raw[0] == 48 and size > 1:  # leading zero
            return None
    elif not (raw[0] == 45 and size > 1 and raw[1] != 48 and raw[1:].isdigit()):  # "-0" is rejected too
        return None
    value = int(raw)
    if value > INT64_MAX or value < INT64_MIN:
        return None
    return value


def arity_error(name: str) -> ReplyError:
    return ReplyError(f"ERR wrong number of arguments for '{name}' command")


def expire_time_error(name: str) -> ReplyError:
    return ReplyError(f"ERR invalid expire time in '{name}' command")


class Keyspace:
    """Values and deadlines of one database. Handlers get it as their first argument."""

    __slots__ = ("data", "expires", "_heap")

    def __init__(self) -> None:
        self.data: dict[bytes, object] = {}
        self.expires: dict[bytes, int] = {}
        self._heap: list[tuple[int, bytes]] = []

    # --- lookups ---------------------------------------------------------------
    def get(self, key: bytes, now_ms: int) -> object | None:
        """The live value for a read, or None; never mutates."""
        value = self.data.get(key)
        if value is not None and self.expires:
            deadline = self.expires.get(key)
            if deadline is not None and deadline <= now_ms:
                return None
        return value

    def get_for_write(self, key: bytes, ts_ms: int) -> object | None:
        """The live value for a write, or None; an expired key is deleted first."""
        value = self.data.get(key)
        if value is not None and self.expires:
            deadline = self.expires.get(key)
            if deadline is not None and deadline <= ts_ms:
                del self.data[key]
                del self.expires[key]
                return None
        return value

    def deadline(self, key: bytes) -> int | None:
        return self.expires.get(key) if self.expires else None

    # --- mutation ----------------------------------------------------------------
    def put(self, key: bytes, value: object) -> None:
        """Store a value and drop any TTL (Redis' setKey without KEEPTTL)."""
        self.data[key] = value
        if self.expires:
            self.expires.pop(key, None)

    def put_keep_ttl(self, key: bytes, value: object) -> None:
        self.data[key] = value

    def delete(self, key: bytes) -> bool:
        if self.data.pop(key, None) is None:
            return False
        if self.expires:
            self.expires.pop(key, None)
        return True

    def set_deadline(self, key: bytes, deadline_ms: int) -> None:
        """Give an existing key an absolute deadline."""
        assert key in self.data
        self.expires[key] = deadline_ms
        heapq.heappush(self._heap, (deadline_ms, key))
        if len(self._heap) > 2 * len(self.expires) + 1024:
            self._rebuild_heap()

    def persist(self, key: bytes) -> bool:
        return self.expires.pop(key, None) is not None if self.expires else False

    def clear(self) -> None:
        self.data.clear()
        self.expires.clear()
        self._heap.clear()

    # --- active expiry -------------------------------------------------------------
    def has_due(self, ts_ms: int) -> bool:
        heap = self._heap
        return bool(heap) and heap[0][0] <= ts_ms

    def expire_due(self, ts_ms: int, budget: int = EXPIRE_PER_APPLY_MAX) -> int:
        """Delete up to `budget` keys whose deadline <= ts_ms; returns how many."""
        heap, expires, data = self._heap, self.expires, self.data
        removed = 0
        pops = 4 * budget  # stale entries count too, so one apply stays bounded
        while heap and heap[0][0] <= ts_ms and removed < budget and pops:
            deadline, key = heapq.heappop(heap)
            pops -= 1
            if expires.get(key) == deadline:
                del expires[key]
                del data[key]
                removed += 1
        return removed

    def _rebuild_heap(self) -> None:
        self._heap = [(deadline, key) for key, deadline in self.expires.items()]
        heapq.heapify(self._heap)

    def rebuild_index(self) -> None:
        """After a restore: the heap is derived state."""
        self._rebuild_heap()
