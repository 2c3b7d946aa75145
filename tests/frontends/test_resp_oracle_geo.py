"""Geo commands byte for byte against redis-server 7.0: fixed cases (RESP2 and RESP3) and seeded
random comparisons over thousands of points, radii and boxes.

Every reply is compared exactly, order included: Redis' order without ASC/DESC is the order of its
nine cells and of the sorted set inside each, and with ASC/DESC it is glibc's stable sort (or
Redis' pqsort under COUNT), all of which geo.py reproduces; so nothing is sorted before comparing.
A failing random test prints its seed: set GEO_SEED=<seed> to replay it.
"""

from __future__ import annotations

import os
import random

import pytest
import trio
from resp_helpers import RawClient, assert_same_as_redis, encode_command, mismatches, replay

CASES = {
    "geoadd": """
        GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        GEOADD Sicily 13.361389 38.115556 Palermo
        GEOADD Sicily CH 13.361389 38.115556 Palermo 13.4 38.1 Palermo
        GEOADD Sicily ch nx 1 1 Palermo 2 2 Agrigento
        GEOADD Sicily XX CH 3 3 Agrigento 4 4 Nowhere
        GEOADD Sicily XX 5 5 Agrigento
        GEOADD Sicily nx xx 1 1 a
        GEOADD Sicily gt 1 1 a
        GEOADD Sicily incr 1 1 a
        GEOADD Sicily ch ch ch
        GEOADD Sicily 1 1 a 2
        GEOADD Sicily 1 1 a 2 2
        GEOADD Sicily x 1 a
        GEOADD Sicily 1 y a
        GEOADD Sicily 181 1 a
        GEOADD Sicily -180.0000001 0 a
        GEOADD Sicily 1 85.05112879 a
        GEOADD Sicily 1 -85.05112879 a
        GEOADD Sicily 1 90 a
        GEOADD Sicily nan 0 a
        GEOADD Sicily inf 0 a
        GEOADD Sicily -inf -inf a
        GEOADD Sicily 1e400 0 a
        GEOADD Sicily 1e-400 0 a
        GEOADD Sicily " 1" 0 a
        GEOADD Sicily 0x10 0 hex
        GEOADD Sicily 1 1 ok 500 0 bad
        GEOADD Sicily -180 -85.05112878 sw 180 85.05112878 ne -0 -0 zero
        GEOADD Sicily 1
        GEOADD nokey XX 1 1 a
        EXISTS nokey
        ZRANGE Sicily 0 -1 WITHSCORES
        SET str v
        GEOADD str 1 1 a
        GEOADD str 1 1
        GEOADD str 1 100 a
    """,
    "geopos_geohash_geodist": """
        GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        GEOADD Sicily -180 -85.05112878 sw 180 85.05112878 ne 0 0 zero -0.0000001 -0.0000001 nearzero
        GEOPOS Sicily Palermo Catania NonExisting sw ne zero nearzero
        GEOPOS Sicily
        GEOPOS nokey a b
        GEOHASH Sicily Palermo Catania NonExisting sw ne zero nearzero
        GEOHASH Sicily
        GEOHASH nokey a
        GEODIST Sicily Palermo Catania
        GEODIST Sicily Palermo Catania m
        GEODIST Sicily Palermo Catania KM
        GEODIST Sicily Palermo Catania mi
        GEODIST Sicily Palermo Catania fT
        GEODIST Sicily Palermo Catania yd
        GEODIST Sicily Palermo Catania km extra
        GEODIST Sicily Palermo NonExisting
        GEODIST Sicily Palermo Palermo
        GEODIST Sicily sw ne
        GEODIST Sicily zero nearzero
        GEODIST nokey a b
        GEODIST nokey a b yd
        ZADD plain -1 neg 1.5 frac inf pinf -inf ninf 4503599627370496 big 9e18 huge 1e19 huger 2e19 huge3
        ZADD plain -9.3e18 nhuge 0 zero
        GEOPOS plain neg frac pinf ninf big huge huger huge3 nhuge zero
        GEOHASH plain neg frac pinf ninf big huge huger huge3 nhuge zero
        GEODIST plain neg frac
        GEODIST plain pinf ninf km
        SET str v
        GEOPOS str a
        GEOHASH str a
        GEODIST str a b
        GEODIST str a b yd
    """,
    "geosearch": """
        GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania 12.758489 38.788135 edge1
        GEOADD Sicily 17.241510 38.788135 edge2 13.361389 38.115556 Palermo2 12 38 a 12 38 b 12 38 c
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km DESC WITHCOORD WITHDIST WITHHASH
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km COUNT 1
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km COUNT 2 DESC WITHDIST
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 2000 km COUNT 2 ANY WITHDIST
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 2000 km COUNT 9223372036854775807 ANY
        GEOSEARCH Sicily FROMMEMBER a BYRADIUS 0 m WITHDIST
        GEOSEARCH Sicily FROMMEMBER a BYRADIUS 1000 km COUNT 3 WITHDIST
        GEOSEARCH Sicily FROMMEMBER a BYRADIUS 1000 km COUNT 4 DESC
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 0 0 km
        GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 1 m WITHHASH
        GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 100 MI
        GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 100000 ft withdist
        GEOSEARCH Sicily FROMLONLAT 0 0 BYRADIUS 30000 km WITHDIST
        GEOSEARCH Sicily FROMLONLAT -165 -38 BYRADIUS 20000 km DESC WITHDIST
        GEOSEARCH Sicily FROMLONLAT 180 85.05112878 BYRADIUS 5000 km WITHDIST
        GEOSEARCH Sicily FROMLONLAT 0 0 BYRADIUS 1e308 km WITHDIST
        GEOSEARCH Sicily FROMLONLAT 0 0 BYRADIUS inf km WITHDIST
        GEOSEARCH Sicily FROMLONLAT 0 0 BYBOX inf inf mi WITHDIST
        GEOSEARCH Sicily FROMLONLAT 0 0 BYBOX 1e308 1e308 ft WITHDIST
        GEOSEARCH Sicily FROMMEMBER a BYRADIUS 1e-300 m WITHDIST
        GEOSEARCH Sicily FROMMEMBER a BYRADIUS 4.9e-324 m WITHDIST
        GEOSEARCH Sicily FROMMEMBER a BYRADIUS -0 m WITHDIST
        GEOSEARCH Sicily FROMMEMBER nope BYRADIUS 1 m
        GEOSEARCH nokey FROMMEMBER nope BYRADIUS 1 m
        GEOSEARCH nokey FROMMEMBER nope BYRADIUS -1 m
        GEOSEARCH nokey FROMMEMBER nope BYRADIUS 1 yd
        GEOSEARCH nokey FROMMEMBER nope BYRADIUS 1 m WITHDIST
        GEOSEARCH nokey FROMMEMBER nope FOO BAR
        GEOSEARCH Sicily FROMMEMBER a BYRADIUS -1 m
        GEOSEARCH Sicily FROMMEMBER a BYRADIUS x m
        GEOSEARCH Sicily FROMMEMBER a BYRADIUS 1 yd
        GEOSEARCH Sicily FROMMEMBER a BYRADIUS nan m
        GEOSEARCH Sicily FROMMEMBER a BYBOX x 1 m
        GEOSEARCH Sicily FROMMEMBER a BYBOX 1 x m
        GEOSEARCH Sicily FROMMEMBER a BYBOX -1 x m
        GEOSEARCH Sicily FROMMEMBER a BYBOX -1 1 m
        GEOSEARCH Sicily FROMMEMBER a BYBOX 1 -1 yd
        GEOSEARCH Sicily FROMMEMBER a BYBOX 1 1 yd
        GEOSEARCH Sicily FROMMEMBER a BYBOX 1 1
        GEOSEARCH Sicily FROMLONLAT 1 1 BYRADIUS 1
        GEOSEARCH Sicily FROMLONLAT 1 BYRADIUS 1 m
        GEOSEARCH Sicily FROMLONLAT 1 100 BYRADIUS 1 m
        GEOSEARCH Sicily FROMLONLAT inf 1 BYRADIUS 1 m
        GEOSEARCH Sicily FROMLONLAT nan 1 BYRADIUS 1 m
        GEOSEARCH Sicily FROMLONLAT 1e400 1 BYRADIUS 1 m
        GEOSEARCH Sicily FROMLONLAT -1e300 1 BYRADIUS 1 m
        GEOSEARCH Sicily FROMMEMBER a FROMLONLAT 1 1 BYBOX 1 1 m
        GEOSEARCH Sicily FROMLONLAT 1 1 FROMMEMBER a BYBOX 1 1 m
        GEOSEARCH Sicily FROMLONLAT 1 1 FROMLONLAT 2 2 BYBOX 1 1 m
        GEOSEARCH Sicily FROMLONLAT 1 1 BYBOX 1 1 m BYRADIUS 1 m
        GEOSEARCH Sicily FROMLONLAT 1 1 BYRADIUS 1 m BYRADIUS 2 km
        GEOSEARCH Sicily FROMLONLAT 1 1 COUNT 0
        GEOSEARCH Sicily FROMLONLAT 1 1 COUNT -1
        GEOSEARCH Sicily FROMLONLAT 1 1 COUNT 9223372036854775808
        GEOSEARCH Sicily FROMLONLAT 1 1 COUNT -9223372036854775808
        GEOSEARCH Sicily FROMLONLAT 1 1 COUNT 01 BYRADIUS 1 m
        GEOSEARCH Sicily FROMLONLAT 1 1 COUNT x BYRADIUS 1 m
        GEOSEARCH Sicily FROMLONLAT 1 1 BYRADIUS 1 m COUNT
        GEOSEARCH Sicily FROMLONLAT 1 1 ANY BYRADIUS 1 m
        GEOSEARCH Sicily FROMLONLAT 1 1 BYRADIUS 1 m
        GEOSEARCH Sicily BYRADIUS 1 m
        geosearch Sicily BYRADIUS 1 m WITHDIST
        gEoSeArCh Sicily FROMLONLAT 1 1 WITHDIST
        GEOSEARCH Sicily FROMLONLAT 1 1 BYRADIUS 1 m STORE x
        GEOSEARCH Sicily FROMLONLAT 1 1 BYRADIUS 1 m STOREDIST
        GEOSEARCH Sicily FROMLONLAT 1 1 BYRADIUS 1 m FOO
        SET str v
        GEOSEARCH str FOO
        GEOSEARCH str FROMLONLAT 1 1 BYRADIUS 1 m
    """,
    "geosearchstore": """
        GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania 12 38 a 12 38 b
        GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 1000 km
        ZRANGE dst 0 -1 WITHSCORES
        GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 1000 km STOREDIST
        ZRANGE dst 0 -1 WITHSCORES
        GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 1000 km COUNT 2 DESC STOREDIST
        ZRANGE dst 0 -1 WITHSCORES
        GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYBOX 1000 10 mi STOREDIST
        ZRANGE dst 0 -1 WITHSCORES
        EXPIRE dst 100
        GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 1 km
        TTL dst
        GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1 km
        EXISTS dst
        SET dst v
        GEOSEARCHSTORE dst nokey FROMMEMBER x BYRADIUS 1 m
        EXISTS dst
        GEOSEARCHSTORE dst nokey FROMMEMBER x BYRADIUS 1 yd
        GEOSEARCHSTORE dst Sicily FROMMEMBER a BYRADIUS 1 m WITHDIST
        GEOSEARCHSTORE dst Sicily FROMMEMBER a BYRADIUS 1 m WITHCOORD STOREDIST
        GEOSEARCHSTORE dst Sicily FROMMEMBER a BYRADIUS 1 m STORE x
        GEOSEARCHSTORE dst Sicily FROMMEMBER a
        GEOSEARCHSTORE dst Sicily BYRADIUS 1 m STOREDIST
        GEOSEARCHSTORE Sicily Sicily FROMMEMBER a BYRADIUS 1 m
        ZRANGE Sicily 0 -1 WITHSCORES
        SET str v
        GEOSEARCHSTORE dst str FOO
        GEOSEARCHSTORE str nokey FROMMEMBER x BYRADIUS 1 m
        EXISTS str
    """,
    "georadius": """
        GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania 12 38 a 12 38 b
        GEORADIUS Sicily 15 37 200 km
        GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH
        GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH DESC COUNT 1
        GEORADIUS Sicily 15 37 500 km COUNT 1 ANY
        GEORADIUS Sicily 15 37 500 km ANY
        GEORADIUS Sicily 15 37 200 km STORE d
        ZRANGE d 0 -1 WITHSCORES
        GEORADIUS Sicily 15 37 200 km STOREDIST d
        ZRANGE d 0 -1 WITHSCORES
        GEORADIUS Sicily 15 37 200 km STOREDIST d STORE d2
        ZRANGE d2 0 -1 WITHSCORES
        GEORADIUS Sicily 15 37 200 km STOREDIST d WITHCOORD
        GEORADIUS Sicily 15 37 200 km STORE
        GEORADIUS Sicily 15 37 200 km STOREDIST
        GEORADIUS Sicily 15 37 200 km FROMMEMBER a
        GEORADIUS Sicily 15 37 200 km BYRADIUS 1 m
        GEORADIUS Sicily 1 100 1 m
        GEORADIUS Sicily 1 x 1 m
        GEORADIUS Sicily 1 1 x m
        GEORADIUS Sicily 1 1 -1 m
        GEORADIUS Sicily 1 1 1 x
        GEORADIUS Sicily 0 0 1 m STORE d
        EXISTS d
        GEORADIUS nokey 1 1 1 m
        GEORADIUS nokey 1 1 1 yd
        GEORADIUS nokey 1 1 1 m STORE d2
        EXISTS d2
        GEORADIUS_RO Sicily 15 37 200 km WITHDIST ASC
        GEORADIUS_RO Sicily 15 37 200 km STORE d
        GEORADIUS_RO Sicily 15 37 200 km STOREDIST d
        GEORADIUS_RO Sicily 15 37 200 km COUNT 0
        GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST
        GEORADIUSBYMEMBER Sicily Palermo 200 km STORE d
        ZRANGE d 0 -1 WITHSCORES
        GEORADIUSBYMEMBER Sicily Palermo 200 km STOREDIST d WITHDIST
        GEORADIUSBYMEMBER Sicily nope 200 km
        GEORADIUSBYMEMBER Sicily nope -1 yd
        GEORADIUSBYMEMBER Sicily Palermo -1 km
        GEORADIUSBYMEMBER Sicily Palermo 1 yd
        GEORADIUSBYMEMBER nokey x -1 yd
        GEORADIUSBYMEMBER nokey x -1 yd STORE
        GEORADIUSBYMEMBER nokey x -1 yd STORE d
        EXISTS d
        GEORADIUSBYMEMBER nokey x -1 yd FOO
        GEORADIUSBYMEMBER_RO nokey x -1 yd STORE d
        GEORADIUSBYMEMBER_RO Sicily a 100 km WITHCOORD COUNT 3 DESC
        GEORADIUSBYMEMBER_RO Sicily a 100 km STORE d
        SET str v
        GEORADIUS str 1 1 1 m FOO
        GEORADIUSBYMEMBER str a 1 yd
        GEORADIUSBYMEMBER_RO str a 1 m
        GEORADIUS Sicily 15 37 200 km STORE str
        GET str
    """,
    "arity": """
        GEOADD k 1 1
        GEOADD k
        GEOPOS
        GEOHASH
        GEODIST k a
        GEORADIUS k 1 1 1
        GEORADIUS_RO k 1 1 1
        GEORADIUSBYMEMBER k a 1
        GEORADIUSBYMEMBER_RO k a 1
        GEOSEARCH k FROMLONLAT 1 1 BYRADIUS
        GEOSEARCHSTORE d k FROMLONLAT 1 1 BYRADIUS 1
    """,
    "transaction": """
        MULTI
        GEOADD k 1 1 a 2 2 b
        GEOSEARCH k FROMMEMBER a BYRADIUS 200 km WITHCOORD WITHDIST
        GEORADIUS k 1 1 200 km WITHCOORD
        GEOPOS k a nope
        GEOSEARCHSTORE d k FROMMEMBER a BYRADIUS 200 km STOREDIST
        GEOSEARCH k FROMMEMBER nope BYRADIUS 200 km
        EXEC
    """,
}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, protocol, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name], protocol=protocol)


