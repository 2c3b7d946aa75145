"""The keyspace of the `kv` machine: values, expiry deadlines, shared helpers.

Theory of operation
-------------------
One dict maps key -> value; the Python type of the value is the Redis type
(bytes = string, hashes.Hash, lists.List, sets.Set, zsets.ZSet; each module
registers its class in TYPE_NAMES). A second dict maps key -> absolute deadline in ms, for
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

import decimal
import heapq
import re
from fractions import Fraction

from statemachines import INT64_MAX, INT64_MIN, ReplyError, parse_int  # noqa: F401  (kv imports them from here)
from statemachines.keyevents import EXPIRED, KEY_MISS, NEW

OK = "OK"
WRONGTYPE = ReplyError("WRONGTYPE Operation against a key holding the wrong kind of value")
SYNTAX = ReplyError("ERR syntax error")
OVERFLOW = ReplyError("ERR increment or decrement would overflow")

VERSION_SLACK = 100_000  # tombstones kept beyond the live keys before they are dropped
EXPIRE_PER_APPLY_MAX = 16  # keys reclaimed by active expiry per apply (Redis samples 20 per cycle)

NOT_FLOAT = ReplyError("ERR value is not a valid float")
NAN_OR_INF = ReplyError("ERR increment would produce NaN or Infinity")
NO_SUCH_KEY = ReplyError("ERR no such key")
INDEX_RANGE = ReplyError("ERR index out of range")
POSITIVE = ReplyError("ERR value is out of range, must be positive")

# Redis type name of each value class; a new type module adds its class here.
TYPE_NAMES: dict[type, str] = {bytes: "string"}


_DECIMAL = re.compile(rb"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_HEXADECIMAL = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?")


def parse_float(raw: bytes, *, overflow_is_infinite: bool = False) -> float | None:
    """Redis' string2d (strtod, then: no leading space, nothing left over, no NaN, no overflow
    and no underflow to zero); inf, +inf, -inf and hexadecimal floats are allowed. With
    overflow_is_infinite (a bare strtod, as zslParseRange uses), an overflow is +-inf and an
    underflow 0. Linear in the input: Python's float() and float.fromhex are."""
    if not raw or raw[0] in b" \t\n\r\v\f" or raw[-1] in b" \t\n\r\v\f" or b"_" in raw:
        return None
    if b"x" in raw or b"X" in raw:  # strtod reads C99 hexadecimal floats too
        if _HEXADECIMAL.fullmatch(raw) is None:
            return None
        try:
            value = float.fromhex(raw.decode())
        except ValueError:  # no hex digit at all ("0x", "0x.p1"): strtod stops after the "0"
            return None
        except OverflowError:
            return (-INF if raw[:1] == b"-" else INF) if overflow_is_infinite else None
        if value == 0.0 and raw.lower().split(b"p")[0].strip(b"+-0x.") != b"" and not overflow_is_infinite:
            return None  # underflow (ERANGE)
        return value
    try:
        value = float(raw)
    except ValueError:
        return None
    if value != value:
        return None
    if overflow_is_infinite:
        return value
    if value in (INF, -INF) and b"inf" not in raw.lower():
        return None  # overflow (ERANGE)
    if value == 0.0 and any(c in raw for c in b"123456789"):
        mantissa = raw.lower().split(b"e")[0]
        if any(c in mantissa for c in b"123456789"):
            return None  # underflow (ERANGE)
    return value


INF = float("inf")


# --- long double (x87 80-bit) arithmetic for INCRBYFLOAT / HINCRBYFLOAT ----------------------
LDBL_MANTISSA_BITS = 64
LDBL_MAX_EXP = 16384


def _ld_round(value: Fraction) -> Fraction | None:
    """The nearest long double (64-bit mantissa, round half to even); None on overflow."""
    if value == 0:
        return value
    sign = -1 if value < 0 else 1
    value = abs(value)
    exp = value.numerator.bit_length() - value.denominator.bit_length()
    if Fraction(2) ** exp > value:
        exp -= 1
    shift = LDBL_MANTISSA_BITS - 1 - exp
    mantissa = round(value * Fraction(2) ** shift)
    result = mantissa / Fraction(2) ** shift
    if result >= Fraction(2) ** LDBL_MAX_EXP:
        return None
    return sign * result


