"""SORT and SORT_RO against redis-server 7.0, byte for byte, RESP2 and RESP3; then thousands of
random SORTs (seeded: the seed is printed, SORT_SEED=<n> replays it) over lists, sets and sorted
sets with weights, hash fields, GET patterns, LIMIT, ASC/DESC, ALPHA and STORE.

What legitimately differs is left out: a set's own order (SORT of a set BY a constant without
STORE answers it in the set's iteration order, a hash table's in Redis); ALPHA by weights that
tie, whose order Redis leaves to the C library's qsort.
"""

from __future__ import annotations

import os
import random
import shlex

import pytest
import trio
from resp_helpers import RawClient, assert_same_as_redis

CASES = {
    "sort-basics": """
        RPUSH l 3 1 2 10 -1.5 1e2 0x10 inf
        SORT l
        SORT l DESC
        SORT l LIMIT 1 3
        SORT l LIMIT -5 2
        SORT l LIMIT 2 -1
        SORT l LIMIT 2 0
        SORT l LIMIT 100 2
        SORT l LIMIT 7 100
        SORT l LIMIT 8 1
        SORT l LIMIT x 1
        SORT l LIMIT 0 9223372036854775808
        SORT l LIMIT 0
        SORT l ALPHA
        SORT l ALPHA DESC LIMIT 0 3
        SORT_RO l
        SORT_RO l DESC LIMIT 0 2
        SORT_RO l STORE dst
        SORT l STORE
        SORT l FOO
        SORT l ASC DESC
        SORT l DESC ASC
        SORT l STORE dst
        LRANGE dst 0 -1
        SORT l LIMIT 0 0 STORE dst
        EXISTS dst
        SORT nosuch
        SORT nosuch STORE dst
        SORT nosuch BY nosort
        SORT_RO nosuch
        SET str v
        SORT str
        SORT_RO str
        SORT str LIMIT x 1
        HSET h a 1
        SORT h
        RPUSH bad 1 abc 2
        SORT bad
        SORT bad ALPHA
        SORT bad STORE dst2
        EXISTS dst2
        RPUSH nan 1 nan
        SORT nan
        RPUSH spaced " 5" 3 ""
        SORT spaced
        RPUSH trailing "5 " 3
        SORT trailing
        RPUSH big 1e400 1
        SORT big
        RPUSH hex 0x 1
        SORT hex
        SORT
    """,
    "sort-patterns": """
        RPUSH l b a c d
        MSET w_a 3 w_b 1 w_c 2 v_a A v_b B v_c C
        HSET h_a f 30 g x
        HSET h_b f 10
        HSET h_c f 20
        SORT l BY w_*
        SORT l BY w_* DESC
        SORT l BY w_* GET #
        SORT l BY w_* GET v_* GET # GET h_*->f GET h_*->g GET nostar GET h_*->
        SORT l BY h_*->f
        SORT l BY h_*->f DESC LIMIT 1 2
        SORT l BY h_*->nofield
        SORT l BY v_* ALPHA
        SORT l BY v_* ALPHA DESC
        SORT l BY nosort
        SORT l BY nosort DESC
        SORT l BY nosort LIMIT 1 2
        SORT l BY nosort DESC LIMIT 1 2
        SORT l BY nosort GET v_*
        SORT l BY w_* GET v_* STORE dst
        LRANGE dst 0 -1
        SORT l BY w_* GET # GET v_* STORE dst
        LRANGE dst 0 -1
        SORT l BY v_*
        SORT l BY w_*->f
        SORT l BY *
        SORT l GET *
        SORT l GET #->f
        SET a 7
        SORT l BY * GET *
        ZADD z 3 x 1 y 2 w
        SORT z BY nosort
        SORT z BY nosort DESC
        SORT z BY nosort LIMIT 1 5
        SORT z BY nosort DESC LIMIT 1 1
        SORT z ALPHA
        SORT z ALPHA DESC LIMIT 0 2
        SORT z BY nosort STORE dz
        LRANGE dz 0 -1
        SADD s c a b
        SORT s ALPHA
        SORT s BY nosort STORE ds
        LRANGE ds 0 -1
        SORT s BY nosort ALPHA STORE ds
        LRANGE ds 0 -1
        SADD si 5 3 9 1
        SORT si
        SORT si DESC LIMIT 1 2
        SET w_x notanumber
        SORT z BY w_*
        EXPIRE ds 100
        SORT si STORE ds
        TTL ds
        SORT l BY w_* GET # STORE l
        LRANGE l 0 -1
        RPUSH m a b
        SET xa-> 1
        SET x->a 2
        SET a*b 3
        HSET ha x->y 4
        HSET ha ->y 5
        SORT m BY x*-> GET x*-> GET *->
        SORT m BY w_* GET ->* GET h*->x->y GET h*->->y GET a*b GET *b GET h*
        SORT m BY ->* DESC
        SORT m GET x->* GET x->*->
        SORT m BY "" GET ""
        SORT m LIMIT 0 1 LIMIT 1 1
        SORT m BY w_* BY nosort
        SORT m STORE d1 STORE d2
        EXISTS d1 d2
        SORT m GET # ALPHA desc GET #
        SELECT 1
        RPUSH dl 2 1 3
        MSET w_1 5 w_2 4 v_3 three
        SORT dl BY w_* GET # GET v_*
        SORT dl BY w_* STORE dd
        LRANGE dd 0 -1
        SORT_RO m
        SELECT 0
        EXISTS dd
        SORT dl
    """,
    "parse-float-hex-regression": """
        ZADD z 0x a
        ZADD z 0x. a
        INCRBYFLOAT f 0x
        ZRANGEBYSCORE z 0x 1
        ZADD z 1 a
        ZRANGEBYSCORE z -0x 1
    """,
}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, protocol, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name], protocol=protocol)


