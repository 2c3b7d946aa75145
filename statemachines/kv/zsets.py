"""Sorted-set commands (Redis t_zset.c). A sorted set is a `ZSet`: a dict member -> score and a
SortedList of (score, member), which is Redis' skiplist order (score, then member bytes).

Replies with scores are flat [member, score, ...] lists (RESP2's shape; scores are floats, so
RESP2 sends them as "%.17g" bulk strings like Redis 7.0); the CommandSpec.reply hook pairs them
up for RESP3 clients, as Redis does.
"""

from __future__ import annotations

import random

from sortedcontainers import SortedList

from statemachines import NOT_AN_INTEGER, NULL_ARRAY, ReplyError, Result
from statemachines.keyevents import GENERIC, KEY_MISS, ZSET
from statemachines.kv.hashes import PAIRS_COUNT_RANGE, longest, parse_random_count, random_sample
from statemachines.kv.keyspace import (
    INT64_MAX,
    NOT_FLOAT,
    POSITIVE,
    SYNTAX,
    TYPE_NAMES,
    WRONGTYPE,
    Keyspace,
    normalize_range,
    parse_float,
    parse_int,
    typed_access,
)
from statemachines.kv.lists import parse_mpop
from statemachines.kv.scan import check_key_scan, matcher, parse_scan, walk
from statemachines.kv.sets import LIMIT_NEGATIVE, Set
from statemachines.kv.snapshot import register_codec
from statemachines.kv.table import command, pairs, refusal

INF = float("inf")
NAN_SCORE = ReplyError("ERR resulting score is not a number (NaN)")
NOT_FLOAT_RANGE = ReplyError("ERR min or max is not a float")
NOT_LEX_RANGE = ReplyError("ERR min or max not valid string range item")
SCORE_REPLY_BYTES = 48  # a score in a reply: "%.17g" (at most 24 bytes) and its RESP framing


class ZSet:
    __slots__ = ("scores", "order")

    def __init__(self) -> None:
        self.scores: dict[bytes, float] = {}
        self.order = SortedList()

    def __len__(self) -> int:
        return len(self.scores)

    def add(self, member: bytes, score: float) -> None:
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return
            self.order.remove((old, member))
        self.scores[member] = score
        self.order.add((score, member))

    def remove(self, member: bytes) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.order.remove((score, member))
        return True

    def rank(self, member: bytes) -> int | None:
        score = self.scores.get(member)
        return None if score is None else self.order.index((score, member))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZSet) and self.scores == other.scores


TYPE_NAMES[ZSet] = "zset"


def _encode(z: ZSet) -> list:
    out: list = []
    for score, member in z.order:
        out += (member, score)
    return out


def _decode(flat: list) -> ZSet:
    z = ZSet()
    z.scores = {flat[i]: float(flat[i + 1]) for i in range(0, len(flat), 2)}
    z.order = SortedList((score, member) for member, score in z.scores.items())
    return z


register_codec(4, ZSet, _encode, _decode)

_rng = random.Random()


_read, _write = typed_access(ZSet)


def _done(ks: Keyspace, key: bytes, z: ZSet) -> None:
    if z.scores:
        ks.changed(key)
    else:
        ks.delete(key)


def _notify_removed(ks: Keyspace, event: bytes, key: bytes, z: ZSet) -> None:
    """Redis' events for members removed: the command's, then "del" when the set went empty."""
    ks.notify(ZSET, event, key)
    if not z.scores:
        ks.notify(GENERIC, b"del", key)


def _notify_stored(ks: Keyspace, event: bytes, dst: bytes, stored: bool, existed: bool) -> None:
    """A *STORE's events: its own when it stored a result, "del" when an empty result removed dst."""
    if stored:
        ks.notify(ZSET, event, dst)
    elif existed:
        ks.notify(GENERIC, b"del", dst)


def _flat(items, withscores: bool) -> list:
    if not withscores:
        return [member for _, member in items]
    out: list = []
    for score, member in items:
        out += (member, score)
    return out


def _has_token(args: list[bytes], token: bytes, start: int) -> bool:
    return any(arg.lower() == token for arg in args[start:])


def _reply_withscores(args: list[bytes], result: Result, protocol: int) -> Result:
    if protocol == 3 and type(result) is list and _has_token(args, b"withscores", 2):
        return pairs(result)
    return result


