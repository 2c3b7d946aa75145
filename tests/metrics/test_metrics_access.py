"""/metrics over HTTPS with a bearer token or basic auth (replicator/metrics_access.py): the settings,
then a real node process scraped with urllib (an SSL context trusting the test's CA), then, when
Prometheus is installed, a real Prometheus scraping it with its own tls_config, authorization and
basic_auth settings (the names deploy/prometheus/prometheus.yml shows)."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import ssl
import subprocess
import sys
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from replicator import config as config_mod
from replicator.certs import make_ca, make_cert, write_issued
from replicator.config import ConfigError, from_dict
from replicator.metrics_access import Credentials, MetricsAccess, MetricsAccessError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from harness import ProcessCluster, free_ports, wait_for  # noqa: E402

TOKEN = "t0ken-Secret-4-scrapes"
PASSWORD = "basic-Secret-pw"
BASE = {
    "node_id": 1,
    "members": [{"id": 1, "peer": "127.0.0.1:7101", "resp": "127.0.0.1:7001"}],
    "data_dir": "d",
    "resp": "127.0.0.1:7001",
    "peer": "127.0.0.1:7101",
    "metrics": "127.0.0.1:9101",
}


def test_settings(tmp_path):
    cfg = from_dict(
        {
            **BASE,
            "metrics_tls_cert_file": "m.crt",
            "metrics_tls_key_file": "/abs/m.key",
            "metrics_bearer_token_file": "token",
            "metrics_basic_auth_user": "prom",
            "metrics_basic_auth_password_file": "pw",
        },
        base=tmp_path,
    )
    access = cfg.metrics_access
    assert access.tls_cert_file == tmp_path / "m.crt" and access.tls_key_file == Path("/abs/m.key")
    assert access.bearer_token_file == tmp_path / "token" and access.basic_auth_user == "prom"
    again = from_dict(tomllib.loads(config_mod.to_toml(cfg)))
    assert again.metrics_access == access
    for bad, why in [
        ({"metrics_tls_cert_file": "m.crt"}, "metrics_tls_cert_file and metrics_tls_key_file go together"),
        ({"metrics_basic_auth_user": "prom"}, "metrics_basic_auth_user and metrics_basic_auth_password_file"),
        ({"metrics_basic_auth_password_file": "pw"}, "metrics_basic_auth_user and metrics_basic_auth_password_file"),
        ({"metrics_basic_auth_user": "a:b", "metrics_basic_auth_password_file": "pw"}, "without ':'"),
        ({"metrics_bearer_token_file": ""}, "expected a file path"),
        ({"metrics_bearer_token_file": 5}, "expected a file path"),
        ({"metrics_bearer_token": "inline"}, "unknown key"),  # secrets in files only
    ]:
        with pytest.raises(ConfigError, match=why):
            from_dict({**BASE, **bad})
    no_metrics = {k: v for k, v in BASE.items() if k != "metrics"}
    with pytest.raises(ConfigError, match="without a metrics address"):
        from_dict({**no_metrics, "metrics_bearer_token_file": "token"})
    with pytest.raises(ConfigError, match="without a metrics address"):
        from_dict({**no_metrics, "metrics": "", "metrics_bearer_token_file": "token"})


def test_credentials(tmp_path):
    (tmp_path / "token").write_text(f"  {TOKEN}\n")
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "empty").write_text(" \n")
    both = Credentials(MetricsAccess(None, None, tmp_path / "token", "prom", tmp_path / "pw"))
    basic = base64.b64encode(f"prom:{PASSWORD}".encode())
    assert both.required and both.challenge == 'Bearer realm="replicator", Basic realm="replicator"'
    assert both.allow(b"Bearer " + TOKEN.encode()) and both.allow(b"bearer  " + TOKEN.encode())
    assert both.allow(b"Basic " + basic)
    for refused in (
        None,
        b"",
        b"Bearer",
        b"Bearer " + TOKEN.encode() + b"x",
        b"Bearer " + basic,
        b"Basic " + base64.b64encode(f"other:{PASSWORD}".encode()),
        b"Basic !!!not-base64",
        b"Digest " + TOKEN.encode(),
        TOKEN.encode(),
    ):
        assert not both.allow(refused), refused
    only_token = Credentials(MetricsAccess(bearer_token_file=tmp_path / "token"))
    assert not only_token.allow(b"Basic " + basic) and only_token.challenge == 'Bearer realm="replicator"'
    assert Credentials(MetricsAccess()).allow(None) and not Credentials(MetricsAccess()).required
    with pytest.raises(MetricsAccessError, match="metrics_bearer_token_file .*missing: no such file"):
        Credentials(MetricsAccess(bearer_token_file=tmp_path / "missing"))
    with pytest.raises(MetricsAccessError, match="metrics_basic_auth_password_file .*empty: the file is empty"):
        Credentials(MetricsAccess(basic_auth_user="prom", basic_auth_password_file=tmp_path / "empty"))


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """One real node whose /metrics speaks HTTPS only and wants the token or basic auth."""
    root = tmp_path_factory.mktemp("metrics-access")
    ca = make_ca("metrics test CA")
    write_issued(ca, root / "ca.crt", root / "ca.key")
    write_issued(make_cert(ca, "metrics"), root / "m.crt", root / "m.key")
    (root / "token").write_text(TOKEN + "\n")
    (root / "pw").write_text(PASSWORD + "\n")
    access = MetricsAccess(root / "m.crt", root / "m.key", root / "token", "prom", root / "pw")
    cluster = ProcessCluster(root, nodes=1, cluster_id="secured")
    (port,) = free_ports(1)
    cfg = replace(cluster.configs[1], metrics=("127.0.0.1", port), metrics_access=access)
    cluster.configs[1] = cfg
    cluster.config_paths[1].write_text(config_mod.to_toml(cfg))
    try:
        cluster.start(1)
        yield cluster, root, port
    finally:
        cluster.close()


def fetch(url: str, context: ssl.SSLContext | None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_https_scrape_needs_the_token_or_basic_auth(secured):
    cluster, root, port = secured
    trusted = ssl.create_default_context(cafile=str(root / "ca.crt"))
    url = f"https://127.0.0.1:{port}/metrics"
    status, headers, body = wait_for(lambda: fetch(url, trusted), 20, "the metrics endpoint")
    assert status == 401 and body == b"unauthorized\n"
    assert headers["WWW-Authenticate"] == 'Bearer realm="replicator", Basic realm="replicator"'
    assert fetch(url, trusted, {"Authorization": "Bearer wrong"})[0] == 401
    assert fetch(f"https://127.0.0.1:{port}/other", trusted)[0] == 401  # nothing is answered before auth
    status, _, body = fetch(url, trusted, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and b"replicator_commit_index{" in body
    basic = base64.b64encode(f"prom:{PASSWORD}".encode()).decode()
    status, _, body = fetch(url, trusted, {"Authorization": f"Basic {basic}"})
    assert status == 200 and b"replicator_node_info{" in body
    # a client that does not trust the certificate, and plain HTTP, get nothing
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch(url, ssl.create_default_context(), {"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        fetch(f"http://127.0.0.1:{port}/metrics", None, {"Authorization": f"Bearer {TOKEN}"})
    log = (root / "n1.log").read_text()
    assert f"metrics on https://127.0.0.1:{port}/metrics" in log
    assert TOKEN not in log and PASSWORD not in log


def test_node_refuses_to_start_with_a_missing_token_file(tmp_path):
    cluster = ProcessCluster(tmp_path, nodes=1)
    (port,) = free_ports(1)
    access = MetricsAccess(bearer_token_file=tmp_path / "no-such-token")
    cfg = replace(cluster.configs[1], metrics=("127.0.0.1", port), metrics_access=access)
    cluster.config_paths[1].write_text(config_mod.to_toml(cfg))
    run = subprocess.run(
        [sys.executable, "-m", "replicator", "serve", "--config", str(cluster.config_paths[1])],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert run.returncode != 0
    assert f"metrics_bearer_token_file {tmp_path / 'no-such-token'}: no such file" in run.stderr


def test_prometheus_scrapes_with_tls_and_credentials(secured, tmp_path):
    """Prometheus' own tls_config, authorization (credentials_file) and basic_auth (password_file)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus; tests/run.sh does it)")
    cluster, root, port = secured
    (listen,) = free_ports(1)
    target = {"static_configs": [{"targets": [f"127.0.0.1:{port}"]}], "scheme": "https"}
    tls = {"tls_config": {"ca_file": str(root / "ca.crt")}}
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {"job_name": "token", **target, **tls, "authorization": {"credentials_file": str(root / "token")}},
            {
                "job_name": "basic",
                **target,
                **tls,
                "basic_auth": {"username": "prom", "password_file": str(root / "pw")},
            },
            {"job_name": "anonymous", **target, **tls},
        ],
    }
    config_path = tmp_path / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{listen}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def targets():
            url = f"http://127.0.0.1:{listen}/api/v1/targets"
            with urllib.request.urlopen(url, timeout=5) as resp:
                active = json.loads(resp.read())["data"]["activeTargets"]
            health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in active}
            return health if all(h != "unknown" for h, _ in health.values()) and len(health) == 3 else None

        health = wait_for(lambda: proc.poll() is None and targets(), 30, "prometheus to scrape every job")
        assert health["token"] == ("up", "") and health["basic"] == ("up", ""), health
        assert health["anonymous"][0] == "down" and "401" in health["anonymous"][1], health
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_shipped_prometheus_config_shows_the_names_prometheus_takes():
    """The commented example in deploy/prometheus/prometheus.yml uses the keys the live test above
    gives a real Prometheus."""
    lines = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "# scheme: https" in line)
    example = []
    for line in lines[start:]:
        if not line.strip().startswith("#"):
            break
        example.append(line.strip()[2:].split(" #")[0])
    shown = yaml.safe_load("\n".join(example))
    assert shown["scheme"] == "https" and set(shown["tls_config"]) == {"ca_file"}
    assert set(shown["authorization"]) == {"credentials_file"}
    assert set(shown["basic_auth"]) == {"username", "password_file"}


def test_tls_context_reloads_from_its_files(tmp_path):
    """SIGHUP rereads the metrics certificate as the RESP port's (process.py reloads both)."""
    from replicator.metrics_access import ssl_context

    ca = make_ca("reload CA")
    write_issued(make_cert(ca, "first"), tmp_path / "m.crt", tmp_path / "m.key")
    access = MetricsAccess(tmp_path / "m.crt", tmp_path / "m.key")
    tls = ssl_context(access, 9100)
    first = tls.context
    write_issued(make_cert(ca, "second"), tmp_path / "n.crt", tmp_path / "n.key")
    (tmp_path / "m.crt").write_bytes((tmp_path / "n.crt").read_bytes())  # a renewal half done: key not yet
    with pytest.raises(Exception, match="not a matching PEM certificate and private key"):
        tls.reload()
    assert tls.context is first
    (tmp_path / "m.key").write_bytes((tmp_path / "n.key").read_bytes())
    tls.reload()
    assert tls.context is not first
    with pytest.raises(MetricsAccessError, match="^metrics_tls_cert_file .*nope.crt: no such file"):
        ssl_context(replace(access, tls_cert_file=tmp_path / "nope.crt"), 9100)