def _random_dataset(rng: random.Random) -> list[list[str]]:
    """A few source keys of each type, weights and hashes for their elements."""
    pool = [str(rng.randint(-50, 50)) for _ in range(8)] + [f"{rng.uniform(-9, 9):.3f}" for _ in range(4)]
    pool += [rng.choice(["a", "b", "ab", "B", "zz", "x1", "1e2", "", "-0", " 7"]) for _ in range(6)]
    pool = list(dict.fromkeys(pool))
    lines = []
    for i in range(3):
        lines.append(["RPUSH", f"l{i}", *(rng.choice(pool) for _ in range(rng.randint(1, 15)))])
        lines.append(
            ["ZADD", f"z{i}", *(x for m in rng.sample(pool, rng.randint(1, 10)) for x in (str(rng.randint(0, 5)), m))]
        )
        lines.append(["SADD", f"s{i}", *rng.sample(pool, rng.randint(1, 10))])
    weights = rng.sample(range(-1000, 1000), len(pool))  # unique: ALPHA ties are left to qsort
    for element, weight in zip(pool, weights):
        if rng.random() < 0.8:
            lines.append(["SET", f"w_{element}", str(weight) if rng.random() < 0.9 else f"{weight}.5"])
        lines.append(["SET", f"v_{element}", f"val{weight}"])  # every element's: ALPHA BY v_* has no ties
        if rng.random() < 0.7:
            lines.append(["HSET", f"h_{element}", "f", str(weight), "g", f"g{weight}"])
    return lines


def _random_sort(rng: random.Random) -> list[str] | None:
    kind = rng.choice("lzs")
    args = [rng.choice(["SORT", "SORT_RO"]), f"{kind}{rng.randint(0, 3)}"]
    by = rng.choice([None, None, "w_*", "h_*->f", "v_*", "nosort", "h_*->nofield"])
    alpha = rng.random() < 0.4
    if by in ("v_*", "h_*->nofield") or (by and alpha):
        alpha = True
        if by != "v_*":
            return None  # equal ALPHA weights (nothing found): qsort's order
    if by == "nosort" and kind == "s" and args[0] == "SORT_RO":
        return None  # the set's own order
    if by:
        args += ["BY", by]
    if rng.random() < 0.4:
        args += ["LIMIT", str(rng.randint(-2, 12)), str(rng.randint(-2, 12))]
    for _ in range(rng.choice([0, 0, 1, 2])):
        args += ["GET", rng.choice(["#", "v_*", "h_*->g", "w_*", "nostar", "h_*->f"])]
    if rng.random() < 0.5:
        args.append(rng.choice(["ASC", "DESC"]))
    if alpha:
        args.append("ALPHA")
    if args[0] == "SORT" and rng.random() < 0.3:
        if by == "nosort" and kind == "s":
            pass  # STORE of a set by nothing: sorted ALPHA, the same everywhere
        return [*args, "STORE", "dst"]
    if by == "nosort" and kind == "s":
        return None
    return args


def _replay(port: int, setup: list[list[str]], sorts: list[list[str]]) -> list[bytes]:
    with RawClient(port) as client:
        client.command("FLUSHALL")
        for line in setup:
            client.command(*line)
        out = []
        for args in sorts:
            out.append(client.command(*args))
            if "STORE" in args:
                out.append(client.command("LRANGE", "dst", "0", "-1"))
        return out


async def test_random_sorts_as_redis(port, oracle_port):
    seed = int(os.environ.get("SORT_SEED", random.randrange(1 << 32)))
    print(f"SORT_SEED={seed}")
    rng = random.Random(seed)
    for _ in range(6):
        setup = _random_dataset(rng)
        sorts = [s for s in (_random_sort(rng) for _ in range(500)) if s is not None]
        theirs = await trio.to_thread.run_sync(_replay, oracle_port, setup, sorts)
        ours = await trio.to_thread.run_sync(_replay, port, setup, sorts)
        assert ours == theirs, _first_difference(setup, sorts, theirs, ours, seed)


def _first_difference(setup, sorts, theirs, ours, seed) -> str:
    shown = [args for args in sorts for _ in range(2 if "STORE" in args else 1)]
    for args, want, got in zip(shown, theirs, ours):
        if want != got:
            return f"seed {seed}: {shlex.join(args)}: redis {want!r}, replicator {got!r}\nsetup: {setup}"
    return f"seed {seed}: lengths differ"