# --- randomized ----------------------------------------------------------------------------
UNITS = ("m", "km", "ft", "mi", "M", "Km")
METRES = {"m": 1.0, "km": 1000.0, "ft": 0.3048, "mi": 1609.34}


def _seed() -> int:
    seed = int(os.environ.get("GEO_SEED", random.randrange(1 << 32)))
    print(f"GEO_SEED={seed}")
    return seed


def _coordinate(rng: random.Random) -> tuple[str, str]:
    """Everywhere, with the edges of Redis' grid (the poles' cut, the antimeridian) over-weighted."""
    kind = rng.random()
    if kind < 0.15:
        lon = rng.choice((-180.0, 180.0, 0.0, rng.uniform(179.9, 180), rng.uniform(-180, -179.9)))
        lat = rng.choice((-85.05112878, 85.05112878, 0.0, rng.uniform(84.9, 85.05112878), rng.uniform(-1, 1)))
    else:
        lon, lat = rng.uniform(-180, 180), rng.uniform(-85.05112878, 85.05112878)
    return repr(lon), repr(lat)


def _near(rng: random.Random, lon: float, lat: float, spread: float) -> tuple[str, str]:
    lon = min(180.0, max(-180.0, lon + rng.uniform(-spread, spread)))
    lat = min(85.05112878, max(-85.05112878, lat + rng.uniform(-spread, spread)))
    return repr(lon), repr(lat)


