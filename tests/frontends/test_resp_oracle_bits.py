"""Bitmaps (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO) and LCS, byte for
byte against redis-server 7.0: fixed cases with their errors, the RESP3 shapes, and seeded
random comparisons over random strings, ranges and bitfield ops (BITS_SEED=<n> replays a run).
"""

from __future__ import annotations

import os
import random
import shlex

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from resp_helpers import RawClient, assert_same_as_redis, encode_command

from frontends.resp.replies import encode
from statemachines import encode_args
from statemachines.kv import KVMachine
from statemachines.kv.table import TABLE

CASES = {
    "setbit-getbit": """
        SETBIT b 7 1
        GET b
        SETBIT b 7 1
        SETBIT b 7 0
        SETBIT b 0 1
        GETBIT b 0
        GETBIT b 7
        GETBIT b 100
        GETBIT nokey 3
        SETBIT b 33 1
        STRLEN b
        GET b
        SETBIT fresh 10 0
        GET fresh
        SETBIT b -1 1
        SETBIT b 4294967296 1
        SETBIT b 9223372036854775808 1
        SETBIT b x 1
        SETBIT b 1 2
        SETBIT b 1 -1
        SETBIT b 1 x
        SETBIT b 1.0 1
        GETBIT b -1
        GETBIT b 4294967296
        GETBIT b 4294967295
        GETBIT b 01
        SET n 123
        GETBIT n 2
        SETBIT n 7 0
        GET n
        SET t v EX 100
        SETBIT t 1 1
        TTL t
        RPUSH l a
        SETBIT l 0 1
        GETBIT l 0
        SETBIT l x 1
        SETBIT
        GETBIT b
    """,
    "bitcount": """
        SET k foobar
        BITCOUNT k
        BITCOUNT k 0 0
        BITCOUNT k 1 1
        BITCOUNT k 1 -2
        BITCOUNT k -2 -1
        BITCOUNT k 5 30
        BITCOUNT k 100 200
        BITCOUNT k -100 -50
        BITCOUNT k -1 -2
        BITCOUNT k -1 -2 nonsense
        BITCOUNT k 0 -1 BYTE
        BITCOUNT k 0 -1 bit
        BITCOUNT k 5 30 BIT
        BITCOUNT k 1 2 BIT
        BITCOUNT k 7 7 BIT
        BITCOUNT k -5 -1 BIT
        BITCOUNT k 0 9223372036854775807 BIT
        BITCOUNT k -9223372036854775808 -1 BIT
        BITCOUNT k 3 1 BIT
        BITCOUNT k 1
        BITCOUNT k 1 2 3
        BITCOUNT k 1 2 BIT 4
        BITCOUNT k x 1
        BITCOUNT k 1 x
        BITCOUNT k 1 2 foo
        BITCOUNT nokey
        BITCOUNT nokey 1
        BITCOUNT nokey x y z w
        SET e ""
        BITCOUNT e
        BITCOUNT e 0 -1
        BITCOUNT e 0 -1 BIT
        HSET h f v
        BITCOUNT h
        BITCOUNT h x
        BITCOUNT
    """,
    "bitpos": """
        SET k "\\xff\\xf0\\x00"
        BITPOS k 0
        BITPOS k 1
        BITPOS k 0 2
        BITPOS k 1 2
        BITPOS k 1 2 -1
        BITPOS k 0 0 0
        BITPOS k 0 0 1
        BITPOS k 1 -1
        BITPOS k 0 1 1 BYTE
        BITPOS k 0 8 11 BIT
        BITPOS k 0 8 12 BIT
        BITPOS k 0 8 16 bit
        BITPOS k 1 3 7 BIT
        BITPOS k 1 9 23 BIT
        BITPOS k 0 0 7 BIT
        BITPOS k 0 0 100 BIT
        BITPOS k 1 17 -1 BIT
        BITPOS k 1 5 2 BIT
        BITPOS k 0 -9223372036854775808 9223372036854775807 BIT
        BITPOS k 2
        BITPOS k -1
        BITPOS k x
        BITPOS k 1 x
        BITPOS k 1 0 x
        BITPOS k 1 0 1 nonsense
        BITPOS k 1 x 1 nonsense
        BITPOS k 1 0 x nonsense
        BITPOS k 1 0 1 BIT extra
        SET ones "\\xff\\xff"
        BITPOS ones 0
        BITPOS ones 0 0
        BITPOS ones 0 0 -1
        BITPOS ones 0 0 15 BIT
        SET zeros "\\x00\\x00"
        BITPOS zeros 1
        BITPOS zeros 0
        BITPOS zeros 1 0 -1 BIT
        BITPOS nokey 0
        BITPOS nokey 1
        BITPOS nokey 1 garbage
        BITPOS nokey 2
        SET e ""
        BITPOS e 0
        BITPOS e 1
        BITPOS e 0 0 -1
        LPUSH l a
        BITPOS l 1
        BITPOS l 2
        BITPOS k
    """,
    "bitop": """
        SET a "\\xf0\\x0f\\xaa"
        SET b "\\x33"
        BITOP AND d a b
        GET d
        BITOP or d a b
        GET d
        BITOP XOR d a b nokey
        GET d
        BITOP NOT d a
        GET d
        BITOP AND d a nokey
        GET d
        BITOP OR d nokey1 nokey2
        EXISTS d
        SET d v
        BITOP XOR d nokey
        EXISTS d
        SET e ""
        BITOP NOT d e
        EXISTS d
        BITOP NOT d a b
        BITOP NOT d
        BITOP NAND d a b
        BITOP AND d
        SET t x EX 100
        BITOP OR t a
        TTL t
        BITOP AND a a b
        GET a
        LPUSH l x
        BITOP OR d a l
        BITOP OR l a
        TYPE l
        BITOP nand d l
    """,
    "bitfield": """
        BITFIELD bf SET u8 0 255
        BITFIELD bf GET u8 0 GET i8 0 GET u4 4 GET i4 4
        BITFIELD bf INCRBY u8 0 1
        BITFIELD bf OVERFLOW SAT INCRBY u8 0 300
        BITFIELD bf OVERFLOW FAIL INCRBY u8 0 1 GET u8 0
        BITFIELD bf OVERFLOW WRAP INCRBY i8 0 200
        BITFIELD bf SET i5 3 -16 GET i5 3 GET u5 3
        BITFIELD bf SET u8 #2 7 GET u8 16 GET u8 #2
        BITFIELD bf SET i64 0 -1 GET i64 0 GET u63 0 GET u63 1
        BITFIELD bf INCRBY i64 0 -9223372036854775808
        BITFIELD bf OVERFLOW SAT INCRBY i64 0 -9223372036854775808 GET i64 0
        BITFIELD bf OVERFLOW SAT INCRBY i64 0 9223372036854775807 INCRBY i64 0 1
        BITFIELD bf OVERFLOW WRAP INCRBY i64 0 1
        BITFIELD bf OVERFLOW FAIL INCRBY i64 0 -1 INCRBY i64 0 -9223372036854775808
        BITFIELD bf OVERFLOW SAT SET i8 0 -9223372036854775808 GET i8 0
        BITFIELD bf OVERFLOW SAT SET i8 0 -9223372036854775800 GET i8 0
        BITFIELD bf OVERFLOW SAT SET i8 0 -200 GET i8 0
        BITFIELD bf OVERFLOW WRAP SET i8 0 -200 GET i8 0
        BITFIELD bf OVERFLOW FAIL SET i8 0 200 GET i8 0
        BITFIELD bf OVERFLOW SAT SET u8 0 -1 GET u8 0
        BITFIELD bf OVERFLOW WRAP SET u8 0 -1 GET u8 0
        BITFIELD bf OVERFLOW FAIL SET u8 0 -1 GET u8 0
        BITFIELD bf OVERFLOW SAT INCRBY u8 0 -1000 GET u8 0
        BITFIELD bf OVERFLOW WRAP INCRBY u8 0 -1000 GET u8 0
        BITFIELD bf OVERFLOW WRAP INCRBY u63 0 -9223372036854775808 GET u63 0
        BITFIELD bf OVERFLOW SAT INCRBY i1 0 1 INCRBY i1 0 -5 GET i1 0
        BITFIELD bf overflow sat set u1 0 2 get u1 0
        BITFIELD bf GET u8 #2305843009213693952
        BITFIELD bf GET u8 #536870911
        BITFIELD bf GET u8 #536870912
        BITFIELD bf GET i64 #67108863
        BITFIELD bf GET u8 4294967295
        BITFIELD bf GET u8 4294967296
        BITFIELD bf GET u8 -1
        BITFIELD bf GET u8 #-1
        BITFIELD bf GET u8 #
        BITFIELD bf GET u8 ##1
        BITFIELD bf GET u64 0
        BITFIELD bf GET i65 0
        BITFIELD bf GET i0 0
        BITFIELD bf GET U8 0
        BITFIELD bf GET u 0
        BITFIELD bf GET u08 0
        BITFIELD bf GET u9999999999999999999999 0
        BITFIELD bf SET u8 0
        BITFIELD bf SET u8 0 x
        BITFIELD bf SET u8 0 9223372036854775808
        BITFIELD bf INCRBY u8 x 1
        BITFIELD bf OVERFLOW
        BITFIELD bf OVERFLOW NOPE GET u8 0
        BITFIELD bf FOO
        BITFIELD bf GET u8 0 GET
        BITFIELD bf GET u8 0 SET u8
        BITFIELD bf SET u8 0 1 OVERFLOW bad
        BITFIELD bf
        BITFIELD nokey
        BITFIELD nokey GET u8 0 GET i64 100
        EXISTS nokey
        BITFIELD created OVERFLOW FAIL SET u8 16 300
        GET created
        BITFIELD grows SET u8 0 1 SET u4 #5 15
        GET grows
        SET t x EX 100
        BITFIELD t SET u8 8 65
        TTL t
        GET t
        HSET h f v
        BITFIELD h GET u8 0
        BITFIELD h SET u8 0 1
        BITFIELD h SET u8 x 1
        BITFIELD
    """,
    "bitfield-ro": """
        SET k "\\x01\\x02\\x03"
        BITFIELD_RO k GET u8 0 GET u16 8 GET i4 #3
        BITFIELD_RO k
        BITFIELD_RO nokey GET u8 0
        BITFIELD_RO k SET u8 0 1
        BITFIELD_RO k INCRBY u8 0 1 GET u8 0
        BITFIELD_RO k OVERFLOW SAT GET u8 0
        BITFIELD_RO k GET u8 0 SET u8 0 x
        BITFIELD_RO k SET u8 0 1 GET u64 0
        BITFIELD_RO k GET u64 0
        BITFIELD_RO k FOO
        GET k
        HSET h f v
        BITFIELD_RO h GET u8 0
        BITFIELD_RO h SET u8 0 1
        BITFIELD_RO
    """,
    "in-multi": """
        SET m a
        MULTI
        SETBIT m 3 1
        SETBIT m -1 1
        GETBIT m 4294967296
        BITFIELD m OVERFLOW FAIL INCRBY u8 0 1 GET u8 0 SET u8 0 x
        BITFIELD m OVERFLOW FAIL INCRBY u8 0 300 GET u8 0
        BITFIELD_RO m GET u8 0
        BITOP NOT m2 m
        BITCOUNT m
        BITPOS m2 0
        LCS m m2 IDX
        EXEC
        MULTI
        BITOP XOR d m
        BITFIELD m SET u4
        EXEC
    """,
    "lcs": """
        MSET key1 ohmytext key2 mynewtext
        LCS key1 key2
        LCS key1 key2 LEN
        LCS key1 key2 IDX
        LCS key1 key2 IDX MINMATCHLEN 4
        LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN
        LCS key1 key2 IDX WITHMATCHLEN MINMATCHLEN -5
        LCS key1 key2 WITHMATCHLEN
        LCS key1 key2 LEN MINMATCHLEN 2
        LCS key1 key2 LEN IDX
        LCS key1 key2 IDX LEN
        LCS key1 key2 MINMATCHLEN
        LCS key1 key2 MINMATCHLEN x
        LCS key1 key2 FOO
        LCS key1 nokey
        LCS nokey nokey2 IDX
        LCS nokey nokey2 LEN
        LCS key1 key1 IDX WITHMATCHLEN
        MSET a ABCBDAB b BDCABA
        LCS a b
        LCS a b IDX
        LCS b a IDX WITHMATCHLEN
        MSET x aaaa y aa
        LCS x y IDX
        LCS y x IDX
        HSET h f v
        LCS key1 h
        LCS h key1 FOO
        LCS h nokey LEN IDX
        LCS key1
    """,
}


