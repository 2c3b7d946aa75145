"""Hashes, lists, sets, sorted sets and the remaining key commands, byte for byte against redis-server 7.0.

Cases avoid what legitimately differs: the order of hash-table sets (only sorted or
single-member replies are compared), random picks, and SCAN cursors over large collections.
"""

from __future__ import annotations

import pytest
from resp_helpers import assert_same_as_redis

CASES = {
    "hashes": """
        HSET h a 1 b 2 c 3
        HSET h a 9 d 4
        HSET h a
        HGET h a
        HGET h zz
        HMGET h a zz b
        HMGET nohash a b
        HLEN h
        HSTRLEN h a
        HEXISTS h b
        HEXISTS h zz
        HKEYS h
        HVALS h
        HGETALL h
        HSETNX h a 5
        HSETNX h e 5
        HDEL h a zz
        HINCRBY h b 10
        HINCRBY h b x
        HINCRBY h n -3
        HINCRBY h e 9223372036854775807
        HINCRBYFLOAT h f 1.5
        HINCRBYFLOAT h f 0.1
        HINCRBYFLOAT h f x
        HINCRBYFLOAT h f 1e400
        HINCRBYFLOAT h f inf
        HINCRBYFLOAT h f 5e3
        HSET h s hello
        HINCRBY h s 1
        HINCRBYFLOAT h s 1
        HMSET h x 1 y 2
        HMSET h x
        HDEL h a b c d e f n s x y
        EXISTS h
        HRANDFIELD nohash
        HRANDFIELD nohash 3
        HRANDFIELD nohash x
        HSCAN nohash 0
        HSET one f v
        HRANDFIELD one
        HRANDFIELD one 5 WITHVALUES
        HRANDFIELD one -2 WITHVALUES
        HRANDFIELD one 1 FOO
        HSCAN one 0
        HSCAN one 0 MATCH f*
        HSCAN one 0 MATCH x*
        HSCAN one 0 COUNT 0
        HSCAN one x
        SET str v
        HGET str a
        HSET str a b
        HGETALL str
    """,
    "lists": """
        RPUSH l a b c d e
        LPUSH l z y
        LRANGE l 0 -1
        LRANGE l -3 -2
        LRANGE l 5 2
        LRANGE l 0 100
        LRANGE l x 1
        LLEN l
        LINDEX l 0
        LINDEX l -1
        LINDEX l 99
        LINDEX l x
        LSET l 1 Y
        LSET l 99 q
        LSET nolist 0 q
        LINSERT l BEFORE c cc
        LINSERT l AFTER e ee
        LINSERT l AFTER nope x
        LINSERT l MIDDLE c x
        LINSERT nolist BEFORE a b
        LRANGE l 0 -1
        LPOP l
        RPOP l
        LPOP l 2
        RPOP l 0
        LPOP l -1
        LPOP nolist
        LPOP nolist 2
        LPUSHX nolist a
        RPUSHX l f f a f
        LREM l 2 f
        LREM l -1 a
        LREM l 0 zz
        LRANGE l 0 -1
        LPOS l f
        LPOS l cc
        LPOS l nope
        LPOS l f RANK 0
        LPOS l f COUNT -1
        LPOS l f MAXLEN -1
        LPOS nolist a COUNT 2
        RPUSH p a b a c a
        LPOS p a RANK 2
        LPOS p a RANK -1
        LPOS p a COUNT 0
        LPOS p a COUNT 2 RANK -1
        LPOS p a MAXLEN 2 COUNT 0
        LTRIM p 1 -2
        LRANGE p 0 -1
        LTRIM p 5 1
        EXISTS p
        RPUSH s1 1 2 3
        LMOVE s1 d1 LEFT RIGHT
        LMOVE s1 d1 RIGHT LEFT
        LMOVE s1 d1 UP LEFT
        LRANGE d1 0 -1
        RPOPLPUSH s1 s1
        RPOPLPUSH s1 d1
        RPOPLPUSH s1 d1
        EXISTS s1
        LMPOP 2 nolist d1 RIGHT COUNT 2
        LMPOP 1 nolist LEFT
        LMPOP 0 d1 LEFT
        LMPOP 1 d1 LEFT COUNT 0
        LMPOP 5 d1 LEFT
        SET str v
        LPUSH str a
        LRANGE str 0 1
    """,
    "sets": """
        SADD s a b c
        SADD s a d
        SCARD s
        SISMEMBER s a
        SISMEMBER s z
        SMISMEMBER s a z b
        SREM s a z
        SADD t c d e
        SINTERCARD 2 s t
        SINTERCARD 2 s t LIMIT 1
        SINTERCARD 0 s
        SINTERCARD 3 s t
        SINTERCARD 2 s t LIMIT -1
        SINTERSTORE dst s t
        SUNIONSTORE dst2 s t
        SDIFFSTORE dst3 s t
        SDIFFSTORE dst3 s s
        EXISTS dst3
        SCARD dst2
        SMOVE s t b
        SMOVE s t nope
        SISMEMBER t b
        SPOP nosuch
        SPOP nosuch 3
        SPOP s -1
        SRANDMEMBER nosuch
        SRANDMEMBER nosuch 3
        SADD one x
        SMEMBERS one
        SRANDMEMBER one
        SRANDMEMBER one 3
        SRANDMEMBER one -2
        SPOP one
        EXISTS one
        SSCAN nosuch 0
        SET str v
        SADD str a
        SINTER s str
        SINTERSTORE d str s
    """,
    "zsets": """
        ZADD z 1 a 2 b 3 c
        ZADD z 1.5 a 4 d
        ZADD z NX 9 a 5 e
        ZADD z XX 9 a 6 f
        ZADD z XX NX 1 a
        ZADD z GT LT 1 a
        ZADD z GT NX 1 a
        ZADD z INCR 1 a 2 b
        ZADD z INCR 1 a
        ZADD z GT CH 1 a 20 b
        ZADD z LT CH 1 a 30 c
        ZADD z NX INCR 1 a
        ZADD z x a
        ZADD z 1
        ZADD z nan a
        ZADD z inf x -inf y
        ZRANGE z 0 -1 WITHSCORES
        ZSCORE z a
        ZSCORE z nope
        ZMSCORE z a nope x
        ZINCRBY z 0.1 a
        ZINCRBY z x a
        ZINCRBY z -inf x
        ZCARD z
        ZRANK z b
        ZREVRANK z b
        ZRANK z nope
        ZCOUNT z -inf +inf
        ZCOUNT z (1 3
        ZCOUNT z x 3
        ZRANGE z 0 2
        ZRANGE z -2 -1 WITHSCORES
        ZRANGE z 1 3 REV
        ZRANGE z (1 20 BYSCORE
        ZRANGE z 20 (1 BYSCORE REV WITHSCORES
        ZRANGE z -inf +inf BYSCORE LIMIT 1 2
        ZRANGE z +inf -inf BYSCORE REV LIMIT 1 2
        ZRANGE z 0 -1 LIMIT 1 2
        ZRANGE z - + BYLEX WITHSCORES
        ZRANGE z 0 -1 BYSCORE BYLEX
        ZRANGE z x 1
        ZRANGE z (x 1 BYSCORE
        ZRANGE z -inf +inf BYSCORE LIMIT -1 2
        ZRANGEBYSCORE z 2 +inf WITHSCORES LIMIT 0 2
        ZREVRANGEBYSCORE z +inf 2
        ZREVRANGE z 0 1 WITHSCORES
        ZRANGEBYSCORE z 0 1 REV
        ZADD lex 0 a 0 b 0 c 0 d 0 e
        ZRANGEBYLEX lex - +
        ZRANGEBYLEX lex [b (d
        ZRANGEBYLEX lex (b [d LIMIT 1 1
        ZREVRANGEBYLEX lex + -
        ZREVRANGEBYLEX lex [d (a
        ZRANGEBYLEX lex b d
        ZLEXCOUNT lex [b +
        ZRANGE lex [c + BYLEX REV
        ZRANGE lex + [c BYLEX REV
        ZRANGESTORE dst lex 1 2
        ZRANGE dst 0 -1 WITHSCORES
        ZRANGESTORE dst lex 1 2 WITHSCORES
        ZRANGESTORE dst nokey 0 -1
        EXISTS dst
        ZREMRANGEBYLEX lex [a [b
        ZREMRANGEBYRANK lex 0 0
        ZREMRANGEBYSCORE lex -inf (0
        ZRANGE lex 0 -1
        ZPOPMIN z
        ZPOPMAX z 2
        ZPOPMIN z -1
        ZPOPMIN nokey
        ZPOPMIN nokey 2
        ZREM z a nope
        ZADD a 1 x 2 y 3 z
        ZADD b 10 y 20 z 30 w
        ZUNION 2 a b WITHSCORES
        ZUNION 2 a b WEIGHTS 2 1 AGGREGATE MAX WITHSCORES
        ZINTER 2 a b WITHSCORES
        ZINTER 2 a b AGGREGATE MIN WITHSCORES
        ZDIFF 2 a b WITHSCORES
        ZDIFF 2 a b WEIGHTS 1 1
        ZUNION 0 a
        ZUNION 3 a b
        ZUNION 2 a b WEIGHTS 1 x
        ZUNION 2 a b AGGREGATE AVG
        ZUNIONSTORE out 2 a b
        ZRANGE out 0 -1 WITHSCORES
        ZINTERSTORE out 2 a b WEIGHTS 1 2
        ZRANGE out 0 -1 WITHSCORES
        ZDIFFSTORE out 2 a a
        EXISTS out
        ZINTERCARD 2 a b
        ZINTERCARD 2 a b LIMIT 1
        SADD plain y q
        ZUNION 2 a plain WITHSCORES
        ZMPOP 1 nokey MIN
        ZMPOP 2 nokey b MAX COUNT 2
        ZMPOP 1 b MID
        ZRANDMEMBER nokey
        ZRANDMEMBER nokey 3
        ZADD one 5 m
        ZRANDMEMBER one
        ZRANDMEMBER one 2 WITHSCORES
        ZRANDMEMBER one -2 WITHSCORES
        ZSCAN one 0
        ZSCAN one 0 MATCH n*
        SET str v
        ZADD str 1 a
        ZRANGE str 0 -1
        ZUNIONSTORE out 2 a str
    """,
    "keys": """
        MSET k1 a k2 b other c
        KEYS k[1]
        KEYS ?2
        KEYS *x*
        KEYS k[^1]
        KEYS k\\1
        SCAN 0 MATCH k* COUNT 100 TYPE list
        SCAN x
        SCAN 0 COUNT 0
        SCAN 0 FOO bar
        RENAME k1 k3
        RENAME k1 k3
        RENAME k3 k3
        RENAMENX k3 k2
        RENAMENX k3 k4
        GET k4
        SET t v EX 100
        RENAME t t2
        TTL t2
        COPY t2 t3
        TTL t3
        COPY t2 t3
        COPY t2 t3 REPLACE
        COPY t2 t2
        COPY t2 t4 DB 0
        COPY t2 t4 FOO
        COPY nope t5
        RPUSH l a b
        COPY l l2
        RPUSH l2 c
        LRANGE l 0 -1
        LRANGE l2 0 -1
        TOUCH k2 nope l
        TYPE l
    """,
    "strings-more": """
        SET s hello
        GETRANGE s 0 1
        GETRANGE s -3 -1
        GETRANGE s -1 -5
        GETRANGE s 2 100
        GETRANGE s 10 20
        GETRANGE nope 0 1
        GETRANGE s x 1
        SUBSTR s 1 2
        SETRANGE s 1 EY
        SETRANGE s 8 X
        GET s
        SETRANGE s -1 x
        SETRANGE new 0 ""
        EXISTS new
        SETRANGE new 2 ab
        GET new
        SETRANGE s 536870911 xx
        INCRBYFLOAT f 10.5
        INCRBYFLOAT f 0.1
        INCRBYFLOAT f -5
        INCRBYFLOAT f 5e3
        INCRBYFLOAT f x
        INCRBYFLOAT s 1
        SET ff 3
        INCRBYFLOAT ff 1.5
        INCRBYFLOAT ff inf
        GETEX s
        GETEX s EX 100
        TTL s
        GETEX s PERSIST
        TTL s
        GETEX s EX 10 PX 10
        GETEX s EX 0
        GETEX s FOO
        GETEX nope EX 10
        GETEX s PXAT 1
        EXISTS s
        MSETNX a 1 b 2
        MSETNX a 1 c 2
        MSETNX a
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name])


RESP3_CASE = """
    ZADD z 1 a 2 b 3 c
    ZRANGE z 0 -1 WITHSCORES
    ZRANGE z 0 -1
    ZRANGEBYSCORE z -inf +inf WITHSCORES
    ZPOPMIN z
    ZPOPMIN z 1
    ZPOPMAX nokey 2
    ZUNION 1 z WITHSCORES
    ZSCORE z c
    ZMPOP 1 z MAX COUNT 5
    ZMPOP 1 z MAX
    HSET h f v
    HRANDFIELD h 1 WITHVALUES
    HGETALL h
    LPOP nolist 2
    LMPOP 1 nolist LEFT
    ZADD one 5 m
    ZRANDMEMBER one 1 WITHSCORES
    SADD s1 x
    SADD s2 x
    SMEMBERS s1
    SMEMBERS nokey
    SINTER s1 s2
    SUNION s1 s2
    SDIFF s1 nokey
    SPOP s2 1
    SPOP s1
    SRANDMEMBER nokey 2
"""


async def test_resp3_shapes_as_redis(port, oracle_port):
    await assert_same_as_redis(port, oracle_port, RESP3_CASE, protocol=3)
