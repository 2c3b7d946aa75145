"""Set commands (Redis t_set.c). A set is a `Set`: a dict member -> None, because a dict keeps
insertion order (a Python set's order follows per-process string hashing), so SMEMBERS,
SSCAN, the results of the *STORE commands and snapshots are identical on every replica.

SPOP writes, so which members it pops must be the same everywhere: its random generator is
seeded from the entry's ts_ms, the key and the set's size (deterministic at apply).
SRANDMEMBER is a read and uses a local generator.
"""

from __future__ import annotations

import random
from itertools import islice

from statemachines import ReplyError, Result, as_set_reply
from statemachines.keyevents import GENERIC, KEY_MISS, SET
from statemachines.kv.hashes import longest, parse_random_count, random_sample
from statemachines.kv.keyspace import (
    POSITIVE,
    SYNTAX,
    TYPE_NAMES,
    WRONGTYPE,
    Keyspace,
    parse_int,
    typed_access,
)
from statemachines.kv.scan import check_key_scan, matcher, parse_scan, walk
from statemachines.kv.snapshot import register_codec
from statemachines.kv.table import command, refusal


class Set(dict):
    __slots__ = ()


TYPE_NAMES[Set] = "set"
register_codec(3, Set, list, lambda members: Set.fromkeys(members))

_rng = random.Random()


_read, _write = typed_access(Set)


def apply_rng(ts: int, key: bytes, size: int) -> random.Random:
    """A generator every replica seeds identically for the same entry (bytes seeds hash with SHA-512)."""
    return random.Random(b"%d:%d:" % (ts, size) + key)