# --- ranges --------------------------------------------------------------------------------
_STRTOD_SPACE = b" \t\n\v\f\r"


def parse_score_bound(raw: bytes) -> tuple[float, bool] | None:
    """ "(1.5" -> (1.5, exclusive); "-inf", "+inf". Redis' zslParseRange: a bare strtod on the C
    string, so (unlike a score) leading spaces are skipped, an overflow is +-inf, an empty
    bound is 0, and a NUL byte ends the text; only NaN and trailing bytes are refused."""
    exclusive = raw[:1] == b"("
    text = (raw[1:] if exclusive else raw).split(b"\0", 1)[0]
    if not text:
        return 0.0, exclusive  # no conversion: strtod's end pointer is at the string's end
    number = text.lstrip(_STRTOD_SPACE)
    if not number or number[-1] in _STRTOD_SPACE or b"_" in number or not number.isascii():
        return None
    value = parse_float(number, overflow_is_infinite=True)
    return None if value is None else (value, exclusive)


def parse_lex_bound(raw: bytes):
    """ "[a" / "(a" / "-" / "+" -> (member, exclusive) with -/+ as sentinels, or None."""
    if raw == b"-":
        return b"-", None
    if raw == b"+":
        return b"+", None
    if raw[:1] == b"[":
        return raw[1:], False
    if raw[:1] == b"(":
        return raw[1:], True
    return None


def _score_slice(z: ZSet, lo, hi) -> tuple[int, int]:
    """Index range [i, j) of the elements with lo <= score <= hi (bounds (value, exclusive))."""
    order = z.order
    i = order.bisect_left((lo[0], b"")) if not lo[1] else order.bisect_right((lo[0], _MAX_MEMBER))
    j = order.bisect_right((hi[0], _MAX_MEMBER)) if not hi[1] else order.bisect_left((hi[0], b""))
    return i, max(i, j)


class _MaxMember(bytes):
    """Compares above every bytes value (the upper sentinel for bisect)."""

    def __lt__(self, other):
        return False

    def __gt__(self, other):
        return True

    def __le__(self, other):
        return self is other

    def __ge__(self, other):
        return True


_MAX_MEMBER = _MaxMember()


def _lex_slice(z: ZSet, lo, hi) -> tuple[int, int]:
    """Index range by member (meaningful when all scores are equal, as in Redis)."""
    order = z.order
    n = len(order)

    def first_at_least(member: bytes, strict: bool) -> int:
        lo_i, hi_i = 0, n
        while lo_i < hi_i:
            mid = (lo_i + hi_i) // 2
            m = order[mid][1]
            if m < member or (strict and m == member):
                lo_i = mid + 1
            else:
                hi_i = mid
        return lo_i

    if lo[1] is None:
        i = 0 if lo[0] == b"-" else n
    else:
        i = first_at_least(lo[0], lo[1])
    if hi[1] is None:
        j = n if hi[0] == b"+" else 0
    else:
        j = first_at_least(hi[0], not hi[1])
    return i, max(i, j)


def _parse_limit_score_lex(args: list[bytes], start: int, *, store: bool, allow: dict) -> dict | ReplyError:
    """The options after the range of ZRANGE and friends (Redis zrangeGenericCommand, step 1)."""
    opts = dict(allow)
    j = start
    n = len(args)
    while j < n:
        word = args[j].lower()
        left = n - j - 1
        if word == b"withscores" and not store:
            opts["withscores"] = True
        elif word == b"limit" and left >= 2:
            offset, limit = parse_int(args[j + 1]), parse_int(args[j + 2])
            if offset is None or limit is None:
                return NOT_AN_INTEGER
            opts["offset"], opts["limit"] = offset, limit
            j += 2
        elif word == b"rev" and opts["rev"] is None:
            opts["rev"] = True
        elif word == b"bylex" and opts["by"] is None:
            opts["by"] = "lex"
        elif word == b"byscore" and opts["by"] is None:
            opts["by"] = "score"
        else:
            return SYNTAX
        j += 1
    opts["rev"] = bool(opts["rev"])
    opts["by"] = opts["by"] or "rank"
    if opts["limit"] != -1 and opts["by"] == "rank":
        return ReplyError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    if opts.get("withscores") and opts["by"] == "lex":
        return ReplyError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    return opts