def case_lines(text: str) -> list[list[bytes]]:
    """shlex lines; "\\xNN" escapes in a line become those bytes (binary strings)."""
    out = []
    for line in text.strip().splitlines():
        if line.strip():
            out.append([arg.encode("latin-1").decode("unicode_escape").encode("latin-1") for arg in shlex.split(line)])
    return out


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name], parse=case_lines)


RESP3_CASE = """
    SET k "\\x0f\\xf0"
    BITFIELD k GET u8 0 OVERFLOW FAIL INCRBY u8 0 255 SET i8 8 -1
    BITFIELD_RO k GET i8 8
    BITFIELD nokey
    BITCOUNT k
    BITPOS k 1
    MSET key1 ohmytext key2 mynewtext
    LCS key1 key2 IDX WITHMATCHLEN
    LCS key1 key2 IDX MINMATCHLEN 100
    LCS key1 key2 LEN
    LCS key1 key2
    LCS nokey nokey2 IDX
"""


async def test_resp3_shapes_as_redis(port, oracle_port):
    await assert_same_as_redis(port, oracle_port, RESP3_CASE, protocol=3, parse=case_lines)


# --- seeded random comparisons -------------------------------------------------------------------


def _seed() -> int:
    seed = int(os.environ.get("BITS_SEED", random.randrange(1 << 32)))
    print(f"BITS_SEED={seed}")
    return seed


