"""The geo port on its own: geohash arithmetic against the C code's definitions, the reply
formats, Redis' partial sort, snapshots, and hostile argument lists that must never raise.

(Exact replies are checked against redis-server in tests/frontends/test_resp_oracle_geo.py.)
"""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from statemachines import ReplyError, encode_args
from statemachines.kv import KVMachine
from statemachines.kv import geohash as gh
from statemachines.kv.geo import (
    SORT_ASC,
    SORT_DESC,
    _compare_asc,
    _compare_desc,
    _merge_sort,
    _sorted,
    distance_text,
    human_text,
    partial_sort,
)

T0 = 1_700_000_000_000


def cmd(*args) -> bytes:
    return encode_args([a if isinstance(a, bytes) else str(a).encode() for a in args])


def reference_decode(score: float) -> tuple[float, float]:
    """geohashDecodeToLongLatWGS84((uint64_t)score) through the generic decode(): what the
    table-driven decode_score inlines."""
    long_lo, long_hi, lat_lo, lat_hi = gh.decode(gh.WGS84, (gh.to_uint64(score), gh.STEP_MAX))
    x = min(max((long_lo + long_hi) / 2, gh.LONG_MIN), gh.LONG_MAX)
    y = min(max((lat_lo + lat_hi) / 2, gh.LAT_MIN), gh.LAT_MAX)
    return x, y


def test_interleave_round_trips_and_puts_latitude_in_the_even_bits():
    rng = random.Random(7)
    for _ in range(2000):
        x, y = rng.getrandbits(32), rng.getrandbits(32)
        both = gh.interleave64(x, y)
        assert gh.deinterleave64(both) == x | y << 32
    assert gh.interleave64(1, 0) == 1 and gh.interleave64(0, 1) == 2


def test_decode_score_is_the_generic_decode():
    rng = random.Random(11)
    scores = [float(rng.getrandbits(52)) for _ in range(5000)]
    scores += [0.0, -0.0, 1.5, -1.0, -1.5, 2.0**52, 2.0**52 - 1, 2.0**63, 2.0**64 - 2048, 9e18, 1e19, 2e19]
    scores += [-9.3e18, -(2.0**63), math.inf, -math.inf, 1e300, -1e300]
    for score in scores:
        assert gh.decode_score(score) == reference_decode(score), score


def test_to_uint64_follows_gcc_on_x86_64():
    # Checked against redis-server's GEOPOS of these scores in the oracle cases.
    assert gh.to_uint64(-1.0) == 2**64 - 1
    assert gh.to_uint64(-1.5) == 2**64 - 1
    assert gh.to_uint64(1.9) == 1
    assert gh.to_uint64(2.0**63) == 2**63
    assert gh.to_uint64(1e19) == 10**19
    assert gh.to_uint64(2e19) == 0  # out of range: the "integer indefinite", flipped
    assert gh.to_uint64(math.inf) == 0
    assert gh.to_uint64(-math.inf) == 2**63
    assert gh.to_uint64(-1e300) == 2**63


def test_encode_refuses_what_geohashEncode_refuses():
    assert gh.encode(gh.WGS84, 0.0, 85.06, 26) is None
    assert gh.encode(gh.WGS84, 180.1, 0.0, 26) is None
    assert gh.encode(gh.WGS84, 0.0, 0.0, 0) is None
    assert gh.encode(gh.WGS84, 0.0, 0.0, 33) is None
    assert gh.encode(gh.WGS84, 0.0, 0.0, 26) == (gh.interleave64(1 << 25, 1 << 25), 26)


def test_geohash_strings_of_known_places():
    # Redis' documentation: GEOHASH Sicily Palermo Catania -> sqc8b49rny0 sqdtr74hyu0
    for lon, lat, text in ((13.361389, 38.115556, b"sqc8b49rny0"), (15.087269, 37.502669, b"sqdtr74hyu0")):
        score = float(gh.align_52bits(gh.encode(gh.WGS84, lon, lat, 26)))
        assert gh.geohash_string(score) == text


