"""Keyspace notifications against redis-server 7.0: the same commands, the same messages.

A subscriber (PSUBSCRIBE __key*__:*) on our server and one on a real redis-server with the same
notify-keyspace-events; each command is followed by a marker PUBLISH, so the messages each
command caused are compared, in order, byte for byte (channel and message). The commands cover
every type and every event Redis 7.0 emits, expiry (a TTL, a wait, then a write touching the key:
Redis' active or lazy expiry and ours at apply both give one "expired" first), transactions and
scripts. `SLEEP ms` lines wait. The dict is not named CASES: its lines are not a reply oracle
(SPOP, SRANDMEMBER answer randomly), only their notifications are compared.
"""

from __future__ import annotations

import os
import random
import time

import pytest
import trio
from resp_helpers import RawClient, assert_same_as_redis, case_lines, real_redis

from statemachines.keyevents import NEW, flags_from_string, flags_to_string

MARK = "__keymark__:"  # matched by the subscription, never a key event's channel

NOTIFICATION_CASES = {
    "strings": """
        SET s 1
        SET s 2 EX 100
        SET s 3 KEEPTTL
        SET s 4 NX
        SET s 5 XX GET
        SET fresh 1 XX
        SETNX s 1
        SETNX n 1
        SETEX e 100 v
        PSETEX p 100000 v
        GETSET s 9
        GETSET gs 1
        GETDEL s
        GETDEL s
        GETEX e EX 50
        GETEX e PERSIST
        GETEX e PERSIST
        GETEX e PXAT 1
        GETEX nope EX 5
        MSET a 1 b 2 a 3
        MSETNX a 1 c 2
        MSETNX c 1 d 2
        INCR i
        DECR i
        INCRBY i 10
        DECRBY i 3
        INCRBYFLOAT f 1.5
        INCR a
        APPEND ap x
        APPEND ap y
        SETRANGE sr 3 abc
        SETRANGE sr 0 ""
        SETRANGE sr 1 z
        SETRANGE empty 0 ""
        INCR ap
        LPUSH a x
    """,
    "generic": """
        SET a 1
        SET b 2
        DEL a b nope
        UNLINK nope
        SET a 1
        EXPIRE a 100
        PEXPIRE a 200000 GT
        PEXPIRE a 1 GT
        PERSIST a
        PERSIST a
        EXPIRE nope 10
        EXPIREAT a 1
        SET a 1
        PEXPIREAT a 1
        SET a 1
        RENAME a b
        SET c 3
        RENAME b c
        RENAME c c
        RENAMENX c b
        SET d 4
        RENAMENX b d
        RENAME nope x
        MOVE b 1
        SET b 5
        MOVE b 1
        COPY c c2
        COPY c c2
        COPY c c2 REPLACE
        COPY c c3 DB 2
        COPY nope c4
        SWAPDB 0 1
        SWAPDB 0 1
        TOUCH c nope
        EXISTS c nope
        TYPE c
        SELECT 3
        SET inthree 1
        EXPIRE inthree 100
        DEL inthree
        SELECT 0
        FLUSHDB
    """,
    "dump and restore": """
        RPUSH l a b
        PEXPIRE l 100000
        RESTORE r 0 "\\x12\\x01\\x02\\x0d\\x0d\\x00\\x00\\x00\\x02\\x00\\x81\\x61\\x02\\x81\\x62\\x02\\xff\\x0a\\x00\\x68\\xeb\\x0a\\x89\\x13\\x41\\xbb\\xb1"
        RESTORE r 0 "\\x12\\x01\\x02\\x0d\\x0d\\x00\\x00\\x00\\x02\\x00\\x81\\x61\\x02\\x81\\x62\\x02\\xff\\x0a\\x00\\x68\\xeb\\x0a\\x89\\x13\\x41\\xbb\\xb1" REPLACE
        RESTORE r 100000 "\\x12\\x01\\x02\\x0d\\x0d\\x00\\x00\\x00\\x02\\x00\\x81\\x61\\x02\\x81\\x62\\x02\\xff\\x0a\\x00\\x68\\xeb\\x0a\\x89\\x13\\x41\\xbb\\xb1" REPLACE
        RESTORE r 1 "\\x12\\x01\\x02\\x0d\\x0d\\x00\\x00\\x00\\x02\\x00\\x81\\x61\\x02\\x81\\x62\\x02\\xff\\x0a\\x00\\x68\\xeb\\x0a\\x89\\x13\\x41\\xbb\\xb1" REPLACE ABSTTL
        RESTORE r 0 junk
    """,
    "lists": """
        LPUSH l a b c
        RPUSH l d e
        LPUSHX nope a
        RPUSHX l f
        LINSERT l BEFORE a z
        LINSERT l BEFORE nothere z
        LSET l 0 y
        LPOP l
        RPOP l 2
        LPOP l 0
        LPOP nope
        LTRIM l 0 1
        LTRIM l 5 10
        RPUSH l a b a c a
        LREM l 2 a
        LREM l 0 nothere
        LREM l 0 a
        LREM l 0 b
        LREM l 0 c
        RPUSH src a b
        LMOVE src dst LEFT RIGHT
        LMOVE src dst RIGHT LEFT
        LMOVE src dst LEFT LEFT
        RPUSH one x
        LMOVE one one LEFT RIGHT
        RPOPLPUSH one one
        RPOPLPUSH dst other
        LMPOP 2 nope dst LEFT COUNT 5
        LMPOP 2 nope other RIGHT
        LMPOP 1 nope LEFT
        RPUSH b1 x y
        BLPOP nope b1 0
        BRPOP b1 0
        BLPOP nope 0.01
        RPUSH b2 x
        BLMOVE b2 b3 LEFT RIGHT 0
        BRPOPLPUSH b3 b2 0
        BLMPOP 0 2 nope b2 RIGHT COUNT 3
        MULTI
        BLPOP nope 0
        EXEC
    """,
    "sets": """
        SADD s a b c
        SADD s a
        SREM s a nothere
        SREM s nothere
        SMOVE s t b
        SMOVE s t b
        SADD t c
        SMOVE s t c
        SADD u x
        SMOVE u u x
        SPOP t
        SADD p a b c d
        SPOP p 2
        SPOP p 0
        SPOP p 10
        SPOP nope
        SADD x 1 2 3
        SADD y 2 3 4
        SINTERSTORE i x y
        SUNIONSTORE un x y
        SDIFFSTORE d x y
        SINTERSTORE i x nope
        SDIFFSTORE d nope x
        SUNIONSTORE un nope
    """,
    "hashes": """
        HSET h a 1 b 2
        HSET h a 1
        HMSET h c 3
        HSETNX h a 1
        HSETNX h z 1
        HSETNX h2 z 1
        HDEL h a nothere
        HDEL h nothere
        HINCRBY h n 5
        HINCRBY h3 n 5
        HINCRBYFLOAT h f 1.5
        HINCRBYFLOAT h4 f 1.5
        HINCRBY h b x
        HDEL h b c z n f
    """,
    "sorted sets": """
        ZADD z 1 a 2 b 3 c
        ZADD z 1 a
        ZADD z XX 5 nothere
        ZADD nope XX 1 a
        ZADD z NX 9 a
        ZADD z CH 7 a
        ZADD z GT 1 a
        ZINCRBY z 1 b
        ZINCRBY z2 1 b
        ZADD z INCR 1 c
        ZREM z nothere
        ZREM z a
        ZADD z 4 d 5 e 6 f 7 g
        ZREMRANGEBYSCORE z 100 200
        ZREMRANGEBYSCORE z 4 4
        ZREMRANGEBYRANK z 0 0
        ZREMRANGEBYLEX z [a [b
        ZADD lex 0 a 0 b 0 c
        ZREMRANGEBYLEX lex [a [b
        ZPOPMIN z
        ZPOPMAX z 2
        ZPOPMIN z 0
        ZPOPMIN nope
        ZADD m 1 a 2 b
        ZMPOP 2 nope m MIN COUNT 1
        ZMPOP 1 m MAX COUNT 5
        ZADD x 1 a 2 b
        ZADD y 2 b 3 c
        ZRANGESTORE rs x 0 -1
        ZRANGESTORE rs x 5 10
        ZRANGESTORE rs nope 0 -1
        ZUNIONSTORE un 2 x y
        ZINTERSTORE in 2 x y
        ZDIFFSTORE df 2 x y
        ZINTERSTORE in 2 x nope
        ZDIFFSTORE df 1 nope
        SADD st a
        ZUNIONSTORE mixed 2 x st
        ZPOPMIN z 100
        ZADD bz 1 a 2 b
        BZPOPMIN nope bz 0
        BZPOPMAX bz 0
        BZPOPMIN nope 0.01
        ZADD bz 1 a 2 b
        BZMPOP 0 2 nope bz MAX COUNT 5
    """,
    "streams": """
        XADD s 1-1 f v
        XADD s 2-1 f v
        XADD s MAXLEN 1 3-1 f v
        XADD s MAXLEN 5 4-1 f v
        XADD nope NOMKSTREAM * f v
        XADD s 1-0 f v
        XTRIM s MAXLEN 1
        XTRIM s MAXLEN 1
        XTRIM nope MAXLEN 1
        XADD s 5-1 f v
        XDEL s 5-1 9-9
        XDEL s 9-9
        XGROUP CREATE s g 0
        XGROUP CREATE s g 0
        XGROUP CREATE t g $ MKSTREAM
        XGROUP SETID s g 0
        XGROUP CREATECONSUMER s g c1
        XGROUP CREATECONSUMER s g c1
        XADD s 6-1 f v
        XREADGROUP GROUP g c2 COUNT 10 STREAMS s >
        XREADGROUP GROUP g c2 COUNT 10 STREAMS s >
        XREADGROUP GROUP g c3 STREAMS s 0
        XCLAIM s g c4 0 6-1
        XCLAIM s g c5 0 9-9
        XAUTOCLAIM s g c6 0 0
        XAUTOCLAIM s g c7 0 0
        XGROUP DELCONSUMER s g c1
        XGROUP DELCONSUMER s g nobody
        XGROUP DESTROY s g
        XGROUP DESTROY s g
        XSETID s 100-1
        XSETID nope 1-1
        XREADGROUP GROUP g c STREAMS nope >
        XCLAIM nope g c 0 1-1
        XAUTOCLAIM nope g c 0 0
        XACK nope g 1-1
        XGROUP CREATE nope g $
    """,
    "bitmaps, hyperloglogs, geo": """
        SETBIT b 7 1
        SETBIT b 7 1
        SETBIT b 7 0
        SETBIT b 100 0
        SETBIT nb 3 0
        BITOP OR dest b nb
        BITOP AND dest nope
        BITOP AND dest nope
        BITFIELD bf SET u8 0 255
        BITFIELD bf GET u8 0
        BITFIELD bf OVERFLOW FAIL INCRBY u8 0 1
        BITFIELD bf INCRBY u8 0 1
        BITFIELD bf SET u8 0 0 SET u8 0 0
        BITFIELD nobf GET u8 0
        BITFIELD_RO bf GET u8 0
        PFADD h a b c
        PFADD h a
        PFADD h2
        PFADD h2
        PFMERGE m h h2 nope
        PFMERGE m
        PFCOUNT h nope
        GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        GEOADD g 13.361389 38.115556 Palermo
        GEOADD g XX 1 1 nobody
        GEOSEARCHSTORE gs g FROMLONLAT 15 37 BYRADIUS 200 km ASC
        GEOSEARCHSTORE gs g FROMLONLAT 15 37 BYRADIUS 1 m
        GEOSEARCHSTORE gs nope FROMLONLAT 15 37 BYRADIUS 1 m
        GEORADIUS g 15 37 200 km STORE gr
        GEORADIUS g 15 37 200 km STOREDIST gd
        GEORADIUS g 15 37 1 m STORE gr
        GEORADIUSBYMEMBER g Palermo 500 km STORE gm
    """,
    "sort": """
        RPUSH l 3 1 2
        SORT l STORE out
        SORT nope STORE out
        SORT l STORE out
        SADD s b a
        SORT s ALPHA STORE out2
        SET w_1 5
        SORT l BY w_* GET # GET w_* STORE out3
        SORT l BY nosort STORE out4
    """,
    "transactions and scripts": """
        WATCH nope
        UNWATCH
        MULTI
        SET a 1
        LPUSH l x
        INCR a
        EXEC
        MULTI
        DEL a l
        DISCARD
        EVAL "redis.call('set', KEYS[1], ARGV[1]); redis.call('expire', KEYS[1], 100); return redis.call('del', KEYS[1])" 1 k v
        EVAL "redis.call('rpush', KEYS[1], 'a', 'b'); return redis.call('lpop', KEYS[1], 2)" 1 q
        EVAL "return redis.call('get', KEYS[1])" 1 missing
        EVAL "return redis.pcall('incr', KEYS[1])" 1 l
        SET a 1
        EVAL_RO "return redis.call('get', KEYS[1])" 1 a
        EVAL_RO "return redis.call('get', KEYS[1])" 1 missing
    """,
    "reads": """
        GET nope
        SET s v
        GET s
        MGET s nope nope2
        STRLEN nope
        GETRANGE nope 0 1
        LRANGE nope 0 -1
        LLEN nope
        LINDEX nope 0
        LPOS nope a
        SMEMBERS nope
        SISMEMBER nope a
        SCARD nope
        SINTER nope s2
        SINTERCARD 2 nope nope2
        SRANDMEMBER nope
        HGET nope f
        HGETALL nope
        HLEN nope
        HMGET nope a b
        HRANDFIELD nope
        ZRANGE nope 0 -1
        ZSCORE nope a
        ZCARD nope
        ZRANK nope a
        ZCOUNT nope 0 1
        ZUNION 2 nope nope2
        ZINTERCARD 1 nope
        ZRANDMEMBER nope
        XRANGE nope - +
        XLEN nope
        XREAD STREAMS nope 0
        GETBIT nope 0
        BITCOUNT nope
        BITPOS nope 1
        PFCOUNT nope
        GEOPOS nope a
        GEODIST nope a b
        GEOSEARCH nope FROMLONLAT 0 0 BYRADIUS 1 m
        DUMP nope
        OBJECT ENCODING nope
        MEMORY USAGE nope
        TTL nope
        PTTL nope
        EXPIRETIME nope
        TYPE nope
        EXISTS nope s
        SORT_RO nope
        RANDOMKEY
        DBSIZE
    """,
    "expiry": """
        SET k v PX 250
        SLEEP 800
        DEL k
        RPUSH l a
        PEXPIRE l 250
        SLEEP 800
        LPUSH l b
        SET s v
        PEXPIREAT s 1
        SELECT 2
        HSET h f v
        PEXPIRE h 250
        SLEEP 800
        HSET h f v
        SELECT 0
    """,
}