def _random_string(rng: random.Random, most: int) -> bytes:
    """Runs of 0x00 and 0xff (where BITPOS' word skipping and edge masks matter) and random bytes."""
    out = bytearray()
    for _ in range(rng.randrange(most + 1)):
        out.append(rng.choice((0, 0xFF, rng.randrange(256), 1 << rng.randrange(8))))
    return bytes(out)


def _index(rng: random.Random, size: int) -> bytes:
    """A range bound around the string's length, in bytes or bits, sometimes extreme."""
    roll = rng.random()
    if roll < 0.05:
        return rng.choice((b"9223372036854775807", b"-9223372036854775808"))
    span = size * 8 + 10
    return str(rng.randint(-span, span)).encode()


def _pipeline(port: int, commands: list[list[bytes]], protocol: int) -> list[bytes]:
    """All commands sent at once (in bursts), their replies' bytes in order."""
    with RawClient(port, timeout=30) as client:
        client.command("FLUSHALL")
        if protocol == 3:
            client.command("HELLO", "3")
        replies = []
        for first in range(0, len(commands), 500):
            burst = commands[first : first + 500]
            client.send(b"".join(encode_command(*args) for args in burst))
            replies.extend(client.reply() for _ in burst)
        return replies


def _bitfield_op(rng: random.Random) -> list[bytes]:
    signed = rng.random() < 0.5
    width = rng.randint(1, 64 if signed else 63)
    kind = (b"i" if signed else b"u") + str(width).encode()
    offset = str(rng.randrange(200)).encode() if rng.random() < 0.8 else b"#%d" % rng.randrange(8)
    op = rng.random()
    if op < 0.2:
        return [b"OVERFLOW", rng.choice((b"WRAP", b"SAT", b"FAIL", b"sat"))]
    if op < 0.5:
        return [b"GET", kind, offset]
    top = 1 << (width + 2)
    value = rng.choice((rng.randint(-top, top), rng.randint(-(1 << 63), (1 << 63) - 1), -(1 << 63), (1 << 63) - 1))
    return [rng.choice((b"SET", b"INCRBY")), kind, offset, str(value).encode()]