def test_distance_between_palermo_and_catania():
    # Redis' documentation: GEODIST Sicily Palermo Catania -> "166274.1516"
    palermo, catania = (
        gh.decode_score(float(gh.align_52bits(gh.encode(gh.WGS84, lon, lat, 26))))
        for lon, lat in ((13.361389, 38.115556), (15.087269, 37.502669))
    )
    assert distance_text(gh.distance(*palermo, *catania)) == b"166274.1516"


def test_huge_areas_give_nan_bounds_not_exceptions():
    shape = gh.Shape()
    shape.kind, shape.x, shape.y, shape.conversion, shape.radius = gh.CIRCULAR, 0.0, 0.0, 1000.0, math.inf
    boxes = gh.areas_by_shape(shape)
    assert len(boxes) == 9 and boxes[0][1] == 1  # step 1: the whole world in four cells
    assert all(b != b for b in shape.bounds[::2])  # cos(inf): NaN longitudes, as in C


def test_distance_text_is_fixedpoint_d2string():
    assert distance_text(0.0) == b"0.0000"
    assert distance_text(-0.0) == b"0.0000"
    assert distance_text(0.00005) == b"0.0000"  # llrint(0.5): half to even
    assert distance_text(0.00025) == b"0.0002"  # llrint(2.5)
    # Redis' own unit test (util.c test_fixedpoint_d2string):
    assert distance_text(0.0001) == b"0.0001"
    assert distance_text(6.0642951598391699e-05) == b"0.0001"
    assert distance_text(0.01) == b"0.0100"
    assert distance_text(-0.01) == b"-0.0100"
    assert distance_text(10.01) == b"10.0100"
    assert distance_text(0.7750) == b"0.7750"
    assert distance_text(123456.78901) == b"123456.7890"
    assert distance_text(-1.5) == b"-1.5000"
    assert distance_text(math.nan) == b"-922337203685477.5808"  # llrint(NaN) is LLONG_MIN on x86-64
    assert distance_text(1e300) == b"-922337203685477.5808"


def test_human_text_is_ld2string_human():
    assert human_text(13.361389338970184) == b"13.36138933897018433"
    assert human_text(-0.0) == b"0"
    assert human_text(180.0) == b"180"
    assert human_text(0.5) == b"0.5"
    # redis-server 7.0: GEOADD g -180 -85.05112878 sw 0.5 0 half; GEOPOS g sw half
    for lon, lat, want in (
        (-180, -85.05112878, b"-179.99999731779098511 -85.05112751263942528"),
        (0.5, 0, b"0.49999862909317017 0.00000126736058093"),
    ):
        x, y = gh.decode_score(float(gh.align_52bits(gh.encode(gh.WGS84, lon, lat, 26))))
        assert human_text(x) + b" " + human_text(y) == want


def _points(dists):
    return [(0.0, 0.0, d, float(i), b"m%d" % i) for i, d in enumerate(dists)]


@settings(max_examples=300, deadline=None)
@given(
    dists=st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.5, 3.0, 1e6]) | st.floats(0, 1e7), min_size=1, max_size=120),
    data=st.data(),
)
def test_partial_sort_orders_the_first_k(dists, data):
    k = data.draw(st.integers(1, len(dists)))
    for cmp, reverse in ((_compare_asc, False), (_compare_desc, True)):
        points = _points(dists)
        partial_sort(points, cmp, 0, k - 1)
        assert sorted(p[4] for p in points) == sorted(p[4] for p in _points(dists))  # a permutation
        assert [p[2] for p in points[:k]] == sorted(dists, reverse=reverse)[:k]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from([math.nan, 1.0, 2.0]), min_size=1, max_size=60), st.data())
def test_partial_sort_survives_nan_distances(dists, data):
    points = _points(dists)
    partial_sort(points, _compare_asc, 0, data.draw(st.integers(0, len(dists) - 1)))
    assert sorted(p[4] for p in points) == sorted(p[4] for p in _points(dists))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.5]) | st.floats(0, 1e7), max_size=80))
