"""Redis 7.0's geohash arithmetic (src/geohash.c and src/geohash_helper.c), ported line by line.

A position is a 52-bit integer: 26 bits of latitude and 26 of longitude, interleaved (latitude in
the even bits), over Redis' own ranges: longitude -180..180, latitude -85.05112878..85.05112878
(EPSG:900913), so a sorted set's score holds it exactly. A search covers the centre's cell and its
eight neighbours at a step (bits per axis) estimated from the radius, then filters every member of
those cells by haversine distance. Results must match redis-server to the last bit, so this is the
C code's arithmetic, in the C code's order: the same libm (Python's math calls it), the same
truncations to uint32/uint64, and NaN rather than an exception where C's math functions return
NaN (math.cos(inf) raises in Python, cos(inf) is NaN in C; a huge radius gets there).
"""

from __future__ import annotations

import math

STEP_MAX = 26  # 26 * 2 = 52 bits
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
LONG_MIN, LONG_MAX = -180.0, 180.0
WGS84 = ((LONG_MIN, LONG_MAX), (LAT_MIN, LAT_MAX))  # geohashGetCoordRange
STANDARD = ((-180.0, 180.0), (-90.0, 90.0))  # the usual geohash ranges (GEOHASH's strings)

D_R = math.pi / 180.0
EARTH_RADIUS_IN_METERS = 6372797.560856
MERCATOR_MAX = 20037726.37

U64 = (1 << 64) - 1
_U32 = (1 << 32) - 1
_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA
NAN = float("nan")

CIRCULAR, RECTANGLE = 1, 2
ZERO = (0, 0)  # GZERO: a neighbour excluded from the search (HASHISZERO: bits and step both 0)


# --- C semantics -------------------------------------------------------------------------
def _cos(x: float) -> float:
    return math.cos(x) if math.isfinite(x) else NAN


def _div(a: float, b: float) -> float:
    """IEEE division: Python raises on a zero divisor where C gives +-inf or NaN."""
    if b != 0.0:
        return a / b
    if a != a or a == 0.0:
        return NAN
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def to_uint64(score: float) -> int:
    """`(uint64_t)score` as gcc compiles it on x86-64 (decodeGeohash): below 2^63 a signed
    truncation (cvttsd2si) seen as unsigned, so -1.5 -> 2^64-1; from 2^63 the subtract-and-flip
    path; out of range (and +-inf) the "integer indefinite" 2^63, flipped to 0 above 2^64. Only a
    sorted set filled by ZADD rather than GEOADD has such scores, and GEOPOS still answers."""
    if score >= 9223372036854775808.0:
        rest = score - 9223372036854775808.0
        return int(rest) ^ (1 << 63) if rest < 9223372036854775808.0 else 0
    if score != score or score <= -9223372036854775809.0:
        return 1 << 63
    return int(score) & U64


# --- geohash.c -----------------------------------------------------------------------------
def interleave64(xlo: int, ylo: int) -> int:
    """The bits of xlo in the even positions, those of ylo in the odd ones (both uint32)."""
    x, y = xlo & _U32, ylo & _U32
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ):
        x = (x | (x << shift)) & mask
        y = (y | (y << shift)) & mask
    return x | (y << 1)


def deinterleave64(interleaved: int) -> int:
    """The inverse: the even bits in the low 32 bits of the result, the odd ones in the high."""
    x, y = interleaved, interleaved >> 1
    for shift, mask in (
        (0, 0x5555555555555555),
        (1, 0x3333333333333333),
        (2, 0x0F0F0F0F0F0F0F0F),
        (4, 0x00FF00FF00FF00FF),
        (8, 0x0000FFFF0000FFFF),
        (16, 0x00000000FFFFFFFF),
    ):
        x = (x | (x >> shift)) & mask
        y = (y | (y >> shift)) & mask
    return x | (y << 32)


