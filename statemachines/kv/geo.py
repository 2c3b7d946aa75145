"""Geo commands (Redis 7.0 src/geo.c): places kept in a sorted set, each member's score its 52-bit
geohash (statemachines/kv/geohash.py). GEOADD is ZADD with computed scores; a search reads only the
members of the nine cells around its centre, so its work is bounded by the data it touches.

Redis looks the key up (and answers WRONGTYPE) before it reads a search's options, and reads a
FROMMEMBER position in the middle of them, so the searches have no `check=`: which error a
malformed search gets depends on the data, and apply (or query) answers it exactly as Redis does.

Replies: distances are "%.4f" bulk strings in both protocols (addReplyDoubleDistance);
coordinates are Redis' "human" long doubles ("%.17Lf" without trailing zeros), bulk strings in
RESP2 and RESP3 doubles with that same text, so the plain result carries them as bytes and a
`reply=` hook marks them `RespDouble` for RESP3 clients. A missing GEOPOS member is a null array.
"""

from __future__ import annotations

from statemachines import NOT_AN_INTEGER, NULL_ARRAY, ReplyError, RespDouble, Result, parse_int
from statemachines.keyevents import GENERIC, KEY_MISS, ZSET
from statemachines.kv.geohash import (
    CIRCULAR,
    LAT_MAX,
    LAT_MIN,
    LONG_MAX,
    LONG_MIN,
    RECTANGLE,
    STEP_MAX,
    WGS84,
    ZERO,
    Shape,
    align_52bits,
    areas_by_shape,
    decode_score,
    distance,
    encode,
    geohash_string,
    within_shape,
)
from statemachines.kv.keyspace import NOT_FLOAT, SYNTAX, WRONGTYPE, Keyspace, parse_float, typed_access
from statemachines.kv.table import command, refusal
from statemachines.kv.zsets import Z_CH, Z_NX, Z_XX, ZSet, zadd_scores

UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}
UNSUPPORTED_UNIT = ReplyError("ERR unsupported unit provided. please use M, KM, FT, MI")
NOT_DECODABLE = ReplyError("ERR could not decode requested zset member")
COUNT_POSITIVE = ReplyError("ERR COUNT must be > 0")

_read, _write = typed_access(ZSet)


def _word(arg: bytes) -> bytes:
    """An option as strcasecmp sees it: the C string ends at the first NUL byte."""
    return arg.split(b"\0", 1)[0].lower()


# --- replies -------------------------------------------------------------------------------
def distance_text(value: float) -> bytes:
    """fixedpoint_d2string(value, 4): llrint(value * 10000) printed with four decimals; a NaN or
    an out-of-range value is llrint's LLONG_MIN, as on x86-64."""
    if value == 0:
        return b"0.0000"
    scaled = value * 10000.0
    fixed = round(scaled) if -9.223372036854775808e18 <= scaled < 9.223372036854775808e18 else -(1 << 63)
    digits = b"%05d" % abs(fixed)
    return (b"-" if fixed < 0 else b"") + digits[:-4] + b"." + digits[-4:]


def human_text(value: float) -> bytes:
    """ld2string(value, LD_STR_HUMAN): "%.17Lf" of the (exact) value, trailing zeros and a bare
    point dropped, "-0" made "0"."""
    if value in (float("inf"), float("-inf")):
        return b"inf" if value > 0 else b"-inf"
    text = b"%.17f" % value
    if b"." in text:
        text = text.rstrip(b"0").rstrip(b".")
    return b"0" if text == b"-0" else text


def _coords(x: float, y: float) -> list[bytes]:
    return [human_text(x), human_text(y)]


def _resp3_coords(pair):
    return [RespDouble(pair[0]), RespDouble(pair[1])]


def _reply_geopos(args: list[bytes], result: Result, protocol: int) -> Result:
    if type(result) is not list:
        return result
    if protocol == 3:
        return [NULL_ARRAY if pair is None else _resp3_coords(pair) for pair in result]
    return [NULL_ARRAY if pair is None else pair for pair in result]


def _reply_search(args: list[bytes], result: Result, protocol: int) -> Result:
    """RESP3: the WITHCOORD pair (always an item's last element, the only nested list) as doubles."""
    if protocol != 3 or type(result) is not list:
        return result
    return [
        item[:-1] + [_resp3_coords(item[-1])] if type(item) is list and type(item[-1]) is list else item
        for item in result
    ]