def _random_commands(rng: random.Random, count: int) -> list[list[bytes]]:
    keys = [b"k%d" % i for i in range(6)]
    sizes = {}
    commands: list[list[bytes]] = []
    for key in keys:
        value = _random_string(rng, 40)
        sizes[key] = len(value)
        commands.append([b"SET", key, value])
    for _ in range(count):
        key = rng.choice(keys)
        size = sizes.get(key, 0)
        roll = rng.random()
        if roll < 0.25:
            args = [b"BITCOUNT", key]
            if rng.random() < 0.9:
                args += [_index(rng, size), _index(rng, size)]
                if rng.random() < 0.7:
                    args.append(rng.choice((b"BIT", b"BYTE", b"bit")))
        elif roll < 0.55:
            args = [b"BITPOS", key, rng.choice((b"0", b"1"))]
            extra = rng.randrange(4)
            if extra:
                args.append(_index(rng, size))
            if extra > 1:
                args.append(_index(rng, size))
            if extra > 2:
                args.append(rng.choice((b"BIT", b"BYTE")))
        elif roll < 0.8:
            name = rng.choice((b"BITFIELD", b"BITFIELD", b"BITFIELD_RO"))
            args = [name, key]
            for _ in range(rng.randrange(1, 5)):
                op = _bitfield_op(rng)
                while name == b"BITFIELD_RO" and op[0] in (b"SET", b"INCRBY") and rng.random() < 0.9:
                    op = _bitfield_op(rng)
                args += op
        elif roll < 0.9:
            operation = rng.choice((b"AND", b"OR", b"XOR", b"NOT"))
            sources = [rng.choice([*keys, b"missing"]) for _ in range(1 if operation == b"NOT" else rng.randint(1, 4))]
            args = [b"BITOP", operation, key, *sources]
        elif roll < 0.95:
            args = [b"SETBIT", key, str(rng.randrange(400)).encode(), rng.choice((b"0", b"1"))]
        else:
            value = _random_string(rng, 40)
            args = [b"SET", key, value]
        commands.append(args)
        if args[0] in (b"BITFIELD", b"BITOP", b"SETBIT", b"SET"):
            commands.append([b"GET", key])
            sizes[key] = 400  # an upper bound is enough for choosing ranges
    return commands


