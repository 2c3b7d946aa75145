"""SORT and SORT_RO (Redis 7.0 sort.c): lists, sets and sorted sets sorted numerically or
ALPHA, by the elements or BY a pattern's values, LIMITed, with GET patterns, optionally
STOREd as a list.

Patterns (lookupKeyByPattern): "#" is the element itself; otherwise the first `*` is replaced
by the element and the result names a string key, or with `->field` after the `*` a hash
field; a pattern without `*` names nothing (a BY without `*` means "do not sort": a list or
sorted set keeps its own order, LIMIT and DESC applied to it; a set STOREd is sorted ALPHA so
the result is the same on every replica). A BY or GET of a missing key, of the wrong type or
of a missing field finds nothing: BY weighs it 0 (ALPHA: before everything), GET answers nil
(STORE: an empty string).

Numbers are read as strtod reads them (leading spaces, hex, inf; not NaN, not out of range):
any other answers "One or more scores can't be converted into double". Equal weights are
ordered by the elements' bytes, so the result is deterministic; ALPHA compares bytes (Redis
uses strcoll, which is byte order in the C locale redis-server runs in here). Equal ALPHA
weights keep the element order they were read in (Python's sort is stable).

Flags as Redis': SORT is a write (denyoom), so a SORT without STORE also goes through the
log (the command model decides write or read per command, not per call); SORT_RO is the
read a follower serves.

Bounded: sorting is O(n log n) in the elements; every lookup is one per element and BY or
GET pattern, and the lookups one command may make are capped at LOOKUPS_MAX or one per
element, whichever is more (GET patterns are the client's to multiply); a reply larger than
REPLY_BYTES_MAX is refused as it is built.
"""

from __future__ import annotations

from itertools import islice

from statemachines import NOT_AN_INTEGER, REPLY_BYTES_MAX, REPLY_ITEM_OVERHEAD, ReplyError, Result
from statemachines.keyevents import GENERIC, LIST
from statemachines.kv.hashes import Hash
from statemachines.kv.keyspace import SYNTAX, WRONGTYPE, Keyspace, parse_float, parse_int
from statemachines.kv.lists import List
from statemachines.kv.sets import Set
from statemachines.kv.table import command
from statemachines.kv.zsets import ZSet

NOT_DOUBLE = ReplyError("ERR One or more scores can't be converted into double")
LOOKUPS_MAX = 1 << 22
REPLY_TOO_LARGE = ReplyError(f"ERR SORT reply would exceed the reply limit of {REPLY_BYTES_MAX} bytes")
TOO_MANY_LOOKUPS = ReplyError(f"ERR SORT would make more than {LOOKUPS_MAX} GET lookups")
_SPACES = b" \t\n\v\f\r"


class SortOptions:
    __slots__ = ("desc", "alpha", "start", "count", "by", "gets", "store")

    def __init__(self) -> None:
        self.desc = self.alpha = False
        self.start, self.count = 0, -1
        self.by: bytes | None = None
        self.gets: list[bytes] = []
        self.store: bytes | None = None


def parse_sort(args: list[bytes], readonly: bool) -> SortOptions | ReplyError:
    """sortCommandGeneric's option loop: the first bad word answers."""
    opts = SortOptions()
    j, n = 2, len(args)
    while j < n:
        word, left = args[j].lower(), n - j - 1
        if word == b"asc":
            opts.desc = False
        elif word == b"desc":
            opts.desc = True
        elif word == b"alpha":
            opts.alpha = True
        elif word == b"limit" and left >= 2:
            start, count = parse_int(args[j + 1]), parse_int(args[j + 2])
            if start is None or count is None:
                return NOT_AN_INTEGER
            opts.start, opts.count = start, count
            j += 2
        elif word == b"store" and left >= 1 and not readonly:
            opts.store = args[j + 1]
            j += 1
        elif word == b"by" and left >= 1:
            opts.by = args[j + 1]
            j += 1
        elif word == b"get" and left >= 1:
            opts.gets.append(args[j + 1])
            j += 1
        else:
            return SYNTAX
        j += 1
    return opts


def check_sort(args: list[bytes]) -> ReplyError | None:
    parsed = parse_sort(args, readonly=False)
    return parsed if isinstance(parsed, ReplyError) else None


def check_sort_ro(args: list[bytes]) -> ReplyError | None:
    parsed = parse_sort(args, readonly=True)
    return parsed if isinstance(parsed, ReplyError) else None


