"""Streams, byte for byte against redis-server 7.0 (t_stream.c).

CASES use explicit IDs, so replies are deterministic; what depends on the clock (IDs from `*`,
idle times, delivery and seen times) is compared by shape, or with the times masked, in the
tests below them. A seeded random walk compares long sequences of stream commands, and the
listpack-node emulation is checked where users can see it: `~` trimming and XINFO's radix-tree
figures after thousands of entries of mixed sizes.
"""

from __future__ import annotations

import os
import random
import re
import shlex

import hiredis
import pytest
import trio
from resp_helpers import RawClient, encode_command

CASES = {
    "xadd_xrange": """
        XADD s 1-1 a 1
        XADD s 1-2 b 2 c 3
        XADD s 1-* d 4
        XADD s 2-* e 5
        XADD s 2 f 6
        XADD s 1-5 g 7
        XADD s 3-0 a 1
        XADD s 0-0 a 1
        XADD s 0-* a 1
        XADD s 0 a 1
        XADD s 5-18446744073709551615 a 1
        XADD s 5-* a 1
        XADD s 18446744073709551616-0 a 1
        XADD s 1-18446744073709551616 a 1
        XADD s abc a 1
        XADD s - a 1
        XADD s + a 1
        XADD s 7- a 1
        XADD s -7 a 1
        XADD s 7-x a 1
        XADD s 007-1 a 1
        XADD s 8-+1 a 1
        XADD s 9--0 a 1
        XADD s 10 a
        XADD s 10 a 1 b
        XADD s 10
        XLEN s
        XRANGE s - +
        XRANGE s 1 1
        XRANGE s (1-1 +
        XRANGE s - (2-0
        XRANGE s (1-1 (1-2
        XRANGE s - + COUNT 2
        XRANGE s - + COUNT 0
        XRANGE s - + COUNT -5
        XRANGE s - + COUNT x
        XRANGE s - + COUNT
        XRANGE s - + LIMIT 2
        XRANGE s - + COUNT 1 COUNT 3
        XRANGE s 2 1
        XRANGE s ( +
        XRANGE s (- +
        XRANGE s - (+
        XRANGE s (18446744073709551615-18446744073709551615 +
        XRANGE s - (0-0
        XRANGE s (0 +
        XRANGE s x +
        XRANGE s 1-1 x
        XRANGE nokey - +
        XRANGE nokey - + COUNT 0
        XREVRANGE s + -
        XREVRANGE s + - COUNT 1
        XREVRANGE s (3 (1-1
        XREVRANGE s 2 2
        XREVRANGE s - +
        XREVRANGE s + - COUNT 0
        XREVRANGE nokey + -
        XLEN nokey
        SET str v
        XADD str 1 a 1
        XRANGE str - +
        XLEN str
        XADD s2 NOMKSTREAM 1 a 1
        EXISTS s2
        XADD s2 NOMKSTREAM * a 1
        XADD s2 nomkstream MAXLEN 1 1 a 1
        XADD s2 MAXLEN 1 NOMKSTREAM 1 a 1
        XADD s2 1 a 1 b 2
        XADD s2 2 a 1 b 2
        XRANGE s2 - +
    """,
    "xadd_trim_options": """
        XADD s MAXLEN 2 1 a 1
        XADD s MAXLEN 2 2 a 1
        XADD s MAXLEN 2 3 a 1
        XADD s MAXLEN = 2 4 a 1
        XRANGE s - +
        XADD s MAXLEN ~ 2 5 a 1
        XLEN s
        XADD s MAXLEN -1 6 a 1
        XADD s MAXLEN x 6 a 1
        XADD s MAXLEN 1 MINID 1 6 a 1
        XADD s MINID 1 MAXLEN 1 6 a 1
        XADD s MINID 5 6 a 1
        XRANGE s - +
        XADD s MINID x 7 a 1
        XADD s MINID - 7 a 1
        XADD s MINID = 6 7 a 1
        XADD s MINID ~ 100 8 a 1
        XLEN s
        XADD s LIMIT 10 9 a 1
        XADD s MAXLEN 1 LIMIT 10 9 a 1
        XADD s MAXLEN ~ 1 LIMIT 10 9 a 1
        XADD s MAXLEN ~ 1 LIMIT -1 10 a 1
        XADD s MAXLEN ~ 1 LIMIT x 10 a 1
        XADD s LIMIT 0 10 a 1
        XADD s MAXLEN ~ 0 LIMIT 0 10 a 1
        XLEN s
        XADD s MAXLEN
        XADD s MAXLEN 5
        XADD s MAXLEN ~ *
        XADD s MAXLEN ~ 5
        XADD s FOO 1 a 1
        XADD s MAXLEN 5 11
        XTRIM s
        XTRIM s MAXLEN
        XTRIM s MAXLEN 1 extra
        XTRIM s FOO 1
        XTRIM s LIMIT 1
        XTRIM s LIMIT 0
        XTRIM s MAXLEN 1 LIMIT 1
        XTRIM s MAXLEN -1
        XTRIM s MINID (1
        XTRIM nokey MAXLEN 0
        XTRIM nokey MAXLEN x
        SET str v
        XTRIM str MAXLEN 0
        XADD t 1 a 1
        XADD t 2 a 1
        XADD t 3 a 1
        XADD t 4 a 1
        XTRIM t MAXLEN 5
        XTRIM t MAXLEN = 3
        XTRIM t MINID 3
        XTRIM t MINID 3
        XTRIM t MAXLEN ~ 0
        XTRIM t MAXLEN 0
        XLEN t
        XRANGE t - +
        EXISTS t
        XADD t 5 a 1
        XINFO STREAM t
    """,
    "xdel_xsetid": """
        XADD s 1 a 1
        XADD s 2 b 2
        XADD s 3 c 3
        XADD s 4 d 4
        XDEL s 2 2 9
        XDEL s 1 x
        XDEL s -
        XDEL nokey 1 x
        XDEL s 1
        XRANGE s - +
        XINFO STREAM s
        XDEL s 3 4
        XLEN s
        XINFO STREAM s
        XADD s 3 a 1
        XADD s 5 a 1
        XINFO STREAM s
        XSETID s 4
        XSETID s 5
        XSETID s 9 ENTRIESADDED 1
        XSETID s 9 ENTRIESADDED 100 MAXDELETEDID 8
        XSETID s 9 MAXDELETEDID 10
        XSETID s 9 ENTRIESADDED -1
        XSETID s 9 ENTRIESADDED x
        XSETID s 9 FOO 1
        XSETID s 9 ENTRIESADDED
        XSETID s x
        XSETID s -
        XSETID nokey 1
        XSETID nokey x
        XINFO STREAM s
        XADD s 9 a 1
        XADD s 9-1 a 1
        SET str v
        XDEL str 1
        XSETID str 1
        XADD e 1 a 1
        XDEL e 1
        XLEN e
        XINFO STREAM e
        XSETID e 0
        XSETID e 18446744073709551615-18446744073709551615
        XADD e * a 1
        XADD e 18446744073709551615-18446744073709551615 a 1
    """,
    "xread": """
        XADD s 1 a 1
        XADD s 2 b 2
        XADD t 5 c 3
        XREAD STREAMS s 0
        XREAD COUNT 1 STREAMS s 0
        XREAD STREAMS s t 1 0
        XREAD STREAMS s t 2 5
        XREAD STREAMS s $
        XREAD STREAMS nokey 0
        XREAD STREAMS nokey $
        XREAD STREAMS s nokey 0 0
        XREAD STREAMS s
        XREAD STREAMS s t 0
        XREAD STREAMS s >
        XREAD STREAMS s x
        XREAD STREAMS s -
        XREAD STREAMS s +
        XREAD STREAMS s 1-
        XREAD COUNT x STREAMS s 0
        XREAD COUNT -1 STREAMS s 0
        XREAD COUNT 0 STREAMS s 0
        XREAD BLOCK x STREAMS s 0
        XREAD BLOCK -1 STREAMS s 0
        XREAD BLOCK 0 STREAMS s 0
        XREAD BLOCK 10 STREAMS s 0
        XREAD BLOCK 1 STREAMS s $
        XREAD BLOCK 1 COUNT 1 STREAMS s nokey 2 0
        XREAD GROUP g c STREAMS s 0
        XREAD NOACK STREAMS s 0
        XREAD FOO STREAMS s 0
        XREAD COUNT 1 s 0
        XREAD STREAMS s s 0 1
        SET str v
        XREAD STREAMS str 0
        XREAD STREAMS s str 0 x
        XREAD STREAMS nokey str $ 0
        XREAD STREAMS s 18446744073709551615-18446744073709551615
    """,
    "groups": """
        XGROUP CREATE s g $
        XGROUP CREATE s g $ MKSTREAM
        XGROUP CREATE s g $ MKSTREAM
        XINFO GROUPS s
        XADD s 1 a 1
        XADD s 2 b 2
        XADD s 3 c 3
        XGROUP CREATE s g0 0
        XGROUP CREATE s g1 1 ENTRIESREAD 1
        XGROUP CREATE s g2 x
        XGROUP CREATE s g2 -
        XGROUP CREATE s g2 0 ENTRIESREAD -2
        XGROUP CREATE s g2 0 ENTRIESREAD x
        XGROUP CREATE s g2 0 FOO
        XGROUP CREATE s g2 0 ENTRIESREAD
        XGROUP CREATE s g2 0 MKSTREAM ENTRIESREAD 1 ENTRIESREAD 2
        XGROUP CREATE nokey g 0
        XGROUP CREATE
        XGROUP CREATE s
        XGROUP FOO s g
        XGROUP
        XINFO GROUPS s
        XREADGROUP GROUP g0 alice COUNT 1 STREAMS s >
        XREADGROUP GROUP g0 bob STREAMS s >
        XREADGROUP GROUP g0 bob STREAMS s >
        XINFO GROUPS s
        XPENDING s g0
        XPENDING s g0 - + 10 nobody
        XPENDING s nogroup
        XPENDING nokey g0
        XREADGROUP GROUP g0 alice STREAMS s 0
        XREADGROUP GROUP g0 bob STREAMS s 0
        XREADGROUP GROUP g0 bob COUNT 1 STREAMS s 0
        XREADGROUP GROUP g0 bob STREAMS s 2
        XACK s g0 1 2
        XACK s g0 1 x
        XACK s nogroup 1
        XACK nokey g0 1
        XPENDING s g0
        XREADGROUP GROUP g0 bob STREAMS s 0
        XDEL s 3
        XREADGROUP GROUP g0 bob STREAMS s 0
        XINFO GROUPS s
        XADD s 4 d 4
        XREADGROUP GROUP g0 bob NOACK STREAMS s >
        XPENDING s g0
        XINFO GROUPS s
        XREADGROUP GROUP g0 bob STREAMS s $
        XREADGROUP GROUP nogroup bob STREAMS s >
        XREADGROUP GROUP g0 bob STREAMS nokey >
        XREADGROUP GROUP g0 bob STREAMS s
        XREADGROUP GROUP g0 STREAMS s >
        XREADGROUP STREAMS s >
        XREADGROUP COUNT 1 STREAMS s > >
        XREADGROUP GROUP g0 bob STREAMS s x
        XREADGROUP GROUP g0 bob STREAMS s >
        XREADGROUP GROUP g0 bob BLOCK 1 STREAMS s >
        XGROUP SETID s g0 0
        XGROUP SETID s g0 0 ENTRIESREAD 0
        XINFO GROUPS s
        XGROUP SETID s g0 -
        XGROUP SETID s g0 +
        XGROUP SETID s g0 $
        XGROUP SETID s g0 x
        XGROUP SETID s nogroup 0
        XGROUP SETID s g0 0 MKSTREAM
        XGROUP SETID s g0 0 ENTRIESREAD
        XGROUP SETID nokey g0 0
        XGROUP CREATECONSUMER s g0 carol
        XGROUP CREATECONSUMER s g0 carol
        XGROUP CREATECONSUMER s nogroup carol
        XGROUP CREATECONSUMER nokey g0 carol
        XGROUP DELCONSUMER s g0 carol
        XGROUP DELCONSUMER s g0 bob
        XGROUP DELCONSUMER s g0 nobody
        XPENDING s g0
        XGROUP DESTROY s g1
        XGROUP DESTROY s g1
        XGROUP DESTROY nokey g1
        XGROUP DESTROY s g1 x
        XGROUP HELP
        XGROUP HELP x
        XINFO GROUPS s
        SET str v
        XGROUP CREATE str g 0
        XREADGROUP GROUP g c STREAMS str >
        XACK str g 1
        XPENDING str g
        XINFO GROUPS str
        XINFO STREAM str
    """,
    "xpending_forms": """
        XADD s 1 a 1
        XADD s 2 b 2
        XADD s 3 c 3
        XGROUP CREATE s g 0
        XREADGROUP GROUP g alice COUNT 2 STREAMS s >
        XREADGROUP GROUP g bob STREAMS s >
        XPENDING s g
        XPENDING s g - + 0
        XPENDING s g - + -1
        XPENDING s g - + x
        XPENDING s g x + 1
        XPENDING s g - x 1
        XPENDING s g ( + 1
        XPENDING s g (18446744073709551615-18446744073709551615 + 1
        XPENDING s g - (0 1
        XPENDING s g - +
        XPENDING s g - + 0 alice extra more
        XPENDING s g IDLE x - + 10
        XPENDING s g IDLE 10 - +
        XPENDING s g IDLE 999999999 - + 10
        XPENDING s g IDLE 999999999 - + 10 alice
        XPENDING s g IDLE 999999999 (1 (3 10 bob
        XPENDING s g IDLE 1 2 3 4 5 6
        XPENDING s g 1
        XPENDING s g 1 2
        XPENDING s g - + 10 nobody
    """,
    "xclaim_xautoclaim": """
        XADD s 1 a 1
        XADD s 2 b 2
        XADD s 3 c 3
        XADD s 4 d 4
        XGROUP CREATE s g 0
        XREADGROUP GROUP g alice STREAMS s >
        XCLAIM s g bob 999999999 1 2
        XCLAIM s g bob 0 1 JUSTID
        XCLAIM s g bob 0 2 RETRYCOUNT 5
        XCLAIM s g bob 0 9 FORCE
        XDEL s 4
        XCLAIM s g bob 0 4
        XPENDING s g
        XCLAIM s g bob x 1
        XCLAIM s g bob 0 1 IDLE x
        XCLAIM s g bob 0 1 TIME x
        XCLAIM s g bob 0 1 RETRYCOUNT x
        XCLAIM s g bob 0 1 LASTID x
        XCLAIM s g bob 0 1 FOO
        XCLAIM s g bob 0 1 IDLE
        XCLAIM s g bob 0 x 1
        XCLAIM s nogroup bob 0 1
        XCLAIM nokey g bob 0 1
        XCLAIM s g bob 0 1 LASTID 100
        XINFO GROUPS s
        XCLAIM s g bob 0 1 LASTID 5
        XINFO GROUPS s
        XGROUP CREATE s h 0
        XCLAIM s h carol 0 1 2 FORCE JUSTID
        XPENDING s h
        XCLAIM s h carol 0 3 FORCE
        XINFO CONSUMERS s nogroup
        XAUTOCLAIM s g dave 0 0
        XAUTOCLAIM s g dave 0 0 COUNT 1
        XAUTOCLAIM s g dave 0 0 COUNT 1 JUSTID
        XAUTOCLAIM s g dave 999999999 0
        XAUTOCLAIM s g dave 0 (1 JUSTID
        XAUTOCLAIM s g dave 0 (18446744073709551615-18446744073709551615
        XAUTOCLAIM s g dave x 0
        XAUTOCLAIM s g dave 0 x
        XAUTOCLAIM s g dave 0 0 COUNT 0
        XAUTOCLAIM s g dave 0 0 COUNT -1
        XAUTOCLAIM s g dave 0 0 COUNT x
        XAUTOCLAIM s g dave 0 0 COUNT 922337203685477581
        XAUTOCLAIM s g dave 0 0 FOO
        XAUTOCLAIM s g dave 0 0 COUNT
        XAUTOCLAIM s nogroup dave 0 0
        XAUTOCLAIM nokey g dave 0 0
        XPENDING s g
        XREADGROUP GROUP g erin STREAMS s 0
        XADD s 5 e 5
        XADD s 6 f 6
        XREADGROUP GROUP g erin STREAMS s >
        XDEL s 5 6
        XAUTOCLAIM s g dave 0 0 COUNT 2
        XAUTOCLAIM s g dave 0 0
        XPENDING s g
        SET str v
        XCLAIM str g c 0 1
        XAUTOCLAIM str g c 0 0
    """,
    "xinfo": """
        XINFO STREAM nokey
        XINFO STREAM nokey FULL COUNT x
        XINFO
        XINFO FOO
        XINFO FOO s
        XINFO STREAM
        XINFO GROUPS
        XINFO CONSUMERS s
        XINFO HELP
        XINFO HELP x
        XADD s 1 a 1
        XADD s 2 b 2 c 3
        XINFO STREAM s
        XINFO STREAM s FULL
        XINFO STREAM s FULL COUNT 1
        XINFO STREAM s FULL COUNT 0
        XINFO STREAM s FULL COUNT -1
        XINFO STREAM s FULL COUNT x
        XINFO STREAM s FULL COUNT
        XINFO STREAM s FULLY
        XINFO STREAM s FULL LIMIT 1
        XINFO STREAM s FULL COUNT 1 x
        XINFO GROUPS s
        XINFO CONSUMERS s g
        XGROUP CREATE s g 0
        XGROUP CREATE s a $
        XINFO GROUPS s
        XINFO CONSUMERS s g
        XDEL s 1
        XINFO GROUPS s
        XINFO STREAM s
        XADD s 3 c 3
        XINFO GROUPS s
        XGROUP SETID s a 3
        XINFO GROUPS s
        XGROUP CREATE s b 2 ENTRIESREAD 1
        XINFO GROUPS s
    """,
    "lag_and_entries_read": """
        XADD s 1 a 1
        XADD s 2 a 1
        XADD s 3 a 1
        XADD s 4 a 1
        XGROUP CREATE s g 0
        XGROUP CREATE s h 2
        XGROUP CREATE s k $
        XINFO GROUPS s
        XREADGROUP GROUP g c COUNT 1 STREAMS s >
        XREADGROUP GROUP h c COUNT 1 STREAMS s >
        XINFO GROUPS s
        XDEL s 2
        XINFO GROUPS s
        XREADGROUP GROUP g c STREAMS s >
        XINFO GROUPS s
        XTRIM s MAXLEN 1
        XINFO GROUPS s
        XADD s 5 a 1
        XINFO GROUPS s
        XREADGROUP GROUP h c NOACK STREAMS s >
        XINFO GROUPS s
        XSETID s 10 ENTRIESADDED 50 MAXDELETEDID 6
        XINFO GROUPS s
        XINFO STREAM s
    """,
    "out_of_order_after_xsetid": """
        XADD s 1 a 1
        XADD s 2 a 1
        XADD s 3 a 1
        XDEL s 3
        XTRIM s MINID = 3
        XLEN s
        XINFO STREAM s
        XSETID s 0-1
        XADD s 1-5 a 1
        XADD s 2-5 a 1
        XRANGE s - +
        XRANGE s 2 +
        XRANGE s - 1-5
        XREVRANGE s + -
        XREVRANGE s 1-9 -
        XREVRANGE s 0-9 -
        XREAD STREAMS s 0
        XREAD STREAMS s 2-0
        XINFO STREAM s
        XDEL s 1-5
        XINFO STREAM s
        XTRIM s MINID 4
        XINFO STREAM s
        XSETID s 0-1
        XADD s 0-5 a 1
        XRANGE s - +
        XREVRANGE s + - COUNT 1
        XINFO STREAM s
    """,
    "watch": """
        XADD s 1 a 1
        XGROUP CREATE s g 0
        WATCH s
        XREADGROUP GROUP g c STREAMS s >
        XACK s g 1
        XCLAIM s g d 0 1
        XAUTOCLAIM s g e 0 0
        XGROUP CREATECONSUMER s g f
        XGROUP SETID s g 0
        XGROUP DELCONSUMER s g f
        XGROUP CREATE s h 0
        XGROUP DESTROY s h
        XSETID s 5
        MULTI
        XLEN s
        EXEC
        WATCH s
        XTRIM s MAXLEN 5
        XDEL s 9
        MULTI
        XLEN s
        EXEC
        WATCH s
        XDEL s 1
        MULTI
        XLEN s
        EXEC
        WATCH s
        XADD s 6 a 1
        MULTI
        XLEN s
        EXEC
        WATCH t
        XGROUP CREATE t g $ MKSTREAM
        MULTI
        XLEN t
        EXEC
        WATCH s
        XTRIM s MAXLEN 0
        MULTI
        XLEN s
        EXEC
    """,
    "containers_in_multi": """
        XADD s 1 a 1
        MULTI
        XGROUP CREATE s
        XLEN s
        EXEC
        MULTI
        XGROUP FOO s g
        EXEC
        MULTI
        XINFO STREAM
        EXEC
        MULTI
        XINFO BAR s
        EXEC
        MULTI
        XGROUP CREATE s g 0 FOO
        XGROUP CREATE s g 0
        XINFO STREAM s FULL COUNT x
        XINFO GROUPS s
        EXEC
        MULTI
        XGROUP HELP
        XINFO HELP
        EXEC
    """,
    "arity_and_types": """
        XADD s
        XADD s 1
        XRANGE s -
        XREVRANGE s +
        XLEN
        XLEN a b
        XDEL s
        XTRIM s MAXLEN
        XREAD STREAMS
        XREADGROUP GROUP g c STREAMS
        XACK s g
        XPENDING s
        XCLAIM s g c 0
        XAUTOCLAIM s g c 0
        XSETID s
        XGROUP CREATECONSUMER s g
        XGROUP DELCONSUMER s g
        XGROUP DESTROY s
        XGROUP SETID s g
        XINFO CONSUMERS s
        XINFO GROUPS s x
        XADD s 1 a 1
        TYPE s
        DEL s
        XADD s 1 a 1
        RENAME s s2
        XRANGE s2 - +
        EXPIRE s2 100
        TTL s2
        PERSIST s2
        TTL s2
    """,
}


