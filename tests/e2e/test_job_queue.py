"""A job queue on a real 3-node cluster: 100k jobs, producers on one node, consumers blocked on
all three, the leader SIGKILLed (and brought back) while they run. None may be lost or done twice.

It is Redis' reliable-queue pattern, which is how a queue survives a crash here as in Redis:
- a producer pushes a batch of jobs with a script that first marks the batch's id in a set, so a
  batch sent again after "TRYAGAIN outcome unknown" is not pushed twice;
- a consumer moves jobs into its own processing list (a script moving up to BATCH at once; when the
  queue is empty, BLMOVE, which blocks), records them as done, then deletes the processing list.
  After any error (its node killed, a leader change with its command's outcome unknown) it first
  takes over what its processing list holds: jobs moved for it whose reply never came.
Consumers connect to every node; blocked ones wake when a push is applied on their node, and their
BLMOVE goes through the log, so two of them never take the same job.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import redis

from tests.e2e.harness import wait_for

pytestmark = pytest.mark.e2e

JOBS = 100_000
BATCH = 200
CONSUMERS_PER_NODE = 2
ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ResponseError)

PUSH_ONCE = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
    redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
end
return 1
"""
TAKE_BATCH = """
local out = {}
for i = 1, tonumber(ARGV[1]) do
    local job = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
    if not job then break end
    out[#out + 1] = job
end
return out
"""


class Consumer(threading.Thread):
    def __init__(self, cluster, name: str, node_id: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.cluster, self.name, self.node_id, self.stop = cluster, name, node_id, stop
        self.processing = f"processing:{name}"
        self.done: Counter = Counter()
        self.unacked: set[bytes] = set()  # recorded, but the DEL of the processing list not yet confirmed
        self.errors = 0
        self.blocked_pops = 0

    def _client(self) -> redis.Redis:
        nodes = sorted(self.cluster.configs)
        order = nodes[nodes.index(self.node_id) :] + nodes[: nodes.index(self.node_id)]
        for node_id in order:  # its own node while it is up, else the next one
            if node_id in self.cluster.alive():
                return self.cluster.client(node_id)
        raise redis.ConnectionError("no node is up")

    def run(self) -> None:
        r = None
        recover = True
        while not self.stop.is_set():
            try:
                if r is None:
                    r = self._client()
                if recover:  # jobs moved for us whose replies were lost: ours to do
                    self._finish(r, r.lrange(self.processing, 0, -1))
                    recover = False
                jobs = r.eval(TAKE_BATCH, 2, "queue", self.processing, BATCH)
                if not jobs:
                    job = r.blmove("queue", self.processing, 0.5, "LEFT", "RIGHT")
                    if job is None:
                        continue
                    self.blocked_pops += 1
                    jobs = [job]
                self._finish(r, jobs)
            except ERRORS:
                self.errors += 1
                recover = True
                r = None
                time.sleep(0.05)

    def _finish(self, r: redis.Redis, jobs: list[bytes]) -> None:
        """Record the jobs as done, then drop them from the processing list (a DEL: doing it twice
        is harmless, so its retry after an unknown outcome is too)."""
        if not jobs:
            return
        self.done.update(job for job in jobs if job not in self.unacked)  # recorded once per move
        self.unacked.update(jobs)
        r.delete(self.processing)
        self.unacked.clear()


def _produce(cluster, node_id: int, batches: range, failures: list) -> None:
    client = cluster.steady_client(node_id)  # PUSH_ONCE may be sent twice: the script makes it once
    try:
        for batch in batches:
            jobs = [f"job:{batch * BATCH + i}" for i in range(BATCH)]
            client.eval(PUSH_ONCE, 2, "queue", "pushed-batches", batch, *jobs)
    except Exception as err:  # reported by the test
        failures.append(repr(err))


def test_100k_jobs_none_lost_or_repeated_across_a_leader_kill(cluster):
    leader = cluster.leader()
    producer_node = next(n for n in sorted(cluster.configs) if n != leader)
    stop = threading.Event()
    consumers = [
        Consumer(cluster, f"c{node_id}-{i}", node_id, stop)
        for node_id in sorted(cluster.configs)
        for i in range(CONSUMERS_PER_NODE)
    ]
    for consumer in consumers:
        consumer.start()
    failures: list = []
    batches = JOBS // BATCH
    producers = [
        threading.Thread(target=_produce, args=(cluster, producer_node, range(k, batches, 2), failures), daemon=True)
        for k in range(2)
    ]
    for producer in producers:
        producer.start()

    def jobs_done() -> int:
        return sum(sum(c.done.values()) for c in consumers)

    wait_for(lambda: jobs_done() > JOBS // 4, 120, "a quarter of the jobs done")
    cluster.kill(leader)  # SIGKILL, with pushes, moves and blocked consumers in flight
    wait_for(lambda: jobs_done() > JOBS // 2, 120, "half the jobs done without the old leader")
    cluster.start(leader)
    for producer in producers:
        producer.join(timeout=300)
    assert not failures, failures
    wait_for(lambda: jobs_done() >= JOBS, 180, "every job done")
    time.sleep(1.0)  # a job done twice would show up now
    stop.set()
    for consumer in consumers:
        consumer.join(timeout=30)

    done = Counter()
    for consumer in consumers:
        done.update(consumer.done)
    repeated = {job: n for job, n in done.items() if n > 1}
    assert not repeated, f"{len(repeated)} jobs done more than once, e.g. {list(repeated.items())[:5]}"
    assert set(done) == {f"job:{n}".encode() for n in range(JOBS)}, "jobs lost"
    client = cluster.steady_client(producer_node)
    assert client.llen("queue") == 0
    assert sum(c.blocked_pops for c in consumers) > 0, "no consumer ever waited in BLMOVE"
