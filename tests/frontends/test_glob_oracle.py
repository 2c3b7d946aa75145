"""statemachines.glob against Redis: KEYS on a real redis-server, and a line-by-line port of
stringmatchlen (util.c) for nocase and for inputs a server cannot hold. Seeded; the seed is
printed, and GLOB_SEED=<n> replays a run."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
import redis

from statemachines.glob import compile_glob
from statemachines.kv.scan import matcher

ALPHABET = b"aAbz*?[]^-\\\x00\x80\xff"


def _seed() -> int:
    seed = int(os.environ.get("GLOB_SEED", random.randrange(1 << 32)))
    print(f"GLOB_SEED={seed}")
    return seed


def _random_bytes(rng: random.Random, alphabet: bytes, most: int) -> bytes:
    return bytes(rng.choice(alphabet) for _ in range(rng.randrange(most + 1)))


def redis_stringmatch(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """util.c stringmatchlen_impl, transcribed (signed chars, skipLongerMatches, nesting limit).
    Exponential in the worst case: for short inputs only."""

    def sc(b: int) -> int:  # C's signed char
        return b - 256 if b >= 128 else b

    def lower(c: int) -> int:
        return c + 32 if 65 <= c <= 90 else c

    skip = [False]
    P = pattern + b"\0"  # sds: NUL-terminated

    def impl(p: int, plen: int, s: int, slen: int, nesting: int) -> bool:
        if nesting > 1000:
            return False
        while plen and slen:
            c = P[p]
            if c == 42:
                while plen and P[p + 1] == 42:
                    p += 1
                    plen -= 1
                if plen == 1:
                    return True
                while slen:
                    if impl(p + 1, plen - 1, s, slen, nesting + 1):
                        return True
                    if skip[0]:
                        return False
                    s += 1
                    slen -= 1
                skip[0] = True
                return False
            elif c == 63:
                s += 1
                slen -= 1
            elif c == 91:
                p += 1
                plen -= 1
                negate = P[p] == 94
                if negate:
                    p += 1
                    plen -= 1
                match = False
                while True:
                    if P[p] == 92 and plen >= 2:
                        p += 1
                        plen -= 1
                        if P[p] == string[s]:
                            match = True
                    elif P[p] == 93:
                        break
                    elif plen == 0:
                        p -= 1
                        plen += 1
                        break
                    elif plen >= 3 and P[p + 1] == 45:
                        start, end, ch = sc(P[p]), sc(P[p + 2]), sc(string[s])
                        if start > end:
                            start, end = end, start
                        if nocase:
                            start, end, ch = lower(start), lower(end), lower(ch)
                        p += 2
                        plen -= 2
                        if start <= ch <= end:
                            match = True
                    elif (lower(P[p]) == lower(string[s])) if nocase else (P[p] == string[s]):
                        match = True
                    p += 1
                    plen -= 1
                if negate:
                    match = not match
                if not match:
                    return False
                s += 1
                slen -= 1
            else:
                if c == 92 and plen >= 2:
                    p += 1
                    plen -= 1
                a, b = P[p], string[s]
                if (lower(a) != lower(b)) if nocase else (a != b):
                    return False
                s += 1
                slen -= 1
            p += 1
            plen -= 1
            if slen == 0:
                while P[p] == 42:
                    p += 1
                    plen -= 1
                break
        return plen == 0 and slen == 0

    return impl(0, len(pattern), 0, len(string), 0)


@pytest.mark.parametrize("nocase", [False, True])
def test_glob_agrees_with_a_port_of_stringmatchlen(nocase):
    rng = random.Random(_seed())
    for _ in range(20000):
        pattern = _random_bytes(rng, ALPHABET, 9)
        string = _random_bytes(rng, ALPHABET.replace(b"*", b"").replace(b"?", b"") + b"*?", 8)
        want = redis_stringmatch(pattern, string, nocase)
        assert compile_glob(pattern, nocase)(string) == want, (pattern, string, nocase)


def test_keys_and_scan_match_like_redis(oracle_port):
    """KEYS on a real redis-server and the kv matcher select the same keys, for random patterns."""
    rng = random.Random(_seed())
    client = redis.Redis(port=oracle_port)
    client.flushall()
    keys = {_random_bytes(rng, ALPHABET, 7) for _ in range(300)} | {b"", b"a", b"*", b"[", b"\\"}
    client.mset(dict.fromkeys(keys, b"1"))
    patterns = [_random_bytes(rng, ALPHABET, 8) for _ in range(600)] + [b"*", b"**", b"", b"[", b"[^", b"\\"]
    pipe = client.pipeline(transaction=False)
    for pattern in patterns:
        pipe.keys(pattern)
    for pattern, theirs in zip(patterns, pipe.execute()):
        match = matcher(pattern)
        ours = {key for key in keys if match is None or match(key)}
        assert ours == set(theirs), f"pattern {pattern!r}"
    client.flushall()


def _match_in_child(pattern: bytes, key: bytes) -> bool:
    """matcher(pattern)(key) in a child process, so that a hang fails the test instead of stalling it.
    The deadline is generous: it catches a hang, it does not measure speed."""
    code = (
        "import sys; from statemachines.kv.scan import matcher; "
        "p, k = (bytes.fromhex(a) for a in sys.stdin.read().split()); print(matcher(p)(k))"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            input=f"{pattern.hex()} {key.hex()}",
            capture_output=True,
            timeout=120,
            check=True,
            text=True,
        ).stdout
    except subprocess.TimeoutExpired:
        pytest.fail(f"matching {pattern[:40]!r}... against a {len(key)}-byte key hangs")
    return out.strip() == "True"


def test_pattern_matching_long_nested_loops(oracle_port):
    """Redis' regressions "pattern matching long nested loops" (and "very long"): no match, and no hang."""
    client = redis.Redis(port=oracle_port)
    client.flushall()
    cases = [(b"a" * 105, b"a*" * 49 + b"b"), (b"a" * 50000, b"*?" * 50000), (b"a" * 200000, b"a*" * 40 + b"b")]
    for key, pattern in cases:
        client.set(key, 1)
        assert client.keys(pattern) == []
        assert _match_in_child(pattern, key) is False
        client.delete(key)
    # the nesting limit: 1001 inner star runs never match, 1000 may (as in Redis)
    key = b"a" * 1100
    for runs, want in ((1000, [key]), (1001, [])):
        pattern = b"*a" * runs
        client.set(key, 1)
        assert client.keys(pattern) == want
        assert compile_glob(pattern)(key) is bool(want)
        client.delete(key)
