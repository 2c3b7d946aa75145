"""List commands (Redis t_list.c), without the blocking ones. A list is a `List` (a deque:
O(1) at both ends, O(n) in the middle). An emptied list is deleted.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from statemachines import NOT_AN_INTEGER, NULL_ARRAY, ReplyError, Result
from statemachines.keyevents import GENERIC, LIST
from statemachines.kv.keyspace import (
    INDEX_RANGE,
    NO_SUCH_KEY,
    OK,
    POSITIVE,
    SYNTAX,
    TYPE_NAMES,
    WRONGTYPE,
    Keyspace,
    normalize_range,
    parse_int,
    typed_access,
)
from statemachines.kv.snapshot import register_codec
from statemachines.kv.table import command, refusal


class List(deque):
    __slots__ = ()


TYPE_NAMES[List] = "list"
register_codec(2, List, list, List)

LEFT, RIGHT = b"left", b"right"


_read, _write = typed_access(List)


def _push(ks: Keyspace, args: list[bytes], ts: int, left: bool, only_existing: bool) -> Result:
    key = args[1]
    lst = _write(ks, key, ts)
    if lst is WRONGTYPE:
        return lst
    if lst is None:
        if only_existing:
            return 0
        lst = List()
        ks.put(key, lst)
    else:
        ks.changed(key)
    if left:
        lst.extendleft(args[2:])
    else:
        lst.extend(args[2:])
    if ks.keyspace_event is not None:
        ks.notify(LIST, b"lpush" if left else b"rpush", key)
    return len(lst)


@command(
    "lpush",
    -3,
    "write denyoom fast",
    group="list",
    syntax="key element [element ...]",
    summary="Prepend one or multiple elements to a list",
)
def cmd_lpush(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _push(ks, args, ts, True, False)


@command(
    "rpush",
    -3,
    "write denyoom fast",
    group="list",
    syntax="key element [element ...]",
    summary="Append one or multiple elements to a list",
)
def cmd_rpush(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _push(ks, args, ts, False, False)


@command(
    "lpushx",
    -3,
    "write denyoom fast",
    group="list",
    syntax="key element [element ...]",
    summary="Prepend an element to a list, only if the list exists",
)
def cmd_lpushx(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _push(ks, args, ts, True, True)


@command(
    "rpushx",
    -3,
    "write denyoom fast",
    group="list",
    syntax="key element [element ...]",
    summary="Append an element to a list, only if the list exists",
)
def cmd_rpushx(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _push(ks, args, ts, False, True)


def _check_pop(args: list[bytes]) -> ReplyError | None:
    if len(args) > 3:
        return SYNTAX
    if len(args) == 3:
        count = parse_int(args[2])
        if count is None or count < 0:
            return POSITIVE
    return None


def _null_array_if_none(args: list[bytes], result: Result, protocol: int) -> Result:
    return NULL_ARRAY if result is None and len(args) > 2 else result


def _pop(ks: Keyspace, args: list[bytes], ts: int, left: bool) -> Result:
    error = _check_pop(args)
    if error is not None:
        return error
    key = args[1]
    lst = _write(ks, key, ts)
    if lst is None or lst is WRONGTYPE:
        return lst
    pop = lst.popleft if left else lst.pop
    if len(args) == 2:
        out: Result = pop()
    else:
        out = [pop() for _ in range(min(parse_int(args[2]), len(lst)))]
        if not out:
            return out  # COUNT 0: Redis' fast exit, no event
    if lst:
        ks.changed(key)
    else:
        ks.delete(key)
    if ks.keyspace_event is not None:
        _notify_popped(ks, key, left, lst)
    return out


def _notify_popped(ks: Keyspace, key: bytes, left: bool, lst: List) -> None:
    """Redis' listElementsRemoved events: the pop, then "del" when the list went empty."""
    ks.notify(LIST, b"lpop" if left else b"rpop", key)
    if not lst:
        ks.notify(GENERIC, b"del", key)


