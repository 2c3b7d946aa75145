"""Keys of every type for `replicator import` to copy, and the check that they arrived: shared by
tests/e2e/test_import.py (small) and bench/import_100k.py (100k keys)."""

from __future__ import annotations

import redis

TTL_MS = 3_600_000  # every third key has a TTL of about an hour: far enough not to expire mid-test


def fill(r: redis.Redis, n: int, prefix: str = "k") -> None:
    """n keys, cycling through strings (int, raw, compressible), lists, sets (intset and not),
    hashes and sorted sets, a few of them large enough for Redis' big encodings."""
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        key = f"{prefix}:{i}"
        kind = i % 7
        if kind == 0:
            pipe.set(key, i)
        elif kind == 1:
            pipe.set(key, f"value-{i}-" + "x" * (i % 100))
        elif kind == 2:
            pipe.rpush(key, *[f"e{j}" for j in range(1 + i % 9)], i)
        elif kind == 3:
            pipe.sadd(key, *range(i % 13 + 1))
        elif kind == 4:
            pipe.sadd(key, *[f"m{j}" for j in range(1 + i % 5)])
        elif kind == 5:
            pipe.hset(key, mapping={f"f{j}": f"v{i}-{j}" for j in range(1 + i % 6)})
        else:
            pipe.zadd(key, {f"z{j}": j * 1.5 - i for j in range(1 + i % 8)})
        if i % 3 == 0:
            pipe.pexpire(key, TTL_MS)
        if len(pipe) >= 1000:
            pipe.execute()
    pipe.set(f"{prefix}:big:string", "abc" * 100_000)
    pipe.rpush(f"{prefix}:big:list", *[f"item-{j}" for j in range(20_000)])
    pipe.hset(f"{prefix}:big:hash", mapping={f"f{j}": "v" * 80 for j in range(2000)})
    pipe.zadd(f"{prefix}:big:zset", {f"m{j}": j / 7 for j in range(3000)})
    pipe.sadd(f"{prefix}:big:set", *[f"s{j}" for j in range(3000)])
    pipe.execute()


def _read(r: redis.Redis, keys: list[bytes]) -> list[tuple]:
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    kinds = pipe.execute()
    for key, kind in zip(keys, kinds):
        if kind == b"string":
            pipe.get(key)
        elif kind == b"list":
            pipe.lrange(key, 0, -1)
        elif kind == b"set":
            pipe.smembers(key)
        elif kind == b"hash":
            pipe.hgetall(key)
        elif kind == b"zset":
            pipe.zrange(key, 0, -1, withscores=True)
        else:
            pipe.exists(key)
        pipe.pttl(key)
    values = pipe.execute()
    return [(kind, values[2 * i], values[2 * i + 1]) for i, kind in enumerate(kinds)]


def differences(source: redis.Redis, target: redis.Redis, match: str = "*", limit: int = 10) -> list[str]:
    """What differs between the source's keys matching `match` and the target's copies: type,
    value, and TTL (the copy's remaining TTL must be positive and at most the source's)."""
    keys = sorted(source.scan_iter(match=match, count=1000))
    bad: list[str] = []
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        for key, want, got in zip(chunk, _read(source, chunk), _read(target, chunk)):
            same_ttl = (want[2] == -1 and got[2] == -1) or (want[2] > 0 and 0 < got[2] <= TTL_MS)
            if want[:2] != got[:2] or not same_ttl:
                bad.append(f"{key!r}: source {str(want)[:120]}, cluster {str(got)[:120]}")
                if len(bad) >= limit:
                    return bad
    return bad
