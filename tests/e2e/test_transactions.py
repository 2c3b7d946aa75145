"""MULTI/EXEC/WATCH on a real 3-node cluster: clients on different nodes race on WATCH."""

from __future__ import annotations

import threading

import pytest
import redis

pytestmark = pytest.mark.e2e


def test_watch_race_between_clients_on_two_nodes(cluster):
    leader = cluster.leader()
    follower = next(i for i in cluster.configs if i != leader)
    other = next(i for i in cluster.configs if i not in (leader, follower))
    one = cluster.client(follower)
    # Not a test of leader changes: the plain writes go again if the server says they may.
    cluster.steady_client(follower).set("balance", 100)
    with one.pipeline() as pipe:
        pipe.watch("balance")
        balance = int(pipe.get("balance"))
        assert cluster.steady_client(other).set("balance", 105)  # through another node between WATCH and EXEC
        pipe.multi()
        pipe.set("balance", balance - 30)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert one.get("balance") == b"105"
    # without interference the same transaction commits, and its effects are everywhere
    with one.pipeline() as pipe:
        pipe.watch("balance")
        balance = int(pipe.get("balance"))
        pipe.multi()
        pipe.set("balance", balance - 30)
        pipe.get("balance")
        assert pipe.execute() == [True, b"75"]
    for node_id in cluster.configs:
        assert cluster.steady_client(node_id).get("balance") == b"75"
    # the same nodes as Redis replication sees them: ROLE, and INFO keyspace from each replica
    leader = cluster.leader()  # again: a loaded machine may have changed it meanwhile
    follower = next(i for i in cluster.configs if i != leader)
    role = cluster.client(leader).execute_command("ROLE")
    assert role[0] == b"master" and sorted(int(r[1]) for r in role[2]) == sorted(
        cluster.port(i) for i in cluster.configs if i != leader
    )
    host, port = cluster.configs[leader].resp
    assert cluster.client(follower).execute_command("ROLE")[:4] == [b"slave", host.encode(), port, b"connected"]
    for node_id in cluster.configs:
        assert cluster.client(node_id).info("keyspace") == {"db0": {"keys": 1, "expires": 0, "avg_ttl": 0}}


def test_optimistic_increments_from_every_node_lose_nothing(cluster):
    cluster.leader()
    per_thread, errors, aborts = 15, [], []

    def worker(node_id: int) -> None:
        client = cluster.client(node_id)
        try:
            for _ in range(per_thread):
                while True:
                    with client.pipeline() as pipe:
                        try:
                            pipe.watch("counter")
                            value = int(pipe.get("counter") or 0)
                            pipe.multi()
                            pipe.set("counter", value + 1)
                            pipe.execute()
                            break
                        except redis.WatchError:
                            aborts.append(node_id)
        except Exception as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(node_id,)) for node_id in cluster.configs for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert int(cluster.client(cluster.leader()).get("counter")) == per_thread * len(threads)
