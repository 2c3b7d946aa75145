"""Glob patterns (statemachines.glob: Redis' stringmatchlen) and the cursor walk shared by SCAN, HSCAN, SSCAN, ZSCAN, KEYS.

Cursor: the position in the collection's iteration order (dicts keep insertion
order, identical on every replica). A full walk returns every element that
was present from start to end of the walk if nothing was deleted meanwhile;
a deletion before the cursor shifts later elements back, so one of them may
be skipped (Redis' reverse-binary cursor avoids that; a Python dict gives no
access to its buckets). Elements are never returned twice in one walk unless
they were deleted and added again. Collections of at most SMALL_MAX elements
are returned whole with cursor 0, as Redis does for its compact encodings.
"""

from __future__ import annotations

from itertools import islice

from statemachines import NOT_AN_INTEGER, ReplyError
from statemachines.glob import compile_glob
from statemachines.kv.keyspace import SYNTAX, parse_int

SMALL_MAX = 128
INVALID_CURSOR = ReplyError("ERR invalid cursor")


def matcher(pattern: bytes | None):
    """A predicate for a glob, or None when everything matches."""
    if pattern is None or pattern == b"*":
        return None
    return compile_glob(pattern)


def parse_cursor(raw: bytes) -> int | None:
    """Redis' parseScanCursorOrReply: strtoul, so a sign and leading zeros are allowed and
    "-1" is 2**64 - 1; no leading space, nothing left over, no overflow. Bounded: the digits
    are read only when at most 20 remain after the zeros."""
    negative = raw[:1] == b"-"
    digits = raw[1:] if raw[:1] in (b"-", b"+") else raw
    if not digits.isdigit():
        return None
    digits = digits.lstrip(b"0") or b"0"
    if len(digits) > 20:
        return None
    value = int(digits)
    if value >= 1 << 64:
        return None
    return (-value) % (1 << 64) if negative else value


def check_key_scan(args: list[bytes]) -> ReplyError | None:
    """HSCAN/SSCAN/ZSCAN's check: the cursor only. Redis reads the options once the key is
    found with the right type: a missing key answers an empty scan whatever they are."""
    return INVALID_CURSOR if parse_cursor(args[2]) is None else None


def parse_scan(args: list[bytes], first_option: int, *, allow_type: bool) -> tuple | ReplyError:
    """cursor at args[first_option - 1], then MATCH / COUNT / (TYPE) -> (cursor, pattern, count, type)."""
    cursor = parse_cursor(args[first_option - 1])
    if cursor is None:
        return INVALID_CURSOR
    pattern = None
    count = 10
    kind = None
    j = first_option
    n = len(args)
    while j < n:
        opt = args[j].lower()
        if j + 1 >= n:
            return SYNTAX
        if opt == b"count":
            count = parse_int(args[j + 1])
            if count is None:
                return NOT_AN_INTEGER
            if count < 1:
                return SYNTAX
        elif opt == b"match":
            pattern = args[j + 1]
        elif opt == b"type" and allow_type:
            kind = args[j + 1].decode("utf-8", "replace").lower()
        else:
            return SYNTAX
        j += 2
    return cursor, pattern, count, kind


def walk(keys, size: int, cursor: int, count: int) -> tuple[int, list]:
    """(next cursor, the slice of `keys` (an iterable in stable order) starting at cursor)."""
    if size <= SMALL_MAX and cursor == 0:
        return 0, list(keys)
    if cursor >= size:
        return 0, []
    # Reaching position `cursor` costs O(cursor) (at C speed), so COUNT is treated
    # as the hint Redis documents it to be: a call returns at least cursor/16
    # elements and a full walk costs O(n) element steps in all.
    # The stop is clamped to size: COUNT may be up to 2^63-1, and cursor + count
    # would pass islice's limit (sys.maxsize).
    chunk = list(islice(keys, cursor, min(size, cursor + max(count, cursor >> 4))))
    nxt = cursor + len(chunk)
    return (0 if nxt >= size else nxt), chunk
