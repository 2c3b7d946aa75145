"""Where Redis 7.0 finds a command's keys, and what it does to each: its key specs.

Copied from Redis 7.0's src/commands/*.json (`key_specs`), for the ACL check (acl.py): which
arguments are keys, and whether each is read (the spec's ACCESS flag: %R~ needed) or written
(INSERT, DELETE, UPDATE: %W~ needed), as Redis' getKeysFromCommandWithSpecs and
ACLSelectorCheckKey compute them. A spec is

    (begin kind, begin index or keyword's startfrom, keyword,
     find kind, lastkey or keynumidx, step or firstkey, limit or step, permissions, variable flags)

with begin kind "index" | "keyword" ("unknown": see PROCS) and find kind "range" | "keynum".
Where the specs cannot say it all (VARIABLE_FLAGS: SET's GET, BITFIELD's operations; SORT's
STORE), Redis runs the command's getkeys_proc; PROCS are those, translated.
"""

from __future__ import annotations

from frontends.resp.protocol import string2ll

READ, WRITE = 1, 2

SPECS: dict[str, tuple[tuple, ...]] = {
    "append": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "bitcount": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "bitfield": (("index", 1, "", "range", 0, 1, 0, 3, True),),
    "bitfield_ro": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "bitop": (
        ("index", 2, "", "range", 0, 1, 0, 2, False),
        ("index", 3, "", "range", -1, 1, 0, 1, False),
    ),
    "bitpos": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "blmove": (
        ("index", 1, "", "range", 0, 1, 0, 3, False),
        ("index", 2, "", "range", 0, 1, 0, 2, False),
    ),
    "blmpop": (("index", 2, "", "keynum", 0, 1, 1, 3, False),),
    "blpop": (("index", 1, "", "range", -2, 1, 0, 3, False),),
    "brpop": (("index", 1, "", "range", -2, 1, 0, 3, False),),
    "brpoplpush": (
        ("index", 1, "", "range", 0, 1, 0, 3, False),
        ("index", 2, "", "range", 0, 1, 0, 2, False),
    ),
    "bzmpop": (("index", 2, "", "keynum", 0, 1, 1, 3, False),),
    "bzpopmax": (("index", 1, "", "range", -2, 1, 0, 3, False),),
    "bzpopmin": (("index", 1, "", "range", -2, 1, 0, 3, False),),
    "copy": (
        ("index", 1, "", "range", 0, 1, 0, 1, False),
        ("index", 2, "", "range", 0, 1, 0, 2, False),
    ),
    "decr": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "decrby": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "del": (("index", 1, "", "range", -1, 1, 0, 2, False),),
    "dump": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "eval": (("index", 2, "", "keynum", 0, 1, 1, 3, False),),
    "eval_ro": (("index", 2, "", "keynum", 0, 1, 1, 1, False),),
    "evalsha": (("index", 2, "", "keynum", 0, 1, 1, 3, False),),
    "evalsha_ro": (("index", 2, "", "keynum", 0, 1, 1, 1, False),),
    "exists": (("index", 1, "", "range", -1, 1, 0, 0, False),),
    "expire": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "expireat": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "expiretime": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "fcall": (("index", 2, "", "keynum", 0, 1, 1, 3, False),),
    "fcall_ro": (("index", 2, "", "keynum", 0, 1, 1, 1, False),),
    "geoadd": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "geodist": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "geohash": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "geopos": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "georadius": (
        ("index", 1, "", "range", 0, 1, 0, 1, False),
        ("keyword", 6, "STORE", "range", 0, 1, 0, 2, False),
        ("keyword", 6, "STOREDIST", "range", 0, 1, 0, 2, False),
    ),
    "georadius_ro": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "georadiusbymember": (
        ("index", 1, "", "range", 0, 1, 0, 1, False),
        ("keyword", 5, "STORE", "range", 0, 1, 0, 2, False),
        ("keyword", 5, "STOREDIST", "range", 0, 1, 0, 2, False),
    ),
    "georadiusbymember_ro": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "geosearch": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "geosearchstore": (
        ("index", 1, "", "range", 0, 1, 0, 2, False),
        ("index", 2, "", "range", 0, 1, 0, 1, False),
    ),
    "get": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "getbit": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "getdel": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "getex": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "getrange": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "getset": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "hdel": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "hexists": (("index", 1, "", "range", 0, 1, 0, 0, False),),
    "hget": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "hgetall": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "hincrby": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "hincrbyfloat": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "hkeys": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "hlen": (("index", 1, "", "range", 0, 1, 0, 0, False),),
    "hmget": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "hmset": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "hrandfield": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "hscan": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "hset": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "hsetnx": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "hstrlen": (("index", 1, "", "range", 0, 1, 0, 0, False),),
    "hvals": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "incr": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "incrby": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "incrbyfloat": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "lcs": (("index", 1, "", "range", 1, 1, 0, 1, False),),
    "lindex": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "linsert": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "llen": (("index", 1, "", "range", 0, 1, 0, 0, False),),
    "lmove": (
        ("index", 1, "", "range", 0, 1, 0, 3, False),
        ("index", 2, "", "range", 0, 1, 0, 2, False),
    ),
    "lmpop": (("index", 1, "", "keynum", 0, 1, 1, 3, False),),
    "lpop": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "lpos": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "lpush": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "lpushx": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "lrange": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "lrem": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "lset": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "ltrim": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "memory|usage": (("index", 2, "", "range", 0, 1, 0, 0, False),),
    "mget": (("index", 1, "", "range", -1, 1, 0, 1, False),),
    "migrate": (
        ("index", 3, "", "range", 0, 1, 0, 3, False),
        ("keyword", -2, "KEYS", "range", -1, 1, 0, 3, False),
    ),
    "move": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "mset": (("index", 1, "", "range", -1, 2, 0, 2, False),),
    "msetnx": (("index", 1, "", "range", -1, 2, 0, 2, False),),
    "object|encoding": (("index", 2, "", "range", 0, 1, 0, 0, False),),
    "object|freq": (("index", 2, "", "range", 0, 1, 0, 0, False),),
    "object|idletime": (("index", 2, "", "range", 0, 1, 0, 0, False),),
    "object|refcount": (("index", 2, "", "range", 0, 1, 0, 0, False),),
    "persist": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "pexpire": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "pexpireat": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "pexpiretime": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "pfadd": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "pfcount": (("index", 1, "", "range", -1, 1, 0, 1, False),),
    "pfdebug": (("index", 2, "", "range", 0, 1, 0, 1, False),),
    "pfmerge": (
        ("index", 1, "", "range", 0, 1, 0, 3, False),
        ("index", 2, "", "range", -1, 1, 0, 1, False),
    ),
    "psetex": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "pttl": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "rename": (
        ("index", 1, "", "range", 0, 1, 0, 3, False),
        ("index", 2, "", "range", 0, 1, 0, 2, False),
    ),
    "renamenx": (
        ("index", 1, "", "range", 0, 1, 0, 3, False),
        ("index", 2, "", "range", 0, 1, 0, 2, False),
    ),
    "restore-asking": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "restore": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "rpop": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "rpoplpush": (
        ("index", 1, "", "range", 0, 1, 0, 3, False),
        ("index", 2, "", "range", 0, 1, 0, 2, False),
    ),
    "rpush": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "rpushx": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "sadd": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "scard": (("index", 1, "", "range", 0, 1, 0, 0, False),),
    "sdiff": (("index", 1, "", "range", -1, 1, 0, 1, False),),
    "sdiffstore": (
        ("index", 1, "", "range", 0, 1, 0, 2, False),
        ("index", 2, "", "range", -1, 1, 0, 1, False),
    ),
    "set": (("index", 1, "", "range", 0, 1, 0, 3, True),),
    "setbit": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "setex": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "setnx": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "setrange": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "sinter": (("index", 1, "", "range", -1, 1, 0, 1, False),),
    "sintercard": (("index", 1, "", "keynum", 0, 1, 1, 1, False),),
    "sinterstore": (
        ("index", 1, "", "range", 0, 1, 0, 2, False),
        ("index", 2, "", "range", -1, 1, 0, 1, False),
    ),
    "sismember": (("index", 1, "", "range", 0, 1, 0, 0, False),),
    "smembers": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "smismember": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "smove": (
        ("index", 1, "", "range", 0, 1, 0, 3, False),
        ("index", 2, "", "range", 0, 1, 0, 2, False),
    ),
    "sort": (
        ("index", 1, "", "range", 0, 1, 0, 1, False),
        ("unknown", 0, "", "unknown", 0, 0, 0, 1, False),
        ("unknown", 0, "", "unknown", 0, 0, 0, 2, False),
    ),
    "sort_ro": (
        ("index", 1, "", "range", 0, 1, 0, 1, False),
        ("unknown", 0, "", "unknown", 0, 0, 0, 1, False),
    ),
    "spop": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "srandmember": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "srem": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "sscan": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "strlen": (("index", 1, "", "range", 0, 1, 0, 0, False),),
    "substr": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "sunion": (("index", 1, "", "range", -1, 1, 0, 1, False),),
    "sunionstore": (
        ("index", 1, "", "range", 0, 1, 0, 2, False),
        ("index", 2, "", "range", -1, 1, 0, 1, False),
    ),
    "touch": (("index", 1, "", "range", -1, 1, 0, 0, False),),
    "ttl": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "type": (("index", 1, "", "range", 0, 1, 0, 0, False),),
    "unlink": (("index", 1, "", "range", -1, 1, 0, 2, False),),
    "watch": (("index", 1, "", "range", -1, 1, 0, 0, False),),
    "xack": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "xadd": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "xautoclaim": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "xclaim": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "xdel": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "xgroup|create": (("index", 2, "", "range", 0, 1, 0, 2, False),),
    "xgroup|createconsumer": (("index", 2, "", "range", 0, 1, 0, 2, False),),
    "xgroup|delconsumer": (("index", 2, "", "range", 0, 1, 0, 2, False),),
    "xgroup|destroy": (("index", 2, "", "range", 0, 1, 0, 2, False),),
    "xgroup|setid": (("index", 2, "", "range", 0, 1, 0, 2, False),),
    "xinfo|consumers": (("index", 2, "", "range", 0, 1, 0, 1, False),),
    "xinfo|groups": (("index", 2, "", "range", 0, 1, 0, 1, False),),
    "xinfo|stream": (("index", 2, "", "range", 0, 1, 0, 1, False),),
    "xlen": (("index", 1, "", "range", 0, 1, 0, 0, False),),
    "xpending": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "xrange": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "xread": (("keyword", 1, "STREAMS", "range", -1, 1, 2, 1, False),),
    "xreadgroup": (("keyword", 4, "STREAMS", "range", -1, 1, 2, 1, False),),
    "xrevrange": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "xsetid": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "xtrim": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "zadd": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "zcard": (("index", 1, "", "range", 0, 1, 0, 0, False),),
    "zcount": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zdiff": (("index", 1, "", "keynum", 0, 1, 1, 1, False),),
    "zdiffstore": (
        ("index", 1, "", "range", 0, 1, 0, 2, False),
        ("index", 2, "", "keynum", 0, 1, 1, 1, False),
    ),
    "zincrby": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "zinter": (("index", 1, "", "keynum", 0, 1, 1, 1, False),),
    "zintercard": (("index", 1, "", "keynum", 0, 1, 1, 1, False),),
    "zinterstore": (
        ("index", 1, "", "range", 0, 1, 0, 2, False),
        ("index", 2, "", "keynum", 0, 1, 1, 1, False),
    ),
    "zlexcount": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zmpop": (("index", 1, "", "keynum", 0, 1, 1, 3, False),),
    "zmscore": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zpopmax": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "zpopmin": (("index", 1, "", "range", 0, 1, 0, 3, False),),
    "zrandmember": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zrange": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zrangebylex": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zrangebyscore": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zrangestore": (
        ("index", 1, "", "range", 0, 1, 0, 2, False),
        ("index", 2, "", "range", 0, 1, 0, 1, False),
    ),
    "zrank": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zrem": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "zremrangebylex": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "zremrangebyrank": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "zremrangebyscore": (("index", 1, "", "range", 0, 1, 0, 2, False),),
    "zrevrange": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zrevrangebylex": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zrevrangebyscore": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zrevrank": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zscan": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zscore": (("index", 1, "", "range", 0, 1, 0, 1, False),),
    "zunion": (("index", 1, "", "keynum", 0, 1, 1, 1, False),),
    "zunionstore": (
        ("index", 1, "", "range", 0, 1, 0, 2, False),
        ("index", 2, "", "keynum", 0, 1, 1, 1, False),
    ),
}


