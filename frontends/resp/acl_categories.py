"""Redis ACL categories: the 21 categories, and which of them each command belongs to.

A command Redis 7.0 has gets exactly Redis' categories: the explicit ones its
src/commands/*.json declares (EXPLICIT_BY_CATEGORY, copied from Redis 7.0) plus the implicit ones
of Redis' own flags for it (REDIS_FLAGS_BY_FLAG), as server.c setImplicitACLCategories adds them:
write -> @write, readonly -> @read (not for @scripting), admin -> @admin @dangerous, pubsub ->
@pubsub, fast -> @fast, blocking -> @blocking, and @slow for whatever is not @fast. Redis' flags,
not ours: our entries' flags serve routing (EVAL is a write here) and may differ.

Any other command (REPLICATOR.*, READCONSISTENCY, plugins' commands) gets the categories its
entry declares (a frontend entry's `acl=` words, a machine command's group) plus what its own
flags imply, so a plugin's write is @write and an admin command @admin whatever it forgets.

Categories are kept as a bit mask in Redis' order (CATEGORIES), which is also the order COMMAND
INFO and ACL GETUSER show them in.
"""

from __future__ import annotations

from collections.abc import Iterable

CATEGORIES = (
    "keyspace read write set sortedset list hash string bitmap hyperloglog geo stream pubsub admin fast slow "
    "blocking dangerous connection transaction scripting"
).split()
BIT = {name: 1 << i for i, name in enumerate(CATEGORIES)}
ALL = (1 << len(CATEGORIES)) - 1

# Redis 7.0's explicit acl_categories (src/commands/*.json), category -> commands ("container|sub").
EXPLICIT_BY_CATEGORY = {
    "keyspace": (
        "copy dbsize del dump exists expire expireat expiretime flushall flushdb keys migrate move "
        "object|encoding object|freq object|help object|idletime object|refcount persist pexpire pexpireat "
        "pexpiretime pttl randomkey rename renamenx restore restore-asking scan swapdb touch ttl type unlink"
    ),
    "set": (
        "sadd scard sdiff sdiffstore sinter sintercard sinterstore sismember smembers smismember smove sort "
        "sort_ro spop srandmember srem sscan sunion sunionstore"
    ),
    "sortedset": (
        "bzmpop bzpopmax bzpopmin sort sort_ro zadd zcard zcount zdiff zdiffstore zincrby zinter zintercard "
        "zinterstore zlexcount zmpop zmscore zpopmax zpopmin zrandmember zrange zrangebylex zrangebyscore "
        "zrangestore zrank zrem zremrangebylex zremrangebyrank zremrangebyscore zrevrange zrevrangebylex "
        "zrevrangebyscore zrevrank zscan zscore zunion zunionstore"
    ),
    "list": (
        "blmove blmpop blpop brpop brpoplpush lindex linsert llen lmove lmpop lpop lpos lpush lpushx lrange "
        "lrem lset ltrim rpop rpoplpush rpush rpushx sort sort_ro"
    ),
    "hash": (
        "hdel hexists hget hgetall hincrby hincrbyfloat hkeys hlen hmget hmset hrandfield hscan hset hsetnx "
        "hstrlen hvals"
    ),
    "string": (
        "append decr decrby get getdel getex getrange getset incr incrby incrbyfloat lcs mget mset msetnx "
        "psetex set setex setnx setrange strlen substr"
    ),
    "bitmap": ("bitcount bitfield bitfield_ro bitop bitpos getbit setbit"),
    "hyperloglog": ("pfadd pfcount pfdebug pfmerge pfselftest"),
    "geo": (
        "geoadd geodist geohash geopos georadius georadius_ro georadiusbymember georadiusbymember_ro "
        "geosearch geosearchstore"
    ),
    "stream": (
        "xack xadd xautoclaim xclaim xdel xgroup|create xgroup|createconsumer xgroup|delconsumer "
        "xgroup|destroy xgroup|help xgroup|setid xinfo|consumers xinfo|groups xinfo|help xinfo|stream xlen "
        "xpending xrange xread xreadgroup xrevrange xsetid xtrim"
    ),
    "admin": ("lastsave role"),
    "dangerous": ("flushall flushdb info keys lastsave migrate restore restore-asking role sort sort_ro swapdb"),
    "connection": (
        "asking auth client|caching client|getname client|getredir client|help client|id client|info "
        "client|kill client|list client|no-evict client|pause client|reply client|setname client|tracking "
        "client|trackinginfo client|unblock client|unpause command command|count command|docs command|getkeys "
        "command|getkeysandflags command|help command|info command|list echo hello ping quit readonly "
        "readwrite reset select wait"
    ),
    "transaction": ("discard exec multi unwatch watch"),
    "scripting": (
        "eval eval_ro evalsha evalsha_ro fcall fcall_ro function|delete function|dump function|flush "
        "function|help function|kill function|list function|load function|restore function|stats script|debug "
        "script|exists script|flush script|help script|kill script|load"
    ),
}
# Redis 7.0 commands with no explicit category (only their flags' implicit ones).
WITHOUT_EXPLICIT = frozenset(
    (
        "acl acl|cat acl|deluser acl|dryrun acl|genpass acl|getuser acl|help acl|list acl|load acl|log "
        "acl|save acl|setuser acl|users acl|whoami bgrewriteaof bgsave client cluster cluster|addslots "
        "cluster|addslotsrange cluster|bumpepoch cluster|count-failure-reports cluster|countkeysinslot "
        "cluster|delslots cluster|delslotsrange cluster|failover cluster|flushslots cluster|forget "
        "cluster|getkeysinslot cluster|help cluster|info cluster|keyslot cluster|links cluster|meet "
        "cluster|myid cluster|nodes cluster|replicas cluster|replicate cluster|reset cluster|saveconfig "
        "cluster|set-config-epoch cluster|setslot cluster|shards cluster|slaves cluster|slots config "
        "config|get config|help config|resetstat config|rewrite config|set debug failover function latency "
        "latency|doctor latency|graph latency|help latency|histogram latency|history latency|latest "
        "latency|reset lolwut memory memory|doctor memory|help memory|malloc-stats memory|purge memory|stats "
        "memory|usage module module|help module|list module|load module|loadex module|unload monitor object "
        "psubscribe psync publish pubsub pubsub|channels pubsub|help pubsub|numpat pubsub|numsub "
        "pubsub|shardchannels pubsub|shardnumsub punsubscribe replconf replicaof save script sentinel "
        "sentinel|ckquorum sentinel|config sentinel|debug sentinel|failover sentinel|flushconfig "
        "sentinel|get-master-addr-by-name sentinel|help sentinel|info-cache sentinel|is-master-down-by-addr "
        "sentinel|master sentinel|masters sentinel|monitor sentinel|myid sentinel|pending-scripts "
        "sentinel|remove sentinel|replicas sentinel|reset sentinel|sentinels sentinel|set sentinel|simulate- "
        "failure sentinel|slaves shutdown slaveof slowlog slowlog|get slowlog|help slowlog|len slowlog|reset "
        "spublish ssubscribe subscribe sunsubscribe sync time unsubscribe xgroup xinfo"
    ).split()
)
EXPLICIT: dict[str, int] = dict.fromkeys(WITHOUT_EXPLICIT, 0)
for _category, _names in EXPLICIT_BY_CATEGORY.items():
    for _name in _names.split():
        EXPLICIT[_name] = EXPLICIT.get(_name, 0) | BIT[_category]

