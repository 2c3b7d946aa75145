"""The cluster secret from the command line: `replicator secret`, `serve` refusing to start
without one (or warning when insecure_peers allows it), and `cluster` giving its configs one."""

from __future__ import annotations

import dataclasses
import stat
import subprocess
import sys
import time

from replicator import cli
from replicator import config as config_mod
from tests.e2e.harness import ProcessCluster


def run_cli(*args: str, timeout_s: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "replicator", *args], capture_output=True, text=True, timeout=timeout_s
    )


def test_secret_prints_or_writes_a_private_file_and_never_overwrites(tmp_path):
    printed = run_cli("secret")
    assert printed.returncode == 0 and len(printed.stdout.strip()) >= config_mod.MIN_SECRET_CHARS
    path = tmp_path / "cluster.secret"
    assert run_cli("secret", "--file", str(path)).returncode == 0
    first = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and first.strip() != printed.stdout.strip()
    again = run_cli("secret", "--file", str(path))
    assert again.returncode == 0 and "already exists" in again.stdout and path.read_text() == first
    missing_dir = run_cli("secret", "--file", str(tmp_path / "no" / "such" / "dir"))
    assert (
        missing_dir.returncode == 2 and "cannot write" in missing_dir.stderr and "Traceback" not in missing_dir.stderr
    )


def test_serve_without_a_secret_refuses_to_start_before_touching_its_data(tmp_path):
    cluster = ProcessCluster(tmp_path, cluster_secret="")
    cluster.with_settings(cluster_secret="")
    out = run_cli("serve", "--config", str(cluster.config_paths[1]))
    assert out.returncode == 2, out.stderr
    assert "no cluster secret" in out.stderr and "insecure_peers = true" in out.stderr
    assert "Traceback" not in out.stderr
    assert not cluster.configs[1].data_dir.exists()


def test_serve_with_insecure_peers_says_so_at_start_up(tmp_path):
    cluster = ProcessCluster(tmp_path, insecure_peers=True)
    try:
        cluster.start(1)
        log = tmp_path / "n1.log"
        deadline = time.monotonic() + 20
        while "PEER AUTHENTICATION IS OFF" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "PEER AUTHENTICATION IS OFF" in log.read_text()
    finally:
        cluster.close()


def test_cluster_configs_written_before_peer_authentication_get_one_secret(tmp_path):
    paths = []
    for cfg in cli.cluster_configs(3, "raft", 7001, tmp_path, fsync=True):
        path = tmp_path / f"n{cfg.node_id}.toml"
        path.write_text(config_mod.to_toml(dataclasses.replace(cfg, cluster_secret="")))
        paths.append(path)
    cli._add_missing_secret(paths)
    loaded = [config_mod.load(p) for p in paths]
    assert len({cfg.cluster_secret for cfg in loaded}) == 1
    assert all(config_mod.peer_secret(cfg) for cfg in loaded)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
    before = [p.read_text() for p in paths]
    cli._add_missing_secret(paths)  # a config that has one keeps it
    assert [p.read_text() for p in paths] == before
