"""The blocking pops (Redis t_list.c / t_zset.c): BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP,
BZPOPMIN, BZPOPMAX, BZMPOP, as the machine applies them.

Applied, a blocking pop never waits: it is the non-blocking pop over its keys (the first key
holding elements serves it, a key of another type is WRONGTYPE when the walk reaches it), and
with nothing to pop it answers nil, as Redis answers these commands inside MULTI or when the
client may not block. The waiting is the frontend's (frontends/resp/blocking.py): a nil
answer to a client that may block parks it until an applied entry changes one of its keys,
then the same command goes through the log again. So a pop is one entry applied identically
on every replica, and two clients on two nodes can never take the same element: the one whose
entry comes second finds it gone and waits on.

The timeout is parsed here (the frontend's check, so a bad one never enters the log) and
ignored at apply.
"""

from __future__ import annotations

import math

from statemachines import NULL_ARRAY, ReplyError, Result
from statemachines.kv import lists, zsets
from statemachines.kv.keyspace import WRONGTYPE, Keyspace, parse_long_double
from statemachines.kv.table import command

TIMEOUT_NOT_FLOAT = ReplyError("ERR timeout is not a float or out of range")
TIMEOUT_NEGATIVE = ReplyError("ERR timeout is negative")
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def parse_timeout_ms(raw: bytes) -> int | ReplyError:
    """Seconds as Redis' getTimeoutFromObjectOrReply(UNIT_SECONDS) reads them: a long double,
    rounded up to whole milliseconds; 0 waits forever. A value beyond int64 milliseconds (or
    infinite) is what C's cast makes of it on x86-64, INT64_MIN: negative."""
    value = parse_long_double(raw)
    if value is None:
        return TIMEOUT_NOT_FLOAT
    ms = INT64_MIN if type(value) is float and not math.isfinite(value) else math.ceil(value * 1000)
    if not INT64_MIN <= ms <= INT64_MAX:
        ms = INT64_MIN
    if ms < 0:
        return TIMEOUT_NEGATIVE
    return ms


def _timeout_check(position: int):
    def check(args: list[bytes]) -> ReplyError | None:
        parsed = parse_timeout_ms(args[position])
        return parsed if type(parsed) is ReplyError else None

    return check


_check_last_timeout = _timeout_check(-1)


def _null_array(args: list[bytes], result: Result, protocol: int) -> Result:
    return NULL_ARRAY if result is None else result


# --- lists ------------------------------------------------------------------------------------
def _blocking_pop(ks: Keyspace, args: list[bytes], ts: int, left: bool) -> Result:
    error = _check_last_timeout(args)
    if error is not None:
        return error  # inside MULTI the frontend's check did not run: Redis refuses it in EXEC
    for key in args[1:-1]:
        lst = lists._write(ks, key, ts)
        if lst is WRONGTYPE:
            return lst
        if lst:
            value = lst.popleft() if left else lst.pop()
            if lst:
                ks.changed(key)
            else:
                ks.delete(key)
            lists._notify_popped(ks, key, left, lst)  # Redis' events for a served pop: lpop/rpop, then del
            return [key, value]
    return None


for _left, _name, _end in ((True, "blpop", "first"), (False, "brpop", "last")):
    command(
        _name,
        -3,
        "write noscript blocking",
        (1, -2, 1),
        group="list",
        syntax="key [key ...] timeout",
        check=_check_last_timeout,
        reply=_null_array,
        summary=f"Remove and get the {_end} element in a list, or block until one is available",
    )(lambda ks, args, ts, _left=_left: _blocking_pop(ks, args, ts, _left))


def _check_blmove(args: list[bytes]) -> ReplyError | None:
    return lists._check_lmove(args) or _timeout_check(5)(args)


@command(
    "blmove",
    6,
    "write denyoom noscript blocking",
    (1, 2, 1),
    group="list",
    syntax="source destination LEFT | RIGHT LEFT | RIGHT timeout",
    check=_check_blmove,
    summary="Pop an element from a list, push it to another list and return it; or block until one is available",
)
def cmd_blmove(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    error = _check_blmove(args)
    if error is not None:
        return error
    return lists._move(ks, args[1], args[2], args[3].lower(), args[4].lower(), ts)


@command(
    "brpoplpush",
    4,
    "write denyoom noscript blocking",
    (1, 2, 1),
    group="list",
    syntax="source destination timeout",
    check=_timeout_check(3),
    summary="Pop an element from a list, push it to another list and return it; or block until one is available",
)
def cmd_brpoplpush(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    error = _timeout_check(3)(args)
    if error is not None:
        return error
    return lists._move(ks, args[1], args[2], lists.RIGHT, lists.LEFT, ts)


def _as_mpop(args: list[bytes]) -> list[bytes]:
    """BLMPOP/BZMPOP timeout numkeys ... -> the LMPOP/ZMPOP argument list (the timeout dropped)."""
    return [args[0], *args[2:]]


def _check_bmpop(directions: tuple[bytes, bytes]):
    """numkeys, keys, direction and COUNT are read before the timeout (Redis' lmpopGenericCommand)."""

    def check(args: list[bytes]) -> ReplyError | None:
        parsed = lists.parse_mpop(_as_mpop(args), directions)
        if type(parsed) is ReplyError:
            return parsed
        return _timeout_check(1)(args)

    return check


# --- sorted sets --------------------------------------------------------------------------------
def _blocking_zpop(ks: Keyspace, args: list[bytes], ts: int, maximum: bool) -> Result:
    error = _check_last_timeout(args)
    if error is not None:
        return error
    for key in args[1:-1]:
        z = zsets._write(ks, key, ts)
        if z is WRONGTYPE:
            return z
        if z:
            items = zsets._pop_items(z, 1, maximum)
            zsets._done(ks, key, z)
            zsets._notify_removed(ks, b"zpopmax" if maximum else b"zpopmin", key, z)
            return [key, *zsets._flat(items, True)]
    return None


for _max, _name in ((False, "bzpopmin"), (True, "bzpopmax")):
    command(
        _name,
        -3,
        "write noscript fast blocking",
        (1, -2, 1),
        group="sorted-set",
        syntax="key [key ...] timeout",
        check=_check_last_timeout,
        reply=_null_array,
        summary=f"Remove and return the member with the {'highest' if _max else 'lowest'} score from one or more "
        "sorted sets, or block until one is available",
    )(lambda ks, args, ts, _max=_max: _blocking_zpop(ks, args, ts, _max))


def _register_bmpop(name: str, group: str, directions: tuple[bytes, bytes], mpop, what: str, summary: str) -> None:
    """BLMPOP / BZMPOP: LMPOP / ZMPOP (`mpop`) once their timeout is checked and dropped."""
    check = _check_bmpop(directions)

    def handler(ks: Keyspace, args: list[bytes], ts: int) -> Result:
        error = check(args)
        if error is not None:
            return error
        return mpop(ks, _as_mpop(args), ts)

    command(
        name,
        -5,
        "write blocking movablekeys",
        (0, 0, 0),
        group=group,
        syntax=f"timeout numkeys key [key ...] {what} [COUNT count]",
        check=check,
        reply=_null_array,
        summary=summary,
    )(handler)


_register_bmpop(
    "blmpop",
    "list",
    (lists.LEFT, lists.RIGHT),
    lists.cmd_lmpop,
    "LEFT | RIGHT",
    "Pop elements from the first non-empty list, or block until one is available",
)
_register_bmpop(
    "bzmpop",
    "sorted-set",
    (b"min", b"max"),
    zsets.cmd_zmpop,
    "MIN | MAX",
    "Remove and return members with scores in a sorted set or block until one is available",
)
