"""Blocking commands when they need not wait, byte for byte against redis-server 7.0: with data at
hand, inside MULTI (never blocks: nil), wrong types, and every argument error (bad timeouts,
numkeys, directions). How they wait is tests/frontends/test_blocking.py's and tests/e2e's."""

from __future__ import annotations

import pytest
from resp_helpers import assert_same_as_redis

CASES = {
    "lists": """
        RPUSH l a b c
        BLPOP l 0
        BRPOP l 0.5
        BLPOP nokey l 1
        BLPOP nokey l 1
        EXISTS l
        RPUSH l2 x y z w v u t
        SET s v
        BLPOP nokey s l2 0
        BLPOP l2 s 0
        BRPOP l2 x
        BRPOP l2 -1
        BRPOP l2 -0.0001
        BRPOP l2 1e400
        BRPOP l2 inf
        BRPOP l2 nan
        BRPOP l2 " 1"
        BRPOP l2 0x10
        BRPOP l2 1.5e2
        BLPOP l2
        RPUSH src 1 2 3
        BLMOVE src dst LEFT RIGHT 0
        BLMOVE src dst RIGHT LEFT 0.1
        BLMOVE src dst UP LEFT 0
        BLMOVE src dst LEFT LEFT x
        BLMOVE src s LEFT LEFT 0
        BLMOVE s dst LEFT LEFT 0
        BRPOPLPUSH src dst 0
        BRPOPLPUSH src dst -1
        BRPOPLPUSH s dst 0
        LRANGE dst 0 -1
        RPUSH m1 a b c d
        BLMPOP 0 2 nokey m1 LEFT
        BLMPOP 0 2 nokey m1 RIGHT COUNT 2
        BLMPOP 0 1 m1 LEFT COUNT 10
        BLMPOP 0 1 s LEFT
        BLMPOP x 1 m1 LEFT
        BLMPOP -1 1 m1 LEFT
        BLMPOP 0 0 m1 LEFT
        BLMPOP 0 5 m1 LEFT
        BLMPOP 0 1 m1 UP
        BLMPOP 0 1 m1 LEFT COUNT 0
        BLMPOP 0 1 m1 LEFT COUNT x
        BLMPOP 0 1 m1 LEFT FOO 1
        BLMPOP x 0 m1 LEFT
    """,
    "zsets": """
        ZADD z 1 a 2 b 3 c 4 d
        BZPOPMIN z 0
        BZPOPMAX z 0
        BZPOPMIN nokey z 1.5
        BZPOPMIN z 0
        ZADD z2 1.5 x 2.5 y
        SET s v
        BZPOPMAX nokey s z2 0
        BZPOPMIN z2 -1
        BZPOPMIN z2 abc
        ZADD m 1 a 2 b 3 c 4 d
        BZMPOP 0 2 nokey m MIN
        BZMPOP 0 1 m MAX COUNT 2
        BZMPOP 0 1 m MAX COUNT 20
        BZMPOP 0 1 s MIN
        BZMPOP 0 1 m MIDDLE
        BZMPOP -1 1 m MIN
        BZMPOP 0 0 m MIN
    """,
    "in_multi": """
        MULTI
        BLPOP nokey 0
        BRPOP nokey 1
        BLMOVE nokey dst LEFT LEFT 0
        BRPOPLPUSH nokey dst 0
        BLMPOP 0 1 nokey LEFT
        BZPOPMIN nokey 0
        BZPOPMAX nokey 0
        BZMPOP 0 1 nokey MIN
        RPUSH l a
        BLPOP l 0
        BLPOP l x
        BRPOPLPUSH l d -1
        BZPOPMIN z abc
        BLMOVE l d LEFT LEFT x
        BLMPOP x 1 l LEFT
        EXEC
    """,
    "scripts": """
        RPUSH l a
        EVAL "return redis.call('BLPOP', KEYS[1], 0)" 1 l
        EVAL "return redis.call('BLMPOP', 0, 1, KEYS[1], 'LEFT')" 1 l
        EVAL "return redis.call('BZMPOP', 0, 1, KEYS[1], 'MIN')" 1 l
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name])


RESP3_CASE = """
    ZADD z 1 a 2.5 b
    BZPOPMIN z 0
    BZMPOP 0 1 z MAX
    MULTI
    BLPOP nokey 0
    BLMOVE nokey d LEFT LEFT 0
    BZPOPMAX nokey 0
    EXEC
"""


async def test_resp3_shapes_as_redis(port, oracle_port):
    await assert_same_as_redis(port, oracle_port, RESP3_CASE, protocol=3)
