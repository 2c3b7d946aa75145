"""A node holding every value type (bitmaps, HyperLogLogs and geo sets included: strings and
sorted sets underneath; streams with a consumer group) in several databases: a follower that missed it all
catches up by snapshot, the whole cluster restarts from its stores, and every database
reads back the same on every node (values, TTLs, types), as real clients see it.

Each value type is written by a redis-py client in databases 0, 3 and 15 (redis-py sends
SELECT on connect). The fingerprint of a database is what a client can read of it:
every key's type, TTL (rounded to seconds) and content read with the type's own commands.
"""

from __future__ import annotations

import signal

import pytest
import redis

from tests.e2e.harness import ProcessCluster, wait_for

pytestmark = pytest.mark.e2e

DATABASES = (0, 3, 15)


def fill(client: redis.Redis, db: int) -> None:
    """Every type, a TTL on some, and values that differ per database."""
    tag = f"db{db}"
    client.set("string", f"value-{tag}")
    client.set("counter", db * 1000)
    client.set("expiring", tag, ex=3600)
    client.hset("hash", mapping={f"f{i}": f"{tag}-{i}" for i in range(50)})
    client.rpush("list", *[f"{tag}-{i}" for i in range(80)])
    client.sadd("set", *[f"{tag}-{i}" for i in range(40)])
    client.sadd("intset", *range(db, db + 30))
    client.zadd("zset", {f"{tag}-{i}": i / 3 for i in range(60)})
    client.pexpire("zset", 7_200_000)
    client.setbit("bitmap", 1000 + db, 1)
    client.pfadd("hll", *[f"{tag}-{i}" for i in range(db * 100 + 50)])
    client.geoadd("geo", (13.361389 + db, 38.115556, f"palermo-{tag}"), (15.087269, 37.502669, "catania"))
    for i in range(1, 130):  # two listpack nodes
        client.xadd("stream", {"i": i, "tag": tag}, id=f"{i}-{db}")
    client.xdel("stream", f"5-{db}")
    client.xgroup_create("stream", "group", id="0")
    client.xreadgroup("group", f"consumer-{tag}", {"stream": ">"}, count=3)


def fingerprint(client: redis.Redis) -> dict:
    out = {}
    for key in sorted(client.keys("*")):
        kind = client.type(key)
        ttl = client.ttl(key)
        if kind == b"string":
            content = client.get(key)
        elif kind == b"hash":
            content = sorted(client.hgetall(key).items())
        elif kind == b"list":
            content = client.lrange(key, 0, -1)
        elif kind == b"set":
            content = sorted(client.smembers(key))
        elif kind == b"zset":
            content = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"stream":
            content = (client.xrange(key), client.execute_command("XINFO", "STREAM", key, "FULL"))
        else:
            raise AssertionError(f"no fingerprint for type {kind!r} of {key!r}")
        out[key] = (kind, ttl // 60 if ttl > 0 else ttl, content)
    return out


def fingerprints(cluster: ProcessCluster, node_id: int) -> dict[int, dict]:
    return {db: fingerprint(cluster.steady_client(node_id, db=db)) for db in DATABASES}


def test_every_type_in_several_databases_survives_snapshots_and_restarts(tmp_path):
    cluster = ProcessCluster(tmp_path, protocol="raft", snapshot_entries=50, keep_entries=10)
    try:
        cluster.start_all()
        leader = cluster.leader()
        lagging = next(i for i in cluster.configs if i != leader)
        cluster.kill(lagging)
        for db in DATABASES:
            fill(cluster.steady_client(leader, db=db), db)
        writer = cluster.steady_client(leader, db=7)
        for i in range(200):  # enough entries for the leader to compact past everything above
            writer.set(f"filler:{i}", i)
        wait_for(lambda: int(cluster.info(leader).get("first_index", "0")) > 100, what="the leader to compact")
        expected = fingerprints(cluster, leader)
        assert all(len(expected[db]) == 12 for db in DATABASES), expected

        cluster.start(lagging)
        wait_for(lambda: int(cluster.info(lagging).get("snapshot_index", "0")) > 0, what="a snapshot install")
        assert fingerprints(cluster, lagging) == expected

        for node_id in list(cluster.configs):
            cluster.kill(node_id, signal.SIGKILL)
        cluster.start_all()
        cluster.leader()
        for node_id in sorted(cluster.configs):
            assert fingerprints(cluster, node_id) == expected, f"node {node_id} after the restart"
        info = cluster.steady_client(lagging).info("keyspace")
        assert set(info) == {"db0", "db3", "db7", "db15"}
    finally:
        cluster.close()
