"""frontends/metrics.py in-process: the observer hooks, the scrape-time gauges, the HTTP endpoint,
and the JSON log format of the CLI. Real processes and a real Prometheus: test_prometheus_live.py."""

from __future__ import annotations

import json
import logging
import random
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from frontends.metrics import NodeMetrics, serve_metrics
from replicator.cli import JsonFormatter, build_parser
from replicator.config import Config, Member
from replicator.protocol import EngineConfig
from replicator.protocol.raft.engine import RaftEngine
from replicator.storage.memory_store import MemoryStore
from replicator.types import Membership, PeerProgress, Role, Status
from statemachines import ReplyError


def make_config(tmp_path: Path, **kw) -> Config:
    members = tuple(Member(i, ("127.0.0.1", 7100 + i), ("127.0.0.1", 7000 + i)) for i in (1, 2, 3))
    return Config(
        node_id=1, members=members, data_dir=tmp_path, resp=members[0].resp, peer=members[0].peer, cluster_id="t", **kw
    )


class FakeTransport:
    connected = {2}
    rejected = {"handshake": 3, "busy": 1}


class FakeNode:
    """What the collectors read of a Node: status(), host (its engine's counters), transport."""

    def __init__(self, status: Status) -> None:
        self._status = status
        self.host = SimpleNamespace(
            engine=RaftEngine(EngineConfig(node_id=1, voters=(1, 2, 3)), MemoryStore(), random.Random(0))
        )
        self.transport = FakeTransport()

    def status(self) -> Status:
        return self._status

    def membership(self) -> Membership:
        return Membership.of((1, 2, 3))

    def last_contact_s(self, peer: int) -> float | None:
        return self.contacts.get(peer)

    contacts: dict[int, float] = {}


LEADER_STATUS = Status(
    node_id=1,
    role=Role.LEADER,
    leader=1,
    epoch=7,
    commit=40,
    applied=39,
    first_index=11,
    last_index=42,
    progress={
        1: PeerProgress(42, 43, "replicate"),
        2: PeerProgress(40, 43, "replicate"),
        3: PeerProgress(12, 13, "probe", recent_active=False),
    },
    extra={"snapshot_index": 10},
)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(parsed: dict, name: str, **labels) -> float:
    found = [v for (n, ls), v in parsed.items() if n == name and set(labels.items()) <= ls]
    assert len(found) == 1, (name, labels, found)
    return found[0]


async def scrape(metrics: NodeMetrics) -> dict:
    return samples((await metrics.render()).decode())


async def test_status_gauges_are_read_at_scrape_time(tmp_path):
    metrics = NodeMetrics(make_config(tmp_path))
    before = await scrape(metrics)
    assert value(before, "replicator_node_info", cluster="t", node="1", protocol="raft") == 1
    assert not [n for n, _ in before if n == "replicator_commit_index"]  # not started: no engine gauges
    metrics.bind(FakeNode(LEADER_STATUS))
    m = await scrape(metrics)
    assert value(m, "replicator_role", role="leader") == 1
    assert value(m, "replicator_role", role="follower") == 0
    assert value(m, "replicator_term") == 7
    assert value(m, "replicator_leader_id") == 1
    assert value(m, "replicator_peer_connections_rejected_total", reason="handshake") == 3
    assert value(m, "replicator_peer_connections_rejected_total", reason="timeout") == 0
    assert value(m, "replicator_commit_index") == 40
    assert value(m, "replicator_applied_index") == 39
    assert value(m, "replicator_log_first_index") == 11
    assert value(m, "replicator_log_last_index") == 42
    assert value(m, "replicator_log_entries") == 32
    assert value(m, "replicator_snapshot_index") == 10
    assert value(m, "replicator_peer_lag_entries", peer="2") == 2
    assert value(m, "replicator_peer_lag_entries", peer="3") == 30
    assert value(m, "replicator_peer_active", peer="3") == 0
    assert not [ls for n, ls in m if n == "replicator_peer_lag_entries" and ("peer", "1") in ls]  # not itself
    assert value(m, "replicator_peer_connected", peer="2") == 1
    assert value(m, "replicator_peer_connected", peer="3") == 0
    assert value(m, "replicator_members", role="voter") == 3
    assert value(m, "replicator_members", role="learner") == 0
    assert value(m, "replicator_member_info", member="3", role="voter") == 1
    assert value(m, "replicator_voters_healthy") == 2  # itself and node 2; node 3 is inactive
    assert value(m, "replicator_voters_quorum") == 2
    metrics.membership_changed(Membership.of((1, 2, 3)))
    assert value(await scrape(metrics), "replicator_membership_changes_total") == 1
    assert value(m, "replicator_data_fs_size_bytes") > 0
    assert value(m, "replicator_data_dir_bytes") >= 0
    assert value(m, "process_resident_memory_bytes", node="1") > 0  # process metrics carry our labels too
    for (name, labels), _ in m.items():
        if name.startswith("replicator_"):
            assert {"cluster", "node", "protocol"} <= {k for k, _ in labels}, name


