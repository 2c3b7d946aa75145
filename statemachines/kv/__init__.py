"""The built-in `kv` state machine: the Redis data model.

`KVMachine` executes commands exactly as sent by a client (encode_args of the
argument list) with Redis semantics and Redis' error texts. Layout:

    keyspace.py   Keyspace (values, deadlines, WATCH versions, lookups, active expiry), shared errors
    databases.py  the numbered databases (SELECT's), each a Keyspace; commands for database N > 0
                  arrive as [IN_DB, N, *command] (statemachines.IN_DB), database 0's unwrapped;
                  a script sent by a user other than `default` as [AS_USER, user, *that]
                  (statemachines.AS_USER): its redis.calls obey the user's ACL rules, checked at
                  apply by the node's hooks.ScriptPermissions (scripting.py)
    table.py      @command registration -> TABLE of (CommandSpec, handler)
    strings.py    string commands        generic.py   key/TTL/db/SCAN/RENAME/COPY commands
    hashes.py     lists.py   sets.py   zsets.py: one module per Redis type
    scan.py       the cursor walk of SCAN/HSCAN/SSCAN/ZSCAN/KEYS; glob matching is statemachines/glob.py
    snapshot.py   chunked msgpack snapshots, per-type codecs

A data type is one module that registers its commands with @command, its value
class in keyspace.TYPE_NAMES and its codec with snapshot.register_codec, and is
imported below.

Transactions: MULTI/EXEC is one log entry that the node applies by running
the queued commands through apply and query (replicator/transactions.py).
This machine adds WATCH: `watch_versions` reads each key's version
(Keyspace.version) and liveness at WATCH time, and `watched_unchanged`, asked
by the node when it applies the EXEC, says whether none changed. Like Redis
7.0, a watched key that was live at WATCH and has expired since aborts the
EXEC; one already expired at WATCH does not when the expiry reaps it
(reaping changes no version), unless dropped tombstones raised the version
floor meanwhile (see Keyspace): a spurious abort, never a wrong commit.

Active expiry: `housekeeping(now_ms)` (called by the runtime on the leader)
returns one internal `__expired__ key ...` command for keys already expired;
its handler deletes only keys whose deadline <= the entry's ts_ms, so a late
or duplicated one is harmless. It is not in TABLE, so no client can send it.

Hot path: apply = one msgpack decode, one dict lookup (the table is keyed by
both the lower- and upper-case name, so the usual spelling needs no .lower()),
one arity comparison, the handler. No reflection, no per-call allocation
beyond the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

import msgspec

from statemachines import (
    AS_USER,
    BAD_ENCODING,
    IN_DB,
    KEY_TYPES,
    KEYSPACE_INFO,
    CommandSpec,
    ReplyError,
    Result,
    decode_args,
    encode_args,
)
from statemachines.kv import (  # noqa: F401  (each module registers its commands)
    bitmaps,
    blocking,
    functions,
    generic,
    geo,
    hashes,
    hyperloglog,
    lcs,
    lists,
    memory,
    objects,
    rdb,
    rdb_stream,
    scripting,
    sets,
    sort,
    stream_commands,
    stream_groups,
    stream_info,
    strings,
    zsets,
)
from statemachines.kv.databases import Databases
from statemachines.kv.keyspace import TYPE_NAMES, Keyspace, arity_error
from statemachines.kv.snapshot import dump, load
from statemachines.kv.table import TABLE

# The commands that run a script as a user ([AS_USER, user, *command]); their handlers take the
# user as a fourth argument. AS_USER around any other command is not what a frontend sends.
SCRIPT_RUNNERS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})

__all__ = ["KVMachine"]


def _dispatch(readonly_only: bool) -> dict[bytes, tuple]:
    table: dict[bytes, tuple] = {}
    for cmd in TABLE:
        if readonly_only and cmd.spec.is_write:
            continue
        entry = (cmd.handler, cmd.spec.arity, cmd.spec.name)
        name = cmd.spec.name.encode()
        table[name] = entry
        table[name.upper()] = entry
    return table


_WRITES = _dispatch(readonly_only=False)  # apply runs every command (readonly ones too)
_READS = _dispatch(readonly_only=True)

HOUSEKEEPING_KEYS_MAX = 64  # expired keys one housekeeping command deletes (Redis samples 20 per cycle)
PURGE = b"__expired__"  # internal: proposed by housekeeping only (not in TABLE, so no client can send it)


def _purge_expired(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    """Delete those of the keys whose deadline has passed at ts_ms. Harmless late or twice:
    a key that was since given a new TTL, persisted, or set again is left alone."""
    removed = 0
    expires = ks.expires
    for key in args[1:]:
        deadline = expires.get(key)
        if deadline is not None and deadline <= ts:
            ks.reap(key)
            removed += 1
    return removed


def _keyspace_info(ks: Keyspace, args: list[bytes], now: int) -> Result:
    """INFO keyspace's read: [[db, keys, keys with a TTL], ...] for the databases holding keys
    (expired ones not reaped yet count, as in Redis), whichever database asked."""
    return [[db.db, len(db.data), len(db.expires)] for db in ks.databases.in_use() if db.data]


def _key_types(ks: Keyspace, args: list[bytes], now: int) -> Result:
    """TYPE of each key, as a blocked client's wake-up asks it: no keymiss event (ks.peek)."""
    out = []
    for key in args[1:]:
        value = ks.peek(key, now)
        out.append("none" if value is None else TYPE_NAMES[type(value)])
    return out