# --- arguments -----------------------------------------------------------------------------
def parse_unit(raw: bytes) -> float | ReplyError:
    """extractUnitOrReply: metres per unit."""
    return UNITS.get(_word(raw), UNSUPPORTED_UNIT)


def parse_long_lat(raw_long: bytes, raw_lat: bytes) -> tuple[float, float] | ReplyError:
    """extractLongLatOrReply: two floats within Redis' grid (latitudes stop at +-85.05112878)."""
    x = parse_float(raw_long)
    if x is None:
        return NOT_FLOAT
    y = parse_float(raw_lat)
    if y is None:
        return NOT_FLOAT
    if x < LONG_MIN or x > LONG_MAX or y < LAT_MIN or y > LAT_MAX:
        return ReplyError(f"ERR invalid longitude,latitude pair {x:f},{y:f}")
    return x, y


def parse_radius(raw: bytes, raw_unit: bytes) -> tuple[float, float] | ReplyError:
    """extractDistanceOrReply -> (radius, metres per unit)."""
    radius = parse_float(raw)
    if radius is None:
        return ReplyError("ERR need numeric radius")
    if radius < 0:
        return ReplyError("ERR radius cannot be negative")
    unit = parse_unit(raw_unit)
    return unit if type(unit) is ReplyError else (radius, unit)


def parse_box(raw_width: bytes, raw_height: bytes, raw_unit: bytes) -> tuple[float, float, float] | ReplyError:
    """extractBoxOrReply -> (width, height, metres per unit)."""
    width = parse_float(raw_width)
    if width is None:
        return ReplyError("ERR need numeric width")
    height = parse_float(raw_height)
    if height is None:
        return ReplyError("ERR need numeric height")
    if height < 0 or width < 0:
        return ReplyError("ERR height or width cannot be negative")
    unit = parse_unit(raw_unit)
    return unit if type(unit) is ReplyError else (width, height, unit)


# --- GEOADD --------------------------------------------------------------------------------
def parse_geoadd(args: list[bytes]) -> tuple[int, list[tuple[float, bytes]]] | ReplyError:
    """geoaddCommand's checks, then zaddCommand's own (GEOADD hands ZADD the computed scores):
    every error GEOADD can answer comes before the key is read."""
    flags = 0
    first = 2
    while first < len(args):
        option = _word(args[first])
        if option == b"nx":
            flags |= Z_NX
        elif option == b"xx":
            flags |= Z_XX
        elif option == b"ch":
            flags |= Z_CH
        else:
            break
        first += 1
    if (len(args) - first) % 3 or (flags & Z_NX and flags & Z_XX):
        return SYNTAX
    items = []
    for i in range(first, len(args), 3):
        xy = parse_long_lat(args[i], args[i + 1])
        if type(xy) is ReplyError:
            return xy
        bits, step = encode(WGS84, xy[0], xy[1], STEP_MAX)
        items.append((float(align_52bits((bits, step))), args[i + 2]))
    if not items:  # ZADD's "elements == 0" (GEOADD key CH CH CH)
        return SYNTAX
    return flags, items


_check_geoadd = refusal(parse_geoadd)