def _keyword_first(args: list[bytes], startfrom: int, keyword: bytes) -> int:
    argc = len(args)
    start = startfrom if startfrom > 0 else argc + startfrom
    end = argc - 1 if startfrom > 0 else 0
    i = start
    while i != end:
        if i >= argc or i < 1:
            break
        if args[i].lower() == keyword:
            return i + 1
        i = i + 1 if start <= end else i - 1
    return 0


def _set_keys(args: list[bytes]) -> list[tuple[int, int]]:
    """setGetKeys: SET reads its key only with GET among its options."""
    if any(arg.lower() == b"get" for arg in args[3:]):
        return [(1, READ | WRITE)]
    return [(1, WRITE)]


def _bitfield_keys(args: list[bytes]) -> list[tuple[int, int]]:
    """bitfieldGetKeys: read only while every operation is a GET (or OVERFLOW); else read-write."""
    i, argc = 2, len(args)
    while i < argc:
        op, rest = args[i].lower(), argc - i - 1
        if op == b"get" and rest >= 2:
            i += 3
        elif op == b"overflow" and rest >= 1:
            i += 2
        else:
            return [(1, READ | WRITE)]
    return [(1, READ)]


def _sort_keys(args: list[bytes]) -> list[tuple[int, int]]:
    """sortGetKeys: the sorted key (read), and the last STORE's destination (written); LIMIT,
    GET and BY skip their arguments (STORE is tested first, as Redis' loop does)."""
    out, store, i, argc = [(1, READ)], None, 2, len(args)
    while i < argc:
        arg = args[i].lower()
        if arg == b"limit":
            i += 2
        elif arg == b"store" and i + 1 < argc:
            store = i + 1
        elif arg in (b"get", b"by"):
            i += 1
        i += 1
    return out + [(store, WRITE)] if store is not None else out