FLAGS = ("KEA", "AKEnm", "Kgx", "E$lshztn")


@pytest.fixture(scope="module")
def notify_oracle_port():
    """A redis-server of this module's own: its notify-keyspace-events changes, the shared one's must not."""
    with real_redis() as port:
        if port is None:
            pytest.skip("redis-server is not installed")
        yield port


def _unescape(arg: str) -> bytes:
    return arg.encode("latin-1").decode("unicode_escape").encode("latin-1") if "\\x" in arg else arg.encode()


def record(port: int, lines: list[list[str]], flags: str, protocol: int = 2) -> list[list[bytes]]:
    """The messages each line caused, seen by a pattern subscriber on the same server."""
    with RawClient(port) as admin, RawClient(port) as subscriber:
        if protocol == 3:
            subscriber.command("HELLO", "3")
        admin.command("FLUSHALL")
        assert admin.command("CONFIG", "SET", "notify-keyspace-events", flags) == b"+OK\r\n"
        subscriber.command("PSUBSCRIBE", "__key*__:*")
        out: list[list[bytes]] = []
        in_multi = False
        try:
            for number, args in enumerate(lines):
                if args[0] == "SLEEP":
                    time.sleep(int(args[1]) / 1000)
                    out.append([])
                    continue
                admin.command(*[_unescape(a) for a in args])
                name = args[0].upper()
                in_multi = (in_multi or name == "MULTI") and name not in ("EXEC", "DISCARD")
                if in_multi:  # queued: its messages come with EXEC's
                    out.append([])
                    continue
                admin.command("PUBLISH", f"{MARK}{number}", "")
                messages = []
                while MARK.encode() not in (message := subscriber.reply()):
                    assert message, "the subscriber's connection closed"
                    messages.append(message)
                out.append(messages)
        finally:
            admin.command("CONFIG", "SET", "notify-keyspace-events", "")
        return out


