"""Secrets: a real node's requirepass, cluster secret and metrics token never reach its log, INFO,
CLIENT LIST or /metrics; failed authentications are counted in replicator_resp_auth_failures_total;
CONFIG GET requirepass answers what redis-server 7.0 answers (binary safe); config files the
project writes are 0600 even over an existing wider file."""

from __future__ import annotations

import os
import stat
import sys
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from harness import ProcessCluster, free_ports, wait_for

from replicator import config as config_mod
from replicator.convert import set_config_protocol
from replicator.member_cli import _write_private
from replicator.metrics_access import MetricsAccess

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "frontends"))
from resp_helpers import RawClient, real_redis  # noqa: E402

PASSWORD = "Pw-never-shown-4711"
TOKEN = "Metrics-token-never-shown-0815"
BINARY_PASSWORD = b'bin\xff\x00pass "quoted"'


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    root = tmp_path_factory.mktemp("secrets")
    (root / "token").write_text(TOKEN + "\n")
    cluster = ProcessCluster(root, nodes=1, cluster_id="secrets", requirepass=PASSWORD)
    (port,) = free_ports(1)
    cfg = replace(
        cluster.configs[1], metrics=("127.0.0.1", port), metrics_access=MetricsAccess(bearer_token_file=root / "token")
    )
    cluster.configs[1] = cfg
    cluster.config_paths[1].write_text(config_mod.to_toml(cfg))
    try:
        cluster.start(1)
        yield cluster, root, cfg
    finally:
        cluster.close()


def scrape(port: int) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return resp.read().decode()


def auth_failures(text: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith("replicator_resp_auth_failures_total{")]
    assert len(lines) == 1, lines
    return float(lines[0].rsplit(" ", 1)[1])


def test_secrets_are_not_shown_and_failed_auth_is_counted(node):
    cluster, root, cfg = node
    port = cfg.resp[1]
    metrics_port = cfg.metrics[1]
    before = auth_failures(wait_for(lambda: scrape(metrics_port), 20, "metrics"))
    with RawClient(port) as client:
        assert client.command("AUTH", "wrong").startswith(b"-WRONGPASS")
        assert client.command("AUTH", "default", "wrong").startswith(b"-WRONGPASS")
        assert client.command("HELLO", "3", "AUTH", "default", "wrong").startswith(b"-WRONGPASS")
        assert client.command("AUTH", "nobody", PASSWORD).startswith(b"-WRONGPASS")
        assert client.command("AUTH", "a", "b", "c").startswith(b"-ERR syntax error")  # not an attempt
        assert client.command("AUTH", PASSWORD) == b"+OK\r\n"
        info = client.command("INFO", "everything")
        clients = client.command("CLIENT", "LIST")
        config = client.command("CONFIG", "GET", "*")
    after = scrape(metrics_port)
    assert auth_failures(after) == before + 4
    secrets = [PASSWORD, TOKEN, cfg.cluster_secret]
    assert all(secret for secret in secrets)
    log = (root / "n1.log").read_text()
    for secret in secrets:
        assert secret not in log, "a secret in the node's log"
        assert secret.encode() not in info and secret.encode() not in clients, "a secret in INFO or CLIENT LIST"
        assert secret not in after, "a secret in /metrics"
    # CONFIG GET shows requirepass, as Redis does (the CONFIG command is admin: for those who may set it),
    # and nothing else that is secret
    assert PASSWORD.encode() in config
    assert TOKEN.encode() not in config and cfg.cluster_secret.encode() not in config


def test_config_get_requirepass_is_what_redis_answers(node):
    """A binary password set with CONFIG SET comes back byte for byte, as from redis-server 7.0."""
    cluster, root, cfg = node
    script = [
        ("CONFIG", "GET", "requirepass"),
        ("CONFIG", "SET", "requirepass", BINARY_PASSWORD),
        ("CONFIG", "GET", "requirepass"),
        ("CONFIG", "GET", "REQUIREPASS"),  # (a glob's order is Redis' dict order, which varies per process)
        ("AUTH", BINARY_PASSWORD),
        ("CONFIG", "SET", "requirepass", PASSWORD),
        ("CONFIG", "GET", "requirepass"),
    ]

    def run(port: int) -> list[bytes]:
        with RawClient(port) as client:
            client.command("AUTH", PASSWORD)
            return [client.command(*args) for args in script]

    with real_redis("--requirepass", PASSWORD) as oracle:
        if oracle is None:
            pytest.skip("redis-server is not installed")
        want = run(oracle)
    got = run(cfg.resp[1])
    for args, w, g in zip(script, want, got, strict=True):
        assert g == w, f"{args}: redis {w!r}, replicator {g!r}"


def test_member_config_is_private_even_over_a_wider_file(tmp_path):
    path = tmp_path / "n4.toml"
    path.write_text("old")
    os.chmod(path, 0o644)
    _write_private(path, f'requirepass = "{PASSWORD}"\n')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and PASSWORD in path.read_text()


def test_converted_config_is_never_readable_by_others(tmp_path, monkeypatch):
    """protocol conversion rewrites the config through a temporary file: 0600 from its first byte."""
    path = tmp_path / "n1.toml"
    path.write_text(
        f'node_id = 1\nprotocol = "raft"\ndata_dir = "n1"\nresp = "127.0.0.1:7001"\npeer = "127.0.0.1:7101"\n'
        f'requirepass = "{PASSWORD}"\n\n[[members]]\nid = 1\npeer = "127.0.0.1:7101"\nresp = "127.0.0.1:7001"\n'
    )
    os.chmod(path, 0o600)
    tmp = tmp_path / ".n1.toml.converting"
    tmp.write_text("a leftover")
    os.chmod(tmp, 0o644)
    modes = []
    import shutil

    real_copymode = shutil.copymode

    def copymode(src, dst, **kw):
        modes.append(stat.S_IMODE(os.stat(dst).st_mode))  # the secret is in it already
        return real_copymode(src, dst, **kw)

    monkeypatch.setattr(shutil, "copymode", copymode)
    assert "now says" in set_config_protocol(path, "zab")
    assert modes == [0o600] and stat.S_IMODE(path.stat().st_mode) == 0o600