def encode(ranges, longitude: float, latitude: float, step: int) -> tuple[int, int] | None:
    """geohashEncode -> (bits, step), or None where the C function returns 0 (callers here pass
    coordinates already checked, so only the tests see None)."""
    (long_min, long_max), (lat_min, lat_max) = ranges
    if step > 32 or step == 0:
        return None
    if longitude > LONG_MAX or longitude < LONG_MIN or latitude > LAT_MAX or latitude < LAT_MIN:
        return None
    if latitude < lat_min or latitude > lat_max or longitude < long_min or longitude > long_max:
        return None
    lat_offset = (latitude - lat_min) / (lat_max - lat_min)
    long_offset = (longitude - long_min) / (long_max - long_min)
    lat_offset *= float(1 << step)
    long_offset *= float(1 << step)
    return interleave64(int(lat_offset), int(long_offset)), step


def decode(ranges, hash_: tuple[int, int]) -> tuple[float, float, float, float]:
    """geohashDecode -> the cell (long_min, long_max, lat_min, lat_max)."""
    (long_min, long_max), (lat_min, lat_max) = ranges
    bits, step = hash_
    hash_sep = deinterleave64(bits)
    lat_scale = lat_max - lat_min
    long_scale = long_max - long_min
    ilato = hash_sep & _U32
    ilono = (hash_sep >> 32) & _U32
    cells = float(1 << step)
    return (
        long_min + (ilono * 1.0 / cells) * long_scale,
        long_min + (((ilono + 1) & _U32) * 1.0 / cells) * long_scale,
        lat_min + (ilato * 1.0 / cells) * lat_scale,
        lat_min + (((ilato + 1) & _U32) * 1.0 / cells) * lat_scale,
    )


# deinterleave64 by table, 16 bits at a time: a search decodes every member of nine cells, and
# this is the hot loop (the mask version costs three times as much in Python).
_EVEN8 = [sum(((c >> (2 * b)) & 1) << b for b in range(4)) for c in range(256)]
_ODD8 = [sum(((c >> (2 * b + 1)) & 1) << b for b in range(4)) for c in range(256)]
_EVEN16 = [_EVEN8[c & 0xFF] | _EVEN8[c >> 8] << 4 for c in range(1 << 16)]
_ODD16 = [_ODD8[c & 0xFF] | _ODD8[c >> 8] << 4 for c in range(1 << 16)]
_CELLS = float(1 << STEP_MAX)
_LAT_SCALE = LAT_MAX - LAT_MIN
_LONG_SCALE = LONG_MAX - LONG_MIN


def decode_score(score: float) -> tuple[float, float]:
    """decodeGeohash: a sorted-set score -> (longitude, latitude), the centre of its 52-bit cell
    kept in range (geohashDecodeToLongLatWGS84): decode(WGS84, (to_uint64(score), 26)) and the
    clamps, inlined operation for operation."""
    bits = int(score) if 0.0 <= score < 9223372036854775808.0 else to_uint64(score)
    c0, c1, c2, c3 = bits & 0xFFFF, (bits >> 16) & 0xFFFF, (bits >> 32) & 0xFFFF, bits >> 48
    lat = _EVEN16[c0] | _EVEN16[c1] << 8 | _EVEN16[c2] << 16 | _EVEN16[c3] << 24
    lon = _ODD16[c0] | _ODD16[c1] << 8 | _ODD16[c2] << 16 | _ODD16[c3] << 24
    x = (
        (LONG_MIN + (lon * 1.0 / _CELLS) * _LONG_SCALE) + (LONG_MIN + (((lon + 1) & _U32) * 1.0 / _CELLS) * _LONG_SCALE)
    ) / 2
    y = (
        (LAT_MIN + (lat * 1.0 / _CELLS) * _LAT_SCALE) + (LAT_MIN + (((lat + 1) & _U32) * 1.0 / _CELLS) * _LAT_SCALE)
    ) / 2
    if x > LONG_MAX:
        x = LONG_MAX
    elif x < LONG_MIN:
        x = LONG_MIN
    if y > LAT_MAX:
        y = LAT_MAX
    elif y < LAT_MIN:
        y = LAT_MIN
    return x, y


