"""OBJECT against redis-server 7.0, byte for byte, RESP2 and RESP3: encodings for the same
sizes and CONFIG thresholds, REFCOUNT of shared integers, FREQ / IDLETIME's policy errors.

CASES set back every CONFIG value they change (the oracle is shared by the session's tests).
Where Redis' answer depends on history (an APPENDed string is raw, a set that shrank keeps its
hashtable) the node answers by the current size: tested on the node alone, below.
"""

from __future__ import annotations

import pytest
import trio
from resp_helpers import RawClient, assert_same_as_redis, replay

LONG = "x" * 45
CASES = {
    "object-strings": f"""
        SET s 123
        OBJECT ENCODING s
        OBJECT REFCOUNT s
        SET s -9223372036854775808
        OBJECT ENCODING s
        OBJECT REFCOUNT s
        SET s 9223372036854775808
        OBJECT ENCODING s
        SET s 12345678901234567890
        OBJECT ENCODING s
        SET s -0
        OBJECT ENCODING s
        SET s 007
        OBJECT ENCODING s
        SET s 9999
        OBJECT REFCOUNT s
        SET s 10000
        OBJECT REFCOUNT s
        SET s 0
        OBJECT REFCOUNT s
        SET s -1
        OBJECT REFCOUNT s
        SET s {"y" * 44}
        OBJECT ENCODING s
        OBJECT REFCOUNT s
        SET s {LONG}
        OBJECT ENCODING s
        SET s ""
        OBJECT ENCODING s
        INCR n
        OBJECT ENCODING n
        OBJECT ENCODING nosuch
        OBJECT REFCOUNT nosuch
        OBJECT FREQ nosuch
        OBJECT IDLETIME nosuch
        OBJECT FREQ s
        OBJECT IDLETIME s
        CONFIG SET maxmemory-policy allkeys-lfu
        OBJECT IDLETIME s
        OBJECT IDLETIME nosuch
        CONFIG SET maxmemory-policy volatile-lfu
        OBJECT IDLETIME s
        SET fresh v
        OBJECT FREQ fresh
        CONFIG SET maxmemory-policy allkeys-lru
        OBJECT FREQ s
        SET s 5
        OBJECT REFCOUNT s
        CONFIG SET maxmemory-policy noeviction
        OBJECT FOO s
        OBJECT ENCODING
        OBJECT ENCODING a b
        OBJECT
        OBJECT HELP
        OBJECT HELP x
        object encoding s
        SELECT 2
        OBJECT ENCODING s
        SET s abc
        OBJECT ENCODING s
        SELECT 0
        OBJECT ENCODING s
    """,
    "object-collections": f"""
        RPUSH l a
        OBJECT ENCODING l
        RPUSH big {" ".join(str(i) for i in range(200))}
        OBJECT ENCODING big
        OBJECT REFCOUNT l
        HSET h a 1 b 2
        OBJECT ENCODING h
        HSET h c {"v" * 64}
        OBJECT ENCODING h
        HSET h2 {"f" * 65} 1
        OBJECT ENCODING h2
        HSET h3 f {"v" * 65}
        OBJECT ENCODING h3
        CONFIG SET hash-max-listpack-entries 3
        HSET h4 a 1 b 2 c 3
        OBJECT ENCODING h4
        HSET h5 a 1 b 2 c 3 d 4
        OBJECT ENCODING h5
        CONFIG SET hash-max-ziplist-entries 512
        CONFIG SET hash-max-listpack-value 2
        HSET h6 ab 1
        OBJECT ENCODING h6
        HSET h7 abc 1
        OBJECT ENCODING h7
        CONFIG SET hash-max-listpack-value 64
        SADD s 1 2 3 -5
        OBJECT ENCODING s
        SADD s2 1 a
        OBJECT ENCODING s2
        SADD s3 007
        OBJECT ENCODING s3
        SADD s4 9223372036854775807 -9223372036854775808
        OBJECT ENCODING s4
        SADD s5 9223372036854775808
        OBJECT ENCODING s5
        CONFIG SET set-max-intset-entries 2
        SADD s6 1 2
        OBJECT ENCODING s6
        SADD s7 1 2 3
        OBJECT ENCODING s7
        CONFIG SET set-max-intset-entries 512
        ZADD z 1 a 2 b
        OBJECT ENCODING z
        ZADD z2 1 {"m" * 65}
        OBJECT ENCODING z2
        ZADD z3 1 {"m" * 64}
        OBJECT ENCODING z3
        CONFIG SET zset-max-listpack-entries 2
        ZADD z4 1 a 2 b
        OBJECT ENCODING z4
        ZADD z5 1 a 2 b 3 c
        OBJECT ENCODING z5
        CONFIG SET zset-max-ziplist-entries 128
        CONFIG SET zset-max-listpack-value 3
        ZADD z6 1 abc
        OBJECT ENCODING z6
        ZADD z7 1 abcd
        OBJECT ENCODING z7
        CONFIG SET zset-max-listpack-value 64
        OBJECT REFCOUNT z
        OBJECT FREQ z
        OBJECT IDLETIME z
        XADD st 1-1 a 1
        OBJECT ENCODING st
        OBJECT REFCOUNT st
        SORT st
        SORT_RO st
    """,
}


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, protocol, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name], protocol=protocol)