@command(
    "sadd",
    -3,
    "write denyoom fast",
    group="set",
    syntax="key member [member ...]",
    summary="Add one or more members to a set",
)
def cmd_sadd(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    key = args[1]
    s = _write(ks, key, ts)
    if s is WRONGTYPE:
        return s
    if s is None:
        s = Set()
        ks.put(key, s)
    before = len(s)
    for member in args[2:]:
        s[member] = None
    added = len(s) - before
    if added and before:
        ks.changed(key)
    if added:
        if ks.keyspace_event is not None:
            ks.notify(SET, b"sadd", key)
    return added


@command(
    "srem",
    -3,
    "write fast",
    group="set",
    syntax="key member [member ...]",
    summary="Remove one or more members from a set",
)
def cmd_srem(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    key = args[1]
    s = _write(ks, key, ts)
    if s is None or s is WRONGTYPE:
        return s or 0
    removed = 0
    for member in args[2:]:
        if member in s:
            del s[member]
            removed += 1
    if removed:
        if s:
            ks.changed(key)
        else:
            ks.delete(key)
        ks.notify(SET, b"srem", key)
        if not s:
            ks.notify(GENERIC, b"del", key)
    return removed


@command("scard", 2, "readonly fast", group="set", syntax="key", summary="Get the number of members in a set")
def cmd_scard(ks: Keyspace, args: list[bytes], now: int) -> Result:
    s = _read(ks, args[1], now)
    return s if s is WRONGTYPE else len(s or ())


@command(
    "sismember",
    3,
    "readonly fast",
    group="set",
    syntax="key member",
    summary="Determine if a given value is a member of a set",
)
def cmd_sismember(ks: Keyspace, args: list[bytes], now: int) -> Result:
    s = _read(ks, args[1], now)
    return s if s is WRONGTYPE else int(s is not None and args[2] in s)


@command(
    "smismember",
    -3,
    "readonly fast",
    group="set",
    syntax="key member [member ...]",
    summary="Returns the membership associated with the given elements for a set",
)
def cmd_smismember(ks: Keyspace, args: list[bytes], now: int) -> Result:
    s = _read(ks, args[1], now)
    if s is WRONGTYPE:
        return s
    s = s or {}
    return [int(member in s) for member in args[2:]]


@command(
    "smembers", 2, "readonly", group="set", syntax="key", summary="Get all the members in a set", reply=as_set_reply
)
def cmd_smembers(ks: Keyspace, args: list[bytes], now: int) -> Result:
    s = _read(ks, args[1], now)
    return s if s is WRONGTYPE else list(s or ())


def _check_count(args: list[bytes]) -> ReplyError | None:
    if len(args) > 3:
        return SYNTAX
    if len(args) == 3:
        count = parse_int(args[2])
        if count is None or count < 0:
            return POSITIVE
    return None


@command(
    "spop",
    -2,
    "write fast",
    group="set",
    syntax="key [count]",
    check=_check_count,
    reply=as_set_reply,
    summary="Remove and return one or multiple random members from a set",
)
def cmd_spop(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    error = _check_count(args)
    if error is not None:
        return error
    key = args[1]
    s = _write(ks, key, ts)
    if s is WRONGTYPE:
        return s
    if s is None:
        return None if len(args) == 2 else []
    rng = apply_rng(ts, key, len(s))
    count = 1 if len(args) == 2 else parse_int(args[2])
    if count == 0:
        return []  # Redis' early exit: no event
    ks.notify(SET, b"spop", key)
    if count >= len(s):
        out = list(s)
        ks.delete(key)
        ks.notify(GENERIC, b"del", key)
    else:
        positions = sorted(rng.sample(range(len(s)), count))
        members = list(s)
        out = [members[i] for i in positions]
        for member in out:
            del s[member]
        ks.changed(key)
    if len(args) == 2:
        return out[0]
    return out


def _parse_srandmember(args: list[bytes]) -> int | None | ReplyError:
    """The count (None without one), or the error."""
    if len(args) > 3:
        return SYNTAX
    return parse_random_count(args[2]) if len(args) == 3 else None


@command(
    "srandmember",
    -2,
    "readonly",
    group="set",
    syntax="key [count]",
    summary="Get one or multiple random members from a set",
    check=refusal(_parse_srandmember),
)
def cmd_srandmember(ks: Keyspace, args: list[bytes], now: int) -> Result:
    count = _parse_srandmember(args)
    if type(count) is ReplyError:
        return count
    s = _read(ks, args[1], now)
    if s is WRONGTYPE:
        return s
    if count is None:
        if not s:
            return None
        return next(islice(s, _rng.randrange(len(s)), None))
    if not s:
        return []
    return random_sample(list(s), count, _rng, longest(s))


@command(
    "smove",
    4,
    "write fast",
    (1, 2, 1),
    group="set",
    syntax="source destination member",
    summary="Move a member from one set to another",
)
def cmd_smove(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    src, dst, member = args[1], args[2], args[3]
    source = _write(ks, src, ts)
    if source is WRONGTYPE:
        return source
    target = _write(ks, dst, ts)
    if target is WRONGTYPE:
        return target
    if source is None or member not in source:
        return 0
    if src == dst:
        return 1
    del source[member]
    if source:
        ks.changed(src)
    else:
        ks.delete(src)
    ks.notify(SET, b"srem", src)
    if not source:
        ks.notify(GENERIC, b"del", src)
    if target is None:
        target = Set()
        ks.put(dst, target)
    elif member in target:
        return 1
    else:
        ks.changed(dst)
    target[member] = None
    ks.notify(SET, b"sadd", dst)
    return 1


# --- algebra -------------------------------------------------------------------------------
def _sources(ks: Keyspace, keys: list[bytes], ms: int, write: bool) -> list | ReplyError:
    """The sets at keys (an empty dict for a missing key), or WRONGTYPE."""
    get = ks.get_for_write if write else ks.get
    out = []
    for key in keys:
        value = get(key, ms)
        if value is None:
            if write:
                ks.notify(KEY_MISS, b"keymiss", key)  # Redis reads the sources with lookupKeyRead
            out.append({})
        elif type(value) is not Set:
            return WRONGTYPE
        else:
            out.append(value)
    return out


def _inter(sets: list, limit: int = 0) -> list:
    if not sets or any(not s for s in sets):
        return []
    order = sorted(sets, key=len)
    smallest, others = order[0], order[1:]
    out = []
    for member in smallest:
        if all(member in other for other in others):
            out.append(member)
            if limit and len(out) >= limit:
                break
    return out


def _union(sets: list) -> list:
    out: dict = {}
    for s in sets:
        out.update(s)
    return list(out)


def _diff(sets: list) -> list:
    first, others = sets[0], sets[1:]
    return [member for member in first if not any(member in other for other in others)]


_ALGEBRA = {"sinter": _inter, "sunion": _union, "sdiff": _diff}


def _algebra_read(op: str):
    def handler(ks: Keyspace, args: list[bytes], now: int) -> Result:
        sets = _sources(ks, args[1:], now, False)
        if sets is WRONGTYPE:
            return sets
        return _ALGEBRA[op](sets)

    return handler


def _algebra_store(op: str):
    def handler(ks: Keyspace, args: list[bytes], ts: int) -> Result:
        sets = _sources(ks, args[2:], ts, True)
        if sets is WRONGTYPE:
            return sets
        members = _ALGEBRA[op](sets)
        dst = args[1]
        if members:
            ks.get_for_write(dst, ts)  # setKey's lookup (an expired key is deleted, and says so)
            ks.put(dst, Set.fromkeys(members))
            ks.notify(SET, op.encode() + b"store", dst)
        else:
            ks.get_for_write(dst, ts)
            if ks.delete(dst):
                ks.notify(GENERIC, b"del", dst)
        return len(members)

    return handler


for _op, _what in (
    ("sinter", "Intersect multiple sets"),
    ("sunion", "Add multiple sets"),
    ("sdiff", "Subtract multiple sets"),
):
    command(_op, -2, "readonly", (1, -1, 1), group="set", syntax="key [key ...]", summary=_what, reply=as_set_reply)(
        _algebra_read(_op)
    )
    command(
        _op + "store",
        -3,
        "write denyoom",
        (1, -1, 1),
        group="set",
        syntax="destination key [key ...]",
        summary=_what + " and store the resulting set in a key",
    )(_algebra_store(_op))


LIMIT_NEGATIVE = ReplyError("ERR LIMIT can't be negative")  # also for a LIMIT that is not an integer, as Redis


def parse_numkeys_limit(args: list[bytes]) -> tuple[list[bytes], int] | ReplyError:
    """SINTERCARD's numkeys key [key ...] [LIMIT limit] (ZINTERCARD words its errors differently)."""
    numkeys = parse_int(args[1])
    if numkeys is None or numkeys <= 0:
        return ReplyError("ERR numkeys should be greater than 0")
    if numkeys > len(args) - 2:
        return ReplyError("ERR Number of keys can't be greater than number of args")
    keys = args[2 : 2 + numkeys]
    limit = 0
    j = 2 + numkeys
    while j < len(args):
        if args[j].lower() == b"limit" and j + 1 < len(args):
            limit = parse_int(args[j + 1])
            if limit is None or limit < 0:
                return LIMIT_NEGATIVE
            j += 2
        else:
            return SYNTAX
    return keys, limit


_check_numkeys_limit = refusal(parse_numkeys_limit)


@command(
    "sintercard",
    -3,
    "readonly movablekeys",
    (0, 0, 0),
    group="set",
    syntax="numkeys key [key ...] [LIMIT limit]",
    summary="Intersect multiple sets and return the cardinality of the result",
    check=_check_numkeys_limit,
)
def cmd_sintercard(ks: Keyspace, args: list[bytes], now: int) -> Result:
    parsed = parse_numkeys_limit(args)
    if type(parsed) is ReplyError:
        return parsed
    keys, limit = parsed
    sets = _sources(ks, keys, now, False)
    if sets is WRONGTYPE:
        return sets
    return len(_inter(sets, limit))


@command(
    "sscan",
    -3,
    "readonly",
    group="set",
    syntax="key cursor [MATCH pattern] [COUNT count]",
    summary="Incrementally iterate Set elements",
    check=check_key_scan,
)
def cmd_sscan(ks: Keyspace, args: list[bytes], now: int) -> Result:
    error = check_key_scan(args)
    if error is not None:
        return error
    s = _read(ks, args[1], now)
    if s is WRONGTYPE:
        return s
    if not s:
        return [b"0", []]
    parsed = parse_scan(args, 3, allow_type=False)
    if type(parsed) is ReplyError:
        return parsed
    cursor, pattern, count, _ = parsed
    nxt, members = walk(iter(s), len(s), cursor, count)
    match = matcher(pattern)
    if match is not None:
        members = [m for m in members if match(m)]
    return [b"%d" % nxt, members]