def _populate(rng: random.Random, key: str, size: int) -> list[list[str]]:
    """GEOADDs of a world-wide scatter, dense clusters (many points per cell, equal distances from
    duplicates) and exact duplicates of earlier positions."""
    commands, points = [], []
    centres = [(rng.uniform(-180, 180), rng.uniform(-80, 80)) for _ in range(3)]
    for i in range(size):
        roll = rng.random()
        if roll < 0.4:
            point = _coordinate(rng)
        elif roll < 0.9 or not points:
            lon, lat = rng.choice(centres)
            point = _near(rng, lon, lat, rng.choice((0.001, 0.1, 2.0)))
        else:
            point = rng.choice(points)
        points.append(point)
        commands.append(["GEOADD", key, *point, f"m{i}"])
    return commands


def _distance(rng: random.Random, unit: str) -> str:
    """A length in `unit`: from a metre to half the Earth's circumference (log-uniform), now and
    then an extreme one."""
    if rng.random() < 0.05:
        return rng.choice(("0", "1e308", "inf", "1e-300"))
    return repr(10 ** rng.uniform(0, 7.3) / METRES[unit.lower()])


def _options(rng: random.Random, store: bool) -> list[str]:
    """WITH* flags, ASC/DESC and COUNT [ANY], in a random order (Redis reads them in any order)."""
    groups: list[list[str]] = []
    if not store:
        groups += [[word] for word in ("WITHCOORD", "WITHDIST", "WITHHASH") if rng.random() < 0.4]
    roll = rng.random()
    if roll < 0.7:
        groups.append(["ASC" if roll < 0.35 else "DESC"])
    if rng.random() < 0.5:
        groups.append(["COUNT", str(rng.choice((1, 2, 3, 5, 10, 50, rng.randrange(1, 400))))])
        if rng.random() < 0.3:
            groups.append(["ANY"])
    rng.shuffle(groups)
    return [word for group in groups for word in group]