def _brief(messages: list[bytes]) -> list[str]:
    """pmessage pushes as "channel message" (their bytes are compared; this is for reading)."""
    out = []
    for raw in messages:
        parts = raw.split(b"\r\n")
        out.append(f"{parts[6].decode('latin-1')} {parts[8].decode('latin-1')}" if len(parts) > 8 else repr(raw))
    return out


def differences(lines, theirs, ours) -> list[str]:
    return [
        f"line {number} {' '.join(args)[:80]}:\n    redis      {_brief(want)}\n    replicator {_brief(got)}"
        for number, (args, want, got) in enumerate(zip(lines, theirs, ours))
        if want != got
    ]


async def assert_same_notifications(
    port: int, oracle: int, lines: list[list[str]], flags: str, protocol: int = 2
) -> None:
    theirs = await trio.to_thread.run_sync(record, oracle, lines, flags, protocol)
    ours = await trio.to_thread.run_sync(record, port, lines, flags, protocol)
    bad = differences(lines, theirs, ours)
    assert not bad, f"notify-keyspace-events {flags}:\n" + "\n".join(bad)


@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize("name", sorted(NOTIFICATION_CASES))
async def test_notifications_as_redis(port, notify_oracle_port, name, flags):
    if "SLEEP" in NOTIFICATION_CASES[name] and flags != FLAGS[0]:
        pytest.skip("the waits run once")
    await assert_same_notifications(port, notify_oracle_port, case_lines(NOTIFICATION_CASES[name]), flags)