LDBL_DECIMAL_EXP_MAX = 4933  # LDBL_MAX ~ 1.19e4932
LDBL_DECIMAL_EXP_MIN = -4952  # the smallest denormal ~ 3.6e-4951; below it strtold gives 0 and ERANGE
LDBL_BINARY_EXP_MAX = 16384  # LDBL_MAX < 2**16384
LDBL_BINARY_EXP_MIN = -16445  # the smallest denormal is 2**-16445
LONG_DOUBLE_CHARS_MAX = 5 * 1024  # Redis' MAX_LONG_DOUBLE_CHARS


def _exponent(raw: bytes | None) -> int | None:
    """An exponent's digits as an int, None when it is too long to mean anything but over/underflow
    (never int() on thousands of client digits)."""
    if not raw:
        return 0
    sign, digits = (-1, raw[1:]) if raw[:1] == b"-" else (1, raw.lstrip(b"+"))
    digits = digits.lstrip(b"0") or b"0"
    return sign * int(digits) if len(digits) <= 7 else None


def parse_long_double(raw: bytes) -> Fraction | float | None:
    """Redis' string2ld (strtold, then: no leading space, nothing left over, no overflow, no
    underflow to zero, no NaN): a finite value as an exact Fraction, +-inf as a float, None if
    invalid. The exponent is bounded before
    any arithmetic: 1e999999999 is an overflow here, not a billion-digit integer."""
    if not raw or len(raw) >= LONG_DOUBLE_CHARS_MAX or raw[0] in b" \t\n\r\v\f":
        return None
    if b"n" in raw.lower():  # inf, infinity (nan is refused)
        value = parse_float(raw)
        return value if value in (INF, -INF) else None
    hexadecimal = _HEXADECIMAL.fullmatch(raw)
    if hexadecimal is not None:
        sign, whole, fraction, exponent = hexadecimal.groups()
        base = 16
    else:
        found = _DECIMAL.fullmatch(raw)
        if found is None:
            return None
        sign, whole, fraction, exponent = found.groups()
        base = 10
    fraction = fraction or b""
    if not whole and not fraction:
        return None  # "", ".", "e5", "0x"
    digits = (whole + fraction).lstrip(b"0")
    if not digits:
        return Fraction(0)
    power = _exponent(exponent)
    if power is None:
        return None  # an exponent of eight or more digits: over- or underflow either way
    if base == 16:  # digits * 2**shift
        mantissa = int(digits, 16)
        shift = power - 4 * len(fraction)
        top = mantissa.bit_length() + shift  # 2**(top - 1) <= value < 2**top
        if top - 1 < LDBL_BINARY_EXP_MIN or top - 1 > LDBL_BINARY_EXP_MAX:
            return None
        value = mantissa * Fraction(2) ** shift
    else:  # digits * 10**shift; 10**(magnitude - 1) <= value < 10**magnitude
        shift = power - len(fraction)
        magnitude = shift + len(digits)
        if magnitude - 1 > LDBL_DECIMAL_EXP_MAX or magnitude < LDBL_DECIMAL_EXP_MIN:
            return None
        value = int(decimal.Decimal(digits.decode())) * Fraction(10) ** shift  # int(bytes) stops at 4300 digits
    rounded = _ld_round(value)
    if rounded is None:
        return None
    return -rounded if sign == b"-" else rounded


def _decimal_digits(number: int) -> str:
    """str(number) without Python's limit on converting long integers (a long double has up to
    4933 integer digits): decimal's conversion does not go through int's str()."""
    return str(decimal.Decimal(number))


def add_long_double(current: Fraction | float, by: Fraction | float) -> bytes | None:
    """current + by in long double, as Redis formats it ("%.17Lf", trailing zeros cut); None for NaN/inf."""
    if isinstance(current, float) or isinstance(by, float):
        return None  # an infinite operand gives inf or NaN
    total = _ld_round(current + by)
    if total is None:
        return None
    scaled = round(total * 10**17)
    sign = "-" if scaled < 0 else ""
    digits = _decimal_digits(abs(scaled)).rjust(18, "0")
    text = (digits[:-17] + "." + digits[-17:]).rstrip("0").rstrip(".")
    if text in ("0", ""):
        return b"0" if not sign else b"-0"
    return (sign + text).encode()


def normalize_range(start: int, end: int, size: int) -> tuple[int, int] | None:
    """LRANGE/GETRANGE-style inclusive indexes -> (start, end) within [0, size), or None if empty."""
    if start < 0:
        start += size
    if end < 0:
        end += size
    if start < 0:
        start = 0
    if start > end or start >= size:
        return None
    if end >= size:
        end = size - 1
    return start, end