@command(
    "lpop",
    -2,
    "write fast",
    group="list",
    syntax="key [count]",
    check=_check_pop,
    reply=_null_array_if_none,
    summary="Remove and get the first elements in a list",
)
def cmd_lpop(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _pop(ks, args, ts, True)


@command(
    "rpop",
    -2,
    "write fast",
    group="list",
    syntax="key [count]",
    check=_check_pop,
    reply=_null_array_if_none,
    summary="Remove and get the last elements in a list",
)
def cmd_rpop(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _pop(ks, args, ts, False)


@command("llen", 2, "readonly fast", group="list", syntax="key", summary="Get the length of a list")
def cmd_llen(ks: Keyspace, args: list[bytes], now: int) -> Result:
    lst = _read(ks, args[1], now)
    return lst if lst is WRONGTYPE else len(lst or ())


@command(
    "lindex",
    3,
    "readonly",
    group="list",
    syntax="key index",
    summary="Get an element from a list by its index",
    check=lambda args: NOT_AN_INTEGER if parse_int(args[2]) is None else None,
)
def cmd_lindex(ks: Keyspace, args: list[bytes], now: int) -> Result:
    index = parse_int(args[2])
    if index is None:
        return NOT_AN_INTEGER
    lst = _read(ks, args[1], now)
    if lst is None or lst is WRONGTYPE:
        return lst
    if -len(lst) <= index < len(lst):
        return lst[index]
    return None


def _check_two_ints(args: list[bytes]) -> ReplyError | None:
    if parse_int(args[2]) is None or parse_int(args[3]) is None:
        return NOT_AN_INTEGER
    return None


@command(
    "lrange",
    4,
    "readonly",
    group="list",
    syntax="key start stop",
    check=_check_two_ints,
    summary="Get a range of elements from a list",
)
def cmd_lrange(ks: Keyspace, args: list[bytes], now: int) -> Result:
    if _check_two_ints(args):
        return NOT_AN_INTEGER
    lst = _read(ks, args[1], now)
    if lst is WRONGTYPE:
        return lst
    if not lst:
        return []
    bounds = normalize_range(parse_int(args[2]), parse_int(args[3]), len(lst))
    if bounds is None:
        return []
    start, end = bounds
    if start > len(lst) // 2:
        return list(islice(reversed(lst), len(lst) - 1 - end, len(lst) - start))[::-1]
    return list(islice(lst, start, end + 1))


@command(
    "lset",
    4,
    "write denyoom",
    group="list",
    syntax="key index element",
    summary="Set the value of an element in a list by its index",
    check=lambda args: NOT_AN_INTEGER if parse_int(args[2]) is None else None,
)
def cmd_lset(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    index = parse_int(args[2])
    if index is None:
        return NOT_AN_INTEGER
    lst = _write(ks, args[1], ts)
    if lst is None:
        return NO_SUCH_KEY
    if lst is WRONGTYPE:
        return lst
    if not -len(lst) <= index < len(lst):
        return INDEX_RANGE
    lst[index] = args[3]
    ks.changed(args[1])
    ks.notify(LIST, b"lset", args[1])
    return OK


@command(
    "ltrim",
    4,
    "write",
    group="list",
    syntax="key start stop",
    check=_check_two_ints,
    summary="Trim a list to the specified range",
)
def cmd_ltrim(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    if _check_two_ints(args):
        return NOT_AN_INTEGER
    key = args[1]
    lst = _write(ks, key, ts)
    if lst is None:
        return OK
    if lst is WRONGTYPE:
        return lst
    bounds = normalize_range(parse_int(args[2]), parse_int(args[3]), len(lst))
    if bounds is None:
        ks.delete(key)
        ks.notify(LIST, b"ltrim", key)
        ks.notify(GENERIC, b"del", key)
        return OK
    start, end = bounds
    for _ in range(len(lst) - 1 - end):
        lst.pop()
    for _ in range(start):
        lst.popleft()
    ks.changed(key)
    ks.notify(LIST, b"ltrim", key)
    return OK


@command(
    "lrem",
    4,
    "write",
    group="list",
    syntax="key count element",
    summary="Remove elements from a list",
    check=lambda args: NOT_AN_INTEGER if parse_int(args[2]) is None else None,
)
def cmd_lrem(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    count = parse_int(args[2])
    if count is None:
        return NOT_AN_INTEGER
    key, element = args[1], args[3]
    lst = _write(ks, key, ts)
    if lst is None:
        return 0
    if lst is WRONGTYPE:
        return lst
    limit = abs(count) or len(lst)
    items = list(lst) if count >= 0 else list(reversed(lst))
    kept = []
    removed = 0
    for item in items:
        if removed < limit and item == element:
            removed += 1
        else:
            kept.append(item)
    if not removed:
        return 0
    if count < 0:
        kept.reverse()
    if kept:
        lst.clear()
        lst.extend(kept)
        ks.changed(key)
    else:
        ks.delete(key)
    ks.notify(LIST, b"lrem", key)
    if not kept:
        ks.notify(GENERIC, b"del", key)
    return removed


@command(
    "linsert",
    5,
    "write denyoom",
    group="list",
    syntax="key BEFORE | AFTER pivot element",
    summary="Insert an element before or after another element in a list",
    check=lambda args: None if args[2].lower() in (b"before", b"after") else SYNTAX,
)
def cmd_linsert(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    where = args[2].lower()
    if where not in (b"before", b"after"):
        return SYNTAX
    key = args[1]
    lst = _write(ks, key, ts)
    if lst is None:
        return 0
    if lst is WRONGTYPE:
        return lst
    try:
        position = lst.index(args[3])
    except ValueError:
        return -1
    lst.insert(position if where == b"before" else position + 1, args[4])
    ks.changed(key)
    ks.notify(LIST, b"linsert", key)
    return len(lst)


def _parse_lpos(args: list[bytes]) -> tuple[int, int | None, int] | ReplyError:
    rank, count, maxlen = 1, None, 0
    j = 3
    while j < len(args):
        opt = args[j].lower()
        if j + 1 >= len(args):
            return SYNTAX
        value = parse_int(args[j + 1])
        if opt == b"rank":
            if value is None:
                return NOT_AN_INTEGER
            if value == 0:
                return ReplyError(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
                    "second ... or use negative to start from the end of the list"
                )
            if value == -(1 << 63):
                return ReplyError(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
                )
            rank = value
        elif opt == b"count":
            if value is None:
                return NOT_AN_INTEGER
            if value < 0:
                return ReplyError("ERR COUNT can't be negative")
            count = value
        elif opt == b"maxlen":
            if value is None:
                return NOT_AN_INTEGER
            if value < 0:
                return ReplyError("ERR MAXLEN can't be negative")
            maxlen = value
        else:
            return SYNTAX
        j += 2
    return rank, count, maxlen


_check_lpos = refusal(_parse_lpos)


@command(
    "lpos",
    -3,
    "readonly",
    group="list",
    syntax="key element [RANK rank] [COUNT num-matches] [MAXLEN len]",
    summary="Return the index of matching elements on a list",
    check=_check_lpos,
)
def cmd_lpos(ks: Keyspace, args: list[bytes], now: int) -> Result:
    parsed = _parse_lpos(args)
    if type(parsed) is ReplyError:
        return parsed
    rank, count, maxlen = parsed
    lst = _read(ks, args[1], now)
    if lst is WRONGTYPE:
        return lst
    if lst is None:
        return [] if count is not None else None
    element = args[2]
    size = len(lst)
    wanted = count if count else size
    matches: list[int] = []
    skip = abs(rank) - 1
    iterator = enumerate(lst) if rank > 0 else ((size - 1 - i, v) for i, v in enumerate(reversed(lst)))
    for scanned, (index, item) in enumerate(iterator):
        if maxlen and scanned >= maxlen:
            break
        if item == element:
            if skip:
                skip -= 1
                continue
            matches.append(index)
            if len(matches) >= wanted:
                break
    if count is None:
        return matches[0] if matches else None
    return matches


def _move(ks: Keyspace, src: bytes, dst: bytes, wherefrom: bytes, whereto: bytes, ts: int) -> Result:
    source = _write(ks, src, ts)
    if source is None or source is WRONGTYPE:
        return source
    target = _write(ks, dst, ts)
    if target is WRONGTYPE:
        return target
    value = source.popleft() if wherefrom == LEFT else source.pop()
    if source or src == dst:  # a list moved onto itself is never empty, keeps its TTL and is not "new"
        ks.changed(src)
    else:
        ks.delete(src)
    if target is None:
        target = List()
        ks.put(dst, target)
    else:
        ks.changed(dst)
    if whereto == LEFT:
        target.appendleft(value)
    else:
        target.append(value)
    ks.notify(LIST, b"lpush" if whereto == LEFT else b"rpush", dst)  # Redis: the push's events, then the pop's
    _notify_popped(ks, src, wherefrom == LEFT, target if src == dst else source)
    return value


def _check_lmove(args: list[bytes]) -> ReplyError | None:
    if args[3].lower() not in (LEFT, RIGHT) or args[4].lower() not in (LEFT, RIGHT):
        return SYNTAX
    return None


@command(
    "lmove",
    5,
    "write denyoom",
    (1, 2, 1),
    group="list",
    syntax="source destination LEFT | RIGHT LEFT | RIGHT",
    check=_check_lmove,
    summary="Pop an element from a list, push it to another list and return it",
)
def cmd_lmove(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    if _check_lmove(args):
        return SYNTAX
    return _move(ks, args[1], args[2], args[3].lower(), args[4].lower(), ts)


@command(
    "rpoplpush",
    3,
    "write denyoom",
    (1, 2, 1),
    group="list",
    syntax="source destination",
    summary="Remove the last element in a list, prepend it to another list and return it",
)
def cmd_rpoplpush(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return _move(ks, args[1], args[2], RIGHT, LEFT, ts)


def parse_mpop(args: list[bytes], directions: tuple[bytes, bytes]) -> tuple[list[bytes], bytes, int] | ReplyError:
    """numkeys key [key ...] <direction> [COUNT count] (LMPOP, ZMPOP)."""
    numkeys = parse_int(args[1])
    if numkeys is None or numkeys <= 0:
        return ReplyError("ERR numkeys should be greater than 0")
    if numkeys > len(args) - 3:
        return SYNTAX
    keys = args[2 : 2 + numkeys]
    where = args[2 + numkeys].lower()
    if where not in directions:
        return SYNTAX
    count = 1
    j = 3 + numkeys
    if j < len(args):
        if args[j].lower() != b"count" or j + 2 != len(args):
            return SYNTAX
        count = parse_int(args[j + 1])
        if count is None or count <= 0:
            return ReplyError("ERR count should be greater than 0")
    return keys, where, count


def _check_lmpop(args: list[bytes]) -> ReplyError | None:
    parsed = parse_mpop(args, (LEFT, RIGHT))
    return parsed if type(parsed) is ReplyError else None


def null_array_if_none(args: list[bytes], result: Result, protocol: int) -> Result:
    return NULL_ARRAY if result is None else result


@command(
    "lmpop",
    -4,
    "write movablekeys",
    (0, 0, 0),
    group="list",
    syntax="numkeys key [key ...] LEFT | RIGHT [COUNT count]",
    summary="Pop elements from the first non-empty list",
    check=_check_lmpop,
    reply=null_array_if_none,
)
def cmd_lmpop(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_mpop(args, (LEFT, RIGHT))
    if type(parsed) is ReplyError:
        return parsed
    keys, where, count = parsed
    for key in keys:
        lst = _write(ks, key, ts)
        if lst is WRONGTYPE:
            return lst
        if lst:
            pop = lst.popleft if where == LEFT else lst.pop
            out = [pop() for _ in range(min(count, len(lst)))]
            if lst:
                ks.changed(key)
            else:
                ks.delete(key)
            _notify_popped(ks, key, where == LEFT, lst)
            return [key, out]
    return None
