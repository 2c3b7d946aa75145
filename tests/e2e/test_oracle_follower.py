"""Every oracle case of tests/frontends, replayed on a FOLLOWER of a real 3-node cluster and on
a real redis-server 7.0, replies compared byte for byte.

The frontend oracle tests run against one in-process node; here each write is forwarded to
the leader, replicated, applied on three processes and answered back through the follower,
and each read is served by the follower (linearizable), so the same bytes prove the whole
request path keeps Redis' replies, errors and RESP shapes. A case module takes part by
keeping a module-level `CASES = {name: "command lines"}` (tests/frontends/test_resp_oracle*.py).
One protocol is enough: the request path above the engine is the same for both.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.harness import ProcessCluster, wait_for

FRONTEND_TESTS = Path(__file__).resolve().parent.parent / "frontends"
sys.path.insert(0, str(FRONTEND_TESTS))  # the case modules import their helpers as top-level modules

from resp_helpers import case_lines, mismatches, real_redis, replay  # noqa: E402


def _case_modules() -> dict[str, tuple[dict[str, str], Callable]]:
    modules = {}
    for path in sorted(FRONTEND_TESTS.glob("test_resp_oracle*.py")):
        spec = importlib.util.spec_from_file_location(f"oracle_cases_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases = getattr(module, "CASES", None)
        if isinstance(cases, dict):
            parse = getattr(module, "case_lines", case_lines)  # a module may split its lines its own way
            modules[path.stem.removeprefix("test_resp_oracle").lstrip("_") or "core"] = (cases, parse)
    return modules


CASE_MODULES = _case_modules()
# A leader change under a busy machine answers a write with these; no oracle case expects them.
LEADER_CHANGE_ERRORS = (b"-TRYAGAIN", b"-CLUSTERDOWN")
LEADER_CHANGE_RETRIES = 5
ALL_CASES = [(module, name) for module, (cases, _) in CASE_MODULES.items() for name in sorted(cases)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = ProcessCluster(tmp_path_factory.mktemp("oracle-follower"), protocol="raft")
    cluster.start_all()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def follower_port(cluster):
    leader = cluster.leader()
    follower = next(i for i in sorted(cluster.configs) if i != leader)
    with cluster.steady_client(follower) as client:
        client.set("warm-up", "1")  # the follower has heard of a leader and forwards to it
    return cluster.port(follower)


@pytest.fixture(scope="module")
def redis_port():
    with real_redis() as port:
        if port is None:
            pytest.skip("redis-server is not installed")
        yield port


@pytest.mark.parametrize(("module", "name"), ALL_CASES, ids=[f"{m}-{n}" for m, n in ALL_CASES])
def test_follower_replies_as_redis(module, name, follower_port, redis_port):
    cases, parse = CASE_MODULES[module]
    lines = parse(cases[name])
    theirs = replay(redis_port, lines)
    for _ in range(LEADER_CHANGE_RETRIES):
        ours = replay(follower_port, lines)
        if not any(reply.startswith(LEADER_CHANGE_ERRORS) for reply in ours):
            break
        time.sleep(0.5)  # not a test of leader changes: the case runs again, from FLUSHALL, once one settled
    bad = mismatches(lines, theirs, ours, who="follower")
    assert not bad, "\n".join(bad)


def test_wait_counts_the_replicas_holding_the_last_write(cluster):
    """A write is acknowledged once a majority holds it: WAIT answers at least 1 of the 2
    replicas at once, on any node, and 2 on the leader once both have it (a leader change
    meanwhile only makes the test ask the new leader)."""
    for node in sorted(cluster.configs):
        with cluster.steady_client(node) as client:
            client.set("waited", node)
            assert client.execute_command("WAIT", 2, 0) >= 1

    def leader_counts_both() -> bool:
        with cluster.steady_client(cluster.leader()) as client:
            client.set("waited", "leader")
            return any(client.execute_command("WAIT", 2, 0) == 2 or time.sleep(0.05) for _ in range(100))

    wait_for(leader_counts_both, what="the leader counting both replicas")