@command(
    "geoadd",
    -5,
    "write denyoom",
    group="geo",
    syntax="key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]",
    summary="Add one or more geospatial items in the geospatial index represented using a sorted set",
    check=_check_geoadd,
)
def cmd_geoadd(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    parsed = parse_geoadd(args)
    if type(parsed) is ReplyError:
        return parsed
    flags, items = parsed
    return zadd_scores(ks, args[1], ts, flags, items)


# --- GEOPOS / GEOHASH / GEODIST ------------------------------------------------------------
@command(
    "geopos",
    -2,
    "readonly",
    group="geo",
    syntax="key [member [member ...]]",
    summary="Returns longitude and latitude of members of a geospatial index",
    reply=_reply_geopos,
)
def cmd_geopos(ks: Keyspace, args: list[bytes], now: int) -> Result:
    z = _read(ks, args[1], now)
    if z is WRONGTYPE:
        return z
    scores = z.scores if z else {}
    out: list = []
    for member in args[2:]:
        score = scores.get(member)
        out.append(None if score is None else _coords(*decode_score(score)))
    return out


@command(
    "geohash",
    -2,
    "readonly",
    group="geo",
    syntax="key [member [member ...]]",
    summary="Returns members of a geospatial index as standard geohash strings",
)
def cmd_geohash(ks: Keyspace, args: list[bytes], now: int) -> Result:
    z = _read(ks, args[1], now)
    if z is WRONGTYPE:
        return z
    scores = z.scores if z else {}
    out: list = []
    for member in args[2:]:
        score = scores.get(member)
        out.append(None if score is None else geohash_string(score))
    return out


def _check_geodist(args: list[bytes]) -> ReplyError | None:
    if len(args) == 5:
        unit = parse_unit(args[4])
        return unit if type(unit) is ReplyError else None
    return SYNTAX if len(args) > 5 else None


@command(
    "geodist",
    -4,
    "readonly",
    group="geo",
    syntax="key member1 member2 [M | KM | FT | MI]",
    summary="Returns the distance between two members of a geospatial index",
    check=_check_geodist,
)
def cmd_geodist(ks: Keyspace, args: list[bytes], now: int) -> Result:
    error = _check_geodist(args)
    if error is not None:
        return error
    to_meter = parse_unit(args[4]) if len(args) == 5 else 1.0
    z = _read(ks, args[1], now)
    if z is None or z is WRONGTYPE:
        return z
    score1, score2 = z.scores.get(args[2]), z.scores.get(args[3])
    if score1 is None or score2 is None:
        return None
    x1, y1 = decode_score(score1)
    x2, y2 = decode_score(score2)
    return distance_text(distance(x1, y1, x2, y2) / to_meter)


# --- searches ------------------------------------------------------------------------------
RADIUS_COORDS = 1 << 0  # GEORADIUS: around coordinates
RADIUS_MEMBER = 1 << 1  # GEORADIUSBYMEMBER: around a member
RADIUS_NOSTORE = 1 << 2  # the _RO forms: no STORE / STOREDIST
GEOSEARCH = 1 << 3  # GEOSEARCH's arguments (FROMMEMBER / FROMLONLAT, BYRADIUS / BYBOX)
GEOSEARCHSTORE = 1 << 4  # GEOSEARCHSTORE: STOREDIST is a flag, the destination is args[1]

SORT_NONE, SORT_ASC, SORT_DESC = 0, 1, 2


class Search:
    """A parsed search: what georadiusGeneric holds in its locals once the options are read."""

    __slots__ = ("shape", "withdist", "withhash", "withcoord", "sort", "any", "count", "store", "storedist")

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.withdist = self.withhash = self.withcoord = self.any = self.storedist = False
        self.sort = SORT_NONE
        self.count = 0
        self.store: bytes | None = None


def _member_position(z: ZSet, member: bytes) -> tuple[float, float] | None:
    score = z.scores.get(member)
    return None if score is None else decode_score(score)


def parse_search(args: list[bytes], flags: int, z: ZSet | None) -> Search | ReplyError:
    """georadiusGeneric's argument reading, in its order, with its errors. `z` is the source
    sorted set (None when the key is missing: the options are still read, and then an empty
    answer is given, as Redis does)."""
    shape = Shape()
    search = Search(shape)
    if flags & RADIUS_COORDS:
        base = 6
        shape.kind = CIRCULAR
        xy = parse_long_lat(args[2], args[3])
        if type(xy) is ReplyError:
            return xy
        shape.x, shape.y = xy
        radius = parse_radius(args[4], args[5])
        if type(radius) is ReplyError:
            return radius
        shape.radius, shape.conversion = radius
    elif flags & RADIUS_MEMBER:
        base = 5
        if z is not None:
            shape.kind = CIRCULAR
            xy = _member_position(z, args[2])
            if xy is None:
                return NOT_DECODABLE
            shape.x, shape.y = xy
            radius = parse_radius(args[3], args[4])
            if type(radius) is ReplyError:
                return radius
            shape.radius, shape.conversion = radius
    else:
        base = 2
        if flags & GEOSEARCHSTORE:
            base = 3
            search.store = args[1]

    frommember = fromloc = byradius = bybox = False
    may_store = not flags & RADIUS_NOSTORE and not flags & GEOSEARCH
    n = len(args)
    j = base
    while j < n:
        arg = _word(args[j])
        if arg == b"withdist":
            search.withdist = True
        elif arg == b"withhash":
            search.withhash = True
        elif arg == b"withcoord":
            search.withcoord = True
        elif arg == b"any":
            search.any = True
        elif arg == b"asc":
            search.sort = SORT_ASC
        elif arg == b"desc":
            search.sort = SORT_DESC
        elif arg == b"count" and j + 1 < n:
            count = parse_int(args[j + 1])
            if count is None:
                return NOT_AN_INTEGER
            if count <= 0:
                return COUNT_POSITIVE
            search.count = count
            j += 1
        elif arg in (b"store", b"storedist") and j + 1 < n and may_store:
            search.store = args[j + 1]
            search.storedist = arg == b"storedist"
            j += 1
        elif arg == b"storedist" and flags & GEOSEARCHSTORE:
            search.storedist = True
        elif arg == b"frommember" and j + 1 < n and flags & GEOSEARCH and not fromloc:
            if z is not None:
                xy = _member_position(z, args[j + 1])
                if xy is None:
                    return NOT_DECODABLE
                shape.x, shape.y = xy
            frommember = True
            j += 1
        elif arg == b"fromlonlat" and j + 2 < n and flags & GEOSEARCH and not frommember:
            xy = parse_long_lat(args[j + 1], args[j + 2])
            if type(xy) is ReplyError:
                return xy
            shape.x, shape.y = xy
            fromloc = True
            j += 2
        elif arg == b"byradius" and j + 2 < n and flags & GEOSEARCH and not bybox:
            radius = parse_radius(args[j + 1], args[j + 2])
            if type(radius) is ReplyError:
                return radius
            shape.radius, shape.conversion = radius
            shape.kind = CIRCULAR
            byradius = True
            j += 2
        elif arg == b"bybox" and j + 3 < n and flags & GEOSEARCH and not byradius:
            box = parse_box(args[j + 1], args[j + 2], args[j + 3])
            if type(box) is ReplyError:
                return box
            shape.width, shape.height, shape.conversion = box
            shape.kind = RECTANGLE
            bybox = True
            j += 3
        else:
            return SYNTAX
        j += 1

    name = args[0].decode("utf-8", "surrogateescape")
    if search.store is not None and (search.withdist or search.withhash or search.withcoord):
        what = "GEOSEARCHSTORE" if flags & GEOSEARCHSTORE else "STORE option in GEORADIUS"
        return ReplyError(f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    if flags & GEOSEARCH and not (frommember or fromloc):
        return ReplyError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
    if flags & GEOSEARCH and not (byradius or bybox):
        return ReplyError(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")
    if search.any and not search.count:
        return ReplyError("ERR the ANY argument requires COUNT argument")
    return search


def _points_in_box(z: ZSet, box: tuple[int, int], shape: Shape, found: list, limit: int) -> None:
    """membersOfGeoHashBox: the members whose score has the box's prefix (min <= score < max),
    those inside the shape appended as (longitude, latitude, distance, score, member)."""
    low = float(align_52bits(box))
    high = float(align_52bits((box[0] + 1, box[1])))
    order = z.order
    start = order.bisect_left((low, b""))
    for score, member in order.islice(start):
        if score >= high:
            break
        inside = within_shape(shape, score)
        if inside is not None:
            found.append((*inside, score, member))
        if found and limit and len(found) >= limit:
            break


def find_points(z: ZSet, shape: Shape, limit: int) -> list[tuple]:
    """membersOfAllNeighbors: the nine cells in Redis' order, skipping the excluded ones and a
    cell equal to the last one searched (huge radii make neighbours coincide), stopping at
    `limit` points (COUNT n ANY) when it is not 0."""
    boxes = areas_by_shape(shape)
    found: list[tuple] = []
    last = 0
    for i, box in enumerate(boxes):
        if box == ZERO:
            continue
        if last and box == boxes[last]:
            continue
        if found and limit and len(found) >= limit:
            break
        _points_in_box(z, box, shape, found, limit)
        last = i
    return found


def _compare_asc(a: tuple, b: tuple) -> int:
    """sort_gp_asc (NaN distances compare as "less" both ways, as in C)."""
    if a[2] > b[2]:
        return 1
    return 0 if a[2] == b[2] else -1


def _compare_desc(a: tuple, b: tuple) -> int:
    return -_compare_asc(a, b)


def _merge_sort(items: list, cmp) -> list:
    """glibc 2.36's qsort (msort.c: top-down, stable merge), for the inconsistent comparisons
    NaN distances make; with none, Python's stable sort gives the same order."""
    if len(items) <= 1:
        return items
    half = len(items) // 2
    left, right = _merge_sort(items[:half], cmp), _merge_sort(items[half:], cmp)
    out = []
    i = j = 0
    while i < len(left) and j < len(right):
        if cmp(left[i], right[j]) <= 0:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return out + left[i:] + right[j:]


def _med3(a: list, i: int, j: int, k: int, cmp) -> int:
    if cmp(a[i], a[j]) < 0:
        return j if cmp(a[j], a[k]) < 0 else (k if cmp(a[i], a[k]) < 0 else i)
    return j if cmp(a[j], a[k]) > 0 else (i if cmp(a[i], a[k]) < 0 else k)


def partial_sort(a: list, cmp, lrange: int, rrange: int) -> None:
    """Redis' pqsort (src/pqsort.c, Bentley-McIlroy quicksort that only recurses into parts
    overlapping [lrange, rrange]), in place, so the first COUNT results and their order among
    equal distances are Redis' own. An explicit stack replaces the recursion: the parts are
    disjoint, so the order they are sorted in changes nothing."""

    def swap(i: int, j: int) -> None:
        a[i], a[j] = a[j], a[i]

    def vecswap(i: int, j: int, n: int) -> None:
        for k in range(n):
            swap(i + k, j + k)

    def wanted(base: int, n: int) -> bool:
        return not ((lrange < base and rrange < base) or (lrange >= base + n and rrange >= base + n))

    stack = [(0, len(a))]
    while stack:
        base, n = stack.pop()
        if n < 7:
            for pm in range(base + 1, base + n):
                pl = pm
                while pl > base and cmp(a[pl - 1], a[pl]) > 0:
                    swap(pl, pl - 1)
                    pl -= 1
            continue
        pm = base + n // 2
        if n > 7:
            pl, pn = base, base + n - 1
            if n > 40:
                d = n // 8
                pl = _med3(a, pl, pl + d, pl + 2 * d, cmp)
                pm = _med3(a, pm - d, pm, pm + d, cmp)
                pn = _med3(a, pn - 2 * d, pn - d, pn, cmp)
            pm = _med3(a, pl, pm, pn, cmp)
        swap(base, pm)
        pa = pb = base + 1
        pc = pd = base + n - 1
        while True:
            while pb <= pc:
                result = cmp(a[pb], a[base])
                if result > 0:
                    break
                if result == 0:
                    swap(pa, pb)
                    pa += 1
                pb += 1
            while pb <= pc:
                result = cmp(a[pc], a[base])
                if result < 0:
                    break
                if result == 0:
                    swap(pc, pd)
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            swap(pb, pc)
            pb += 1
            pc -= 1
        pn = base + n
        r = min(pa - base, pb - pa)
        vecswap(base, pb - r, r)
        r = min(pd - pc, pn - pd - 1)
        vecswap(pb, pn - r, r)
        r = pb - pa
        if r > 1 and wanted(base, r):
            stack.append((base, r))
        r = pd - pc
        if r > 1 and wanted(pn - r, r):
            stack.append((pn - r, r))


def _sorted(found: list, sort: int, returned: int) -> list:
    cmp = _compare_asc if sort == SORT_ASC else _compare_desc
    if returned < len(found):
        partial_sort(found, cmp, 0, returned - 1)
        return found
    if any(point[2] != point[2] for point in found):
        return _merge_sort(found, cmp)
    return sorted(found, key=lambda point: point[2], reverse=sort == SORT_DESC)


def run_search(ks: Keyspace, args: list[bytes], ms: int, flags: int, write: bool) -> Result:
    """georadiusGeneric: the key, the options, the nine cells, the sort, then a reply or a store."""
    source = args[2 if flags & GEOSEARCHSTORE else 1]
    z = (_write if write else _read)(ks, source, ms)
    if z is WRONGTYPE:
        return z
    if z is None and write:
        ks.notify(KEY_MISS, b"keymiss", source)  # Redis reads the source with lookupKeyRead
    search = parse_search(args, flags, z)
    if type(search) is ReplyError:
        return search
    if z is None:
        if search.store is not None:
            ks.get_for_write(search.store, ms)
            if ks.delete(search.store):
                ks.notify(GENERIC, b"del", search.store)
            return 0
        return []

    sort, count = search.sort, search.count
    if count and sort == SORT_NONE and not search.any:
        sort = SORT_ASC
    shape = search.shape
    found = find_points(z, shape, count if search.any else 0)
    if not found and search.store is None:
        return []
    returned = len(found) if not count or len(found) < count else count
    if sort != SORT_NONE:
        found = _sorted(found, sort, returned)
    chosen = found[:returned]

    if search.store is not None:
        ks.get_for_write(search.store, ms)
        if not chosen:
            if ks.delete(search.store):
                ks.notify(GENERIC, b"del", search.store)
            return 0
        out = ZSet()
        for _, _, dist, score, member in chosen:
            out.add(member, dist / shape.conversion if search.storedist else score)
        ks.put(search.store, out)
        ks.notify(ZSET, b"geosearchstore" if flags & GEOSEARCH else b"georadiusstore", search.store)
        return len(chosen)

    options = search.withdist or search.withhash or search.withcoord
    reply: list = []
    for x, y, dist, score, member in chosen:
        if not options:
            reply.append(member)
            continue
        item: list = [member]
        if search.withdist:
            item.append(distance_text(dist / shape.conversion))
        if search.withhash:
            item.append(int(score))
        if search.withcoord:
            item.append(_coords(x, y))
        reply.append(item)
    return reply


def _register_search(name: str, arity: int, flags: int, syntax: str, summary: str) -> None:
    write = not flags & (RADIUS_NOSTORE | GEOSEARCH) or bool(flags & GEOSEARCHSTORE)
    if flags & GEOSEARCHSTORE:
        spec_flags, keys = "write denyoom", (1, 2, 1)
    elif write:
        spec_flags, keys = "write denyoom movablekeys", (1, 1, 1)
    else:
        spec_flags, keys = "readonly", (1, 1, 1)

    def handler(ks: Keyspace, args: list[bytes], ms: int) -> Result:
        return run_search(ks, args, ms, flags, write)

    command(
        name,
        arity,
        spec_flags,
        keys,
        group="geo",
        syntax=syntax,
        summary=summary,
        reply=None if flags & GEOSEARCHSTORE else _reply_search,
    )(handler)


# Help notation has no required groups ("<a | b>"), and a top-level "a | b" would read as one
# choice of everything: so `unit` (M | KM | FT | MI) is a value, and GEOSEARCH's centre and area
# are written as Redis 7.0's geo.c comment writes them.
_RADIUS_OPTIONS = "[WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]"
_STORE_OPTIONS = " [STORE key] [STOREDIST key]"
_SEARCH_FROM = "[FROMMEMBER member] [FROMLONLAT longitude latitude]"
_SEARCH_BY = "[BYRADIUS radius unit] [BYBOX width height unit]"
_register_search(
    "georadius",
    -6,
    RADIUS_COORDS,
    f"key longitude latitude radius unit {_RADIUS_OPTIONS}" + _STORE_OPTIONS,
    "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance "
    "from a point",
)
_register_search(
    "georadius_ro",
    -6,
    RADIUS_COORDS | RADIUS_NOSTORE,
    f"key longitude latitude radius unit {_RADIUS_OPTIONS}",
    "A read-only variant for GEORADIUS",
)
_register_search(
    "georadiusbymember",
    -5,
    RADIUS_MEMBER,
    f"key member radius unit {_RADIUS_OPTIONS}" + _STORE_OPTIONS,
    "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance "
    "from a member",
)
_register_search(
    "georadiusbymember_ro",
    -5,
    RADIUS_MEMBER | RADIUS_NOSTORE,
    f"key member radius unit {_RADIUS_OPTIONS}",
    "A read-only variant for GEORADIUSBYMEMBER",
)
_register_search(
    "geosearch",
    -7,
    GEOSEARCH,
    f"key {_SEARCH_FROM} {_SEARCH_BY} [ASC | DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]",
    "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
)
_register_search(
    "geosearchstore",
    -8,
    GEOSEARCH | GEOSEARCHSTORE,
    f"destination source {_SEARCH_FROM} {_SEARCH_BY} [ASC | DESC] [COUNT count [ANY]] [STOREDIST]",
    "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, "
    "and store the result in another key.",
)
