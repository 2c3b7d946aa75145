"""The plain-Python collectors on the per-request path render exactly what
prometheus-client's own Counter and Histogram would for the same events."""

import random

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from frontends.metrics import LATENCY_BUCKETS_S, _HotCounter, _HotHistogram

CONST = {"cluster": "c", "node": "1", "protocol": "raft"}


def render(collector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)


def test_hot_histogram_matches_prometheus_client():
    rng = random.Random(5)
    values = [rng.choice(LATENCY_BUCKETS_S[:-1]) for _ in range(50)] + [rng.expovariate(200) for _ in range(500)]
    ours = _HotHistogram("x_seconds", "doc", CONST, LATENCY_BUCKETS_S)
    registry = CollectorRegistry(auto_describe=False)
    theirs = Histogram("x_seconds", "doc", list(CONST), registry=registry, buckets=LATENCY_BUCKETS_S).labels(**CONST)
    for v in values:  # includes values exactly on a bucket bound (le is inclusive)
        ours.observe(v)
        theirs.observe(v)
    expected = [line for line in generate_latest(registry).splitlines() if b"_created" not in line]
    assert render(ours).splitlines() == expected


def test_hot_counter_matches_prometheus_client():
    ours = _HotCounter("y", "doc", CONST, ("outcome",))
    registry = CollectorRegistry(auto_describe=False)
    theirs = Counter("y", "doc", [*CONST, "outcome"], registry=registry)
    for outcome in ["ok"] * 7 + ["unknown"] * 2:
        ours.inc((outcome,))
        theirs.labels(**CONST, outcome=outcome).inc()
    expected = [line for line in generate_latest(registry).splitlines() if b"_created" not in line]
    assert render(ours).splitlines() == expected
