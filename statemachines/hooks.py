"""The optional parts of the StateMachine contract, each a typed protocol.

A machine implements StateMachine (statemachines/__init__.py) and may add any
of these. The node asks `isinstance(machine, Housekeeping)` and so on (each is
runtime_checkable), so what a machine may offer is written down in one place,
with its signature, instead of being found by name with getattr. Each hook's
rules are in statemachines/__init__.py and docs/plugins.md.

The two flags are class attributes a machine sets to True; a machine without
the attribute is the same as one with False.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar, Protocol, runtime_checkable


@runtime_checkable
class Housekeeping(Protocol):
    """Time-driven decisions taken by the leader and carried out through the log."""

    def housekeeping(self, now_ms: int) -> Iterable[bytes]:
        """Commands (encode_args payloads) the leader proposes on the machine's behalf, e.g.
        deleting expired keys; called about every HOUSEKEEPING_MS on the leader only. Each
        must be harmless if applied twice or late (apply re-checks it against ts_ms)."""
        ...


@runtime_checkable
class Watchable(Protocol):
    """WATCH: both methods read-only and deterministic (kv has the reference implementation)."""

    def watch_versions(self, keys: list[bytes], now_ms: int) -> Iterable[tuple[int, bool]]:
        """Per key: (a number that changes whenever the key does, whether it is live at now_ms)."""
        ...

    def watched_unchanged(self, watches: list[tuple[bytes, int, bool]], ts_ms: int) -> bool:
        """Given [(key, version, live), ...] as watch_versions read them: may the transaction run
        at ts_ms? False: nothing is applied and EXEC answers nil."""
        ...


@runtime_checkable
class Databases(Protocol):
    """Numbered databases (Redis' SELECT): commands for database N > 0 arrive wrapped in
    statemachines.IN_DB. `databases` is how many there are; the node sets it from its
    config before the first apply, and it must be the same on every node (a command naming
    database N >= databases is refused at apply, identically everywhere). WATCH on such a
    machine takes the database too: watch_versions(keys, now_ms, db) and
    watched_unchanged(watches, ts_ms, db)."""

    databases: int


# key_changed(db, key): `key` of database `db` was written, deleted, given or stripped of a TTL, or
# removed by expiry. (db, None): every key of that database (FLUSHDB, SWAPDB); (None, None): every
# key of every database (FLUSHALL, a snapshot installed).
KeyChanged = Callable[[int | None, bytes | None], None]
# keyspace_event(db, event class, event name, key): Redis' notifyKeyspaceEvent, at apply. The class
# is one of statemachines.keyevents' bits; the frontend filters by notify-keyspace-events.
KeyspaceEvent = Callable[[int, int, bytes, bytes], None]


@runtime_checkable
class KeyEvents(Protocol):
    """Node-local observers of what apply does to keys: blocking commands (a pop that may now
    succeed), client-side caching (an invalidation to push) and keyspace notifications. The
    node sets these (set_key_changed, set_keyspace_events); None (the default) costs the
    machine one attribute test per change. An observer runs on the applying task and must only
    record what happened: it cannot change the machine's state, so replicas stay equal whoever
    observes them."""

    key_changed: KeyChanged | None
    keyspace_event: KeyspaceEvent | None


# check(args of one redis.call) -> None if the script's user may run it, else why not: "command",
# "key" or "channel" (Redis' ACL denial reasons). It may record the denial (ACL LOG), nothing more.
ScriptCheck = Callable[[list[bytes]], str | None]


@runtime_checkable
class ScriptPermissions(Protocol):
    """The node's answer to "may this user's script run this command?" (Redis' scriptVerifyACL),
    installed by a frontend that keeps users (the RESP frontend's ACL, frontends/resp/script_acl.py).

    It is consulted at apply, so every replica must answer alike for the same entry: its answers
    may depend only on replicated state (the ACL users, themselves rebuilt as the node applies
    their entries, before the next entry applies) and on the command table, which every node of a
    cluster shares. It must be installed before the node applies its first entry (a node that
    applied an entry without it would run calls that the others refused)."""

    def script_check(self, user: bytes) -> ScriptCheck | None:
        """The check of each redis.call of one script run by `user` (a deleted user: one refusing
        everything), or None if `user` may run anything on any key and channel (the check then
        costs the script nothing)."""
        ...


@runtime_checkable
class ScriptUsers(Protocol):
    """A machine running scripts whose redis.calls obey the caller's ACL rules: it receives script
    calls wrapped in statemachines.AS_USER and asks `script_permissions` (None, the default: no
    check, e.g. in the simulator or a machine's own tests)."""

    script_permissions: ScriptPermissions | None


@runtime_checkable
class PipelineEntries(Protocol):
    """`pipeline_entries = True`: the writes (and fast reads) of one client's pipeline burst may
    share one log entry, so several commands apply at one index. Only for a machine whose
    `index` just orders changes and never names something unique (a session id, a token)."""

    pipeline_entries: ClassVar[bool]


@runtime_checkable
class PointInTimeSnapshot(Protocol):
    """`snapshot_is_point_in_time = True`: snapshot() copies the state when called and encodes it
    lazily, so the node may consume the chunks later, off the event loop, while apply goes on.
    Without it the node consumes the chunks at once, on the applying task."""

    snapshot_is_point_in_time: ClassVar[bool]


def allows_pipeline_entries(machine: object) -> bool:
    """Whether `machine` lets a pipeline burst share one entry (PipelineEntries, set True)."""
    return isinstance(machine, PipelineEntries) and machine.pipeline_entries


def has_point_in_time_snapshot(machine: object) -> bool:
    """Whether `machine`'s snapshot chunks may be consumed later (PointInTimeSnapshot, set True)."""
    return isinstance(machine, PointInTimeSnapshot) and machine.snapshot_is_point_in_time


def set_databases(machines: Iterable[object], count: int) -> None:
    """Give every machine with databases (Databases) the configured count, before its first apply."""
    for machine in machines:
        if isinstance(machine, Databases):
            machine.databases = count


def set_key_changed(machines: Iterable[object], observer: KeyChanged | None) -> None:
    """Tell every machine with KeyEvents to call `observer` for each changed key (None: stop)."""
    for machine in machines:
        if isinstance(machine, KeyEvents):
            machine.key_changed = observer


def set_keyspace_events(machines: Iterable[object], observer: KeyspaceEvent | None) -> None:
    """Tell every machine with KeyEvents to call `observer` for each keyspace event (None: stop)."""
    for machine in machines:
        if isinstance(machine, KeyEvents):
            machine.keyspace_event = observer


def set_script_permissions(machines: Iterable[object], permissions: ScriptPermissions | None) -> None:
    """Give every machine running scripts (ScriptUsers) the node's permission check (None: none)."""
    for machine in machines:
        if isinstance(machine, ScriptUsers):
            machine.script_permissions = permissions