def _search(rng: random.Random, key: str, size: int) -> list[str]:
    roll = rng.random()
    member = f"m{rng.randrange(size + 2)}"  # now and then a missing one
    lon, lat = _coordinate(rng)
    unit = rng.choice(UNITS)
    if roll < 0.45:
        origin = ["FROMMEMBER", member] if rng.random() < 0.4 else ["FROMLONLAT", lon, lat]
        if rng.random() < 0.5:
            area = ["BYRADIUS", _distance(rng, unit), unit]
        else:
            area = ["BYBOX", _distance(rng, unit), _distance(rng, unit), unit]
        return ["GEOSEARCH", key, *origin, *area, *_options(rng, False)]
    if roll < 0.55:
        origin = ["FROMMEMBER", member] if rng.random() < 0.4 else ["FROMLONLAT", lon, lat]
        area = ["BYRADIUS", _distance(rng, unit), unit]
        store = ["STOREDIST"] if rng.random() < 0.5 else []
        return ["GEOSEARCHSTORE", "dst", key, *origin, *area, *_options(rng, True), *store]
    if roll < 0.75:
        name = rng.choice(("GEORADIUS", "GEORADIUS_RO"))
        return [name, key, lon, lat, _distance(rng, unit), unit, *_options(rng, False)]
    name = rng.choice(("GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"))
    return [name, key, member, _distance(rng, unit), unit, *_options(rng, False)]


