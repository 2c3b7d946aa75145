"""Reads that legitimately take long (KEYS, SMEMBERS of a big set) must not cost the leader
its leadership, and the event-loop lag metric shows when something does hold the loop.

The cluster uses the harness's short election timeout (tick 20 ms x 10 ticks: 200-400 ms),
and the reads come as one pipelined burst whose replies, before the fix, were queried and
encoded on the event loop in one go: about a second of silence towards the followers, who
then elected another leader. Now they run in worker threads while the node goes on
heartbeating (replicator/runtime/driver.py, module docstring).
"""

from __future__ import annotations

import threading
import time
import urllib.request
from dataclasses import replace

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from replicator import config as config_mod
from tests.e2e.harness import ProcessCluster, free_ports, wait_for

pytestmark = pytest.mark.e2e

MEMBERS = 300_000  # of the big set
KEYS = 200_000  # plain keys k:0 ... for KEYS k:*
CHUNK = 1000  # members or keys per command while loading
SMEMBERS_PER_BURST = 6
KEYS_PER_BURST = 2


def load(client: redis.Redis) -> None:
    """The big set and the keys, fast: many members per command, 50 commands per pipeline."""
    pipe = client.pipeline(transaction=False)
    for start in range(0, MEMBERS, CHUNK):
        pipe.sadd("big", *[b"m:%d" % i for i in range(start, min(start + CHUNK, MEMBERS))])
        if len(pipe) == 50:
            pipe.execute()
    for start in range(0, KEYS, CHUNK):
        pipe.mset({b"k:%d" % i: b"v" for i in range(start, min(start + CHUNK, KEYS))})
        if len(pipe) == 50:
            pipe.execute()
    pipe.execute()


class Writer(threading.Thread):
    """Writes w:<n> = n to the leader in a loop; a TRYAGAIN or a lost connection is retried
    (the write may have applied: SET is idempotent here). Records what was acknowledged."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.acked: list[int] = []
        self.retried: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        client = redis.Redis(port=self.port, socket_timeout=30)
        n = 0
        while not self.stop.is_set():
            try:
                assert client.set(f"w:{n}", n)
            except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.TryAgainError) as exc:
                self.retried.append(str(exc))
                continue
            self.acked.append(n)
            n += 1


def terms(cluster: ProcessCluster) -> dict[int, tuple[str, str]]:
    """Per node: (leader id, term) as INFO reports them."""
    return {i: (info["leader_id"], info["term"]) for i, info in ((i, cluster.info(i)) for i in cluster.configs)}


@pytest.mark.parametrize("protocol", ["raft", "zab"])
def test_long_reads_on_the_leader_keep_its_leadership(tmp_path, protocol):
    cluster = ProcessCluster(tmp_path, protocol=protocol, fsync=False)
    try:
        cluster.start_all()
        leader = cluster.leader()
        client = redis.Redis(port=cluster.port(leader), socket_timeout=60)
        load(client)
        leader = cluster.leader()  # loading may move leadership on a busy machine; the test starts here
        client = redis.Redis(port=cluster.port(leader), socket_timeout=60)
        before = terms(cluster)
        writer = Writer(cluster.port(leader))
        writer.start()
        try:
            wait_for(lambda: len(writer.acked) >= 10, what="the writer to get going")
            pipe = client.pipeline(transaction=False)
            for _ in range(SMEMBERS_PER_BURST):
                pipe.smembers("big")
            for _ in range(KEYS_PER_BURST):
                pipe.keys("k:*")
            replies = pipe.execute()
            acked_during = len(writer.acked)
            time.sleep(0.5)  # an election would be under way by now
            wait_for(lambda: len(writer.acked) > acked_during, what="writes to go on after the reads")
        finally:
            writer.stop.set()
            writer.join(30)
        assert terms(cluster) == before, "leadership changed during the long reads"
        assert [len(r) for r in replies] == [MEMBERS] * SMEMBERS_PER_BURST + [KEYS] * KEYS_PER_BURST
        assert replies[0] == {b"m:%d" % i for i in range(MEMBERS)}
        assert not writer.retried, writer.retried[:3]
        acked = writer.acked
        values = client.mget([f"w:{n}" for n in acked])
        assert values == [str(n).encode() for n in acked]
    finally:
        cluster.close()


def metrics_samples(port: int) -> dict[tuple[str, str], float]:
    """The loop-lag samples of a node: (name, le label or "") -> value."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {
        (s.name, s.labels.get("le", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("replicator_event_loop_lag")
    }


def test_loop_lag_metric_of_a_real_node(tmp_path):
    """A long synchronous step on the loop (here: a MULTI whose SMEMBERS runs at apply, and
    whose EXEC reply is encoded inline) shows in replicator_event_loop_lag_*."""
    cluster = ProcessCluster(tmp_path, nodes=1, fsync=False)
    (node_id,) = cluster.configs
    metrics_port = free_ports(1)[0]
    cluster.configs[node_id] = replace(cluster.configs[node_id], metrics=("127.0.0.1", metrics_port))
    cluster.config_paths[node_id].write_text(config_mod.to_toml(cluster.configs[node_id]))
    try:
        cluster.start_all()
        cluster.leader()
        client = redis.Redis(port=cluster.port(node_id), socket_timeout=60)
        load(client)
        metrics_samples(metrics_port)  # starts a fresh max interval
        pipe = client.pipeline(transaction=True)
        pipe.smembers("big")
        assert len(pipe.execute()[0]) == MEMBERS
        time.sleep(0.2)  # the probe wakes after the stall
        samples = metrics_samples(metrics_port)
        count = samples[("replicator_event_loop_lag_seconds_count", "")]
        assert count > 0 and samples[("replicator_event_loop_lag_seconds_bucket", "+Inf")] == count
        assert samples[("replicator_event_loop_lag_max_seconds", "")] > 0
    finally:
        cluster.close()
