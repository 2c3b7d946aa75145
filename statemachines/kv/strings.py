"""String commands (Redis t_string.c): GET, SET and friends, counters, MGET/MSET.

Argument parsing is split into pure `parse_*` functions: the frontend runs
them (through CommandSpec.check) before proposing, so a syntax error never
enters the log, and the handler runs them again at apply. Checks that need
time (EX/PX overflow against ts_ms) or state (WRONGTYPE, overflow of the
stored integer) happen only at apply, as in Redis.
"""

from __future__ import annotations

from fractions import Fraction

from statemachines import NOT_AN_INTEGER, ReplyError, Result
from statemachines.keyevents import GENERIC, KEY_MISS, STRING
from statemachines.kv.keyspace import (
    INT64_MAX,
    INT64_MIN,
    NAN_OR_INF,
    NOT_FLOAT,
    OK,
    OVERFLOW,
    SYNTAX,
    WRONGTYPE,
    Keyspace,
    add_long_double,
    arity_error,
    expire_time_error,
    parse_int,
    parse_long_double,
)
from statemachines.kv.table import command, refusal

STRING_BYTES_MAX = 512 * 1024 * 1024  # proto-max-bulk-len
TOO_BIG = ReplyError("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
DECR_MIN = ReplyError("ERR decrement would overflow")

# SET option flags (Redis OBJ_SET_* / OBJ_EX ...)
NX, XX, GET, KEEPTTL, EX, PX, EXAT, PXAT = 1, 2, 4, 8, 16, 32, 64, 128
RELATIVE = EX | PX


def parse_set(args: list[bytes]) -> tuple[int, int | None] | ReplyError:
    """SET's options -> (flags, expire in ms or None). The expire is relative
    for EX/PX and absolute for EXAT/PXAT. Mirrors parseExtendedStringArgumentsOrReply
    and the range checks of getExpireMillisecondsOrReply, in that order."""
    flags = 0
    raw: bytes | None = None
    j, n = 3, len(args)
    while j < n:
        opt = args[j].lower()
        more = j < n - 1
        if opt == b"nx" and not flags & XX:
            flags |= NX
        elif opt == b"xx" and not flags & NX:
            flags |= XX
        elif opt == b"get":
            flags |= GET
        elif opt == b"keepttl" and not flags & (EX | PX | EXAT | PXAT):
            flags |= KEEPTTL
        elif opt == b"ex" and more and not flags & (KEEPTTL | PX | EXAT | PXAT):
            flags |= EX
            j += 1
            raw = args[j]
        elif opt == b"px" and more and not flags & (KEEPTTL | EX | EXAT | PXAT):
            flags |= PX
            j += 1
            raw = args[j]
        elif opt == b"exat" and more and not flags & (KEEPTTL | EX | PX | PXAT):
            flags |= EXAT
            j += 1
            raw = args[j]
        elif opt == b"pxat" and more and not flags & (KEEPTTL | EX | PX | EXAT):
            flags |= PXAT
            j += 1
            raw = args[j]
        else:
            return SYNTAX
        j += 1
    if raw is None:
        return flags, None
    expire = _parse_expire(raw, seconds=bool(flags & (EX | EXAT)), name="set")
    if type(expire) is ReplyError:
        return expire
    return flags, expire


def _parse_expire(raw: bytes, *, seconds: bool, name: str) -> int | ReplyError:
    """A positive TTL or timestamp -> ms (not yet added to any base time)."""
    value = parse_int(raw)
    if value is None:
        return NOT_AN_INTEGER
    if value <= 0 or (seconds and value > INT64_MAX // 1000):
        return expire_time_error(name)
    return value * 1000 if seconds else value


def check_set(args: list[bytes]) -> ReplyError | None:
    if len(args) == 3:
        return None
    parsed = parse_set(args)
    return parsed if type(parsed) is ReplyError else None


@command("get", 2, "readonly fast", group="string", summary="Get the value of a key", syntax="key")
def cmd_get(ks: Keyspace, args: list[bytes], now: int) -> Result:
    value = ks.get(args[1], now)
    if value is None or type(value) is bytes:
        return value
    return WRONGTYPE


@command(
    "set",
    -3,
    "write denyoom",
    group="string",
    summary="Set the string value of a key",
    check=check_set,
    syntax="key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | "
    "PXAT unix-time-milliseconds | KEEPTTL]",
)
def cmd_set(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    if len(args) == 3:  # the hot path: plain SET
        if ks.keyspace_event is None:
            ks.put(args[1], args[2])
            return OK
        ks.get_for_write(args[1], ts)  # setKey's lookup: an expired key is "expired" before it is "new"
        ks.put(args[1], args[2])
        ks.notify(STRING, b"set", args[1])
        return OK
    parsed = parse_set(args)
    if type(parsed) is ReplyError:
        return parsed
    flags, expire = parsed
    if expire is not None and flags & RELATIVE:
        if expire > INT64_MAX - ts:
            return expire_time_error("set")
        expire += ts
    key = args[1]
    old = _lookup_read(ks, key, ts) if flags & GET else ks.get_for_write(key, ts)
    reply: Result = OK
    if flags & GET:
        if old is not None and type(old) is not bytes:
            return WRONGTYPE
        reply = old
    if (flags & NX and old is not None) or (flags & XX and old is None):
        return reply if flags & GET else None
    if flags & KEEPTTL:
        ks.put_keep_ttl(key, args[2])
    else:
        ks.put(key, args[2])
    if ks.keyspace_event is not None:
        ks.notify(STRING, b"set", key)
    if expire is not None:
        ks.set_deadline(key, expire)
        ks.notify(GENERIC, b"expire", key)
    return reply


@command(
    "setnx",
    3,
    "write denyoom fast",
    group="string",
    syntax="key value",
    summary="Set the value of a key, only if the key does not exist",
)
def cmd_setnx(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    if ks.get_for_write(args[1], ts) is not None:
        return 0
    ks.put(args[1], args[2])
    ks.notify(STRING, b"set", args[1])
    return 1


def _check_setex(seconds: bool, name: str):
    def check(args: list[bytes]) -> ReplyError | None:
        parsed = _parse_expire(args[2], seconds=seconds, name=name)
        return parsed if type(parsed) is ReplyError else None

    return check


def _setex(ks: Keyspace, args: list[bytes], ts: int, seconds: bool, name: str) -> Result:
    ttl = _parse_expire(args[2], seconds=seconds, name=name)
    if type(ttl) is ReplyError:
        return ttl
    if ttl > INT64_MAX - ts:
        return expire_time_error(name)
    ks.get_for_write(args[1], ts)  # setKey's lookup (an expired key is deleted, and says so)
    ks.put(args[1], args[3])
    ks.notify(STRING, b"set", args[1])
    ks.set_deadline(args[1], ts + ttl)
    ks.notify(GENERIC, b"expire", args[1])
    return OK


@command(
    "setex",
    4,
    "write denyoom",
    group="string",
    syntax="key seconds value",
    summary="Set the value and expiration of a key",
    check=_check_setex(True, "setex"),
)
def cmd_setex(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _setex(ks, args, ts, True, "setex")


@command(
    "psetex",
    4,
    "write denyoom",
    group="string",
    syntax="key milliseconds value",
    summary="Set the value and expiration in milliseconds of a key",
    check=_check_setex(False, "psetex"),
)
def cmd_psetex(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _setex(ks, args, ts, False, "psetex")


def _lookup_read(ks: Keyspace, key: bytes, ts: int) -> object | None:
    """The key for a write that Redis looks up for read (getGenericCommand: GETSET, GETDEL,
    GETEX): an expired key is deleted ("expired"), a missing one is a "keymiss"."""
    value = ks.get_for_write(key, ts)
    if value is None:
        ks.notify(KEY_MISS, b"keymiss", key)
    return value


@command(
    "getset",
    3,
    "write denyoom fast",
    group="string",
    syntax="key value",
    summary="Set the string value of a key and return its old value",
)
def cmd_getset(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    old = _lookup_read(ks, args[1], ts)
    if old is not None and type(old) is not bytes:
        return WRONGTYPE
    ks.put(args[1], args[2])
    ks.notify(STRING, b"set", args[1])
    return old


@command("getdel", 2, "write fast", group="string", syntax="key", summary="Get the value of a key and delete the key")
def cmd_getdel(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    old = _lookup_read(ks, args[1], ts)
    if old is None:
        return None
    if type(old) is not bytes:
        return WRONGTYPE
    ks.delete(args[1])
    ks.notify(GENERIC, b"del", args[1])
    return old


@command(
    "mget",
    -2,
    "readonly fast",
    (1, -1, 1),
    group="string",
    syntax="key [key ...]",
    summary="Get the values of all the given keys",
)
def cmd_mget(ks: Keyspace, args: list[bytes], now: int) -> Result:
    get = ks.get
    out = []
    for key in args[1:]:
        value = get(key, now)
        out.append(value if type(value) is bytes else None)
    return out


def check_pairs(args: list[bytes]) -> ReplyError | None:
    if len(args) % 2 == 0:
        return arity_error(args[0].decode("utf-8", "replace").lower())
    return None


@command(
    "mset",
    -3,
    "write denyoom",
    (1, -1, 2),
    group="string",
    syntax="key value [key value ...]",
    summary="Set multiple keys to multiple values",
    check=check_pairs,
)
def cmd_mset(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    if len(args) % 2 == 0:
        return arity_error("mset")
    put = ks.put
    if ks.keyspace_event is None:
        for i in range(1, len(args), 2):
            put(args[i], args[i + 1])
        return OK
    for i in range(1, len(args), 2):
        ks.get_for_write(args[i], ts)  # setKey's lookup: an expired key is "expired" before it is "new"
        put(args[i], args[i + 1])
        ks.notify(STRING, b"set", args[i])
    return OK


@command(
    "msetnx",
    -3,
    "write denyoom",
    (1, -1, 2),
    group="string",
    syntax="key value [key value ...]",
    summary="Set multiple keys to multiple values, only if none of the keys exist",
    check=check_pairs,
)
def cmd_msetnx(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    if len(args) % 2 == 0:
        return arity_error("msetnx")
    for i in range(1, len(args), 2):
        if ks.get_for_write(args[i], ts) is not None:
            return 0
    for i in range(1, len(args), 2):
        ks.put(args[i], args[i + 1])
        ks.notify(STRING, b"set", args[i])
    return 1


def _incr(ks: Keyspace, key: bytes, by: int, ts: int) -> Result:
    old = ks.get_for_write(key, ts)
    if old is None:
        current = 0
    elif type(old) is not bytes:
        return WRONGTYPE
    else:
        current = parse_int(old)
        if current is None:
            return NOT_AN_INTEGER
    value = current + by
    if value > INT64_MAX or value < INT64_MIN:
        return OVERFLOW
    ks.put_keep_ttl(key, b"%d" % value)  # INCR keeps the TTL (dbOverwrite)
    if ks.keyspace_event is not None:
        ks.notify(STRING, b"incrby", key)
    return value


def check_increment(args: list[bytes]) -> ReplyError | None:
    by = parse_int(args[2])
    if by is None:
        return NOT_AN_INTEGER
    if by == INT64_MIN and args[0].lower() == b"decrby":
        return DECR_MIN
    return None


@command(
    "incr", 2, "write denyoom fast", group="string", syntax="key", summary="Increment the integer value of a key by one"
)
def cmd_incr(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _incr(ks, args[1], 1, ts)


@command(
    "decr", 2, "write denyoom fast", group="string", syntax="key", summary="Decrement the integer value of a key by one"
)
def cmd_decr(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _incr(ks, args[1], -1, ts)


@command(
    "incrby",
    3,
    "write denyoom fast",
    group="string",
    syntax="key increment",
    summary="Increment the integer value of a key by the given amount",
    check=check_increment,
)
def cmd_incrby(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    by = parse_int(args[2])
    if by is None:
        return NOT_AN_INTEGER
    return _incr(ks, args[1], by, ts)


@command(
    "decrby",
    3,
    "write denyoom fast",
    group="string",
    syntax="key decrement",
    summary="Decrement the integer value of a key by the given number",
    check=check_increment,
)
def cmd_decrby(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    by = parse_int(args[2])
    if by is None:
        return NOT_AN_INTEGER
    if by == INT64_MIN:
        return DECR_MIN
    return _incr(ks, args[1], -by, ts)


@command("append", 3, "write denyoom fast", group="string", syntax="key value", summary="Append a value to a key")
def cmd_append(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    key, tail = args[1], args[2]
    old = ks.get_for_write(key, ts)
    if old is None:
        ks.put(key, tail)
        ks.notify(STRING, b"append", key)
        return len(tail)
    if type(old) is not bytes:
        return WRONGTYPE
    size = len(old) + len(tail)
    if size > STRING_BYTES_MAX:
        return TOO_BIG
    ks.put_keep_ttl(key, old + tail)  # O(n) per append: values are immutable bytes (snapshots rely on it)
    if ks.keyspace_event is not None:
        ks.notify(STRING, b"append", key)
    return size


@command(
    "strlen", 2, "readonly fast", group="string", syntax="key", summary="Get the length of the value stored in a key"
)
def cmd_strlen(ks: Keyspace, args: list[bytes], now: int) -> Result:
    value = ks.get(args[1], now)
    if value is None:
        return 0
    if type(value) is not bytes:
        return WRONGTYPE
    return len(value)


def _string_read(ks: Keyspace, key: bytes, now: int):
    value = ks.get(key, now)
    if value is None or type(value) is bytes:
        return value
    return WRONGTYPE


PERSIST = 256


def parse_getex(args: list[bytes]) -> tuple[int, int | None] | ReplyError:
    """GETEX's options (EX/PX/EXAT/PXAT/PERSIST) -> (flags, expire in ms or None)."""
    flags = 0
    raw: bytes | None = None
    j, n = 2, len(args)
    while j < n:
        opt = args[j].lower()
        more = j < n - 1
        timed = flags & (EX | PX | EXAT | PXAT | PERSIST)
        if opt == b"persist" and not timed:
            flags |= PERSIST
        elif opt in (b"ex", b"px", b"exat", b"pxat") and more and not timed:
            flags |= {b"ex": EX, b"px": PX, b"exat": EXAT, b"pxat": PXAT}[opt]
            j += 1
            raw = args[j]
        else:
            return SYNTAX
        j += 1
    if raw is None:
        return flags, None
    expire = _parse_expire(raw, seconds=bool(flags & (EX | EXAT)), name="getex")
    if type(expire) is ReplyError:
        return expire
    return flags, expire


@command(
    "getex",
    -2,
    "write fast",
    group="string",
    syntax="key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]",
    summary="Get the value of a key and optionally set its expiration",
    check=refusal(parse_getex),
)
def cmd_getex(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_getex(args)
    if type(parsed) is ReplyError:
        return parsed
    flags, expire = parsed
    key = args[1]
    value = _lookup_read(ks, key, ts)
    if value is None:
        return None
    if type(value) is not bytes:
        return WRONGTYPE
    if expire is not None:
        if flags & RELATIVE:
            if expire > INT64_MAX - ts:
                return expire_time_error("getex")
            expire += ts
        if expire <= ts:
            ks.delete(key)
            ks.notify(GENERIC, b"del", key)
        else:
            ks.set_deadline(key, expire)
            ks.notify(GENERIC, b"expire", key)
    elif flags & PERSIST:
        if ks.persist(key):
            ks.notify(GENERIC, b"persist", key)
    return value


def _check_two_ints(args: list[bytes]) -> ReplyError | None:
    return NOT_AN_INTEGER if parse_int(args[2]) is None or parse_int(args[3]) is None else None


def _getrange(ks: Keyspace, args: list[bytes], now: int) -> Result:
    start, end = parse_int(args[2]), parse_int(args[3])
    if start is None or end is None:
        return NOT_AN_INTEGER
    value = _string_read(ks, args[1], now)
    if value is None:
        return b""
    if value is WRONGTYPE:
        return value
    size = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start += size
    if end < 0:
        end += size
    start = max(start, 0)
    end = max(end, 0)
    if end >= size:
        end = size - 1
    if start > end or size == 0:
        return b""
    return value[start : end + 1]


@command(
    "getrange",
    4,
    "readonly",
    group="string",
    syntax="key start end",
    check=_check_two_ints,
    summary="Get a substring of the string stored at a key",
)
def cmd_getrange(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return _getrange(ks, args, now)


@command(
    "substr",
    4,
    "readonly",
    group="string",
    syntax="key start end",
    check=_check_two_ints,
    summary="Get a substring of the string stored at a key",
)
def cmd_substr(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return _getrange(ks, args, now)


OFFSET_RANGE = ReplyError("ERR offset is out of range")


def _check_setrange(args: list[bytes]) -> ReplyError | None:
    offset = parse_int(args[2])
    if offset is None:
        return NOT_AN_INTEGER
    if offset < 0:
        return OFFSET_RANGE
    if len(args[3]) and offset + len(args[3]) > STRING_BYTES_MAX:
        return TOO_BIG
    return None


@command(
    "setrange",
    4,
    "write denyoom",
    group="string",
    syntax="key offset value",
    check=_check_setrange,
    summary="Overwrite part of a string at key starting at the specified offset",
)
def cmd_setrange(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    key, value = args[1], args[3]
    old = ks.get_for_write(key, ts)
    if old is not None and type(old) is not bytes:
        return WRONGTYPE
    error = _check_setrange(args)
    if error is not None:
        return error
    offset = parse_int(args[2])
    old = old or b""
    if not value:
        return len(old)
    if len(old) < offset:  # one allocation of the result (up to 512 MiB), not a padded copy and another
        new = b"".join((old, bytes(offset - len(old)), value))
    else:
        new = b"".join((old[:offset], value, old[offset + len(value) :]))
    ks.put_keep_ttl(key, new)
    ks.notify(STRING, b"setrange", key)
    return len(new)


@command(
    "incrbyfloat",
    3,
    "write denyoom fast",
    group="string",
    syntax="key increment",
    summary="Increment the float value of a key by the given amount",
    check=lambda args: NOT_FLOAT if parse_long_double(args[2]) is None else None,
)
def cmd_incrbyfloat(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    """Long double arithmetic and "%.17Lf" formatting, as Redis does (so 10.6 - 5 + 5e3 gives
    "5005.60000000000000009" here too)."""
    key = args[1]
    old = ks.get_for_write(key, ts)
    if old is not None and type(old) is not bytes:
        return WRONGTYPE
    current = Fraction(0) if old is None else parse_long_double(old)
    by = parse_long_double(args[2])
    if current is None or by is None:
        return NOT_FLOAT
    text = add_long_double(current, by)
    if text is None:
        return NAN_OR_INF
    ks.put_keep_ttl(key, text)
    ks.notify(STRING, b"incrbyfloat", key)
    return text