@pytest.mark.parametrize("protocol", [2, 3])
async def test_random_bit_commands_agree_with_redis(port, oracle_port, protocol):
    """Thousands of random BITCOUNT/BITPOS/BITFIELD/BITOP/SETBIT over random strings, each write
    followed by a GET of the result: every reply byte for byte as redis-server's."""
    seed = _seed()
    commands = _random_commands(random.Random(seed), 3000)
    theirs = await trio.to_thread.run_sync(_pipeline, oracle_port, commands, protocol)
    ours = await trio.to_thread.run_sync(_pipeline, port, commands, protocol)
    bad = [
        f"{args}: redis {want!r}, replicator {got!r}" for args, want, got in zip(commands, theirs, ours) if got != want
    ]
    assert not bad, f"BITS_SEED={seed}\n" + "\n".join(bad[:20])


def _lcs_commands(rng: random.Random, count: int) -> list[list[bytes]]:
    commands = []
    for _ in range(count):
        alphabet = rng.choice((b"ab", b"abc", b"acgt", bytes(range(256))))
        a = bytes(rng.choice(alphabet) for _ in range(rng.randrange(30)))
        b = bytes(rng.choice(alphabet) for _ in range(rng.randrange(30)))
        commands.append([b"MSET", b"a", a, b"b", b])
        options = rng.choice(([], [b"LEN"], [b"IDX"], [b"IDX", b"WITHMATCHLEN"]))
        if b"IDX" in options and rng.random() < 0.5:
            options += [b"MINMATCHLEN", str(rng.randrange(-1, 4)).encode()]
        commands.append([b"LCS", *rng.sample((b"a", b"b"), 2), *options])
    return commands


async def test_random_lcs_agrees_with_redis(port, oracle_port):
    """LCS over random pairs (both orders, so both of its walks), with LEN/IDX/MINMATCHLEN/WITHMATCHLEN."""
    seed = _seed()
    commands = _lcs_commands(random.Random(seed), 1500)
    theirs = await trio.to_thread.run_sync(_pipeline, oracle_port, commands, 2)
    ours = await trio.to_thread.run_sync(_pipeline, port, commands, 2)
    bad = [
        f"{args}: redis {want!r}, replicator {got!r}" for args, want, got in zip(commands, theirs, ours) if got != want
    ]
    assert not bad, f"BITS_SEED={seed}\n" + "\n".join(bad[:20])