def parse_zrange(args: list[bytes], first: int, *, store: bool, by: str | None, rev: bool | None):
    """-> (opts, lo, hi) where lo/hi are parsed bounds for the range type, or a ReplyError."""
    allow = {"withscores": False, "offset": 0, "limit": -1, "rev": rev, "by": by}
    opts = _parse_limit_score_lex(args, first + 2, store=store, allow=allow)
    if type(opts) is ReplyError:
        return opts
    lo_raw, hi_raw = args[first], args[first + 1]
    if opts["rev"] and opts["by"] != "rank":
        lo_raw, hi_raw = hi_raw, lo_raw
    if opts["by"] == "rank":
        lo, hi = parse_int(lo_raw), parse_int(hi_raw)
        if lo is None or hi is None:
            return NOT_AN_INTEGER
    elif opts["by"] == "score":
        lo, hi = parse_score_bound(lo_raw), parse_score_bound(hi_raw)
        if lo is None or hi is None:
            return NOT_FLOAT_RANGE
    else:
        lo, hi = parse_lex_bound(lo_raw), parse_lex_bound(hi_raw)
        if lo is None or hi is None:
            return NOT_LEX_RANGE
    return opts, lo, hi


def select(z: ZSet, opts: dict, lo, hi) -> list:
    """The (score, member) items a parsed ZRANGE selects, in reply order."""
    order = z.order
    n = len(order)
    by, rev = opts["by"], opts["rev"]
    if by == "rank":
        bounds = normalize_range(lo, hi, n)
        if bounds is None:
            return []
        start, end = bounds
        if rev:
            return list(order.islice(n - 1 - end, n - start, reverse=True))
        return list(order.islice(start, end + 1))
    i, j = _score_slice(z, lo, hi) if by == "score" else _lex_slice(z, lo, hi)
    offset, limit = opts["offset"], opts["limit"]
    if offset < 0:
        return []
    count = j - i - offset
    if limit >= 0:
        count = min(count, limit)
    if count <= 0:
        return []
    if rev:
        return list(order.islice(j - offset - count, j - offset, reverse=True))
    return list(order.islice(i + offset, i + offset + count))


def _zrange_handler(first: int, *, store: bool, by: str | None, rev: bool | None):
    def handler(ks: Keyspace, args: list[bytes], ms: int) -> Result:
        parsed = parse_zrange(args, first, store=store, by=by, rev=rev)
        if type(parsed) is ReplyError:
            return parsed
        opts, lo, hi = parsed
        src = args[first - 1]
        z = (_write if store else _read)(ks, src, ms)
        if z is WRONGTYPE:
            return z
        items = select(z, opts, lo, hi) if z else []
        if not store:
            return _flat(items, opts["withscores"])
        if z is None:
            ks.notify(KEY_MISS, b"keymiss", src)  # Redis reads the source with lookupKeyRead
        dst = args[1]
        ks.get_for_write(dst, ms)
        if not items:
            _notify_stored(ks, b"zrangestore", dst, False, ks.delete(dst))
            return 0
        out = ZSet()
        for score, member in items:
            out.add(member, score)
        ks.put(dst, out)
        _notify_stored(ks, b"zrangestore", dst, True, True)
        return len(out)

    def check(args: list[bytes]) -> ReplyError | None:
        parsed = parse_zrange(args, first, store=store, by=by, rev=rev)
        return parsed if type(parsed) is ReplyError else None

    return handler, check


def _register_range(name, arity, first, syntax, summary, *, store=False, by=None, rev=None):
    handler, check = _zrange_handler(first, store=store, by=by, rev=rev)
    flags = "write denyoom" if store else "readonly"
    keys = (1, 2, 1) if store else (1, 1, 1)
    command(
        name,
        arity,
        flags,
        keys,
        group="sorted-set",
        syntax=syntax,
        summary=summary,
        check=check,
        reply=None if store else _reply_withscores,
    )(handler)