# Redis 7.0's flags that imply categories (src/commands/*.json command_flags), flag -> commands. Our own
# entries' flags may differ where routing needs them to (EVAL is a write here, SCRIPT LOAD too).
REDIS_FLAGS_BY_FLAG = {
    "write": (
        "append bitfield bitop blmove blmpop blpop brpop brpoplpush bzmpop bzpopmax bzpopmin copy decr decrby "
        "del expire expireat flushall flushdb function|delete function|flush function|load function|restore "
        "geoadd georadius georadiusbymember geosearchstore getdel getex getset hdel hincrby hincrbyfloat "
        "hmset hset hsetnx incr incrby incrbyfloat linsert lmove lmpop lpop lpush lpushx lrem lset ltrim "
        "migrate move mset msetnx persist pexpire pexpireat pfadd pfdebug pfmerge psetex rename renamenx "
        "restore restore-asking rpop rpoplpush rpush rpushx sadd sdiffstore set setbit setex setnx setrange "
        "sinterstore smove sort spop srem sunionstore swapdb unlink xack xadd xautoclaim xclaim xdel "
        "xgroup|create xgroup|createconsumer xgroup|delconsumer xgroup|destroy xgroup|setid xreadgroup xsetid "
        "xtrim zadd zdiffstore zincrby zinterstore zmpop zpopmax zpopmin zrangestore zrem zremrangebylex "
        "zremrangebyrank zremrangebyscore zunionstore"
    ),
    "readonly": (
        "bitcount bitfield_ro bitpos dbsize dump eval_ro evalsha_ro exists expiretime fcall_ro geodist "
        "geohash geopos georadius_ro georadiusbymember_ro geosearch get getbit getrange hexists hget hgetall "
        "hkeys hlen hmget hrandfield hscan hstrlen hvals keys lcs lindex llen lolwut lpos lrange memory|usage "
        "mget object|encoding object|freq object|idletime object|refcount pexpiretime pfcount pttl randomkey "
        "scan scard sdiff sinter sintercard sismember smembers smismember sort_ro srandmember sscan strlen "
        "substr sunion touch ttl type xinfo|consumers xinfo|groups xinfo|stream xlen xpending xrange xread "
        "xrevrange zcard zcount zdiff zinter zintercard zlexcount zmscore zrandmember zrange zrangebylex "
        "zrangebyscore zrank zrevrange zrevrangebylex zrevrangebyscore zrevrank zscan zscore zunion"
    ),
    "admin": (
        "acl|deluser acl|dryrun acl|getuser acl|list acl|load acl|log acl|save acl|setuser acl|users "
        "bgrewriteaof bgsave client|kill client|list client|no-evict client|pause client|unblock "
        "client|unpause cluster|addslots cluster|addslotsrange cluster|bumpepoch cluster|count-failure- "
        "reports cluster|delslots cluster|delslotsrange cluster|failover cluster|flushslots cluster|forget "
        "cluster|meet cluster|replicas cluster|replicate cluster|reset cluster|saveconfig cluster|set-config- "
        "epoch cluster|setslot cluster|slaves config|get config|resetstat config|rewrite config|set debug "
        "failover latency|doctor latency|graph latency|histogram latency|history latency|latest latency|reset "
        "module|list module|load module|loadex module|unload monitor pfdebug pfselftest psync replconf "
        "replicaof save sentinel sentinel|ckquorum sentinel|config sentinel|debug sentinel|failover "
        "sentinel|flushconfig sentinel|get-master-addr-by-name sentinel|info-cache sentinel|is-master-down- "
        "by-addr sentinel|master sentinel|masters sentinel|monitor sentinel|myid sentinel|pending-scripts "
        "sentinel|remove sentinel|replicas sentinel|reset sentinel|sentinels sentinel|set sentinel|simulate- "
        "failure sentinel|slaves shutdown slaveof slowlog|get slowlog|len slowlog|reset sync"
    ),
    "pubsub": (
        "psubscribe publish pubsub|channels pubsub|numpat pubsub|numsub pubsub|shardchannels "
        "pubsub|shardnumsub punsubscribe spublish ssubscribe subscribe sunsubscribe unsubscribe"
    ),
    "fast": (
        "append asking auth bitfield_ro bzpopmax bzpopmin dbsize decr decrby discard echo exists expire "
        "expireat expiretime get getbit getdel getex getset hdel hello hexists hget hincrby hincrbyfloat hlen "
        "hmget hmset hset hsetnx hstrlen incr incrby incrbyfloat lastsave llen lolwut lpop lpush lpushx mget "
        "move multi persist pexpire pexpireat pexpiretime pfadd ping pttl publish quit readonly readwrite "
        "renamenx reset role rpop rpush rpushx sadd scard select setnx sismember smismember smove spop "
        "spublish srem strlen swapdb time touch ttl type unlink unwatch watch xack xadd xautoclaim xclaim "
        "xdel xlen xsetid zadd zcard zcount zincrby zlexcount zmscore zpopmax zpopmin zrank zrem zrevrank "
        "zscore"
    ),
    "blocking": ("blmove blmpop blpop brpop brpoplpush bzmpop bzpopmax bzpopmin xread xread xreadgroup"),
}

