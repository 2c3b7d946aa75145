"""replicator_event_loop_lag_seconds: the probe task sees a stall of the trio thread."""

from __future__ import annotations

import time

import trio

from frontends.metrics import LOOP_LAG_PROBE_S, NodeMetrics, probe_loop_lag
from tests.metrics.test_metrics_endpoint import make_config, scrape, value

STALL_S = 0.3


async def test_a_stall_of_the_loop_shows_as_lag(tmp_path, nursery):
    metrics = NodeMetrics(make_config(tmp_path), process_metrics=False)
    nursery.start_soon(probe_loop_lag, metrics.loop_lag)
    await trio.sleep(2 * LOOP_LAG_PROBE_S)  # the probe is asleep in its interval now
    time.sleep(STALL_S)  # hold the trio thread, as a long synchronous command would
    await trio.sleep(2 * LOOP_LAG_PROBE_S)
    parsed = await scrape(metrics)
    # The probe's sleep ended during the stall, so it woke at least this late.
    assert value(parsed, "replicator_event_loop_lag_max_seconds") >= STALL_S - LOOP_LAG_PROBE_S
    assert value(parsed, "replicator_event_loop_lag_seconds_count") >= 2
    assert value(parsed, "replicator_event_loop_lag_seconds_bucket", le="0.1") < value(
        parsed, "replicator_event_loop_lag_seconds_bucket", le="+Inf"
    )


def test_the_max_gauge_covers_one_scrape_interval(tmp_path):
    lag = NodeMetrics(make_config(tmp_path), process_metrics=False).loop_lag
    lag.observe(0.5)
    lag.observe(0.2)
    first = {f.name: f.samples for f in lag.collect()}
    assert first["replicator_event_loop_lag_max_seconds"][0].value == 0.5
    second = {f.name: f.samples for f in lag.collect()}
    assert second["replicator_event_loop_lag_max_seconds"][0].value == 0.0
    count = [s for s in second["replicator_event_loop_lag_seconds"] if s.name.endswith("_count")]
    assert count[0].value == 2  # the histogram keeps counting across scrapes