def lookup(ks: Keyspace, pattern: bytes, element: bytes, ms: int) -> bytes | None:
    """lookupKeyByPattern: the string or hash field the pattern names for this element."""
    if pattern == b"#":
        return element
    c_pattern = pattern.split(b"\0", 1)[0]  # strchr / strstr stop at a NUL
    star = c_pattern.find(b"*")
    if star < 0:
        return None
    arrow = c_pattern.find(b"->", star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(c_pattern):
        field = pattern[arrow + 2 :]
        postfix = pattern[star + 1 : arrow]
    else:
        postfix = pattern[star + 1 :]
    value = ks.get(pattern[:star] + element + postfix, ms)
    if field is None:
        return value if type(value) is bytes else None
    return value.get(field) if type(value) is Hash else None


def strtod(raw: bytes) -> float | None:
    """A weight as sortCommand reads it: strtod over the whole C string, not NaN, not ERANGE."""
    raw = raw.split(b"\0", 1)[0]
    if not raw:
        return 0.0  # nothing parsed, and *eptr is the end: Redis takes it as 0
    return parse_float(raw.lstrip(_SPACES)) if raw[0] in _SPACES else parse_float(raw)


def _limits(opts: SortOptions, size: int) -> tuple[int, int]:
    """LIMIT clamped as Redis clamps it: (start, end) inclusive; end < start is empty."""
    start = min(max(opts.start, 0), size)
    count = min(max(opts.count, -1), size)
    end = size - 1 if count < 0 else start + count - 1
    if start >= size:
        start, end = size - 1, size - 2
    return start, min(end, size - 1)


def sort_generic(ks: Keyspace, args: list[bytes], ms: int, readonly: bool) -> Result:
    opts = parse_sort(args, readonly)
    if isinstance(opts, ReplyError):
        return opts
    value = ks.get(args[1], ms)
    kind = type(value)
    if value is not None and kind not in (List, Set, ZSet):
        return WRONGTYPE
    dontsort = opts.by is not None and b"*" not in opts.by.split(b"\0", 1)[0]
    by, alpha = opts.by, opts.alpha
    if dontsort and kind is Set and opts.store is not None:
        dontsort, alpha, by = False, True, None  # a stored set must be the same on every replica
    size = 0 if value is None else len(value)
    start, end = _limits(opts, size)

    if dontsort:  # the value's own order, DESC and LIMIT applied to it
        if kind is ZSet:
            members = (member for _, member in (reversed(value.order) if opts.desc else value.order))
        elif kind is List:
            members = reversed(value) if opts.desc else iter(value)
        else:
            members = iter(value or ())
        chosen = list(islice(members, max(start, 0), end + 1)) if end >= start else []
    else:
        elements = list(value.scores if kind is ZSet else value) if value is not None else []
        chosen = _sorted(ks, elements, by, alpha, opts.desc, ms)
        if isinstance(chosen, ReplyError):
            return chosen
        chosen = chosen[start : end + 1] if end >= start else []
    return _output(ks, chosen, opts, ms)


def _sorted(ks: Keyspace, elements: list[bytes], by: bytes | None, alpha: bool, desc: bool, ms: int):
    if alpha:
        if by is None:
            elements.sort(reverse=desc)
            return elements
        weights = [lookup(ks, by, element, ms) for element in elements]  # None (nothing found) sorts first
        # reverse=True keeps equal weights in their order, as a stable sort with Redis' negated comparison does
        order = sorted(range(len(elements)), key=lambda i: (weights[i] is not None, weights[i] or b""), reverse=desc)
        return [elements[i] for i in order]
    keyed = []
    for element in elements:
        raw = element if by is None else lookup(ks, by, element, ms)
        score = 0.0 if raw is None else strtod(raw)
        if score is None:
            return NOT_DOUBLE
        keyed.append((score, element))
    keyed.sort(reverse=desc)
    return [element for _, element in keyed]


def _output(ks: Keyspace, chosen: list[bytes], opts: SortOptions, ms: int) -> Result:
    gets = opts.gets
    if gets and len(chosen) * len(gets) > max(len(chosen), LOOKUPS_MAX):
        return TOO_MANY_LOOKUPS
    if opts.store is None:
        out: list[bytes | None] = []
        budget = REPLY_BYTES_MAX
        for element in chosen:
            row = [element] if not gets else [lookup(ks, pattern, element, ms) for pattern in gets]
            for item in row:
                budget -= REPLY_ITEM_OVERHEAD + (len(item) if item is not None else 0)
            if budget < 0:
                return REPLY_TOO_LARGE
            out.extend(row)
        return out
    if not gets:
        stored = List(chosen)
    else:
        stored = List(lookup(ks, pattern, element, ms) or b"" for element in chosen for pattern in gets)
    dest = opts.store
    if stored:
        ks.get_for_write(dest, ms)
        ks.put(dest, stored)
        ks.notify(LIST, b"sortstore", dest)
    elif ks.get_for_write(dest, ms) is not None:
        ks.delete(dest)
        ks.notify(GENERIC, b"del", dest)
    return len(stored)


_SYNTAX = "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA] [STORE destination]"


@command(
    "sort",
    -2,
    "write denyoom movablekeys",
    group="generic",
    syntax=_SYNTAX,
    summary="Sort the elements in a list, set or sorted set",
    check=check_sort,
)
def cmd_sort(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    return sort_generic(ks, args, ts, readonly=False)


@command(
    "sort_ro",
    -2,
    "readonly movablekeys",
    group="generic",
    syntax=_SYNTAX.replace(" [STORE destination]", ""),
    summary="Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
    check=check_sort_ro,
)
def cmd_sort_ro(ks: Keyspace, args: list[bytes], now: int) -> Result:
    return sort_generic(ks, args, now, readonly=True)
