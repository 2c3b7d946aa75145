"""Hash commands (Redis t_hash.c). A hash is a `Hash` (a dict field -> value, insertion ordered,
so iteration, HSCAN and snapshots are identical on every replica). An emptied hash is deleted.

HRANDFIELD is a read: it may use a local random generator (never part of the state).
"""

from __future__ import annotations

import random
from fractions import Fraction

from statemachines import NOT_AN_INTEGER, REPLY_ITEM_OVERHEAD, ReplyError, Result, reply_too_large
from statemachines.keyevents import GENERIC, HASH
from statemachines.kv.keyspace import (
    INT64_MAX,
    INT64_MIN,
    NAN_OR_INF,
    NOT_FLOAT,
    OK,
    OVERFLOW,
    SYNTAX,
    TYPE_NAMES,
    WRONGTYPE,
    Keyspace,
    add_long_double,
    arity_error,
    parse_int,
    parse_long_double,
    typed_access,
)
from statemachines.kv.scan import check_key_scan, matcher, parse_scan, walk
from statemachines.kv.snapshot import register_codec
from statemachines.kv.table import command, pairs


class Hash(dict):
    __slots__ = ()


TYPE_NAMES[Hash] = "hash"


def _encode(value: Hash) -> list:
    out: list = []
    for item in value.items():
        out += item
    return out


def _decode(flat: list) -> Hash:
    h = Hash()
    for i in range(0, len(flat), 2):
        h[flat[i]] = flat[i + 1]
    return h


register_codec(1, Hash, _encode, _decode)

_rng = random.Random()


_read = typed_access(Hash)[0]  # writes create the hash on demand: see _write


def _write(ks: Keyspace, key: bytes, ts: int, create: bool):
    """The hash at key for a write (created empty and stored if `create`), None, or WRONGTYPE."""
    value = ks.get_for_write(key, ts)
    if value is None:
        if not create:
            return None
        value = Hash()
        ks.put(key, value)
        return value
    if type(value) is not Hash:
        return WRONGTYPE
    ks.changed(key)
    return value


def check_field_values(args: list[bytes]) -> ReplyError | None:
    if len(args) % 2 == 1:
        return arity_error(args[0].decode("utf-8", "replace").lower())
    return None