# A machine group's category, for machine commands Redis does not have (plugins).
CATEGORY_OF_GROUP = {
    "transactions": "transaction",
    "string": "string",
    "generic": "keyspace",
    "hash": "hash",
    "list": "list",
    "set": "set",
    "sorted-set": "sortedset",
    "hyperloglog": "hyperloglog",
    "stream": "stream",
    "bitmap": "bitmap",
    "geo": "geo",
    "scripting": "scripting",
    "pubsub": "pubsub",
}


def mask(names: Iterable[str]) -> int:
    """The bit mask of category names (unknown names are ignored)."""
    out = 0
    for name in names:
        out |= BIT.get(name, 0)
    return out


def names(bits: int) -> list[str]:
    """The categories of a mask, in Redis' order."""
    return [name for name in CATEGORIES if bits & BIT[name]]


def implied(bits: int, flags: Iterable[str]) -> int:
    """Explicit categories `bits` plus what `flags` imply (Redis' setImplicitACLCategories)."""
    flags = frozenset(flags)
    if "write" in flags:
        bits |= BIT["write"]
    if "readonly" in flags and not bits & BIT["scripting"]:
        bits |= BIT["read"]
    if "admin" in flags:
        bits |= BIT["admin"] | BIT["dangerous"]
    if "pubsub" in flags:
        bits |= BIT["pubsub"]
    if "fast" in flags:
        bits |= BIT["fast"]
    if "blocking" in flags:
        bits |= BIT["blocking"]
    if not bits & BIT["fast"]:
        bits |= BIT["slow"]
    return bits


_REDIS_FLAGS: dict[str, set[str]] = {}
for _flag, _names in REDIS_FLAGS_BY_FLAG.items():
    for _name in _names.split():
        _REDIS_FLAGS.setdefault(_name, set()).add(_flag)
REDIS: dict[str, int] = {name: implied(bits, _REDIS_FLAGS.get(name, ())) for name, bits in EXPLICIT.items()}


def categories(name: str, flags: Iterable[str], explicit: int) -> int:
    """A command's categories: Redis 7.0's if Redis has the command (`name`, "container|sub"),
    else `explicit` plus what its own flags imply."""
    bits = REDIS.get(name)
    return implied(explicit, flags) if bits is None else bits