def arity_error(name: str) -> ReplyError:
    return ReplyError(f"ERR wrong number of arguments for '{name}' command")


def expire_time_error(name: str) -> ReplyError:
    return ReplyError(f"ERR invalid expire time in '{name}' command")


class Keyspace:
    """Values, deadlines and key versions of one database. Handlers get it as their first argument.

    Versions (for WATCH): `versions[key]` is the log index of the last entry that
    changed the key (set, deleted or modified in place); a key with no entry
    reports `version_floor`. Expiry does not change a version: a key that was
    live when WATCHed and has expired since is caught by EXEC's liveness check,
    and a key already expired when WATCHed stays unchanged when it is reaped
    (Redis 7.0 semantics both). Deleted keys keep their entry (a tombstone)
    until tombstones outnumber live keys by VERSION_SLACK, then all tombstones are
    dropped at once and the floor rises to the current index: a watch on an
    absent key may then abort spuriously, never succeed wrongly. All of it is a
    function of the applied entries, and it is in the snapshot.
    """

    __slots__ = (
        "data",
        "expires",
        "_heap",
        "versions",
        "version_floor",
        "index",
        "db",
        "databases",
        "key_changed",
        "keyspace_event",
    )
    CONTENT = ("data", "expires", "_heap")  # what SWAPDB exchanges (databases.Databases.swap)

    def __init__(self) -> None:
        self.data: dict[bytes, object] = {}
        self.expires: dict[bytes, int] = {}
        self._heap: list[tuple[int, bytes]] = []
        self.versions: dict[bytes, int] = {}
        self.version_floor = 0
        self.index = 0  # the log index being applied (set by KVMachine.apply)
        self.db = 0  # this database's number
        self.databases = None  # the machine's databases.Databases (MOVE, COPY DB, SWAPDB, FLUSHALL)
        # Node-local observers (statemachines.hooks.KeyEvents), set by Databases: they record, never change.
        self.key_changed = None  # (db, key) for every change of a key: blocking commands, client tracking
        self.keyspace_event = None  # (db, class, event, key): keyspace notifications (notify)

    # --- lookups ---------------------------------------------------------------
    def get(self, key: bytes, now_ms: int) -> object | None:
        """The live value for a read, or None; never mutates. A miss is Redis' lookupKeyRead
        "keymiss" event: emitted where the read runs (the serving node for a local read, every
        node for a read applied from the log), never an "expired" one (a read deletes nothing)."""
        value = self.data.get(key)
        if value is not None and self.expires:
            deadline = self.expires.get(key)
            if deadline is not None and deadline <= now_ms:
                value = None
        if value is None and self.keyspace_event is not None:
            self.keyspace_event(self.db, KEY_MISS, b"keymiss", key)
        return value

    def peek(self, key: bytes, now_ms: int) -> object | None:
        """The live value, or None, for lookups Redis makes without a keymiss event (OBJECT,
        MEMORY USAGE, RANDOMKEY's sampling: LOOKUP_NONOTIFY or no lookup at all)."""
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
                del self.expires[key]  # no version change: see the class docstring
                if self.key_changed is not None:
                    self.key_changed(self.db, key)
                if self.keyspace_event is not None:
                    self.keyspace_event(self.db, EXPIRED, b"expired", key)
                return None
        return value

    def deadline(self, key: bytes) -> int | None:
        return self.expires.get(key) if self.expires else None

    def version(self, key: bytes) -> int:
        return self.versions.get(key, self.version_floor)

    # --- mutation ----------------------------------------------------------------
    def put(self, key: bytes, value: object) -> None:
        """Store a value and drop any TTL (Redis' setKey without KEEPTTL). A key that was absent
        is Redis' dbAdd: the "new" event."""
        if self.keyspace_event is not None and key not in self.data:
            self.keyspace_event(self.db, NEW, b"new", key)
        self.data[key] = value
        self.versions[key] = self.index
        if self.expires:
            self.expires.pop(key, None)
        if self.key_changed is not None:
            self.key_changed(self.db, key)

    def put_keep_ttl(self, key: bytes, value: object) -> None:
        if self.keyspace_event is not None and key not in self.data:
            self.keyspace_event(self.db, NEW, b"new", key)
        self.data[key] = value
        self.versions[key] = self.index
        if self.key_changed is not None:
            self.key_changed(self.db, key)

    def changed(self, key: bytes) -> None:
        """A value was modified in place (HSET on an existing hash, LPUSH, ...)."""
        self.versions[key] = self.index
        if self.key_changed is not None:
            self.key_changed(self.db, key)

    def notify(self, event_class: int, event: bytes, key: bytes) -> None:
        """Redis' notifyKeyspaceEvent: tell the keyspace-event observer, if any (node-local). The
        hot paths (SET, INCR, LPUSH, HSET, ...) test `keyspace_event is not None` before calling,
        so without an observer they pay one attribute test, not a call (statemachines/keyevents.py)."""
        if self.keyspace_event is not None:
            self.keyspace_event(self.db, event_class, event, key)

    def reap(self, key: bytes) -> None:
        """Remove an expired key (active expiry): no version change."""
        del self.data[key]
        del self.expires[key]
        if self.key_changed is not None:
            self.key_changed(self.db, key)
        if self.keyspace_event is not None:
            self.keyspace_event(self.db, EXPIRED, b"expired", key)
        if len(self.versions) > 2 * len(self.data) + VERSION_SLACK:
            self._drop_tombstones()

    def delete(self, key: bytes) -> bool:
        if self.data.pop(key, None) is None:
            return False
        versions = self.versions
        versions[key] = self.index
        if self.expires:
            self.expires.pop(key, None)
        if len(versions) > 2 * len(self.data) + VERSION_SLACK:
            self._drop_tombstones()
        if self.key_changed is not None:
            self.key_changed(self.db, key)
        return True

    def _drop_tombstones(self) -> None:
        data = self.data
        self.versions = {key: v for key, v in self.versions.items() if key in data}
        self.version_floor = self.index

    def set_deadline(self, key: bytes, deadline_ms: int) -> None:
        """Give an existing key an absolute deadline."""
        assert key in self.data
        self.expires[key] = deadline_ms
        self.versions[key] = self.index
        if self.key_changed is not None:
            self.key_changed(self.db, key)
        heapq.heappush(self._heap, (deadline_ms, key))
        if len(self._heap) > 2 * len(self.expires) + 1024:
            self._rebuild_heap()

    def persist(self, key: bytes) -> bool:
        if self.expires and self.expires.pop(key, None) is not None:
            self.versions[key] = self.index
            if self.key_changed is not None:
                self.key_changed(self.db, key)
            return True
        return False

    def clear(self) -> None:
        """FLUSHDB: every key changes, so every watch fails (the floor rises)."""
        self.data.clear()
        self.expires.clear()
        self._heap.clear()
        self.versions.clear()
        self.version_floor = self.index
        if self.key_changed is not None:
            self.key_changed(self.db, None)

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
                if self.key_changed is not None:
                    self.key_changed(self.db, key)
                if self.keyspace_event is not None:
                    self.keyspace_event(self.db, EXPIRED, b"expired", key)
        if removed and len(self.versions) > 2 * len(data) + VERSION_SLACK:
            self._drop_tombstones()
        return removed

    def due_keys(self, now_ms: int, limit: int) -> list[bytes]:
        """Up to `limit` keys expired at now_ms, earliest first-ish; read-only (walks the heap's top)."""
        heap, expires = self._heap, self.expires
        out: list[bytes] = []
        stack = [0] if heap else []
        visited = 0
        while stack and len(out) < limit and visited < 8 * limit:
            i = stack.pop()
            deadline, key = heap[i]
            visited += 1
            if deadline > now_ms:
                continue  # the whole subtree is later
            if expires.get(key) == deadline:
                out.append(key)
            stack.extend(j for j in (2 * i + 2, 2 * i + 1) if j < len(heap))
        return out

    def _rebuild_heap(self) -> None:
        self._heap = [(deadline, key) for key, deadline in self.expires.items()]
        heapq.heapify(self._heap)

    def rebuild_index(self) -> None:
        """After a restore: the heap is derived state."""
        self._rebuild_heap()


def typed_access(cls: type):
    """The accessors of one value type, for its command module: read(ks, key, now) and
    write(ks, key, ts) return the value, None when the key is absent, or WRONGTYPE."""

    def read(ks: Keyspace, key: bytes, now: int):
        value = ks.get(key, now)
        return value if value is None or type(value) is cls else WRONGTYPE

    def write(ks: Keyspace, key: bytes, ts: int):
        value = ks.get_for_write(key, ts)
        return value if value is None or type(value) is cls else WRONGTYPE

    return read, write
