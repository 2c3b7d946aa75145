"""A real 3-node cluster scraped by a real Prometheus: every query of the Grafana dashboard
returns series, every alert rule evaluates, and INFO agrees with /metrics.

Prometheus comes from the system package (tests/run.sh installs it). Without
/usr/bin/prometheus the Prometheus test is skipped, unless CI is set: then it
fails, so CI can never pass by not running it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from replicator import config as config_mod

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "deploy" / "grafana"))
import dashboard  # noqa: E402
from harness import ProcessCluster, free_ports, wait_for  # noqa: E402

pytestmark = pytest.mark.e2e

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
RATE_INTERVAL = "30s"  # what Grafana's $__rate_interval becomes at a 1 s scrape interval, roughly


def prometheus_binary() -> str:
    path = shutil.which("prometheus") or ("/usr/bin/prometheus" if os.path.exists("/usr/bin/prometheus") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is not installed but CI is set: tests/run.sh must install the 'prometheus' package")
        pytest.skip("prometheus is not installed (apt-get install prometheus; tests/run.sh does it)")
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """3 raft nodes with metrics endpoints, after some load (writes, reads, a pipeline, errors)."""
    root = tmp_path_factory.mktemp("metrics-cluster")
    c = ProcessCluster(root, nodes=3, cluster_id="live")
    ports = free_ports(3)
    for (node_id, cfg), port in zip(sorted(c.configs.items()), ports):
        c.configs[node_id] = replace(cfg, metrics=("127.0.0.1", port))
        c.config_paths[node_id].write_text(config_mod.to_toml(c.configs[node_id]))
    try:
        c.start_all()
        leader = c.leader()
        follower = next(i for i in c.configs if i != leader)
        for node_id in (leader, follower):  # a follower forwards its writes
            r = c.client(node_id)
            for i in range(50):
                r.set(f"k{i}", i)
            pipe = r.pipeline(transaction=False)
            for i in range(100):
                pipe.incr("counter")
            pipe.execute()
            assert r.get("k7") == b"7"
            with pytest.raises(redis.ResponseError):
                r.lpush("k1", "x")  # WRONGTYPE
            with pytest.raises(redis.ResponseError):
                r.execute_command("NOSUCHCOMMAND")
            r.close()
        yield c
    finally:
        c.close()


def scrape(addr: tuple[str, int]) -> dict[str, list]:
    with urllib.request.urlopen(f"http://{addr[0]}:{addr[1]}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


def test_info_and_metrics_agree(cluster):
    """Both read node.status(): on a quiet cluster, INFO consensus and /metrics give the same numbers."""
    for node_id, cfg in cluster.configs.items():

        def agreed():
            before = cluster.info(node_id)
            m = scrape(cfg.metrics)
            after = cluster.info(node_id)
            if before != after:
                return None  # something moved in between: try again
            return before, m

        info, m = wait_for(agreed, 10, f"a stable INFO of node {node_id}")

        def one(name):
            (sample,) = m[name]
            assert sample.labels["node"] == str(node_id) and sample.labels["cluster"] == "live"
            return int(sample.value)

        assert one("replicator_commit_index") == int(info["commit_index"])
        assert one("replicator_applied_index") == int(info["applied_index"])
        assert one("replicator_term") == int(info["term"])
        assert one("replicator_log_last_index") == int(info["last_index"])
        assert one("replicator_leader_id") == int(info["leader_id"] or 0)
        roles = {s.labels["role"] for s in m["replicator_role"] if s.value == 1}
        assert roles == {info["consensus_role"]}
        assert one("replicator_commit_index") >= 100  # the load is in there (100 SETs one at a time, 100 entries)


def test_dashboard_and_alerts_against_live_prometheus(cluster, tmp_path):
    binary = prometheus_binary()
    (port,) = free_ports(1)
    targets = [f"127.0.0.1:{cfg.metrics[1]}" for cfg in cluster.configs.values()]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [{"job_name": "replicator", "static_configs": [{"targets": targets}]}],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    promtool = shutil.which("promtool") or str(Path(binary).with_name("promtool"))
    checked = subprocess.run([promtool, "check", "config", str(config_path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def api(path: str, **params):
        url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400 with a JSON error body: a bad query
            body = exc.read()
            try:
                return json.loads(body)
            except ValueError:  # 503 "Service Unavailable" while starting: wait_for retries OSErrors
                raise OSError(f"{url}: HTTP {exc.code} {body[:100]!r}") from None

    def query(expr: str):
        expr = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$cluster", "live").replace("$node", ".*")
        return api("/api/v1/query", query=expr)

    try:
        wait_for(
            lambda: proc.poll() is None and urllib.request.urlopen(f"{base}/-/ready", timeout=5).status == 200,
            20,
            "prometheus to be ready",
        )
        wait_for(
            lambda: len([t for t in api("/api/v1/targets")["data"]["activeTargets"] if t["health"] == "up"]) == 3,
            20,
            "all three nodes scraped",
        )

        # The dashboard's template variables find the cluster and its nodes.
        nodes = wait_for(lambda: query('count(replicator_node_info{cluster="$cluster"})')["data"]["result"], 10)
        assert nodes[0]["value"][1] == "3"
        series = api("/api/v1/series", **{"match[]": "replicator_node_info"})["data"]
        assert {s["cluster"] for s in series} == {"live"} and {s["node"] for s in series} == {"1", "2", "3"}

        # Every panel query returns series (rates need two samples: wait for them).
        exprs = dashboard.panel_exprs()
        assert len(exprs) >= 20
        missing: list = []

        def all_panels_have_series():
            missing.clear()
            for title, expr in exprs:
                answer = query(expr)
                assert answer["status"] == "success", (title, expr, answer)
                if not answer["data"]["result"]:
                    missing.append((title, expr))
            return not missing

        try:
            wait_for(all_panels_have_series, 20, "series for every dashboard panel", interval_s=1)
        except AssertionError:
            raise AssertionError(f"dashboard queries without series: {missing}") from None
        for _, expr, _ in dashboard.ANNOTATIONS:
            assert query(expr)["status"] == "success", expr

        # Every alert expression evaluates, and Prometheus itself evaluated every rule without error.
        rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
        assert len(rules) >= 10
        for rule in rules:
            answer = query(rule["expr"])
            assert answer["status"] == "success", (rule["alert"], answer)

        def evaluated():
            loaded = [r for g in api("/api/v1/rules")["data"]["groups"] for r in g["rules"]]
            return len(loaded) == len(rules) and all(r["health"] == "ok" for r in loaded) and loaded

        loaded = wait_for(evaluated, 15, "every alert rule evaluated", interval_s=0.5)
        firing = [r["name"] for r in loaded if r["state"] == "firing"]
        assert not firing, f"alerts firing on a healthy cluster: {firing}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