def _run(port: int, lines: list[list[str]], protocol: int = 2) -> list[bytes]:
    with RawClient(port) as client:
        client.command("FLUSHALL")
        if protocol == 3:
            client.command("HELLO", "3")
        return [client.command(*args) for args in lines]


def _lines(text: str) -> list[list[str]]:
    return [shlex.split(line) for line in text.strip().splitlines() if line.strip()]


def _diff(lines, theirs, ours) -> str:
    return "\n".join(
        f"{args}: redis {want!r}, replicator {got!r}" for args, want, got in zip(lines, theirs, ours) if got != want
    )


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, port, oracle_port):
    lines = _lines(CASES[name])
    theirs = await trio.to_thread.run_sync(_run, oracle_port, lines)
    ours = await trio.to_thread.run_sync(_run, port, lines)
    bad = _diff(lines, theirs, ours)
    assert not bad, bad


# Redis answers a RESP3 XREAD naming one key twice with a map holding that key twice; a map here
# (a dict) holds it once, with its last entries. Documented in stream_commands.reply_read.
RESP3_DIFFERS = {("XREAD", "STREAMS", "s", "s", "0", "1")}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_resp3_replies_as_redis(name, port, oracle_port):
    lines = [line for line in _lines(CASES[name]) if tuple(line) not in RESP3_DIFFERS]
    theirs = await trio.to_thread.run_sync(_run, oracle_port, lines, 3)
    ours = await trio.to_thread.run_sync(_run, port, lines, 3)
    bad = _diff(lines, theirs, ours)
    assert not bad, bad


