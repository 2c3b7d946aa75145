"""The numbered databases of the kv machine (Redis' SELECT, MOVE, SWAPDB, FLUSHALL).

Each database is a Keyspace. Database 0 always exists (the machine's hot path
holds it directly); the others are made on first use, so a cluster that never
SELECTs pays nothing for them. `count` (the `databases` setting, default 16 as
in Redis) bounds the numbers a command may name; the node sets it from its
config before the first apply, and every node must have the same.

SWAPDB swaps the two keyspaces' contents rather than the objects, so the
machine's reference to database 0 stays valid and each Keyspace keeps its
number. Every key of both databases changes under a WATCH then (Redis 7.0
touches the watched keys of both): the version floors rise to the swapping
entry's index and the version maps are emptied, the same spurious-abort-never-
wrong-commit rule as FLUSHDB (see Keyspace).
"""

from __future__ import annotations

from statemachines import ReplyError, parse_int
from statemachines.kv.keyspace import Keyspace
from statemachines.kv.libraries import Libraries

DATABASES_DEFAULT = 16  # Redis' `databases`
DB_OUT_OF_RANGE = ReplyError("ERR DB index is out of range")
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
NOT_INT32 = ReplyError(f"ERR value is out of range, value must between {INT32_MIN} and {INT32_MAX}")
NOT_AN_INTEGER = ReplyError("ERR value is not an integer or out of range")


def parse_db_number(raw: bytes) -> int | ReplyError:
    """A database number as Redis' getIntFromObjectOrReply reads it (range checked by the caller)."""
    number = parse_int(raw)
    if number is None:
        return NOT_AN_INTEGER
    if not INT32_MIN <= number <= INT32_MAX:
        return NOT_INT32
    return number


class Databases:
    """Database number -> Keyspace, for the commands that cross databases."""

    __slots__ = ("_keyspaces", "count", "functions", "scripts", "key_changed", "keyspace_event", "script_permissions")

    def __init__(self, count: int = DATABASES_DEFAULT) -> None:
        self.count = count
        self.scripts: dict[bytes, bytes] = {}  # Lua script cache, sha1 hex -> body (scripting.py)
        self.functions = Libraries()  # FUNCTION LOAD's libraries (functions.py)
        self._keyspaces: dict[int, Keyspace] = {}
        # The node-local observers every Keyspace calls (statemachines.hooks.KeyEvents; set_observers).
        self.key_changed = None
        self.keyspace_event = None
        self.script_permissions = None  # the node's ACL check of redis.call (hooks.ScriptPermissions)
        self.get(0)

    def get(self, number: int) -> Keyspace:
        """Database `number` (0 <= number < count is the caller's check), made on first use."""
        ks = self._keyspaces.get(number)
        if ks is None:
            ks = self._keyspaces[number] = Keyspace()
            ks.db = number
            ks.databases = self
            ks.key_changed, ks.keyspace_event = self.key_changed, self.keyspace_event
        return ks

    def set_observers(self, key_changed, keyspace_event) -> None:
        """The node-local observers (hooks.KeyEvents), for every database made and to be made."""
        self.key_changed, self.keyspace_event = key_changed, keyspace_event
        for ks in self._keyspaces.values():
            ks.key_changed, ks.keyspace_event = key_changed, keyspace_event

    def lookup(self, raw: bytes) -> Keyspace | ReplyError:
        """The database a command argument names, or Redis' error for it."""
        number = parse_db_number(raw)
        if type(number) is ReplyError:
            return number
        if not 0 <= number < self.count:
            return DB_OUT_OF_RANGE
        return self.get(number)

    def in_use(self) -> list[Keyspace]:
        """The databases made so far, by number (the snapshot, INFO keyspace, housekeeping)."""
        return [self._keyspaces[n] for n in sorted(self._keyspaces)]

    def swap(self, a: Keyspace, b: Keyspace, index: int) -> None:
        """SWAPDB: exchange the contents; every key of both counts as changed (module docstring)."""
        for name in Keyspace.CONTENT:
            mine, theirs = getattr(a, name), getattr(b, name)
            setattr(a, name, theirs)
            setattr(b, name, mine)
        for ks in (a, b):
            ks.versions = {}
            ks.version_floor = index
            if self.key_changed is not None:
                self.key_changed(ks.db, None)

    def flush_all(self, index: int) -> None:
        for ks in self._keyspaces.values():
            ks.index = index
            ks.clear()
