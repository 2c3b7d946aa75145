"""Glob patterns (Redis' stringmatchlen) and the cursor walk shared by SCAN, HSCAN, SSCAN, ZSCAN, KEYS.

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

import re
from functools import lru_cache
from itertools import islice

from statemachines import NOT_AN_INTEGER, ReplyError
from statemachines.kv.keyspace import SYNTAX, parse_int

SMALL_MAX = 128
INVALID_CURSOR = ReplyError("ERR invalid cursor")


@lru_cache(maxsize=256)
def _compile(pattern: bytes) -> re.Pattern[bytes]:
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i : i + 1]
        if c == b"*":
            out.append(b".*")
        elif c == b"?":
            out.append(b".")
        elif c == b"\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i : i + 1]))
        elif c == b"[":
            j = i + 1
            negate = j < n and pattern[j : j + 1] == b"^"
            if negate:
                j += 1
            items = []
            while j < n and pattern[j : j + 1] != b"]":
                if pattern[j : j + 1] == b"\\" and j + 1 < n:
                    j += 1
                    items.append(re.escape(pattern[j : j + 1]))
                elif j + 2 < n and pattern[j + 1 : j + 2] == b"-" and pattern[j + 2 : j + 3] != b"]":
                    lo, hi = sorted((pattern[j], pattern[j + 2]))
                    items.append(re.escape(bytes([lo])) + b"-" + re.escape(bytes([hi])))
                    j += 2
                else:
                    items.append(re.escape(pattern[j : j + 1]))
                j += 1
            i = j  # at the ']' (or the end: Redis treats an unclosed class as closed)
            body = b"".join(items)
            if not body:
                out.append(b"[^\\x00-\\xff]" if not negate else b"[\\x00-\\xff]")
            else:
                out.append(b"[" + (b"^" if negate else b"") + body + b"]")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile(b"".join(out) + b"\\Z", re.DOTALL)


def matcher(pattern: bytes | None):
    """A predicate for a glob, or None when everything matches."""
    if pattern is None or pattern == b"*":
        return None
    return _compile(pattern).match


def parse_scan(args: list[bytes], first_option: int, *, allow_type: bool) -> tuple | ReplyError:
    """cursor at args[first_option - 1], then MATCH / COUNT / (TYPE) -> (cursor, pattern, count, type)."""
    raw = args[first_option - 1]
    cursor = parse_int(raw) if raw[:1] != b"-" else None
    if cursor is None:
        try:  # Redis parses the cursor as unsigned long long
            cursor = int(raw) if raw.isdigit() and int(raw) < 1 << 64 else None
        except ValueError:
            cursor = None
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
    chunk = list(islice(keys, cursor, cursor + max(count, cursor >> 4)))
    nxt = cursor + len(chunk)
    return (0 if nxt >= size else nxt), chunk