def _pipeline(port: int, commands: list[list[str]], protocol: int) -> list[bytes]:
    with RawClient(port, timeout=60) as client:
        client.command("FLUSHALL")
        if protocol == 3:
            client.command("HELLO", "3")
        replies = []
        for start in range(0, len(commands), 200):
            batch = commands[start : start + 200]
            client.send(b"".join(encode_command(*args) for args in batch))
            replies += [client.reply() for _ in batch]
        return replies


def _random_session(seed: int, sets: int, searches: int) -> list[list[str]]:
    rng = random.Random(seed)
    commands: list[list[str]] = []
    sizes = {}
    for n in range(sets):
        key = f"geo{n}"
        sizes[key] = rng.choice((5, 40, 300, 1000))
        commands += _populate(rng, key, sizes[key])
    for _ in range(searches):
        key = rng.choice(list(sizes))
        size = sizes[key]
        roll = rng.random()
        if roll < 0.8:
            commands.append(_search(rng, key, size))
            if commands[-1][0] == "GEOSEARCHSTORE":
                commands.append(["ZRANGE", "dst", "0", "-1", "WITHSCORES"])
        elif roll < 0.9:
            a, b = f"m{rng.randrange(size)}", f"m{rng.randrange(size)}"
            commands.append(["GEODIST", key, a, b, *rng.sample(UNITS, rng.choice((0, 1)))])
        else:
            members = [f"m{rng.randrange(size + 1)}" for _ in range(rng.randrange(1, 8))]
            commands.append([rng.choice(("GEOPOS", "GEOHASH")), key, *members])
    return commands


