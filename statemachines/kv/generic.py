"""Keyspace commands (Redis db.c / expire.c): DEL, EXISTS, TYPE, TTLs, DBSIZE, FLUSH*.

EXPIRE and friends compute absolute deadlines from ts_ms, the leader's stamp,
so a TTL means the same instant on every replica. A deadline that is already
due at ts_ms deletes the key at once (Redis' checkAlreadyExpired).
"""

from __future__ import annotations

import random
from itertools import chain, islice

from statemachines import NOT_AN_INTEGER, ReplyError, Result
from statemachines.keyevents import GENERIC, KEY_MISS
from statemachines.kv.databases import DB_OUT_OF_RANGE, parse_db_number
from statemachines.kv.keyspace import (
    INT64_MAX,
    NO_SUCH_KEY,
    OK,
    SYNTAX,
    TYPE_NAMES,
    Keyspace,
    expire_time_error,
    parse_int,
)
from statemachines.kv.scan import matcher, parse_scan, walk
from statemachines.kv.snapshot import _DECODERS, _ENCODERS
from statemachines.kv.table import command, refusal

ALL_KEYS = (1, -1, 1)
NO_KEYS = (0, 0, 0)

EXPIRE_NX, EXPIRE_XX, EXPIRE_GT, EXPIRE_LT = 1, 2, 4, 8
_EXPIRE_OPTIONS = {b"nx": EXPIRE_NX, b"xx": EXPIRE_XX, b"gt": EXPIRE_GT, b"lt": EXPIRE_LT}
NX_CONFLICT = ReplyError("ERR NX and XX, GT or LT options at the same time are not compatible")
GT_LT_CONFLICT = ReplyError("ERR GT and LT options at the same time are not compatible")
SECONDS_MIN = -(9223372036854775808 // 1000)  # LLONG_MIN / 1000, C truncation
SECONDS_MAX = INT64_MAX // 1000
SAME_OBJECT = ReplyError("ERR source and destination objects are the same")


@command("del", -2, "write", ALL_KEYS, group="generic", syntax="key [key ...]", summary="Delete a key")
def cmd_del(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    removed = 0
    for key in args[1:]:
        if ks.get_for_write(key, ts) is not None:
            ks.delete(key)
            if ks.keyspace_event is not None:
                ks.notify(GENERIC, b"del", key)
            removed += 1
    return removed


@command(
    "unlink",
    -2,
    "write fast",
    ALL_KEYS,
    group="generic",
    syntax="key [key ...]",
    summary="Delete a key (the same as DEL here: values are freed by the Python runtime)",
)
def cmd_unlink(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return cmd_del(ks, args, ts)


@command(
    "exists",
    -2,
    "readonly fast",
    ALL_KEYS,
    group="generic",
    syntax="key [key ...]",
    summary="Determine if a key exists",
)
def cmd_exists(ks: Keyspace, args: list[bytes], now: int) -> Result:
    get = ks.get
    return sum(1 for key in args[1:] if get(key, now) is not None)


@command("type", 2, "readonly fast", group="generic", syntax="key", summary="Determine the type stored at key")
def cmd_type(ks: Keyspace, args: list[bytes], now: int) -> Result:
    value = ks.get(args[1], now)
    return "none" if value is None else TYPE_NAMES[type(value)]


def _ttl(ks: Keyspace, key: bytes, now: int, *, ms: bool, absolute: bool) -> int:
    if ks.get(key, now) is None:
        return -2
    deadline = ks.deadline(key)
    if deadline is None:
        return -1
    ttl = max(deadline if absolute else deadline - now, 0)
    return ttl if ms else (ttl + 500) // 1000


@command("ttl", 2, "readonly fast", group="generic", syntax="key", summary="Get the time to live for a key in seconds")
def cmd_ttl(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return _ttl(ks, args[1], now, ms=False, absolute=False)


@command(
    "pttl", 2, "readonly fast", group="generic", syntax="key", summary="Get the time to live for a key in milliseconds"
)
def cmd_pttl(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return _ttl(ks, args[1], now, ms=True, absolute=False)


@command(
    "expiretime",
    2,
    "readonly fast",
    group="generic",
    syntax="key",
    summary="Get the expiration Unix timestamp for a key",
)
def cmd_expiretime(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return _ttl(ks, args[1], now, ms=False, absolute=True)


@command(
    "pexpiretime",
    2,
    "readonly fast",
    group="generic",
    syntax="key",
    summary="Get the expiration Unix timestamp for a key in milliseconds",
)
def cmd_pexpiretime(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return _ttl(ks, args[1], now, ms=True, absolute=True)


def parse_expire(args: list[bytes], *, seconds: bool) -> tuple[int, int] | ReplyError:
    """EXPIRE-family arguments -> (option flags, time in ms before adding the base).
    Order of checks as in expireGenericCommand: options, integer, unit overflow."""
    flags = 0
    for opt in args[3:]:
        flag = _EXPIRE_OPTIONS.get(opt.lower())
        if flag is None:
            return ReplyError(f"ERR Unsupported option {opt.decode('utf-8', 'replace')}")
        flags |= flag
    if flags & EXPIRE_NX and flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT):
        return NX_CONFLICT
    if flags & EXPIRE_GT and flags & EXPIRE_LT:
        return GT_LT_CONFLICT
    when = parse_int(args[2])
    if when is None:
        return NOT_AN_INTEGER
    if seconds:
        if when > SECONDS_MAX or when < SECONDS_MIN:
            return expire_time_error(args[0].decode("utf-8", "replace").lower())
        when *= 1000
    return flags, when


def _expire(ks: Keyspace, args: list[bytes], ts: int, *, seconds: bool, relative: bool, name: str) -> Result:
    parsed = parse_expire(args, seconds=seconds)
    if type(parsed) is ReplyError:
        return parsed
    flags, when = parsed
    base = ts if relative else 0
    if when > INT64_MAX - base:
        return expire_time_error(name)
    when += base
    key = args[1]
    if ks.get_for_write(key, ts) is None:
        return 0
    if flags:
        current = ks.deadline(key)
        if flags & EXPIRE_NX and current is not None:
            return 0
        if flags & EXPIRE_XX and current is None:
            return 0
        if flags & EXPIRE_GT and (current is None or when <= current):  # no TTL counts as infinite
            return 0
        if flags & EXPIRE_LT and current is not None and when >= current:
            return 0
    if when <= ts:
        ks.delete(key)
        ks.notify(GENERIC, b"del", key)
    else:
        ks.set_deadline(key, when)
        if ks.keyspace_event is not None:
            ks.notify(GENERIC, b"expire", key)
    return 1


def _check_expire(seconds: bool):
    def check(args: list[bytes]) -> ReplyError | None:
        parsed = parse_expire(args, seconds=seconds)
        return parsed if type(parsed) is ReplyError else None

    return check


_EXPIRE_SYNTAX = " [NX | XX | GT | LT]"


@command(
    "expire",
    -3,
    "write fast",
    group="generic",
    syntax="key seconds" + _EXPIRE_SYNTAX,
    summary="Set a key's time to live in seconds",
    check=_check_expire(True),
)
def cmd_expire(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _expire(ks, args, ts, seconds=True, relative=True, name="expire")


@command(
    "pexpire",
    -3,
    "write fast",
    group="generic",
    syntax="key milliseconds" + _EXPIRE_SYNTAX,
    summary="Set a key's time to live in milliseconds",
    check=_check_expire(False),
)
def cmd_pexpire(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _expire(ks, args, ts, seconds=False, relative=True, name="pexpire")


@command(
    "expireat",
    -3,
    "write fast",
    group="generic",
    syntax="key unix-time-seconds" + _EXPIRE_SYNTAX,
    summary="Set the expiration for a key as a UNIX timestamp",
    check=_check_expire(True),
)
def cmd_expireat(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _expire(ks, args, ts, seconds=True, relative=False, name="expireat")


@command(
    "pexpireat",
    -3,
    "write fast",
    group="generic",
    syntax="key unix-time-milliseconds" + _EXPIRE_SYNTAX,
    summary="Set the expiration for a key as a UNIX timestamp specified in milliseconds",
    check=_check_expire(False),
)
def cmd_pexpireat(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _expire(ks, args, ts, seconds=False, relative=False, name="pexpireat")


@command("persist", 2, "write fast", group="generic", syntax="key", summary="Remove the expiration from a key")
def cmd_persist(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    if ks.get_for_write(args[1], ts) is None:
        return 0
    if not ks.persist(args[1]):
        return 0
    ks.notify(GENERIC, b"persist", args[1])
    return 1


@command("dbsize", 1, "readonly fast", NO_KEYS, group="server", summary="Return the number of keys in the database")
def cmd_dbsize(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return len(ks.data)  # like Redis: expired keys not yet reclaimed still count


def check_flush(args: list[bytes]) -> ReplyError | None:
    if len(args) == 1 or (len(args) == 2 and args[1].lower() in (b"sync", b"async")):
        return None
    return SYNTAX


@command(
    "flushdb",
    -1,
    "write",
    NO_KEYS,
    group="server",
    syntax="[ASYNC | SYNC]",
    check=check_flush,
    summary="Remove all keys from the current database",
)
def cmd_flushdb(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    error = check_flush(args)
    if error is not None:
        return error
    ks.clear()
    return OK


@command(
    "flushall",
    -1,
    "write",
    NO_KEYS,
    group="server",
    syntax="[ASYNC | SYNC]",
    check=check_flush,
    summary="Remove all keys from all databases",
)
def cmd_flushall(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    error = check_flush(args)
    if error is not None:
        return error
    ks.databases.flush_all(ks.index)
    return OK


@command(
    "swapdb",
    3,
    "write fast",
    NO_KEYS,
    group="server",
    syntax="index1 index2",
    summary="Swaps two Redis databases",
    check=lambda args: _swapdb_numbers(args, None),
)
def cmd_swapdb(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    numbers = _swapdb_numbers(args, ks.databases.count)
    if type(numbers) is ReplyError:
        return numbers
    first, second = numbers
    if first != second:
        ks.databases.swap(ks.databases.get(first), ks.databases.get(second), ks.index)
    return OK


def _swapdb_numbers(args: list[bytes], count: int | None) -> tuple[int, int] | ReplyError | None:
    """SWAPDB's two numbers (Redis: its own error per argument, then one range error);
    the range is checked at apply only (count None: the frontend's syntax check)."""
    numbers = []
    for raw, which in ((args[1], "first"), (args[2], "second")):
        number = parse_db_number(raw)
        if type(number) is ReplyError:
            return ReplyError(f"ERR invalid {which} DB index")
        numbers.append(number)
    if count is None:
        return None
    if not all(0 <= number < count for number in numbers):
        return DB_OUT_OF_RANGE
    return numbers[0], numbers[1]


@command(
    "move",
    3,
    "write fast",
    group="generic",
    syntax="key db",
    summary="Move a key to another database",
    check=lambda args: (lambda p: p if type(p) is ReplyError else None)(parse_db_number(args[2])),
)
def cmd_move(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    """Redis' moveCommand: the value (and its TTL) leaves this database for the other one,
    unless the key is missing here or present there."""
    target = ks.databases.lookup(args[2])
    if type(target) is ReplyError:
        return target
    if target is ks:
        return SAME_OBJECT
    key = args[1]
    value = ks.get_for_write(key, ts)
    if value is None:
        return 0
    target.index = ks.index
    if target.get_for_write(key, ts) is not None:
        return 0
    deadline = ks.deadline(key)
    ks.delete(key)
    target.put(key, value)  # "new" in the target database (Redis' dbAdd)
    if deadline is not None:
        target.set_deadline(key, deadline)
    ks.notify(GENERIC, b"move_from", key)
    target.notify(GENERIC, b"move_to", key)
    return 1


# --- key iteration and moves -------------------------------------------------------------
_rng = random.Random()


def copy_value(value: object) -> object:
    """An independent copy of a value (strings are immutable; containers go through their codec)."""
    if type(value) is bytes:
        return value
    code, encode = _ENCODERS[type(value)]
    return _DECODERS[code](encode(value))


@command(
    "keys",
    2,
    "readonly",
    NO_KEYS,
    group="generic",
    syntax="pattern",
    summary="Find all keys matching the given pattern",
)
def cmd_keys(ks: Keyspace, args: list[bytes], now: int) -> Result:
    match = matcher(args[1])
    expires = ks.expires
    return [
        key for key in ks.data if (match is None or match(key)) and not (expires and expires.get(key, now + 1) <= now)
    ]


@command(
    "scan",
    -2,
    "readonly",
    NO_KEYS,
    group="generic",
    syntax="cursor [MATCH pattern] [COUNT count] [TYPE type]",
    summary="Incrementally iterate the keys space",
    check=lambda args: (lambda p: p if type(p) is ReplyError else None)(parse_scan(args, 2, allow_type=True)),
)
def cmd_scan(ks: Keyspace, args: list[bytes], now: int) -> Result:
    parsed = parse_scan(args, 2, allow_type=True)
    if type(parsed) is ReplyError:
        return parsed
    cursor, pattern, count, kind = parsed
    data, expires = ks.data, ks.expires
    nxt, keys = walk(iter(data), len(data), cursor, count)
    match = matcher(pattern)
    out = []
    for key in keys:
        value = data.get(key)
        if value is None or (expires and expires.get(key, now + 1) <= now):
            continue
        if kind is not None and TYPE_NAMES[type(value)] != kind:
            continue
        if match is None or match(key):
            out.append(key)
    return [b"%d" % nxt, out]


@command("randomkey", 1, "readonly", NO_KEYS, group="generic", summary="Return a random key from the keyspace")
def cmd_randomkey(ks: Keyspace, args: list[bytes], now: int) -> Result:
    """A random position, then the first live key from there on, wrapping around: one pass
    at most, even over a keyspace of expired keys not reaped yet (a retry per expired key,
    each walking to a new random position, would cost up to len(keyspace) per retry)."""
    data = ks.data
    if not data:
        return None
    start = _rng.randrange(len(data))
    for key in chain(islice(data, start, None), islice(data, start)):
        if ks.peek(key, now) is not None:
            return key
    return None


@command(
    "touch",
    -2,
    "readonly fast",
    ALL_KEYS,
    group="generic",
    syntax="key [key ...]",
    summary="Alters the last access time of a key(s). Returns the number of existing keys specified.",
)
def cmd_touch(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return cmd_exists(ks, args, now)


def _rename(ks: Keyspace, args: list[bytes], ts: int, nx: bool) -> Result:
    src, dst = args[1], args[2]
    value = ks.get_for_write(src, ts)
    if value is None:
        return NO_SUCH_KEY
    if src == dst:
        return 0 if nx else OK
    if ks.get_for_write(dst, ts) is not None:
        if nx:
            return 0
        ks.delete(dst)  # Redis deletes then adds: the destination is "new" even when it existed
    deadline = ks.deadline(src)
    ks.delete(src)
    ks.put(dst, value)
    if deadline is not None:
        ks.set_deadline(dst, deadline)
    ks.notify(GENERIC, b"rename_from", src)
    ks.notify(GENERIC, b"rename_to", dst)
    return 1 if nx else OK


@command("rename", 3, "write", (1, 2, 1), group="generic", syntax="key newkey", summary="Rename a key")
def cmd_rename(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _rename(ks, args, ts, False)


@command(
    "renamenx",
    3,
    "write fast",
    (1, 2, 1),
    group="generic",
    syntax="key newkey",
    summary="Rename a key, only if the new key does not exist",
)
def cmd_renamenx(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _rename(ks, args, ts, True)


def parse_copy(args: list[bytes]) -> tuple[bool, bytes | None] | ReplyError:
    """COPY's options -> (REPLACE given, the DB argument or None); the number's range is
    checked at apply, where the databases are known."""
    replace = False
    db = None
    j = 3
    while j < len(args):
        opt = args[j].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"db" and j + 1 < len(args):
            number = parse_db_number(args[j + 1])
            if type(number) is ReplyError:
                return number
            db = args[j + 1]
            j += 1
        else:
            return SYNTAX
        j += 1
    return replace, db


@command(
    "copy",
    -3,
    "write denyoom",
    (1, 2, 1),
    group="generic",
    syntax="source destination [DB destination-db] [REPLACE]",
    summary="Copy a key",
    check=refusal(parse_copy),
)
def cmd_copy(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_copy(args)
    if type(parsed) is ReplyError:
        return parsed
    replace, db = parsed
    target = ks
    if db is not None:
        target = ks.databases.lookup(db)
        if type(target) is ReplyError:
            return target
        target.index = ks.index
    src, dst = args[1], args[2]
    if target is ks and src == dst:
        return SAME_OBJECT
    value = ks.get_for_write(src, ts)
    if value is None:
        ks.notify(KEY_MISS, b"keymiss", src)  # Redis looks the source up for read
        return 0
    if target.get_for_write(dst, ts) is not None:
        if not replace:
            return 0
        target.delete(dst)  # Redis deletes then adds: the destination is "new"
    deadline = ks.deadline(src)
    target.put(dst, copy_value(value))
    if deadline is not None:
        target.set_deadline(dst, deadline)
    target.notify(GENERIC, b"copy_to", dst)
    return 1