def _move_x(bits: int, step: int, d: int) -> int:
    x = bits & _ODD
    y = bits & _EVEN
    zz = _EVEN >> (64 - step * 2)
    if d > 0:
        x = (x + (zz + 1)) & U64
    else:
        x = ((x | zz) - (zz + 1)) & U64
    x &= _ODD >> (64 - step * 2)
    return x | y


def _move_y(bits: int, step: int, d: int) -> int:
    x = bits & _ODD
    y = bits & _EVEN
    zz = _ODD >> (64 - step * 2)
    if d > 0:
        y = (y + (zz + 1)) & U64
    else:
        y = ((y | zz) - (zz + 1)) & U64
    y &= _EVEN >> (64 - step * 2)
    return x | y


def neighbors(hash_: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """geohashNeighbors: the eight cells around `hash_`, at its step (wrapping around the world)."""
    bits, step = hash_
    moves = {
        "north": (0, 1),
        "south": (0, -1),
        "east": (1, 0),
        "west": (-1, 0),
        "north_east": (1, 1),
        "north_west": (-1, 1),
        "south_east": (1, -1),
        "south_west": (-1, -1),
    }
    out = {}
    for name, (dx, dy) in moves.items():
        moved = _move_x(bits, step, dx) if dx else bits
        moved = _move_y(moved, step, dy) if dy else moved
        out[name] = (moved, step)
    return out


# --- geohash_helper.c ----------------------------------------------------------------------
def deg_rad(ang: float) -> float:
    return ang * D_R


def rad_deg(ang: float) -> float:
    return ang / D_R


def estimate_steps_by_radius(range_meters: float, lat: float) -> int:
    """The step (bits per axis) whose cells are about the radius; coarser towards the poles."""
    if range_meters == 0:
        return 26
    step = 1
    while range_meters < MERCATOR_MAX:  # at most ~1100 doublings, even from the smallest double
        range_meters *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    return min(max(step, 1), 26)


class Shape:
    """GeoShape: the search centre, the area (a radius, or a box's width and height) in the
    client's unit, and `conversion`, metres per unit; `bounds` is filled by the search."""

    __slots__ = ("kind", "x", "y", "conversion", "radius", "width", "height", "bounds")

    def __init__(self) -> None:
        self.kind = 0
        self.x = self.y = 0.0
        self.conversion = 0.0
        self.radius = self.width = self.height = 0.0
        self.bounds = (0.0, 0.0, 0.0, 0.0)


def bounding_box(shape: Shape) -> tuple[float, float, float, float]:
    """geohashBoundingBox -> (min_lon, min_lat, max_lon, max_lat)."""
    longitude, latitude = shape.x, shape.y
    circular = shape.kind == CIRCULAR
    height = shape.conversion * (shape.radius if circular else shape.height / 2)
    width = shape.conversion * (shape.radius if circular else shape.width / 2)
    lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS)
    long_delta_top = rad_deg(_div(width / EARTH_RADIUS_IN_METERS, _cos(deg_rad(latitude + lat_delta))))
    long_delta_bottom = rad_deg(_div(width / EARTH_RADIUS_IN_METERS, _cos(deg_rad(latitude - lat_delta))))
    delta = long_delta_bottom if latitude < 0 else long_delta_top
    return longitude - delta, latitude - lat_delta, longitude + delta, latitude + lat_delta