# --- randomized comparisons ------------------------------------------------------------------
def _seed() -> int:
    seed = int(os.environ.get("STREAMS_SEED", random.randrange(1 << 32)))
    print(f"seed {seed} (replay with STREAMS_SEED={seed})")
    return seed


def _value(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return str(rng.choice([0, 1, 127, 128, -1, 4095, -4097, 40000, 2**31, -(2**63), 2**63, rng.randrange(10**6)]))
    if kind < 0.4:
        return "0" + str(rng.randrange(100))  # looks numeric, stored as a string
    return "v" * rng.choice([1, 1, 5, 5, 10, 40, 63, 64, 200, 600, 1500, 4100])


def _node_walk(rng: random.Random, steps: int) -> list[list[str]]:
    """XADD with explicit IDs and mixed entry sizes, XDEL, and every trimming form; XINFO STREAM
    shows the node boundaries (radix-tree-keys / -nodes) Redis has after them."""
    lines: list[list[str]] = []
    ms, seq = 1, 0
    added: list[str] = []
    for _ in range(steps):
        op = rng.random()
        if op < 0.8:
            if rng.random() < 0.3:
                ms += rng.choice([1, 2, 1000, 2**32, 2**40])
                seq = 0
            else:
                seq += rng.choice([1, 1, 2, 300, 2**31])
            fields = rng.choice([["a"], ["a", "b"], ["a", "b", "c"], ["x"], ["1", "2"], [str(f) for f in range(70)]])
            entry = [f"{ms}-{seq}"]
            for field in fields:
                entry += [field, _value(rng)]
            trim = []
            if rng.random() < 0.05:
                trim = ["MAXLEN", rng.choice(["~", "=", "~"]), str(rng.randrange(0, 2000))]
            lines.append(["XADD", "s", *trim, *entry])
            added.append(entry[0])
        elif op < 0.9 and added:
            lines.append(["XDEL", "s", *rng.sample(added, min(len(added), rng.randrange(1, 20)))])
        elif op < 0.94:
            if rng.random() < 0.5:
                lines.append(["XTRIM", "s", "MAXLEN", rng.choice(["~", "=", "~"]), str(rng.randrange(0, 2000))])
            elif added:
                lines.append(["XTRIM", "s", "MINID", rng.choice(["~", "="]), rng.choice(added)])
            if rng.random() < 0.3 and lines and lines[-1][0] == "XTRIM" and "~" in lines[-1]:
                lines[-1] += ["LIMIT", str(rng.choice([0, 50, 100, 250]))]
        else:
            lines.append(["XINFO", "STREAM", "s"])
        if rng.random() < 0.05:
            lines.append(["XLEN", "s"])
    lines.append(["XINFO", "STREAM", "s"])
    lines.append(["XRANGE", "s", "-", "+", "COUNT", "20"])
    lines.append(["XREVRANGE", "s", "+", "-", "COUNT", "20"])
    return lines


async def test_node_boundaries_as_redis(port, oracle_port):
    """~ trimming and XINFO's radix-tree figures depend on Redis' listpack nodes (100 entries or
    4096 bytes): the emulation must cut nodes where redis-server does."""
    rng = random.Random(_seed())
    lines = _node_walk(rng, 3000)
    theirs = await trio.to_thread.run_sync(_run, oracle_port, lines)
    ours = await trio.to_thread.run_sync(_run, port, lines)
    bad = _diff(lines, theirs, ours)
    assert not bad, bad[:4000]


def _group_walk(rng: random.Random, steps: int) -> list[list[str]]:
    """Entries, deletions, trims, groups and consumers: every reply here is free of times."""
    lines: list[list[str]] = []
    next_ms = 1
    keys = ["s", "t"]
    groups = ["g", "h", "k"]
    consumers = ["alice", "bob", "carol"]

    def some_id() -> str:
        return f"{rng.randrange(0, next_ms + 2)}-{rng.choice([0, 0, 1])}"

    for _ in range(steps):
        key, group, consumer = rng.choice(keys), rng.choice(groups), rng.choice(consumers)
        op = rng.randrange(16)
        if op < 4:
            lines.append(["XADD", key, f"{next_ms}-0", "f", str(next_ms)])
            next_ms += rng.choice([1, 1, 2])
        elif op == 4:
            lines.append(["XDEL", key, some_id(), some_id()])
        elif op == 5:
            lines.append(["XTRIM", key, "MAXLEN", rng.choice(["=", "~"]), str(rng.randrange(0, 30))])
        elif op == 6:
            lines.append(["XRANGE", key, some_id(), "+", "COUNT", str(rng.randrange(0, 5))])
        elif op == 7:
            start = rng.choice(["0", "$", some_id()])
            extra = rng.choice([[], ["MKSTREAM"], ["ENTRIESREAD", str(rng.randrange(-1, 20))]])
            lines.append(["XGROUP", "CREATE", key, group, start, *extra])
        elif op == 8:
            lines.append(
                ["XGROUP", rng.choice(["CREATECONSUMER", "DELCONSUMER"]), key, group, consumer]
                if rng.random() < 0.7
                else ["XGROUP", "SETID", key, group, rng.choice(["0", "$", some_id()])]
            )
        elif op in (9, 10):
            noack = ["NOACK"] if rng.random() < 0.2 else []
            count = ["COUNT", str(rng.randrange(0, 4))] if rng.random() < 0.7 else []
            start = ">" if rng.random() < 0.75 else rng.choice(["0", some_id()])
            lines.append(["XREADGROUP", "GROUP", group, consumer, *count, *noack, "STREAMS", key, start])
        elif op == 11:
            lines.append(["XACK", key, group, some_id(), some_id(), some_id()])
        elif op == 12:
            if rng.random() < 0.8:
                lines.append(["XPENDING", key, group])
            else:  # the extended form shows idle times: only where the IDLE filter leaves nothing
                lines.append(["XPENDING", key, group, "IDLE", "99999999", "-", "+", "10", *rng.sample(consumers, 1)])
        elif op == 13:
            lines.append(["XINFO", "GROUPS", key])
        elif op == 14:
            justid = ["JUSTID"] if rng.random() < 0.5 else []
            if rng.random() < 0.5:
                options = rng.sample(["FORCE", "RETRYCOUNT 3", "LASTID " + some_id(), "IDLE 0"], rng.randrange(3))
                options = [word for option in options for word in option.split()]
                lines.append(["XCLAIM", key, group, consumer, "0", some_id(), some_id(), *options, *justid])
            else:
                count = ["COUNT", str(rng.randrange(1, 5))]
                lines.append(["XAUTOCLAIM", key, group, consumer, "0", rng.choice(["0", some_id()]), *count, *justid])
        else:
            lines.append(rng.choice([["XINFO", "STREAM", key], ["XGROUP", "DESTROY", key, group], ["XLEN", key]]))
    return lines


@pytest.mark.parametrize("protocol", [2, 3])
async def test_random_group_sequences_as_redis(port, oracle_port, protocol):
    rng = random.Random(_seed())
    lines = _group_walk(rng, 2500)
    theirs = await trio.to_thread.run_sync(_run, oracle_port, lines, protocol)
    ours = await trio.to_thread.run_sync(_run, port, lines, protocol)
    bad = _diff(lines, theirs, ours)
    assert not bad, bad[:4000]


async def test_entry_count_boundaries_as_redis(port, oracle_port):
    """Small entries fill nodes by count (100, tombstones included): ~ trims whole nodes only."""
    lines = [["XADD", "s", f"{i}-1", "a", str(i)] for i in range(1, 1051)]
    lines += [["XDEL", "s", *(f"{i}-1" for i in range(1, 1051, 7))], ["XINFO", "STREAM", "s"]]
    lines += [["XTRIM", "s", "MAXLEN", "~", "550"], ["XLEN", "s"], ["XINFO", "STREAM", "s"]]
    lines += [["XTRIM", "s", "MINID", "~", "700"], ["XLEN", "s"], ["XINFO", "STREAM", "s"]]
    lines += [["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "150"], ["XLEN", "s"]]
    lines += [["XTRIM", "s", "MINID", "801-1"], ["XINFO", "STREAM", "s"], ["XRANGE", "s", "-", "+", "COUNT", "3"]]
    lines += [["XADD", "s", "MAXLEN", "~", "10", "2000-1", "a", "1"], ["XLEN", "s"], ["XINFO", "STREAM", "s"]]
    lines += [["XTRIM", "s", "MAXLEN", "0"], ["XINFO", "STREAM", "s"]]
    theirs = await trio.to_thread.run_sync(_run, oracle_port, lines)
    ours = await trio.to_thread.run_sync(_run, port, lines)
    bad = _diff(lines, theirs, ours)
    assert not bad, bad[:4000]


def _run_pipelined(port: int, lines: list[list[str]]) -> list[bytes]:
    with RawClient(port, timeout=30) as client:
        client.command("FLUSHALL")
        client.send(b"".join(encode_command(*args) for args in lines))
        return [client.reply() for _ in lines]


async def test_approximate_trimming_stops_at_its_default_limit(port, oracle_port):
    """`~` without LIMIT removes at most 100 nodes' worth (10000 entries) per call, as Redis does."""
    lines = [["XADD", "s", f"{i}-1", "a", "1"] for i in range(1, 10_602)]
    lines += [["XTRIM", "s", "MAXLEN", "~", "0"], ["XLEN", "s"], ["XINFO", "STREAM", "s"]]
    lines += [["XADD", "s", "MAXLEN", "~", "0", "20000-1", "a", "1"], ["XLEN", "s"]]
    lines += [["XTRIM", "s", "MINID", "~", "30000", "LIMIT", "0"], ["XLEN", "s"], ["XINFO", "STREAM", "s"]]
    theirs = await trio.to_thread.run_sync(_run_pipelined, oracle_port, lines)
    ours = await trio.to_thread.run_sync(_run_pipelined, port, lines)
    bad = _diff(lines, theirs, ours)
    assert not bad, bad[:4000]


# --- replies that carry times or clock IDs: compared with those masked -------------------------
def _parse(raw: bytes):
    reader = hiredis.Reader()
    reader.feed(raw)
    return reader.gets()


TIMED = """
    XADD s 1 a 1
    XADD s 2 b 2
    XADD s 3 c 3
    XGROUP CREATE s g 0
    XREADGROUP GROUP g alice COUNT 2 STREAMS s >
    XREADGROUP GROUP g bob STREAMS s >
    XCLAIM s g carol 0 1 RETRYCOUNT 7
    XPENDING s g - + 10
    XPENDING s g IDLE 0 - + 10 alice
    XPENDING s g (1 + 1
    XINFO CONSUMERS s g
    XINFO STREAM s FULL
    XINFO STREAM s FULL COUNT 1
"""


def _flat(reply):
    """RESP3 maps (dicts from hiredis) as RESP2's flat arrays, so one masking serves both."""
    if isinstance(reply, dict):
        return [_flat(item) for pair in reply.items() for item in pair]
    if isinstance(reply, list):
        return [_flat(item) for item in reply]
    return reply


def _masked(line: list[str], reply):
    """The reply with every time in it replaced by "T", once checked to be plausible: an idle
    time between 0 and a minute, an absolute time within a minute of now."""
    import time

    now = int(time.time() * 1000)

    def idle(value):
        assert isinstance(value, int) and 0 <= value < 60_000, (line, value)
        return "T"

    def stamp(value):
        assert isinstance(value, int) and abs(value - now) < 60_000, (line, value)
        return "T"

    if line[0] == "XPENDING":
        return [[i, c, idle(t), n] for i, c, t, n in reply]
    if line[:2] == ["XINFO", "CONSUMERS"]:
        return [[*c[:5], idle(c[5])] for c in reply]
    if line[:2] == ["XINFO", "STREAM"]:
        info = dict(zip(reply[0::2], reply[1::2]))
        for group in info[b"groups"]:
            g = dict(zip(group[0::2], group[1::2]))
            for p in g[b"pending"]:
                p[2] = stamp(p[2])
            for consumer in g[b"consumers"]:
                c = dict(zip(consumer[0::2], consumer[1::2]))
                consumer[consumer.index(b"seen-time") + 1] = stamp(c[b"seen-time"])
                for p in c[b"pending"]:
                    p[1] = stamp(p[1])
        return reply
    return reply


@pytest.mark.parametrize("protocol", [2, 3])
async def test_timed_replies_as_redis(port, oracle_port, protocol):
    lines = _lines(TIMED)
    theirs = await trio.to_thread.run_sync(_run, oracle_port, lines, protocol)
    ours = await trio.to_thread.run_sync(_run, port, lines, protocol)
    for line, want, got in zip(lines, theirs, ours):
        if protocol == 3:  # the map framing itself, times aside: same type bytes in the same places
            assert re.sub(rb":\d+", b":T", got) == re.sub(rb":\d+", b":T", want), line
        assert _masked(line, _flat(_parse(got))) == _masked(line, _flat(_parse(want))), line


async def test_generated_ids_have_redis_shape(port, oracle_port):
    """`*` and `ms-*` take the time from the entry (the leader's ts_ms): the same shapes as Redis'."""
    lines = _lines(
        """
        XADD s * a 1
        XADD s * a 2
        XADD s 5-* a 3
        XGROUP CREATECONSUMER s g c
        XGROUP CREATE s g $
        XADD s MAXLEN 1 * a 4
        XLEN s
        XADD s 99999999999999-* a 5
        XADD s * a 6
        """
    )
    theirs = await trio.to_thread.run_sync(_run, oracle_port, lines)
    ours = await trio.to_thread.run_sync(_run, port, lines)
    for line, want, got in zip(lines, theirs, ours):
        w, g = _parse(want), _parse(got)
        if line[0] == "XADD" and line[-3] == "*":
            ms, seq = g.split(b"-")
            wms, wseq = w.split(b"-")
            assert abs(int(ms) - int(wms)) < 60_000 and int(seq) < 3 and int(wseq) < 3, (line, w, g)
        else:
            assert got == want, (line, want, got)
    first, second = _parse(ours[0]).split(b"-"), _parse(ours[1]).split(b"-")
    assert (int(second[0]), int(second[1])) > (int(first[0]), int(first[1]))


_ID_ALPHABET = "0123456789-+*( \t\x00x"


def _random_id(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return "".join(rng.choice(_ID_ALPHABET) for _ in range(rng.randrange(0, 8)))
    if kind < 0.5:
        return rng.choice(["", "(", " "]) + str(rng.choice([0, 1, 5, 2**64 - 1, 2**64, 2**63, 10**25]))
    ms = rng.choice(["0", "1", "5", "007", " 3", "+3", "18446744073709551615", "18446744073709551616", ""])
    seq = rng.choice(["0", "1", "*", "-0", "-1", " -1", "+2", "18446744073709551615", "18446744073709551616", "x"])
    return rng.choice(["", "("]) + ms + rng.choice(["-", "-", "", "--"]) + seq


async def test_random_ids_parse_as_redis(port, oracle_port):
    """Stream IDs are read by string2ull/strtoull in Redis (spaces, signs, wrap-around, C
    strings): every ID-taking argument, fed odd IDs, answers as redis-server does."""
    rng = random.Random(_seed())
    lines: list[list[str]] = [["XADD", "s", "3-3", "a", "1"], ["XGROUP", "CREATE", "s", "g", "0"]]
    for _ in range(1500):
        a, b = _random_id(rng), _random_id(rng)
        if a.split("\x00")[0] == "*":
            a = "5-5"  # "*" takes the clock's ID: compared by shape in test_generated_ids_have_redis_shape
        lines.append(
            rng.choice(
                [
                    ["XADD", "s", a, "f", "v"],
                    ["XRANGE", "s", a, b],
                    ["XREVRANGE", "s", a, b],
                    ["XDEL", "s", a],
                    ["XTRIM", "s", "MINID", "=", a],
                    ["XGROUP", "SETID", "s", "g", a],
                    ["XREAD", "STREAMS", "s", a],
                    ["XSETID", "s", a],
                    ["XPENDING", "s", "g", a, b, "5"],
                    ["XAUTOCLAIM", "s", "g", "c", "0", a, "JUSTID"],
                    ["XCLAIM", "s", "g", "c", "0", a, "JUSTID"],
                    ["XACK", "s", "g", a],
                ]
            )
        )
    theirs = await trio.to_thread.run_sync(_run, oracle_port, lines)
    ours = await trio.to_thread.run_sync(_run, port, lines)
    bad = _diff(lines, theirs, ours)
    assert not bad, bad[:4000]
