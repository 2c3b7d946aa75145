"""Byte-for-byte comparison with a real redis-server (7.0): same commands, same replies.

Each case runs on a fresh connection after FLUSHALL, on both servers. Cases
avoid what is meant to differ (ids, versions, SELECT 1, timing below 1 s).
"""

from __future__ import annotations

import pytest
import trio
from resp_helpers import RawClient, assert_same_as_redis

CASES = {
    "get-set": """
        GET a
        SET a b
        GET a
        SET a c NX
        SET a c XX
        GET a
        SET a d NX GET
        SET a e XX GET
        SET z d XX GET
        SET a f GET GET
        set a g nx xx
        SET a b FOO
        SET a b EX
        SET a
        GET
        GET a b
    """,
    "set-expire-options": """
        SET a b EX 0
        SET a b EX -1
        SET a b EX x
        SET a b EX 9223372036854775
        SET a b EX 9223372036854776
        SET a b PX 0
        SET a b PX 9223372036854775807
        SET a b EXAT 0
        SET a b PXAT 1
        GET a
        EXISTS a
        SET a b EX 10 PX 10
        SET a b KEEPTTL EX 10
        SET a b EX 10 KEEPTTL
        SET a b EX 5 EX 100
        TTL a
        SET a b
        TTL a
        SET a c EX 100
        SET a d KEEPTTL
        TTL a
        GET a
        SET a e XX
        TTL a
        SET a b EXAT 9999999999
        EXPIRETIME a
        SET a b PXAT 9999999999999
        EXPIRETIME a
        PEXPIRETIME a
    """,
    "counters": """
        INCR n
        INCR n
        DECR n
        INCRBY n 10
        INCRBY n abc
        INCRBY n 1.5
        INCRBY n " 1"
        DECRBY n -5
        DECRBY n -9223372036854775808
        DECRBY n 9223372036854775808
        INCRBY n 9223372036854775807
        GET n
        SET big 9223372036854775807
        INCR big
        SET small -9223372036854775808
        DECR small
        INCRBY small -1
        SET s abc
        INCR s
        SET z 007
        INCR z
        SET m -0
        INCR m
        SET p +1
        INCR p
        SET e ""
        INCR e
        SET l 123456789012345678901
        INCR l
        SET ok -12
        INCRBY ok 2
    """,
    "multi": """
        MSET a 1 b 2
        MGET a b c
        MSET a
        MSET a 1 b
        MSETNX a 1 z 2
        MSETNX y 1 z 2
        MGET y z
        MSETNX q 1 q
        DEL a b a c
        EXISTS a a b y y
        DEL
        EXISTS
        MGET
    """,
    "strings-misc": """
        APPEND a xyz
        APPEND a 123
        STRLEN a
        STRLEN none
        GETSET a q
        GETSET nope q
        GETDEL a
        GETDEL a
        SETNX a 1
        SETNX a 2
        GET a
        SETEX a 100 v
        TTL a
        SETEX a 0 v
        SETEX a -5 v
        SETEX a x v
        SETEX a 9223372036854775 v
        PSETEX a 100000 v
        TTL a
        PSETEX a 0 v
        PSETEX a 9223372036854775807 v
        TYPE a
        TYPE none
    """,
    "expire": """
        SET a 1
        TTL a
        PTTL none
        TTL none
        EXPIRE none 10
        EXPIRE a 100
        TTL a
        EXPIRE a 200 NX
        EXPIRE a 200 XX
        TTL a
        EXPIRE a 50 GT
        EXPIRE a 500 GT
        TTL a
        EXPIRE a 600 LT
        EXPIRE a 100 LT
        TTL a
        EXPIRE a 10 NX XX
        EXPIRE a 10 nx gt
        EXPIRE a 10 GT LT
        EXPIRE a 10 FOO
        EXPIRE a x
        EXPIRE a x FOO
        EXPIRE a 9223372036854775
        EXPIRE a 9223372036854776
        EXPIRE a -9223372036854776
        PEXPIRE a 9223372036854775807
        PERSIST a
        PERSIST a
        TTL a
        EXPIRE a 10 GT
        EXPIRE a 10 LT
        TTL a
        PERSIST none
        EXPIRE a -1
        EXISTS a
        SET b 1
        EXPIREAT b 1
        EXISTS b
        SET c 1
        PEXPIREAT c 9999999999999
        PEXPIRETIME c
        EXPIRETIME c
        EXPIRETIME none
        PEXPIRETIME none
        EXPIREAT c 9223372036854775808
        PEXPIRE c 0
        EXISTS c
        DBSIZE
        DBSIZE x
    """,
    "flush": """
        SET a 1
        FLUSHALL FOO
        FLUSHALL ASYNC x
        FLUSHDB SYNC
        DBSIZE
        SET a 1
        FLUSHALL async
        GET a
    """,
    "connection": """
        PING
        PING hello
        PING a b
        ECHO
        ECHO x
        SELECT 0
        SELECT x
        SELECT -1
        SELECT 99999999999
        HELLO 4
        HELLO 1
        HELLO x
        HELLO 2 FOO
        HELLO 2 SETNAME
        HELLO 2 AUTH a
        HELLO 2 AUTH bob pw
        HELLO 2 SETNAME a SETNAME "b c"
        CLIENT
        CLIENT SETNAME
        CLIENT SETNAME a b
        CLIENT SETNAME "a b"
        CLIENT SETNAME ok
        CLIENT GETNAME
        CLIENT GETNAME x
        CLIENT FOO
        client foo bar
        CLIENT SETNAME ""
        CLIENT GETNAME
        AUTH x
        AUTH default x
        AUTH bob x
        AUTH a b c
        COMMAND FOO
        COMMAND COUNT x
        COMMAND DOCS nosuch
        COMMAND INFO nosuch
        CONFIG
        CONFIG FOO
        FOO
        FOO a b c
        foo "a b" ""
    """,
    "unknown-long": """
        NOSUCH aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbb ccc ddd
        NOSUCH a\\x00b c
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name])


PROTOCOL_CASES = [
    b"*x\r\n",
    b"*1\r\n+PING\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$x\r\n",
    b"*1\r\n$536870913\r\n",
    b"*3000000000\r\n",
    b"*-5\r\nPING\r\n",
    b"*0\r\n*1\r\n$4\r\nPING\r\n",
    b'PING "abc\r\n',
    b'SET a "b"c\r\n',
    b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
    b"*1\r\n*1\r\n",
    b"*1\r\n:1\r\n",
    b"*2\r\n$4\r\nECHO\r\n%1\r\n",
    b"*1\r\n$04\r\nPING\r\n",
    b"*01\r\n$4\r\nPING\r\n",
    b"*1\r\n\r\r\n",
    b"*1\rX$4\r\nPING\r\n",
    b"ECHO \"a\\x41\\n\" 'b\\'c'\r\nECHO 'x'\r\n",
    b"  \r\n\r\nPING\n",
    b"PING\r\n*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n",
    b'ECHO "\\xzz\\q"\r\n',
    b"ECHO 'a\\nb'\r\n",
    b"\xff\xfe\r\n",
    b"*1\r\n\xff\r\n",
    b"x" * 70000,
    b"*" + b"1" * 70000,
    b"*1\r\n$" + b"1" * 70000,
    b"QUIT\r\nPING\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\n\r\n",
]


def _exchange(port: int, data: bytes) -> bytes:
    with RawClient(port, timeout=3) as client:
        client.send(data)
        try:
            client.sock.shutdown(1)  # SHUT_WR: lets both servers see EOF after the data
        except OSError:
            pass
        return client.read_until_eof()


@pytest.mark.parametrize("data", PROTOCOL_CASES, ids=lambda d: repr(d[:24]))
async def test_same_protocol_behaviour_as_redis(data, port, oracle_port):
    theirs = await trio.to_thread.run_sync(_exchange, oracle_port, data)
    ours = await trio.to_thread.run_sync(_exchange, port, data)
    assert ours == theirs