async def test_encoding_follows_the_current_size(port):
    """Redis never converts back; here a value that shrank reports the small encoding."""

    def run() -> list[bytes]:
        with RawClient(port) as client:
            client.command("DEL", "h", "s")
            client.command("HSET", "h", "f", "v" * 100)
            big = client.command("OBJECT", "ENCODING", "h")
            client.command("HSET", "h", "f", "v")
            client.command("SADD", "s", "a", "1")
            mixed = client.command("OBJECT", "ENCODING", "s")
            client.command("SREM", "s", "a")
            return [big, client.command("OBJECT", "ENCODING", "h"), mixed, client.command("OBJECT", "ENCODING", "s")]

    assert await trio.to_thread.run_sync(run) == [b"$9\r\nhashtable\r\n", b"$8\r\nlistpack\r\n"] * 1 + [
        b"$9\r\nhashtable\r\n",
        b"$6\r\nintset\r\n",
    ]


async def test_object_memory_and_info_inside_multi_read_at_their_place(port, oracle_port):
    """EXEC makes their reads steps of the transaction: each sees the state its place in the
    queue sees (OBJECT after a SET in the same transaction, in the database a SELECT chose)."""

    def run(p: int) -> list[bytes]:
        with RawClient(p) as client:
            client.command("FLUSHALL")
            client.command("SET", "k", "1")
            client.command("MULTI")
            for args in (
                ("OBJECT", "ENCODING", "k"),
                ("SET", "k", "a longer string than forty-four bytes, so raw encoded"),
                ("OBJECT", "ENCODING", "k"),
                ("SELECT", "3"),
                ("RPUSH", "k", "x"),
                ("OBJECT", "ENCODING", "k"),
                ("OBJECT", "ENCODING", "nokey"),
                ("OBJECT", "REFCOUNT", "k"),
                ("MEMORY", "USAGE", "nokey"),
                ("SELECT", "0"),
            ):
                client.command(*args)
            exec_reply = client.command("EXEC")
            return [exec_reply, client.command("GET", "k")]

    theirs = await trio.to_thread.run_sync(run, oracle_port)
    ours = await trio.to_thread.run_sync(run, port)
    assert ours == theirs


def _random_values(rng) -> list[list[str]]:
    """CONFIG thresholds, then values built only by growing (Redis never converts back), each
    followed by OBJECT ENCODING; the thresholds are set back at the end."""
    limits = {
        "hash-max-listpack-entries": rng.randint(0, 12),
        "hash-max-listpack-value": rng.randint(0, 12),
        "set-max-intset-entries": rng.randint(0, 12),
        "zset-max-listpack-entries": rng.randint(0, 12),
        "zset-max-listpack-value": rng.randint(0, 12),
    }
    lines = [["CONFIG", "SET", name, str(value)] for name, value in limits.items()]

    def word() -> str:
        return rng.choice(
            [
                str(rng.randint(-1000, 1000)),
                "x" * rng.randint(0, 15),
                rng.choice(["007", "-0", "1.5", "9223372036854775807", "9223372036854775808", " 1"]),
            ]
        )

    used: dict[str, set[str]] = {}
    for i in range(40):
        kind, key = rng.choice("shzlS"), f"k{i}"
        for _ in range(rng.randint(1, 4)):  # grown in steps: each step may cross a threshold
            n = rng.randint(1, 6)
            if kind == "s":
                lines.append(["SADD", key, *(word() for _ in range(n))])
            elif kind == "h":  # new fields only: an overwritten value would shrink the hash
                fields = [f for f in dict.fromkeys(word() for _ in range(n)) if f not in used.setdefault(key, set())]
                used[key].update(fields)
                if fields:
                    lines.append(["HSET", key, *(w for field in fields for w in (field, word()))])
            elif kind == "z":
                lines.append(["ZADD", key, *(w for _ in range(n) for w in (str(rng.randint(0, 9)), word()))])
            elif kind == "l":
                lines.append(["RPUSH", key, *(word() for _ in range(n))])
            else:
                lines.append(["SET", key, rng.choice([word(), "y" * rng.randint(40, 50)])])
            lines.append(["OBJECT", "ENCODING", key])
            lines.append(["OBJECT", "REFCOUNT", key])
    defaults = {"hash-max-listpack-entries": 512, "hash-max-listpack-value": 64, "set-max-intset-entries": 512}
    defaults |= {"zset-max-listpack-entries": 128, "zset-max-listpack-value": 64}
    return lines + [["CONFIG", "SET", name, str(value)] for name, value in defaults.items()]


async def test_random_encodings_as_redis(port, oracle_port):
    import os
    import random

    seed = int(os.environ.get("OBJECT_SEED", random.randrange(1 << 32)))
    print(f"OBJECT_SEED={seed}")
    rng = random.Random(seed)
    for _ in range(10):
        lines = _random_values(rng)
        theirs = await trio.to_thread.run_sync(replay, oracle_port, lines, 2)
        ours = await trio.to_thread.run_sync(replay, port, lines, 2)
        bad = [f"{args}: redis {want!r}, ours {got!r}" for args, want, got in zip(lines, theirs, ours) if want != got]
        assert not bad, f"seed {seed}:\n" + "\n".join(bad[:5])