def areas_by_shape(shape: Shape) -> list[tuple[int, int]]:
    """geohashCalculateAreasByShapeWGS84: the centre cell and its eight neighbours, in the order
    Redis searches them (centre, N, S, E, W, NE, NW, SE, SW), ZERO for the ones left out."""
    shape.bounds = bounding_box(shape)
    min_lon, min_lat, max_lon, max_lat = shape.bounds
    longitude, latitude = shape.x, shape.y
    if shape.kind == CIRCULAR:
        radius_meters = shape.radius
    else:
        radius_meters = math.sqrt((shape.width / 2) * (shape.width / 2) + (shape.height / 2) * (shape.height / 2))
    radius_meters *= shape.conversion

    steps = estimate_steps_by_radius(radius_meters, latitude)
    hash_ = encode(WGS84, longitude, latitude, steps)
    around = neighbors(hash_)
    area = decode(WGS84, hash_)

    north = decode(WGS84, around["north"])
    south = decode(WGS84, around["south"])
    east = decode(WGS84, around["east"])
    west = decode(WGS84, around["west"])
    decrease_step = north[3] < max_lat or south[2] > min_lat or east[1] < max_lon or west[0] > min_lon
    if steps > 1 and decrease_step:
        steps -= 1
        hash_ = encode(WGS84, longitude, latitude, steps)
        around = neighbors(hash_)
        area = decode(WGS84, hash_)

    if steps >= 2:
        area_long_min, area_long_max, area_lat_min, area_lat_max = area
        if area_lat_min < min_lat:
            around["south"] = around["south_west"] = around["south_east"] = ZERO
        if area_lat_max > max_lat:
            around["north"] = around["north_east"] = around["north_west"] = ZERO
        if area_long_min < min_lon:
            around["west"] = around["south_west"] = around["north_west"] = ZERO
        if area_long_max > max_lon:
            around["east"] = around["south_east"] = around["north_east"] = ZERO
    order = ("north", "south", "east", "west", "north_east", "north_west", "south_east", "south_west")
    return [hash_] + [around[name] for name in order]


def align_52bits(hash_: tuple[int, int]) -> int:
    bits, step = hash_
    return (bits << (52 - step * 2)) & U64


def lat_distance(lat1d: float, lat2d: float) -> float:
    return EARTH_RADIUS_IN_METERS * math.fabs(deg_rad(lat2d) - deg_rad(lat1d))


def distance(lon1d: float, lat1d: float, lon2d: float, lat2d: float) -> float:
    """geohashGetDistance: haversine, in metres, in the C expression order. The coordinates are
    always finite here; rounding can still push `a` a hair above 1 for antipodes, where C's asin
    gives NaN (and Redis then reports the point with a NaN distance)."""
    lon1r = lon1d * D_R
    lon2r = lon2d * D_R
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return EARTH_RADIUS_IN_METERS * math.fabs(lat2d * D_R - lat1d * D_R)
    lat1r = lat1d * D_R
    lat2r = lat2d * D_R
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    try:
        return 2.0 * EARTH_RADIUS_IN_METERS * math.asin(math.sqrt(a))
    except ValueError:
        return NAN


def distance_if_in_rectangle(
    width_m: float, height_m: float, x1: float, y1: float, x2: float, y2: float
) -> float | None:
    """geohashGetDistanceIfInRectangle: the distance from the box's centre (x1, y1), or None
    when (x2, y2) is outside the box."""
    if lat_distance(y2, y1) > height_m / 2:
        return None
    if distance(x2, y2, x1, y2) > width_m / 2:
        return None
    return distance(x1, y1, x2, y2)


def within_shape(shape: Shape, score: float) -> tuple[float, float, float] | None:
    """geoWithinShape: (longitude, latitude, distance) of a member's score if inside the shape."""
    x, y = decode_score(score)
    if shape.kind == CIRCULAR:
        dist = distance(shape.x, shape.y, x, y)
        if dist > shape.radius * shape.conversion:
            return None
    else:
        dist = distance_if_in_rectangle(
            shape.width * shape.conversion, shape.height * shape.conversion, shape.x, shape.y, x, y
        )
        if dist is None:
            return None
    return x, y, dist


_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def geohash_string(score: float) -> bytes:
    """GEOHASH's 11 characters: the position re-encoded over the standard ranges (-90..90 for
    the latitude, where Redis' own grid stops at +-85.05), the 11th character always '0'."""
    x, y = decode_score(score)
    bits, _ = encode(STANDARD, x, y, STEP_MAX)
    out = bytearray()
    for i in range(10):
        out.append(_ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1F])
    out.append(_ALPHABET[0])
    return bytes(out)