_register_range(
    "zrange",
    -4,
    2,
    "key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
    "Return a range of members in a sorted set",
)
_register_range(
    "zrangestore",
    -5,
    3,
    "dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]",
    "Store a range of members from sorted set into another key",
    store=True,
)
_register_range(
    "zrevrange",
    -4,
    2,
    "key start stop [WITHSCORES]",
    "Return a range of members in a sorted set, by index, with scores ordered from high to low",
    by="rank",
    rev=True,
)
_register_range(
    "zrangebyscore",
    -4,
    2,
    "key min max [WITHSCORES] [LIMIT offset count]",
    "Return a range of members in a sorted set, by score",
    by="score",
    rev=False,
)
_register_range(
    "zrevrangebyscore",
    -4,
    2,
    "key max min [WITHSCORES] [LIMIT offset count]",
    "Return a range of members in a sorted set, by score, with scores ordered from high to low",
    by="score",
    rev=True,
)
_register_range(
    "zrangebylex",
    -4,
    2,
    "key min max [LIMIT offset count]",
    "Return a range of members in a sorted set, by lexicographical range",
    by="lex",
    rev=False,
)
_register_range(
    "zrevrangebylex",
    -4,
    2,
    "key max min [LIMIT offset count]",
    "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings",
    by="lex",
    rev=True,
)


# --- ZADD / ZINCRBY -----------------------------------------------------------------------
Z_NX, Z_XX, Z_GT, Z_LT, Z_CH, Z_INCR = 1, 2, 4, 8, 16, 32
_ZADD_FLAGS = {b"nx": Z_NX, b"xx": Z_XX, b"gt": Z_GT, b"lt": Z_LT, b"ch": Z_CH, b"incr": Z_INCR}


def parse_zadd(args: list[bytes]) -> tuple[int, list[tuple[float, bytes]]] | ReplyError:
    flags = 0
    j = 2
    while j < len(args):
        flag = _ZADD_FLAGS.get(args[j].lower())
        if flag is None:
            break
        flags |= flag
        j += 1
    elements = len(args) - j
    if elements % 2 or not elements:
        return SYNTAX
    if flags & Z_NX and flags & Z_XX:
        return ReplyError("ERR XX and NX options at the same time are not compatible")
    if (flags & Z_GT and flags & Z_NX) or (flags & Z_LT and flags & Z_NX) or (flags & Z_GT and flags & Z_LT):
        return ReplyError("ERR GT, LT, and/or NX options at the same time are not compatible")
    if flags & Z_INCR and elements > 2:
        return ReplyError("ERR INCR option supports a single increment-element pair")
    out = []
    for i in range(j, len(args), 2):
        score = parse_float(args[i])
        if score is None:
            return NOT_FLOAT
        out.append((score, args[i + 1]))
    return flags, out


def _zadd(ks: Keyspace, key: bytes, ts: int, flags: int, items) -> Result:
    z = _write(ks, key, ts)
    if z is WRONGTYPE:
        return z
    incr = flags & Z_INCR
    if z is None:
        if flags & Z_XX:
            return None if incr else 0
        z = ZSet()
        ks.put(key, z)
    added = updated = 0
    result: Result = None
    for score, member in items:
        current = z.scores.get(member)
        if current is not None:
            if flags & Z_NX:
                continue
            if incr:
                score = current + score
                if score != score:
                    _done(ks, key, z)
                    return NAN_SCORE  # INCR has one member: nothing was added or updated
            if (flags & Z_GT and score <= current) or (flags & Z_LT and score >= current):
                continue
            if score != current:
                z.add(member, score)
                updated += 1
            result = score
        else:
            if flags & Z_XX:
                continue
            z.add(member, score)
            added += 1
            result = score
    _done(ks, key, z)
    if added or updated:
        if ks.keyspace_event is not None:
            ks.notify(ZSET, b"zincr" if incr else b"zadd", key)
    if incr:
        return result
    return added + updated if flags & Z_CH else added


def zadd_scores(ks: Keyspace, key: bytes, ts: int, flags: int, items: list[tuple[float, bytes]]) -> Result:
    """ZADD's effect with these flags (Z_NX, Z_XX, Z_CH) and (score, member) pairs: GEOADD's,
    which Redis implements by handing zaddCommand the scores it computed (geo.py)."""
    return _zadd(ks, key, ts, flags, items)


_check_zadd = refusal(parse_zadd)