async def test_long_lcs_agrees_with_redis(port, oracle_port):
    """Long strings of every shape: the largest square table Redis accepts and the first it
    refuses, long rows and long columns, many distinct bytes."""
    rng = random.Random(_seed())
    commands = []
    for alen, blen, alphabet in (
        (11584, 11584, b"acgt"),
        (11585, 11585, b"acgt"),
        (3, 2_000_000, b"ab"),
        (2_000_000, 3, b"ab"),
        (200, 300_000, bytes(range(256))),
        (300_000, 200, bytes(range(256))),
    ):
        a = bytes(rng.choice(alphabet) for _ in range(min(alen, 5000))) * (alen // 5000 + 1)
        b = bytes(rng.choice(alphabet) for _ in range(min(blen, 5000))) * (blen // 5000 + 1)
        commands.append([b"MSET", b"a", a[:alen], b"b", b[:blen]])
        commands.append([b"LCS", b"a", b"b", b"IDX", b"MINMATCHLEN", b"2", b"WITHMATCHLEN"])
        if alen < 11000:  # redis-server spends a second or two on each near-limit square
            commands.append([b"LCS", b"b", b"a"])
    theirs = await trio.to_thread.run_sync(_pipeline, oracle_port, commands, 2)
    ours = await trio.to_thread.run_sync(_pipeline, port, commands, 2)
    bad = [
        f"{args[:2]}: redis {want[:200]!r}, ours {got[:200]!r}"
        for args, want, got in zip(commands, theirs, ours)
        if got != want
    ]
    assert not bad, "\n".join(bad)


# --- hypothesis: the parsers against redis-server ---------------------------------------------------

SPECS = {cmd.spec.name: cmd.spec for cmd in TABLE}
TOKENS = [
    *(b"GET", b"SET", b"INCRBY", b"OVERFLOW", b"WRAP", b"SAT", b"FAIL", b"fail", b"BIT", b"BYTE", b"bit"),
    *(b"AND", b"OR", b"XOR", b"NOT", b"IDX", b"LEN", b"MINMATCHLEN", b"WITHMATCHLEN", b"get\x00x"),
    *(b"u8", b"i8", b"i64", b"u63", b"u64", b"i1", b"u1", b"i65", b"u0", b"I8", b"u", b"#3", b"#-1", b"#", b"#0"),
    *(b"0", b"1", b"-1", b"2", b"7", b"8", b"-8", b"13", b"100", b"4294967295", b"4294967296", b"+1", b"01"),
    *(b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808", b"#2305843009213693952"),
    *(b"k", b"s", b"nokey", b""),
]


def _machine_reply(kv: KVMachine, args: list[bytes], index: int) -> bytes:
    if SPECS[args[0].decode().lower()].is_write:
        return encode(kv.apply(index, encode_args(args), 1000))
    return encode(kv.query(encode_args(args), 1000))


@st.composite
def _commands(draw) -> list[bytes]:
    """A bitmap or LCS command of a length its arity allows, arguments mostly from TOKENS."""
    name = draw(st.sampled_from(["SETBIT", "GETBIT", "BITCOUNT", "BITPOS", "BITOP", "BITFIELD", "BITFIELD_RO", "LCS"]))
    arity = SPECS[name.lower()].arity
    size = arity - 1 if arity > 0 else draw(st.integers(-arity - 1, 14))
    token = st.one_of(st.sampled_from(TOKENS), st.binary(max_size=4))
    return [name.encode(), *draw(st.lists(token, min_size=size, max_size=size))]


@settings(max_examples=500, deadline=None, database=None)
@given(args=_commands(), value=st.binary(max_size=10))
def test_argument_parsing_agrees_with_redis(oracle_port, args, value):
    """Generated argument lists (option words out of place, extreme numbers, NULs, junk) give
    the same reply as redis-server, and leave the keys the same."""
    kv = KVMachine()
    script = [[b"SET", b"k", value], [b"SET", b"s", value[::-1]], args, [b"GET", b"k"], [b"GET", b"s"]]
    ours = [_machine_reply(kv, line, index) for index, line in enumerate(script, 1)]
    with RawClient(oracle_port) as client:
        client.command("FLUSHALL")
        theirs = [client.command(*line) for line in script]
    assert ours == theirs, args