async def test_resp3_subscribers_get_pushes_as_redis(port, notify_oracle_port):
    lines = case_lines(NOTIFICATION_CASES["lists"]) + case_lines(NOTIFICATION_CASES["transactions and scripts"])
    await assert_same_notifications(port, notify_oracle_port, lines, "AKEnm", protocol=3)


# --- CONFIG: notify-keyspace-events is validated and shown as Redis does (replies compared) ---------
CASES = {
    "notify-keyspace-events": """
        CONFIG SET notify-keyspace-events KEA
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events KEAn
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events nmEK$lg
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events g$lshzxetdn
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events g$lshzxetd
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events AAAA
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events KEQ
        CONFIG SET notify-keyspace-events a
        CONFIG SET notify-keyspace-events "K E"
        CONFIG SET notify-keyspace-events ÿ
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events Ex maxclients 10000
        CONFIG SET notify-keyspace-events Ex notify-keyspace-events K
        CONFIG SET notify-keyspace-events x maxclients nope
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events m
        CONFIG GET notify-keyspace-events
        CONFIG GET notify*
        CONFIG SET notify-keyspace-events ""
        CONFIG GET notify-keyspace-events
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_config_as_redis(port, notify_oracle_port, name):
    await assert_same_as_redis(port, notify_oracle_port, CASES[name])


def test_flags_round_trip_every_letter_set():
    """Every subset of the letters parses, and its shown form parses back to the same flags
    (n aside when A shows it: Redis' GET loses it too)."""
    letters = "g$lshzxetdnKEm"
    for mask in range(1 << len(letters)):
        text = "".join(c for i, c in enumerate(letters) if mask >> i & 1)
        flags = flags_from_string(text.encode())
        shown = flags_to_string(flags)
        back = flags_from_string(shown.encode())
        assert back == flags or (shown.startswith("A") and back == flags & ~NEW), text
    assert flags_from_string(b"KEA\0junk") == flags_from_string(b"KEA")  # a C string ends at NUL
    assert flags_from_string(b"KEa") is None


# --- randomized: many commands over a few keys of every type, the same messages -------------------
_KEYS = ("k0", "k1", "k2", "k3")
_MEMBERS = ("a", "b", "c")


def _random_lines(rng: random.Random, count: int) -> list[list[str]]:
    def k() -> str:
        return rng.choice(_KEYS)

    def m() -> str:
        return rng.choice(_MEMBERS)

    templates = [
        lambda: ["SET", k(), "v"],
        lambda: ["SET", k(), "7", "EX", "100"],
        lambda: ["SET", k(), "v", "NX", "GET"],
        lambda: ["SETNX", k(), "v"],
        lambda: ["GETSET", k(), "1"],
        lambda: ["GETDEL", k()],
        lambda: ["GETEX", k(), "EX", "100"],
        lambda: ["GETEX", k(), "PERSIST"],
        lambda: ["INCR", k()],
        lambda: ["INCRBYFLOAT", k(), "1.5"],
        lambda: ["APPEND", k(), "x"],
        lambda: ["SETRANGE", k(), "2", rng.choice(["", "ab"])],
        lambda: ["MSET", k(), "1", k(), "2"],
        lambda: ["MSETNX", k(), "1", k(), "2"],
        lambda: ["DEL", k(), k()],
        lambda: ["EXPIRE", k(), "100"],
        lambda: ["EXPIREAT", k(), "1"],
        lambda: ["PERSIST", k()],
        lambda: ["RENAME", k(), k()],
        lambda: ["RENAMENX", k(), k()],
        lambda: ["COPY", k(), k(), "REPLACE"],
        lambda: ["MOVE", k(), "1"],
        lambda: ["LPUSH", k(), m(), m()],
        lambda: ["RPUSHX", k(), m()],
        lambda: ["LPOP", k()],
        lambda: ["RPOP", k(), rng.choice(["0", "1", "5"])],
        lambda: ["LREM", k(), "0", m()],
        lambda: ["LTRIM", k(), "1", "-1"],
        lambda: ["LSET", k(), "0", m()],
        lambda: ["LINSERT", k(), "BEFORE", m(), m()],
        lambda: ["LMOVE", k(), k(), "LEFT", "RIGHT"],
        lambda: ["LMPOP", "2", k(), k(), "LEFT", "COUNT", "2"],
        lambda: ["SADD", k(), m(), m()],
        lambda: ["SREM", k(), m()],
        lambda: ["SMOVE", k(), k(), m()],
        lambda: ["SPOP", k(), "5"],  # all of it: which members a partial SPOP leaves differs by server
        lambda: ["SINTERSTORE", k(), k(), k()],
        lambda: ["SUNIONSTORE", k(), k(), k()],
        lambda: ["SDIFFSTORE", k(), k(), k()],
        lambda: ["HSET", k(), m(), "1"],
        lambda: ["HSETNX", k(), m(), "1"],
        lambda: ["HDEL", k(), m(), m()],
        lambda: ["HINCRBY", k(), m(), "1"],
        lambda: ["ZADD", k(), str(rng.randrange(3)), m()],
        lambda: ["ZADD", k(), "GT", "CH", str(rng.randrange(3)), m()],
        lambda: ["ZINCRBY", k(), "1", m()],
        lambda: ["ZREM", k(), m()],
        lambda: ["ZPOPMIN", k()],
        lambda: ["ZPOPMAX", k(), "2"],
        lambda: ["ZMPOP", "2", k(), k(), "MIN"],
        lambda: ["ZUNIONSTORE", k(), "2", k(), k()],
        lambda: ["ZINTERSTORE", k(), "2", k(), k()],
        lambda: ["ZRANGESTORE", k(), k(), "0", "1"],
        lambda: ["ZREMRANGEBYRANK", k(), "0", "0"],
        lambda: ["XADD", k(), "*", "f", "v"],
        lambda: ["XADD", k(), "MAXLEN", "1", "*", "f", "v"],
        lambda: ["XTRIM", k(), "MAXLEN", "0"],
        lambda: ["XGROUP", "CREATE", k(), "g", "0", "MKSTREAM"],
        lambda: ["XREADGROUP", "GROUP", "g", m(), "STREAMS", k(), ">"],
        lambda: ["SETBIT", k(), str(rng.randrange(16)), str(rng.randrange(2))],
        lambda: ["BITOP", "OR", k(), k(), k()],
        lambda: ["PFADD", k(), m()],
        lambda: ["PFMERGE", k(), k()],
        lambda: ["SORT", k(), "ALPHA", "STORE", k()],
        lambda: ["GET", k()],
        lambda: ["LRANGE", k(), "0", "-1"],
        lambda: ["SCARD", k()],
        lambda: ["HGETALL", k()],
        lambda: ["ZSCORE", k(), m()],
        lambda: ["EXISTS", k(), k()],
        lambda: ["TYPE", k()],
        lambda: ["XLEN", k()],
    ]
    lines: list[list[str]] = []
    while len(lines) < count:
        if rng.random() < 0.05:  # a transaction of a few of them
            lines += [["MULTI"], *(rng.choice(templates)() for _ in range(3)), ["EXEC"]]
        else:
            lines.append(rng.choice(templates)())
    return lines


@pytest.mark.parametrize("flags", ["AKEnm", "Kl$gn"])
async def test_random_commands_notify_as_redis(port, notify_oracle_port, flags):
    seed = int(os.environ.get("NOTIFY_SEED", random.randrange(1 << 32)))
    print(f"NOTIFY_SEED={seed}")
    lines = _random_lines(random.Random(seed), int(os.environ.get("NOTIFY_COMMANDS", 400)))
    theirs = await trio.to_thread.run_sync(record, notify_oracle_port, lines, flags)
    ours = await trio.to_thread.run_sync(record, port, lines, flags)
    bad = differences(lines, theirs, ours)
    assert not bad, f"NOTIFY_SEED={seed} notify-keyspace-events {flags}:\n" + "\n".join(bad[:5])


def _config_replies(port: int, values: list[bytes]) -> list[bytes]:
    with RawClient(port) as client:
        out = []
        for value in values:
            out.append(client.command("CONFIG", "SET", "notify-keyspace-events", value))
            out.append(client.command("CONFIG", "GET", "notify-keyspace-events"))
        client.command("CONFIG", "SET", "notify-keyspace-events", "")
        return out


async def test_random_config_values_as_redis(port, notify_oracle_port):
    """Strings of class letters (and a few others) are accepted, refused and shown as Redis does."""
    seed = int(os.environ.get("NOTIFY_SEED", random.randrange(1 << 32)))
    print(f"NOTIFY_SEED={seed}")
    rng = random.Random(seed)
    alphabet = b"Ag$lshzxeKEtmdn" * 3 + b"aGL XyM\x00\xff!*"
    values = [bytes(rng.choice(alphabet) for _ in range(rng.randrange(8))) for _ in range(300)]
    theirs = await trio.to_thread.run_sync(_config_replies, notify_oracle_port, values)
    ours = await trio.to_thread.run_sync(_config_replies, port, values)
    bad = [
        (value, want, got) for value, want, got in zip([v for v in values for _ in (0, 1)], theirs, ours) if want != got
    ]
    assert not bad, f"NOTIFY_SEED={seed}: {bad[:5]}"