# Redis' getkeys_proc, for the commands whose key specs cannot say it all (VARIABLE_FLAGS, unknown).
PROCS = {
    "set": _set_keys,
    "bitfield": _bitfield_keys,
    "sort": _sort_keys,
    "sort_ro": lambda args: [(1, READ)],
}


def keys(name: str, args: list[bytes]) -> list[tuple[int, int]] | None:
    """[(argument index, permissions needed)] in Redis' order; None if Redis has no key specs
    for `name` ("container|sub" for a subcommand). A spec whose keys cannot be found (a bad
    numkeys) makes it [] as in Redis: the command then answers its own error."""
    proc = PROCS.get(name)
    if proc is not None:
        return [(i, permissions) for i, permissions in proc(args) if i < len(args)]
    specs = SPECS.get(name)
    if specs is None:
        return None
    argc = len(args)
    out = []
    for begin, at, keyword, find, a, b, c, permissions, _variable in specs:
        if begin == "index":
            first = at
        elif begin == "unknown":
            continue
        else:
            first = _keyword_first(args, at, keyword.lower().encode())
            if not first:
                continue
        if find == "range":
            lastkey, step, limit = a, b, c
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + ((argc - first) // limit + lastkey)
        else:
            keynumidx, firstkey, step = a, b, c
            if first + keynumidx >= argc:
                return []
            numkeys = string2ll(args[first + keynumidx])
            if numkeys is None or numkeys < 0:
                return []
            first += firstkey
            last = first + numkeys - 1
        out += [(i, permissions) for i in range(first, last + 1, max(step, 1)) if i < argc]
    return out