async def _compare_random(port: int, oracle_port: int, seed: int, sets: int, searches: int, protocol: int) -> None:
    commands = _random_session(seed, sets, searches)
    theirs = await trio.to_thread.run_sync(_pipeline, oracle_port, commands, protocol)
    ours = await trio.to_thread.run_sync(_pipeline, port, commands, protocol)
    bad = "\n".join(mismatches(commands, theirs, ours))
    assert not bad, f"GEO_SEED={seed}\n{bad[:5000]}"


async def test_random_searches_same_as_redis(port, oracle_port):
    """2,000 searches, distances and positions over four sets of up to 1,000 points."""
    await _compare_random(port, oracle_port, _seed(), sets=4, searches=2000, protocol=2)


async def test_random_searches_same_as_redis_resp3(port, oracle_port):
    await _compare_random(port, oracle_port, _seed(), sets=2, searches=600, protocol=3)


# Words a confused or hostile client might put anywhere: every option, wrong units, numbers at
# the edges of float and int64 parsing, members that exist and ones that do not, a string key.
_SOUP = (
    "WITHDIST WITHHASH WITHCOORD ANY ASC DESC COUNT STORE STOREDIST FROMMEMBER FROMLONLAT BYRADIUS BYBOX "
    "m km ft mi yd KM withdist count 0 -1 1 2 3 100 9223372036854775807 9223372036854775808 "
    "-9223372036854775808 01 nan inf -inf 1e308 1e400 1e-320 0x1p3 180 -180 180.0000001 85.05112878 "
    "-85.05112879 12 38 15 37 a b Palermo nope dst str"
).split()
_HEADS = (
    "GEOSEARCH Sicily",
    "GEOSEARCH nokey",
    "GEOSEARCH str",
    "GEOSEARCHSTORE dst Sicily",
    "GEOSEARCHSTORE dst nokey",
    "GEOSEARCHSTORE str Sicily",
    "GEORADIUS Sicily",
    "GEORADIUS nokey",
    "GEORADIUS_RO Sicily",
    "GEORADIUSBYMEMBER Sicily",
    "GEORADIUSBYMEMBER nokey",
    "GEORADIUSBYMEMBER_RO Sicily",
    "GEOADD Sicily",
    "GEOADD str",
    "GEODIST Sicily Palermo",
    "GEOPOS Sicily",
    "GEOHASH Sicily",
)