@command(
    "zadd",
    -4,
    "write denyoom fast",
    group="sorted-set",
    syntax="key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]",
    check=_check_zadd,
    summary="Add one or more members to a sorted set, or update its score if it already exists",
)
def cmd_zadd(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_zadd(args)
    if type(parsed) is ReplyError:
        return parsed
    flags, items = parsed
    return _zadd(ks, args[1], ts, flags, items)


@command(
    "zincrby",
    4,
    "write denyoom fast",
    group="sorted-set",
    syntax="key increment member",
    summary="Increment the score of a member in a sorted set",
    check=lambda args: NOT_FLOAT if parse_float(args[2]) is None else None,
)
def cmd_zincrby(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    by = parse_float(args[2])
    if by is None:
        return NOT_FLOAT
    return _zadd(ks, args[1], ts, Z_INCR, [(by, args[3])])


@command(
    "zrem",
    -3,
    "write fast",
    group="sorted-set",
    syntax="key member [member ...]",
    summary="Remove one or more members from a sorted set",
)
def cmd_zrem(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    z = _write(ks, args[1], ts)
    if z is None or z is WRONGTYPE:
        return z or 0
    removed = sum(1 for member in args[2:] if z.remove(member))
    if removed:
        _done(ks, args[1], z)
        _notify_removed(ks, b"zrem", args[1], z)
    return removed


@command(
    "zcard", 2, "readonly fast", group="sorted-set", syntax="key", summary="Get the number of members in a sorted set"
)
def cmd_zcard(ks: Keyspace, args: list[bytes], now: int) -> Result:
    z = _read(ks, args[1], now)
    return z if z is WRONGTYPE else len(z or ())


@command(
    "zscore",
    3,
    "readonly fast",
    group="sorted-set",
    syntax="key member",
    summary="Get the score associated with the given member in a sorted set",
)
def cmd_zscore(ks: Keyspace, args: list[bytes], now: int) -> Result:
    z = _read(ks, args[1], now)
    if z is None or z is WRONGTYPE:
        return z
    return z.scores.get(args[2])


@command(
    "zmscore",
    -3,
    "readonly fast",
    group="sorted-set",
    syntax="key member [member ...]",
    summary="Get the score associated with the given members in a sorted set",
)
def cmd_zmscore(ks: Keyspace, args: list[bytes], now: int) -> Result:
    z = _read(ks, args[1], now)
    if z is WRONGTYPE:
        return z
    scores = z.scores if z else {}
    return [scores.get(member) for member in args[2:]]


def _rank(rev: bool):
    def handler(ks: Keyspace, args: list[bytes], now: int) -> Result:
        z = _read(ks, args[1], now)
        if z is None or z is WRONGTYPE:
            return z
        rank = z.rank(args[2])
        if rank is None:
            return None
        return len(z) - 1 - rank if rev else rank

    return handler


command(
    "zrank",
    3,
    "readonly fast",
    group="sorted-set",
    syntax="key member",
    summary="Determine the index of a member in a sorted set",
)(_rank(False))
command(
    "zrevrank",
    3,
    "readonly fast",
    group="sorted-set",
    syntax="key member",
    summary="Determine the index of a member in a sorted set, with scores ordered from high to low",
)(_rank(True))


def _count(lex: bool):
    def check(args: list[bytes]) -> ReplyError | None:
        if lex:
            return NOT_LEX_RANGE if parse_lex_bound(args[2]) is None or parse_lex_bound(args[3]) is None else None
        return NOT_FLOAT_RANGE if parse_score_bound(args[2]) is None or parse_score_bound(args[3]) is None else None

    def handler(ks: Keyspace, args: list[bytes], now: int) -> Result:
        error = check(args)
        if error is not None:
            return error
        z = _read(ks, args[1], now)
        if z is WRONGTYPE or not z:
            return z or 0
        parse = parse_lex_bound if lex else parse_score_bound
        i, j = (_lex_slice if lex else _score_slice)(z, parse(args[2]), parse(args[3]))
        return j - i

    return handler, check


_h, _c = _count(False)
command(
    "zcount",
    4,
    "readonly fast",
    group="sorted-set",
    syntax="key min max",
    check=_c,
    summary="Count the members in a sorted set with scores within the given values",
)(_h)
_h, _c = _count(True)
command(
    "zlexcount",
    4,
    "readonly fast",
    group="sorted-set",
    syntax="key min max",
    check=_c,
    summary="Count the number of members in a sorted set between a given lexicographical range",
)(_h)


def _remrange(by: str):
    def check(args: list[bytes]) -> ReplyError | None:
        parsed = parse_zrange(args[:4], 2, store=False, by=by, rev=False)
        return parsed if type(parsed) is ReplyError else None

    def handler(ks: Keyspace, args: list[bytes], ts: int) -> Result:
        parsed = parse_zrange(args[:4], 2, store=False, by=by, rev=False)
        if type(parsed) is ReplyError:
            return parsed
        opts, lo, hi = parsed
        z = _write(ks, args[1], ts)
        if z is WRONGTYPE or not z:
            return z or 0
        items = select(z, opts, lo, hi)
        for _, member in items:
            z.remove(member)
        if items:
            _done(ks, args[1], z)
            _notify_removed(ks, b"zremrangeby" + by.encode(), args[1], z)
        return len(items)

    return handler, check


for _by, _name, _syntax in (
    ("rank", "zremrangebyrank", "key start stop"),
    ("score", "zremrangebyscore", "key min max"),
    ("lex", "zremrangebylex", "key min max"),
):
    _h, _c = _remrange(_by)
    command(
        _name,
        4,
        "write",
        group="sorted-set",
        syntax=_syntax,
        check=_c,
        summary=f"Remove all members in a sorted set within the given {_by} range",
    )(_h)


def _pop_items(z: ZSet, count: int, maximum: bool) -> list:
    count = min(count, len(z))
    order = z.order
    items = (
        list(order.islice(len(order) - count, len(order), reverse=True)) if maximum else list(order.islice(0, count))
    )
    for _, member in items:
        z.remove(member)
    return items


def _zpop(maximum: bool):
    def check(args: list[bytes]) -> ReplyError | None:
        if len(args) > 3:
            return SYNTAX
        if len(args) == 3:
            count = parse_int(args[2])
            if count is None:
                return NOT_AN_INTEGER
            if count < 0:
                return POSITIVE
        return None

    def handler(ks: Keyspace, args: list[bytes], ts: int) -> Result:
        error = check(args)
        if error is not None:
            return error
        z = _write(ks, args[1], ts)
        if z is WRONGTYPE:
            return z
        if not z:
            return []
        items = _pop_items(z, 1 if len(args) == 2 else parse_int(args[2]), maximum)
        if items:
            _done(ks, args[1], z)
            _notify_removed(ks, b"zpopmax" if maximum else b"zpopmin", args[1], z)
        return _flat(items, True)

    def reply(args: list[bytes], result: Result, protocol: int) -> Result:
        return pairs(result) if protocol == 3 and len(args) == 3 and type(result) is list else result

    return handler, check, reply


for _max, _name in ((False, "zpopmin"), (True, "zpopmax")):
    _h, _c, _r = _zpop(_max)
    command(
        _name,
        -2,
        "write fast",
        group="sorted-set",
        syntax="key [count]",
        check=_c,
        reply=_r,
        summary=f"Remove and return members with the {'highest' if _max else 'lowest'} scores in a sorted set",
    )(_h)


def _check_zmpop(args: list[bytes]) -> ReplyError | None:
    parsed = parse_mpop(args, (b"min", b"max"))
    return parsed if type(parsed) is ReplyError else None


def _reply_zmpop(args: list[bytes], result: Result, protocol: int) -> Result:
    return NULL_ARRAY if result is None else result


@command(
    "zmpop",
    -4,
    "write movablekeys",
    (0, 0, 0),
    group="sorted-set",
    syntax="numkeys key [key ...] MIN | MAX [COUNT count]",
    summary="Remove and return members with scores in a sorted set",
    check=_check_zmpop,
    reply=_reply_zmpop,
)
def cmd_zmpop(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_mpop(args, (b"min", b"max"))
    if type(parsed) is ReplyError:
        return parsed
    keys, where, count = parsed
    for key in keys:
        z = _write(ks, key, ts)
        if z is WRONGTYPE:
            return z
        if z:
            items = _pop_items(z, count, where == b"max")
            _done(ks, key, z)
            _notify_removed(ks, b"zpop" + where, key, z)
            return [key, pairs(_flat(items, True))]  # pairs in RESP2 too, as Redis 7.0 sends them
    return None


def _check_zrandmember(args: list[bytes]) -> ReplyError | None:
    if len(args) >= 3:
        count = parse_random_count(args[2])
        if type(count) is ReplyError:
            return count
    if (len(args) == 4 and args[3].lower() != b"withscores") or len(args) > 4:
        return SYNTAX
    if len(args) == 4 and not -INT64_MAX // 2 <= count <= INT64_MAX // 2:
        return PAIRS_COUNT_RANGE
    return None


@command(
    "zrandmember",
    -2,
    "readonly",
    group="sorted-set",
    syntax="key [count [WITHSCORES]]",
    summary="Get one or multiple random elements from a sorted set",
    check=_check_zrandmember,
    reply=lambda args, result, protocol: (
        pairs(result) if protocol == 3 and len(args) == 4 and type(result) is list else result
    ),
)
def cmd_zrandmember(ks: Keyspace, args: list[bytes], now: int) -> Result:
    error = _check_zrandmember(args)
    if error is not None:
        return error
    z = _read(ks, args[1], now)
    if z is WRONGTYPE:
        return z
    if len(args) == 2:
        return _rng.choice(list(z.scores)) if z else None
    count = parse_int(args[2])
    if not z:
        return []
    item_bytes = longest(z.scores) + (SCORE_REPLY_BYTES if len(args) == 4 else 0)
    members = random_sample(list(z.scores), count, _rng, item_bytes)
    if type(members) is ReplyError:
        return members
    if len(args) == 4:
        out: list = []
        for member in members:
            out += (member, z.scores[member])
        return out
    return members


# --- ZUNION / ZINTER / ZDIFF ----------------------------------------------------------------
def parse_setop(args: list[bytes], op: str, *, store: bool):
    """-> (keys, weights, aggregate, withscores) or a ReplyError (zunionInterDiffGenericCommand)."""
    first = 2 if store else 1
    numkeys = parse_int(args[first])
    name = args[0].decode("utf-8", "replace").lower()
    if numkeys is None:
        return NOT_AN_INTEGER
    if numkeys < 1:
        return ReplyError(f"ERR at least 1 input key is needed for '{name}' command")
    if numkeys > len(args) - first - 1:
        return SYNTAX
    keys = args[first + 1 : first + 1 + numkeys]
    weights = [1.0] * numkeys
    aggregate = "sum"
    withscores = False
    j = first + 1 + numkeys
    n = len(args)
    while j < n:
        word = args[j].lower()
        left = n - j - 1
        if op != "diff" and word == b"weights" and left >= numkeys:
            for i in range(numkeys):
                weight = parse_float(args[j + 1 + i])
                if weight is None:
                    return ReplyError("ERR weight value is not a float")
                weights[i] = weight
            j += numkeys
        elif op != "diff" and word == b"aggregate" and left >= 1:
            agg = args[j + 1].lower()
            if agg not in (b"sum", b"min", b"max"):
                return SYNTAX
            aggregate = agg.decode()
            j += 1
        elif not store and word == b"withscores":
            withscores = True
        else:
            return SYNTAX
        j += 1
    return keys, weights, aggregate, withscores


def _as_scores(value) -> dict:
    return value.scores if type(value) is ZSet else dict.fromkeys(value, 1.0)


def _combine(sources: list, op: str, weights: list[float], aggregate: str) -> dict[bytes, float]:
    def weighted(score: float, weight: float) -> float:
        value = score * weight
        return 0.0 if value != value else value

    def agg(a: float, b: float) -> float:
        if aggregate == "sum":
            value = a + b
            return 0.0 if value != value else value
        return min(a, b) if aggregate == "min" else max(a, b)

    if op == "union":
        out: dict[bytes, float] = {}
        for scores, weight in zip(sources, weights):
            for member, score in scores.items():
                value = weighted(score, weight)
                out[member] = agg(out[member], value) if member in out else value
        return out
    if op == "inter":
        if any(not s for s in sources):
            return {}
        out = {}
        first = sources[0]
        for member, score in first.items():
            value = weighted(score, weights[0])
            for other, weight in zip(sources[1:], weights[1:]):
                if member not in other:
                    break
                value = agg(value, weighted(other[member], weight))
            else:
                out[member] = value
        return out
    first, others = sources[0], sources[1:]
    return {member: score for member, score in first.items() if not any(member in o for o in others)}


def _setop(op: str, store: bool):
    def check(args: list[bytes]) -> ReplyError | None:
        parsed = parse_setop(args, op, store=store)
        return parsed if type(parsed) is ReplyError else None

    def handler(ks: Keyspace, args: list[bytes], ms: int) -> Result:
        parsed = parse_setop(args, op, store=store)
        if type(parsed) is ReplyError:
            return parsed
        keys, weights, aggregate, withscores = parsed
        get = ks.get_for_write if store else ks.get
        sources = []
        for key in keys:
            value = get(key, ms)
            if value is None:
                if store:
                    ks.notify(KEY_MISS, b"keymiss", key)  # Redis reads the sources with lookupKeyRead
                sources.append({})
            elif type(value) is ZSet or type(value) is Set:
                sources.append(_as_scores(value))
            else:
                return WRONGTYPE
        result = _combine(sources, op, weights, aggregate)
        z = ZSet()
        for member, score in result.items():
            z.add(member, score)
        if store:
            ks.get_for_write(args[1], ms)
            if z:
                ks.put(args[1], z)
            existed = ks.delete(args[1]) if not z else True
            _notify_stored(ks, b"z" + op.encode() + b"store", args[1], bool(z), existed)
            return len(z)
        return _flat(z.order, withscores)

    return handler, check


for _op, _what in (
    ("union", "Add multiple sorted sets"),
    ("inter", "Intersect multiple sorted sets"),
    ("diff", "Subtract multiple sorted sets"),
):
    _opts = "" if _op == "diff" else " [WEIGHTS weight [weight ...]] [AGGREGATE SUM | MIN | MAX]"
    _h, _c = _setop(_op, False)
    command(
        "z" + _op,
        -3,
        "readonly movablekeys",
        (0, 0, 0),
        group="sorted-set",
        syntax="numkeys key [key ...]" + _opts + " [WITHSCORES]",
        summary=_what,
        check=_c,
        reply=_reply_withscores,
    )(_h)
    _h, _c = _setop(_op, True)
    command(
        "z" + _op + "store",
        -4,
        "write denyoom movablekeys",
        (1, 1, 1),
        group="sorted-set",
        syntax="destination numkeys key [key ...]" + _opts,
        check=_c,
        summary=_what + " and store the resulting sorted set in a new key",
    )(_h)


def parse_zintercard(args: list[bytes]) -> tuple[list[bytes], int] | ReplyError:
    """numkeys key [key ...] [LIMIT limit], with zunionInterDiffGenericCommand's errors."""
    numkeys = parse_int(args[1])
    if numkeys is None:
        return NOT_AN_INTEGER
    if numkeys < 1:
        return ReplyError("ERR at least 1 input key is needed for 'zintercard' command")
    if numkeys > len(args) - 2:
        return SYNTAX
    limit, j = 0, 2 + numkeys
    while j < len(args):
        if args[j].lower() != b"limit" or j + 1 >= len(args):
            return SYNTAX
        limit = parse_int(args[j + 1])
        if limit is None or limit < 0:
            return LIMIT_NEGATIVE
        j += 2
    return args[2 : 2 + numkeys], limit


@command(
    "zintercard",
    -3,
    "readonly movablekeys",
    (0, 0, 0),
    group="sorted-set",
    syntax="numkeys key [key ...] [LIMIT limit]",
    summary="Intersect multiple sorted sets and return the cardinality of the result",
    check=refusal(parse_zintercard),
)
def cmd_zintercard(ks: Keyspace, args: list[bytes], now: int) -> Result:
    parsed = parse_zintercard(args)
    if type(parsed) is ReplyError:
        return parsed
    keys, limit = parsed
    sources = []
    for key in keys:
        value = ks.get(key, now)
        if value is None:
            sources.append({})
        elif type(value) is ZSet or type(value) is Set:
            sources.append(_as_scores(value))
        else:
            return WRONGTYPE
    count = len(_combine(sources, "inter", [1.0] * len(sources), "sum"))
    return min(count, limit) if limit else count


@command(
    "zscan",
    -3,
    "readonly",
    group="sorted-set",
    syntax="key cursor [MATCH pattern] [COUNT count]",
    summary="Incrementally iterate sorted sets elements and associated scores",
    check=check_key_scan,
)
def cmd_zscan(ks: Keyspace, args: list[bytes], now: int) -> Result:
    error = check_key_scan(args)
    if error is not None:
        return error
    z = _read(ks, args[1], now)
    if z is WRONGTYPE:
        return z
    if not z:
        return [b"0", []]
    parsed = parse_scan(args, 3, allow_type=False)
    if type(parsed) is ReplyError:
        return parsed
    cursor, pattern, count, _ = parsed
    nxt, members = walk(iter(z.scores), len(z), cursor, count)
    match = matcher(pattern)
    out: list = []
    for member in members:
        if match is None or match(member):
            out += (member, z.scores[member])
    return [b"%d" % nxt, out]
