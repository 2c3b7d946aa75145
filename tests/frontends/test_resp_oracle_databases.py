"""Databases (SELECT, MOVE, COPY DB, SWAPDB, FLUSHDB/FLUSHALL, INFO keyspace, WATCH per
database, SELECT inside MULTI) and WAIT's errors, byte for byte against redis-server 7.0
(WAIT's count is the cluster's: tests/e2e/test_oracle_follower.py)."""

from __future__ import annotations

import pytest
import trio
from resp_helpers import RawClient, assert_same_as_redis

CASES = {
    "wait-errors": """
        WAIT x 0
        WAIT 0 x
        WAIT 0 -1
        WAIT 0
        WAIT 99999999999999999999 0
        WAIT 0 99999999999999999999
    """,
    "select": """
        SET k v0
        SELECT 1
        GET k
        SET k v1
        DBSIZE
        SELECT 0
        GET k
        SELECT 15
        GET k
        SELECT 16
        SELECT -1
        SELECT x
        SELECT 2147483648
        SELECT 0
        DBSIZE
    """,
    "move": """
        SET k v0
        SELECT 1
        SET k v1
        SELECT 0
        MOVE k 1
        MOVE k 2
        MOVE k 2
        MOVE nokey 2
        MOVE k 0
        MOVE k 16
        MOVE k -1
        MOVE k x
        MOVE k 99999999999
        SELECT 2
        GET k
        MOVE k 0
        SET t v EX 100
        MOVE t 3
        SELECT 3
        TTL t
        GET t
        HSET h f v
        MOVE h 4
        SELECT 4
        HGETALL h
        TYPE h
        MOVE h 4
    """,
    "copy": """
        SET k v
        COPY k k DB 0
        COPY k k
        COPY k k DB 1
        COPY k k DB 1
        COPY k k DB 1 REPLACE
        COPY k k2 DB 16
        COPY k k2 DB -1
        COPY k k2 DB x
        COPY k k2 DB
        COPY nokey k2 DB 1
        RPUSH l a b c
        PEXPIRE l 100000
        COPY l l DB 2
        SELECT 2
        LRANGE l 0 -1
        TTL l
        SELECT 1
        GET k
        KEYS *
    """,
    "swapdb": """
        SET a 0
        SELECT 1
        SET b 1
        SWAPDB 0 1
        GET b
        GET a
        SELECT 0
        GET b
        GET a
        SWAPDB 0 0
        GET b
        SWAPDB 0 16
        SWAPDB 16 0
        SWAPDB x 0
        SWAPDB 0 x
        SWAPDB -1 0
        SWAPDB 99999999999 0
        SWAPDB 0 99999999999
        SWAPDB 5 6
        DBSIZE
    """,
    "flush": """
        SET a 0
        SELECT 1
        SET a 1
        SET b 1
        FLUSHDB
        DBSIZE
        SELECT 0
        DBSIZE
        SELECT 2
        SET c 2
        FLUSHALL
        DBSIZE
        SELECT 0
        DBSIZE
        GET a
    """,
    "multi": """
        SET a 0
        MULTI
        SELECT 3
        SET a 3
        GET a
        SELECT 0
        GET a
        SELECT 4
        EXEC
        SET in4 yes
        SELECT 0
        GET in4
        SELECT 4
        GET in4
        MULTI
        SELECT 99
        EXEC
        GET in4
        MULTI
        SELECT 0
        PING
        EXEC
        GET in4
    """,
    "watch": """
        SELECT 1
        SET w 1
        WATCH w
        SELECT 0
        SET w 0
        SELECT 1
        MULTI
        GET w
        EXEC
        WATCH w
        SET w 2
        MULTI
        GET w
        EXEC
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name])


def _keyspace_lines(port: int) -> list[bytes]:
    with RawClient(port) as client:
        client.command("FLUSHALL")
        client.command("SET", "a", "1")
        client.command("SET", "b", "1", "EX", "1000")
        client.command("SELECT", "7")
        client.command("SET", "c", "1")
        info = client.command("INFO", "keyspace")
    lines = [line.split(b",avg_ttl")[0] for line in info.split(b"\r\n") if line.startswith(b"db")]
    return lines


async def test_info_keyspace_lists_each_database(port, oracle_port):
    theirs = await trio.to_thread.run_sync(_keyspace_lines, oracle_port)
    ours = await trio.to_thread.run_sync(_keyspace_lines, port)
    assert ours == theirs == [b"db0:keys=2,expires=1", b"db7:keys=1,expires=0"]


def _watch_other_connection(port: int) -> list[bytes]:
    """A watched key of database 2 changed by another client in database 2 aborts the EXEC;
    the same key changed in database 0 does not."""
    with RawClient(port) as watcher, RawClient(port) as other:
        watcher.command("FLUSHALL")
        out = [watcher.command("SELECT", "2"), watcher.command("WATCH", "k")]
        out.append(other.command("SET", "k", "db0"))
        out += [watcher.command("MULTI"), watcher.command("SET", "k", "mine"), watcher.command("EXEC")]
        out.append(watcher.command("WATCH", "k"))
        out += [other.command("SELECT", "2"), other.command("SET", "k", "theirs")]
        out += [watcher.command("MULTI"), watcher.command("SET", "k", "mine2"), watcher.command("EXEC")]
        out.append(watcher.command("GET", "k"))
        return out


async def test_watch_is_per_database(port, oracle_port):
    theirs = await trio.to_thread.run_sync(_watch_other_connection, oracle_port)
    ours = await trio.to_thread.run_sync(_watch_other_connection, port)
    assert ours == theirs