async def test_hooks_count_events(tmp_path):
    metrics = NodeMetrics(make_config(tmp_path))
    metrics.persisted(0.002, 3, 120)
    metrics.persisted(0.001, 0, 0)  # hard state only: an fsync, no batch
    metrics.write_done(0.004, "ok")
    metrics.write_done(0.004, "error")
    metrics.write_done(5.0, "unknown")
    metrics.forwarded(3)
    metrics.read_barrier("linearizable", 4)
    for role, leader, epoch in [
        (Role.FOLLOWER, None, 1),
        (Role.PRE_CANDIDATE, None, 1),
        (Role.CANDIDATE, None, 2),
        (Role.LEADER, 1, 2),
        (Role.FOLLOWER, 3, 3),
        (Role.LEADER, 1, 5),
    ]:
        metrics.role_changed(role, leader, epoch)
    metrics.snapshot_taken(100, 4096, 0.05)
    metrics.snapshot_installed(200, 8192)
    node = FakeNode(LEADER_STATUS)
    node.contacts = {2: 0.25}  # the driver's clock of the last message from each peer
    metrics.bind(node)
    metrics.resp.connection_opened()
    metrics.resp.command("set", "OK")
    metrics.resp.command("get", ReplyError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    metrics.resp.command("get", ReplyError("weird lower-case error"))
    m = await scrape(metrics)
    assert value(m, "replicator_fsync_duration_seconds_count") == 2
    assert value(m, "replicator_fsync_batch_entries_count") == 1
    assert value(m, "replicator_fsync_batch_entries_sum") == 3
    assert value(m, "replicator_persisted_bytes_total") == 120
    assert value(m, "replicator_proposals_total", outcome="ok") == 1
    assert value(m, "replicator_proposals_total", outcome="unknown") == 1
    assert value(m, "replicator_proposal_duration_seconds_count") == 2  # unknown outcomes are not latencies
    assert value(m, "replicator_forwarded_writes_total") == 3
    assert value(m, "replicator_read_barriers_total", consistency="linearizable") == 1
    assert value(m, "replicator_read_barrier_reads_total", consistency="linearizable") == 4
    # candidate -> leader: one election; follower -> leader (campaign between two Readies): another
    assert value(m, "replicator_elections_started_total") == 2
    assert value(m, "replicator_elections_won_total") == 2
    assert value(m, "replicator_leader_changes_total") == 3  # 1, 3, 1
    assert value(m, "replicator_snapshots_total", kind="taken") == 1
    assert value(m, "replicator_snapshot_last_size_bytes", kind="installed") == 8192
    assert value(m, "replicator_snapshot_duration_seconds_count") == 1
    assert value(m, "replicator_client_connections") == 1
    assert value(m, "replicator_commands_total", command="set", result="ok") == 1
    assert value(m, "replicator_commands_total", command="get", result="WRONGTYPE") == 1
    assert value(m, "replicator_commands_total", command="get", result="ERR") == 1  # bounded labels
    assert value(m, "replicator_peer_last_contact_seconds", peer="2") == 0.25


async def http(port: int, request: bytes) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        out = b""
        while chunk := await stream.receive_some(65536):
            out += chunk
    return out


async def test_endpoint_serves_metrics_and_404(tmp_path, nursery):
    metrics = NodeMetrics(make_config(tmp_path))
    metrics.bind(FakeNode(LEADER_STATUS))
    port = await nursery.start(partial(serve_metrics, metrics, "127.0.0.1", 0))
    with trio.fail_after(10):
        ok = await http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        head, _, body = ok.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"text/plain; version=0.0.4" in head
        assert b"replicator_commit_index{" in body
        assert int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]) == len(body)
        assert (await http(port, b"GET / HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404")
        assert (await http(port, b"GET /metricsx HTTP/1.0\r\n\r\n")).startswith(b"HTTP/1.1 404")
        assert (await http(port, b"POST /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 405")
        assert (await http(port, b"nonsense\r\n\r\n")).startswith(b"HTTP/1.1 400")
        head_only = await http(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
        assert head_only.startswith(b"HTTP/1.1 200") and head_only.endswith(b"\r\n\r\n")
        # a client that connects and says nothing does not hold up the others
        idle = await trio.open_tcp_stream("127.0.0.1", port)
        assert (await http(port, b"GET /metrics?x=1 HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200")
        await idle.aclose()


def test_json_log_lines(capsys):
    args = build_parser().parse_args(["--log-format", "json", "--log-level", "debug", "serve", "--config", "x.toml"])
    assert args.log_format == "json" and args.log_level == "debug"
    formatter = JsonFormatter()
    JsonFormatter.node = 3
    try:
        record = logging.LogRecord(
            "replicator.runtime.driver", logging.INFO, __file__, 1, "role %s, epoch %d", ("leader", 4), None
        )
        record.event = "election_won"
        line = formatter.format(record)
    finally:
        JsonFormatter.node = None
    obj = json.loads(line)
    assert "\n" not in line
    assert obj["level"] == "info" and obj["logger"] == "replicator.runtime.driver"
    assert obj["msg"] == "role leader, epoch 4" and obj["node"] == 3 and obj["event"] == "election_won"
    assert obj["ts"].endswith("+00:00")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--log-format", "xml", "serve", "--config", "x.toml"])