_WRITES[PURGE] = (_purge_expired, -1, PURGE.decode())
_READS[KEYSPACE_INFO] = (_keyspace_info, 1, KEYSPACE_INFO.decode())
_READS[KEY_TYPES] = (_key_types, -2, KEY_TYPES.decode())


def _checked_arity(entry: tuple, args: list[bytes]) -> ReplyError | None:
    _, arity, name = entry
    n = len(args)
    return arity_error(name) if n != arity and (arity > 0 or n < -arity) else None


def unknown_command(args: list[bytes]) -> ReplyError:
    shown = " ".join(f"'{a[:128].decode('utf-8', 'replace')}'" for a in args[1:])
    name = args[0][:128].decode("utf-8", "replace") if args else ""
    return ReplyError(f"ERR unknown command '{name}', with args beginning with: {shown}{' ' if shown else ''}")


class KVMachine:
    """Redis strings and keys, replicated. See the module docstring."""

    name: ClassVar[str] = "kv"
    snapshot_is_point_in_time: ClassVar[bool] = True  # dump() copies the keyspace, then encodes lazily
    # Writes sharing an index are harmless here: the index only versions keys for WATCH,
    # and a watch is read between entries, so any later change still moves the version.
    pipeline_entries: ClassVar[bool] = True

    def __init__(self) -> None:
        self._databases = Databases()
        self._ks = self._databases.get(0)  # database 0: the hot path, never wrapped in IN_DB

    @property
    def keyspace(self) -> Keyspace:
        """Database 0."""
        return self._ks

    @property
    def databases(self) -> int:
        """How many databases commands may name (hooks.Databases; the node sets it from its config)."""
        return self._databases.count

    @databases.setter
    def databases(self, count: int) -> None:
        self._databases.count = count

    # hooks.KeyEvents: node-local observers of changed keys and keyspace events, kept by the databases.
    @property
    def key_changed(self):
        return self._databases.key_changed

    @key_changed.setter
    def key_changed(self, observer) -> None:
        self._databases.set_observers(observer, self._databases.keyspace_event)

    @property
    def keyspace_event(self):
        return self._databases.keyspace_event

    @keyspace_event.setter
    def keyspace_event(self, observer) -> None:
        self._databases.set_observers(self._databases.key_changed, observer)

    # hooks.ScriptUsers: the node's ACL check of redis.call, kept by the databases (scripts reach it there).
    @property
    def script_permissions(self):
        return self._databases.script_permissions

    @script_permissions.setter
    def script_permissions(self, permissions) -> None:
        self._databases.script_permissions = permissions

    def database(self, number: int) -> Keyspace:
        return self._databases.get(number)

    def _unwrap(self, args: list[bytes]) -> tuple[Keyspace, list[bytes], bytes | None] | ReplyError:
        """A command not in the table: [AS_USER, user, *rest] and/or [IN_DB, n, *command] ->
        (database, command, user or None), or the error it deserves (an unknown command)."""
        user = None
        if args[0] == AS_USER:
            if len(args) < 3 or args[2] == AS_USER:
                return BAD_ENCODING
            user, args = args[1], args[2:]
        if args[0] == IN_DB:
            selected = self._select(args)
            if type(selected) is ReplyError:
                return selected
            return selected[0], selected[1], user
        if user is None:
            return unknown_command(args)
        return self._ks, args, user

    def _select(self, args: list[bytes]) -> tuple[Keyspace, list[bytes]] | ReplyError:
        """[IN_DB, n, *command] -> (database n, command), or the error a bad number deserves."""
        if len(args) < 3:
            return BAD_ENCODING
        ks = self._databases.lookup(args[1])
        if type(ks) is ReplyError:
            return ks
        return ks, args[2:]

    def commands(self) -> Iterable[CommandSpec]:
        return [cmd.spec for cmd in TABLE]

    def apply(self, index: int, command: bytes, ts_ms: int) -> Result:
        try:
            args = decode_args(command)
        except msgspec.DecodeError:
            return BAD_ENCODING
        if not args:
            return BAD_ENCODING
        ks = self._ks
        entry = _WRITES.get(args[0]) or _WRITES.get(args[0].lower())
        if entry is None:  # off the hot path: a database's command, a script run as a user
            unwrapped = self._unwrap(args)
            if type(unwrapped) is ReplyError:
                return unwrapped
            ks, args, user = unwrapped
            entry = _WRITES.get(args[0]) or _WRITES.get(args[0].lower())
            if entry is None:
                return unknown_command(args)
            if user is not None:
                if entry[2] not in SCRIPT_RUNNERS:
                    return BAD_ENCODING
                checked = _checked_arity(entry, args)
                if checked is not None:
                    return checked
                ks.index = index
                if ks.has_due(ts_ms):
                    ks.expire_due(ts_ms)
                return entry[0](ks, args, ts_ms, user)
        handler, arity, name = entry
        n = len(args)
        if n != arity and (arity > 0 or n < -arity):
            return arity_error(name)
        ks.index = index
        if ks.has_due(ts_ms):
            ks.expire_due(ts_ms)
        return handler(ks, args, ts_ms)

    def query(self, request: bytes, now_ms: int) -> Result:
        try:
            args = decode_args(request)
        except msgspec.DecodeError:
            return BAD_ENCODING
        if not args:
            return BAD_ENCODING
        ks = self._ks
        user = None
        if args[0] == IN_DB or args[0] == AS_USER:
            unwrapped = self._unwrap(args)
            if type(unwrapped) is ReplyError:
                return unwrapped
            ks, args, user = unwrapped
        entry = _READS.get(args[0]) or _READS.get(args[0].lower())
        if user is not None and entry is not None:  # EVAL_RO & co, run as the user who sent them
            if entry[2] not in SCRIPT_RUNNERS:
                return BAD_ENCODING
            return _checked_arity(entry, args) or entry[0](ks, args, now_ms, user)
        if entry is None:
            if (args[0].lower()) in _WRITES:
                return ReplyError(
                    f"ERR '{args[0].decode('utf-8', 'replace').lower()}' is a write: it goes through the log"
                )
            return unknown_command(args)
        handler, arity, name = entry
        n = len(args)
        if n != arity and (arity > 0 or n < -arity):
            return arity_error(name)
        return handler(ks, args, now_ms)

    def _watched_database(self, db: int) -> Keyspace | None:
        return self._databases.get(db) if 0 <= db < self._databases.count else None

    def watch_versions(self, keys: list[bytes], now_ms: int, db: int = 0) -> list[tuple[int, bool]]:
        """WATCH's read (statemachines contract): per key of database db, (version, live at now_ms)."""
        ks = self._watched_database(db)
        if ks is None:
            return [(-1, False) for _ in keys]  # never holds: EXEC aborts
        return [(ks.version(key), ks.peek(key, now_ms) is not None) for key in keys]

    def watched_unchanged(self, watches: list[tuple[bytes, int, bool]], ts_ms: int, db: int = 0) -> bool:
        """EXEC's check: False if a watched key of database db changed since WATCH read its version."""
        ks = self._watched_database(db)
        if ks is None:
            return False
        versions, floor, data, expires = ks.versions, ks.version_floor, ks.data, ks.expires
        for key, version, live in watches:
            if versions.get(key, floor) != version:
                return False
            if live:  # expired since WATCH (Redis 7.0: isWatchedKeyExpired), whether reaped yet or not
                if key not in data:
                    return False
                deadline = expires.get(key) if expires else None
                if deadline is not None and deadline <= ts_ms:
                    return False
        return True

    def housekeeping(self, now_ms: int) -> list[bytes]:
        """Active expiry: per database, one command deleting up to HOUSEKEEPING_KEYS_MAX keys
        already expired at now_ms (the leader's clock); apply re-checks each deadline against
        the entry's ts_ms."""
        out = []
        for ks in self._databases.in_use():
            keys = ks.due_keys(now_ms, HOUSEKEEPING_KEYS_MAX)
            if keys:
                purge = [PURGE, *keys]
                out.append(encode_args(purge if ks.db == 0 else [IN_DB, b"%d" % ks.db, *purge]))
        return out

    def snapshot(self) -> Iterator[bytes]:
        return dump(self._databases)

    def restore(self, chunks: Iterable[bytes]) -> None:
        databases = Databases(self._databases.count)
        load(databases, chunks)  # into fresh databases: a bad snapshot leaves the old state intact
        old, self._databases = self._databases, databases
        self._ks = databases.get(0)
        databases.set_observers(old.key_changed, old.keyspace_event)
        databases.script_permissions = old.script_permissions
        if old.key_changed is not None:
            old.key_changed(None, None)  # every key may differ now