def test_python_sort_is_glibc_merge_sort_without_nan(dists):
    """Without NaN the stable sort gives glibc's order (ties in input order, DESC too), so the
    merge-sort port is only needed when NaN distances make the comparison inconsistent."""
    for sort, cmp in ((SORT_ASC, _compare_asc), (SORT_DESC, _compare_desc)):
        assert _sorted(_points(dists), sort, len(dists)) == _merge_sort(_points(dists), cmp)


def test_nan_distances_take_the_merge_sort():
    points = _points([2.0, math.nan, 1.0, math.nan, 0.5])
    # glibc msort: halves [2, nan] and [1, nan, 0.5] -> [1, nan, 0.5] (NaN compares "less" both
    # ways), then the merge takes 1, 2, nan (m1: left first on "less"), and the rest
    assert [p[4] for p in _sorted(points, SORT_ASC, 5)] == [b"m2", b"m0", b"m1", b"m3", b"m4"]


def test_a_geo_set_survives_snapshot_and_restore():
    m = KVMachine()
    m.apply(1, cmd("GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"), T0)
    copy = KVMachine()
    copy.restore(m.snapshot())
    for machine in (m, copy):
        assert machine.query(cmd("GEOPOS", "g", "Palermo"), T0) == [[b"13.36138933897018433", b"38.11555639549629859"]]
        assert machine.query(cmd("GEOSEARCH", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km"), T0) == [
            b"Palermo",
            b"Catania",
        ]


def test_count_is_never_a_loop_bound():
    m = KVMachine()
    m.apply(1, cmd("GEOADD", "g", "1", "1", "a", "2", "2", "b"), T0)
    everything = cmd("GEOSEARCH", "g", "FROMLONLAT", "0", "0", "BYRADIUS", "inf", "m", "COUNT", 2**63 - 1, "ANY")
    assert sorted(m.query(everything, T0)) == [b"a", b"b"]
    store = cmd("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", "0", "0", "BYRADIUS", "1e308", "km", "COUNT", 2**63 - 1)
    assert m.apply(2, store, T0) == 2


# --- hostile argument lists ------------------------------------------------------------------
_TOKENS = [
    "WITHDIST",
    "WITHHASH",
    "WITHCOORD",
    "ANY",
    "ASC",
    "DESC",
    "COUNT",
    "STORE",
    "STOREDIST",
    "FROMMEMBER",
    "FROMLONLAT",
    "BYRADIUS",
    "BYBOX",
    "m",
    "km",
    "ft",
    "mi",
    "yd",
    "0",
    "-1",
    "1",
    "2",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "1e-320",
    "180",
    "-180.5",
    "85.05112878",
    "85.06",
    "a",
    "b",
    "nokey",
    "g",
    "s",
    "with\x00dist",
    "",
]
_COMMANDS = [
    "GEOSEARCH g",
    "GEOSEARCH nokey",
    "GEOSEARCH s",
    "GEOSEARCHSTORE d g",
    "GEOSEARCHSTORE d nokey",
    "GEORADIUS g",
    "GEORADIUS_RO g",
    "GEORADIUSBYMEMBER g",
    "GEORADIUSBYMEMBER nokey",
    "GEORADIUSBYMEMBER_RO g",
    "GEOADD g",
    "GEOADD s",
    "GEODIST g a b",
    "GEOPOS g",
    "GEOHASH g",
]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(_COMMANDS), st.lists(st.sampled_from(_TOKENS), max_size=12))
def test_no_argument_list_makes_a_geo_command_raise(head, tail):
    m = KVMachine()
    m.apply(1, cmd("GEOADD", "g", "1", "1", "a", "-179.9", "-85", "b", "180", "85.05112878", "c"), T0)
    m.apply(2, cmd("SET", "s", "v"), T0)
    args = head.split() + tail
    request = cmd(*args)
    spec = next(s for s in m.commands() if s.name == args[0].lower())
    if spec.check is not None:
        error = spec.check([a.encode() for a in args])
        assert error is None or type(error) is ReplyError
    result = m.apply(3, request, T0) if spec.is_write else m.query(request, T0)
    assert type(result) in (ReplyError, list, int, bytes, type(None)), result
    if spec.reply is not None:
        for protocol in (2, 3):
            spec.reply([a.encode() for a in args], result, protocol)