def _soup_session(seed: int, count: int) -> list[list[str]]:
    rng = random.Random(seed)
    commands = [
        ["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"],
        ["GEOADD", "Sicily", "12", "38", "a", "12", "38", "b"],
        ["SET", "str", "v"],
    ]
    for _ in range(count):
        words = rng.choice(_HEADS).split() + [rng.choice(_SOUP) for _ in range(rng.randrange(0, 9))]
        commands.append(words)
        if words[0] in ("GEOSEARCHSTORE", "GEORADIUS", "GEORADIUSBYMEMBER", "GEOADD"):
            commands.append(["ZRANGE", words[1], "0", "-1", "WITHSCORES"])
            commands.append(["TYPE", "dst"])
    return commands


async def test_random_arguments_same_errors_as_redis(port, oracle_port):
    """Arguments drawn from a soup of options, units and edge numbers: the same reply, error or not,
    as redis-server gives (Redis' parser reads the key and members mid-way: the order matters)."""
    seed = _seed()
    commands = _soup_session(seed, 3000)
    theirs = await trio.to_thread.run_sync(_pipeline, oracle_port, commands, 2)
    ours = await trio.to_thread.run_sync(_pipeline, port, commands, 2)
    bad = "\n".join(mismatches(commands, theirs, ours))
    assert not bad, f"GEO_SEED={seed}\n{bad[:5000]}"


NUL_BYTES = [
    [b"GEOADD", b"k", b"nx\x00junk", b"1", b"1", b"a"],
    [b"GEOADD", b"k", b"1", b"1\x00", b"a"],
    [b"GEODIST", b"k", b"a", b"a", b"km\x00x"],
    [b"GEOSEARCH", b"k", b"FROMMEMBER", b"a", b"BYRADIUS", b"1", b"m\x00", b"withdist\x00zz"],
    [b"GEOSEARCH", b"k", b"FROMMEMBER", b"a\x00", b"BYRADIUS", b"1", b"m"],
    [b"GEORADIUS", b"k", b"1", b"1", b"1", b"m", b"STORE\x00", b"d"],
    [b"ZRANGE", b"d", b"0", b"-1"],
]


@pytest.mark.parametrize("protocol", [2, 3])
async def test_options_end_at_a_nul_byte_as_in_redis(protocol, port, oracle_port):
    """Redis compares options and units with strcasecmp: "m\\0x" is the unit M, a float is
    refused whole."""
    theirs = await trio.to_thread.run_sync(replay, oracle_port, NUL_BYTES, protocol)
    ours = await trio.to_thread.run_sync(replay, port, NUL_BYTES, protocol)
    bad = "\n".join(mismatches(NUL_BYTES, theirs, ours))
    assert not bad, bad