@command(
    "hset",
    -4,
    "write denyoom fast",
    group="hash",
    syntax="key field value [field value ...]",
    summary="Set the string value of a hash field",
    check=check_field_values,
)
def cmd_hset(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    if len(args) % 2 == 1:
        return arity_error("hset")
    h = _write(ks, args[1], ts, True)
    if h is WRONGTYPE:
        return h
    before = len(h)
    for i in range(2, len(args), 2):
        h[args[i]] = args[i + 1]
    if ks.keyspace_event is not None:
        ks.notify(HASH, b"hset", args[1])
    return len(h) - before


@command(
    "hmset",
    -4,
    "write denyoom fast",
    group="hash",
    syntax="key field value [field value ...]",
    summary="Set multiple hash fields to multiple values",
    check=check_field_values,
)
def cmd_hmset(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    if len(args) % 2 == 1:
        return arity_error("hmset")
    result = cmd_hset(ks, args, ts)
    return result if type(result) is ReplyError else OK


@command(
    "hsetnx",
    4,
    "write denyoom fast",
    group="hash",
    syntax="key field value",
    summary="Set the value of a hash field, only if the field does not exist",
)
def cmd_hsetnx(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    value = ks.get_for_write(args[1], ts)
    if value is not None:
        if type(value) is not Hash:
            return WRONGTYPE
        if args[2] in value:
            return 0
    h = _write(ks, args[1], ts, True)
    h[args[2]] = args[3]
    ks.notify(HASH, b"hset", args[1])
    return 1


@command("hget", 3, "readonly fast", group="hash", syntax="key field", summary="Get the value of a hash field")
def cmd_hget(ks: Keyspace, args: list[bytes], now: int) -> Result:
    h = _read(ks, args[1], now)
    if h is None or h is WRONGTYPE:
        return h
    return h.get(args[2])


@command(
    "hmget",
    -3,
    "readonly fast",
    group="hash",
    syntax="key field [field ...]",
    summary="Get the values of all the given hash fields",
)
def cmd_hmget(ks: Keyspace, args: list[bytes], now: int) -> Result:
    h = _read(ks, args[1], now)
    if h is WRONGTYPE:
        return h
    if h is None:
        return [None] * (len(args) - 2)
    get = h.get
    return [get(field) for field in args[2:]]


@command(
    "hdel", -3, "write fast", group="hash", syntax="key field [field ...]", summary="Delete one or more hash fields"
)
def cmd_hdel(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    h = ks.get_for_write(args[1], ts)
    if h is None:
        return 0
    if type(h) is not Hash:
        return WRONGTYPE
    removed = 0
    for field in args[2:]:
        if h.pop(field, None) is not None:
            removed += 1
    if removed:
        if h:
            ks.changed(args[1])
        else:
            ks.delete(args[1])
        ks.notify(HASH, b"hdel", args[1])
        if not h:
            ks.notify(GENERIC, b"del", args[1])
    return removed


@command("hlen", 2, "readonly fast", group="hash", syntax="key", summary="Get the number of fields in a hash")
def cmd_hlen(ks: Keyspace, args: list[bytes], now: int) -> Result:
    h = _read(ks, args[1], now)
    return h if h is WRONGTYPE else len(h or ())


@command(
    "hstrlen",
    3,
    "readonly fast",
    group="hash",
    syntax="key field",
    summary="Get the length of the value of a hash field",
)
def cmd_hstrlen(ks: Keyspace, args: list[bytes], now: int) -> Result:
    h = _read(ks, args[1], now)
    if h is WRONGTYPE:
        return h
    return len(h.get(args[2], b"")) if h else 0


@command("hexists", 3, "readonly fast", group="hash", syntax="key field", summary="Determine if a hash field exists")
def cmd_hexists(ks: Keyspace, args: list[bytes], now: int) -> Result:
    h = _read(ks, args[1], now)
    if h is WRONGTYPE:
        return h
    return int(h is not None and args[2] in h)


@command("hkeys", 2, "readonly", group="hash", syntax="key", summary="Get all the fields in a hash")
def cmd_hkeys(ks: Keyspace, args: list[bytes], now: int) -> Result:
    h = _read(ks, args[1], now)
    return h if h is WRONGTYPE else list(h or ())


@command("hvals", 2, "readonly", group="hash", syntax="key", summary="Get all the values in a hash")
def cmd_hvals(ks: Keyspace, args: list[bytes], now: int) -> Result:
    h = _read(ks, args[1], now)
    return h if h is WRONGTYPE else list((h or {}).values())


@command("hgetall", 2, "readonly", group="hash", syntax="key", summary="Get all the fields and values in a hash")
def cmd_hgetall(ks: Keyspace, args: list[bytes], now: int) -> Result:
    h = _read(ks, args[1], now)
    return h if h is WRONGTYPE else dict(h or {})


@command(
    "hincrby",
    4,
    "write denyoom fast",
    group="hash",
    syntax="key field increment",
    summary="Increment the integer value of a hash field by the given number",
    check=lambda args: NOT_AN_INTEGER if parse_int(args[3]) is None else None,
)
def cmd_hincrby(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    by = parse_int(args[3])
    if by is None:
        return NOT_AN_INTEGER
    existing = ks.get_for_write(args[1], ts)
    if existing is not None and type(existing) is not Hash:
        return WRONGTYPE
    current = 0
    if existing is not None and args[2] in existing:
        current = parse_int(existing[args[2]])
        if current is None:
            return ReplyError("ERR hash value is not an integer")
    value = current + by
    if value > INT64_MAX or value < INT64_MIN:
        return OVERFLOW
    _write(ks, args[1], ts, True)[args[2]] = b"%d" % value
    ks.notify(HASH, b"hincrby", args[1])
    return value


@command(
    "hincrbyfloat",
    4,
    "write denyoom fast",
    group="hash",
    syntax="key field increment",
    summary="Increment the float value of a hash field by the given amount",
    check=lambda args: _check_increment_float(args[3]),
)
def cmd_hincrbyfloat(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    error = _check_increment_float(args[3])
    if error is not None:
        return error
    by = parse_long_double(args[3])
    existing = ks.get_for_write(args[1], ts)
    if existing is not None and type(existing) is not Hash:
        return WRONGTYPE
    current = Fraction(0)
    if existing is not None and args[2] in existing:
        current = parse_long_double(existing[args[2]])
        if current is None:
            return ReplyError("ERR hash value is not a float")
    text = add_long_double(current, by)
    if text is None:
        return NAN_OR_INF
    _write(ks, args[1], ts, True)[args[2]] = text
    ks.notify(HASH, b"hincrbyfloat", args[1])
    return text


def _check_increment_float(raw: bytes) -> ReplyError | None:
    by = parse_long_double(raw)
    if by is None:
        return NOT_FLOAT
    if isinstance(by, float):
        return ReplyError("ERR value is NaN or Infinity")
    return None


RANDOM_COUNT_RANGE = ReplyError(
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
)
PAIRS_COUNT_RANGE = ReplyError("ERR value is out of range")  # Redis 7: count * 2 would overflow a long


def parse_random_count(raw: bytes) -> int | ReplyError:
    """The count of HRANDFIELD/SRANDMEMBER/ZRANDMEMBER: an int64 above INT64_MIN (Redis'
    getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)). Not yet bounded by the reply: see random_sample."""
    count = parse_int(raw)
    if count is None:
        return NOT_AN_INTEGER
    if count == INT64_MIN:
        return RANDOM_COUNT_RANGE
    return count


def random_sample(items: list, count: int, rng: random.Random, item_bytes: int) -> list | ReplyError:
    """HRANDFIELD/SRANDMEMBER/ZRANDMEMBER count semantics: >= 0 distinct, < 0 with repeats.

    A positive count is bounded by the collection. A negative one asks for -count elements,
    repeats allowed: Redis builds that reply whatever its size (it spins on -LONG_MAX); here
    it is refused when -count elements of up to `item_bytes` (each element's reply bytes,
    from the largest) could exceed REPLY_BYTES_MAX, so no count does more work than that."""
    if count >= 0:
        if count >= len(items):
            return items
        return rng.sample(items, count)
    error = reply_too_large(-count, item_bytes)
    if error is not None:
        return error
    return rng.choices(items, k=-count)


def longest(values) -> int:
    return max(map(len, values), default=0)


def _check_hrandfield(args: list[bytes]) -> ReplyError | None:
    if len(args) >= 3:
        count = parse_random_count(args[2])
        if type(count) is ReplyError:
            return count
    if len(args) == 4 and args[3].lower() != b"withvalues" or len(args) > 4:
        return SYNTAX
    if len(args) == 4 and not -INT64_MAX // 2 <= count <= INT64_MAX // 2:
        return PAIRS_COUNT_RANGE
    return None


def _reply_withvalues(args: list[bytes], result: Result, protocol: int) -> Result:
    return pairs(result) if protocol == 3 and len(args) == 4 and type(result) is list else result


@command(
    "hrandfield",
    -2,
    "readonly",
    group="hash",
    syntax="key [count [WITHVALUES]]",
    summary="Get one or multiple random fields from a hash",
    check=_check_hrandfield,
    reply=_reply_withvalues,
)
def cmd_hrandfield(ks: Keyspace, args: list[bytes], now: int) -> Result:
    error = _check_hrandfield(args)
    if error is not None:
        return error
    h = _read(ks, args[1], now)
    if h is WRONGTYPE:
        return h
    if len(args) == 2:
        return _rng.choice(list(h)) if h else None
    count = parse_int(args[2])
    if not h:
        return []
    item_bytes = longest(h) + (longest(h.values()) + REPLY_ITEM_OVERHEAD if len(args) == 4 else 0)
    fields = random_sample(list(h), count, _rng, item_bytes)
    if type(fields) is ReplyError:
        return fields
    if len(args) == 4:
        out: list = []
        for field in fields:
            out += (field, h[field])
        return out
    return fields


@command(
    "hscan",
    -3,
    "readonly",
    group="hash",
    syntax="key cursor [MATCH pattern] [COUNT count]",
    summary="Incrementally iterate hash fields and associated values",
    check=check_key_scan,
)
def cmd_hscan(ks: Keyspace, args: list[bytes], now: int) -> Result:
    error = check_key_scan(args)
    if error is not None:
        return error
    h = _read(ks, args[1], now)
    if h is WRONGTYPE:
        return h
    if not h:
        return [b"0", []]
    parsed = parse_scan(args, 3, allow_type=False)
    if type(parsed) is ReplyError:
        return parsed
    cursor, pattern, count, _ = parsed
    nxt, fields = walk(iter(h), len(h), cursor, count)
    match = matcher(pattern)
    out: list = []
    for field in fields:
        if match is None or match(field):
            out += (field, h[field])
    return [b"%d" % nxt, out]
