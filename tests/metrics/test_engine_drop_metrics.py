"""replicator_peer_messages_dropped_total and replicator_peer_progress_resets_total:
the engine's counters of impossible peer messages (replicator/protocol/drops.py), read at scrape time."""

from __future__ import annotations

import random

from frontends.metrics import NodeMetrics
from replicator.protocol import EngineConfig
from replicator.protocol.drops import REASONS
from replicator.protocol.raft.engine import RaftEngine
from replicator.protocol.raft.messages import AppendEntriesResp, Heartbeat, TimeoutNow
from replicator.storage.memory_store import MemoryStore
from tests.metrics.test_metrics_endpoint import LEADER_STATUS, FakeNode, make_config, scrape, value


class EngineNode(FakeNode):
    def __init__(self, engine) -> None:
        super().__init__(LEADER_STATUS)
        self.host = type("Host", (), {"engine": engine})()


async def test_dropped_peer_messages_are_exported_by_reason(tmp_path):
    metrics = NodeMetrics(make_config(tmp_path))
    engine = RaftEngine(EngineConfig(node_id=1, voters=(1, 2, 3)), MemoryStore(), random.Random(0))
    metrics.bind(EngineNode(engine))
    before = await scrape(metrics)
    for reason in REASONS:  # every reason is a series from the start, at 0
        assert value(before, "replicator_peer_messages_dropped_total", reason=reason) == 0
    engine.step(TimeoutNow(9, 1, 1))  # node 9 is in no configuration this node holds
    engine.step(Heartbeat(2, 1, 1, commit=-1))  # a negative commit index
    engine.step(AppendEntriesResp(2, 1, 0, index=5))  # not the leader: ignored, but not impossible
    m = await scrape(metrics)
    assert value(m, "replicator_peer_messages_dropped_total", reason="not_member") == 1
    assert value(m, "replicator_peer_messages_dropped_total", reason="malformed") == 1
    assert value(m, "replicator_peer_messages_dropped_total", reason="beyond_log") == 0
    assert value(m, "replicator_peer_progress_resets_total") == 0


async def test_a_peer_that_lost_its_disk_is_a_series_until_it_catches_up(tmp_path):
    metrics = NodeMetrics(make_config(tmp_path))
    engine = RaftEngine(EngineConfig(node_id=1, voters=(1, 2, 3)), MemoryStore(), random.Random(0))
    metrics.bind(EngineNode(engine))
    assert not [n for n, _ in await scrape(metrics) if n == "replicator_peer_lost_data"]
    engine.peer_lost_data(3, 42)  # as the driver does on a new incarnation of node 3
    assert value(await scrape(metrics), "replicator_peer_lost_data", peer="3") == 42
    engine.lost_data.forgive(3)  # the leader saw it catch up (CaughtUp)
    assert not [n for n, _ in await scrape(metrics) if n == "replicator_peer_lost_data"]


async def test_a_starting_node_without_an_engine_exports_zeros(tmp_path):
    """Bound before node.run made its host: the engine's families are there, at zero."""
    metrics = NodeMetrics(make_config(tmp_path))
    node = FakeNode(LEADER_STATUS)
    node.host = None
    metrics.bind(node)
    m = await scrape(metrics)
    assert value(m, "replicator_peer_messages_dropped_total", reason="not_member") == 0
    assert value(m, "replicator_peer_progress_resets_total") == 0
    assert not [n for n, _ in m if n == "replicator_peer_lost_data"]
