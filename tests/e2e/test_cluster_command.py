"""`replicator cluster` run as a user runs it: --machines starts the plugins on every node
(written into each generated config), an unknown name is refused with the installed ones,
and a restart with other machines than the existing configs' is refused, not ignored."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from replicator import config as config_mod
from tests.e2e.harness import cluster_port_block, wait_for

pytestmark = pytest.mark.e2e


def cli(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "replicator", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def test_machines_are_written_into_every_config_and_served(tmp_path: Path):
    base = cluster_port_block(3)
    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "replicator", "cluster", "--port", str(base), "--data-dir", str(data)]
    proc = subprocess.Popen(
        [*cmd, "--machines", "kv,znodes,locks"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out = ""
        while "ready." not in out:
            line = proc.stdout.readline()
            assert line, f"cluster exited ({proc.poll()}): {out}"
            out += line
        assert "machines: kv, znodes, locks" in out, out
        for i in (1, 2, 3):
            assert config_mod.load(data / f"n{i}.toml").machines == ("kv", "znodes", "locks")

        def answers(port: int, *command):
            try:
                return redis.Redis(port=port, socket_timeout=10).execute_command(*command)
            except (redis.exceptions.TryAgainError, redis.exceptions.ClusterDownError):
                return None  # no leader yet, or it changed: ask again
            except redis.exceptions.ResponseError as exc:
                return str(exc).encode()

        # A retry after "outcome unknown" (a leader change under load) may find the first try applied.
        created = wait_for(lambda: answers(base + 1, "ZK.CREATE", "/app", "hello"), what="ZK.CREATE")
        assert created in (b"/app", b"NODEEXISTS /app"), created
        assert wait_for(lambda: answers(base + 2, "LOCK.ACQUIRE", "jobs", "w1", "60000"), what="LOCK.ACQUIRE") > 0
        assert wait_for(lambda: answers(base, "SET", "k", "v"), what="SET") is True
        for port in (base, base + 1, base + 2):
            assert wait_for(lambda port=port: answers(port, "ZK.GET", "/app"), what="ZK.GET") == b"hello"

        # The running cluster's ports are taken; but the machines are checked first, and a
        # restart asking for other machines than the configs' is refused, naming both.
        again = cli("cluster", "--port", base, "--data-dir", data, "--machines", "kv")
        assert again.returncode == 2, again
        assert "running the machines kv,znodes,locks, not kv" in again.stderr, again.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
    assert proc.returncode == 0 and "all nodes stopped" in rest, rest
    for port in (base, base + 1, base + 2):  # every node process is gone
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0


def test_an_unknown_machine_is_refused_with_the_installed_ones(tmp_path: Path):
    out = cli("cluster", "--data-dir", tmp_path / "data", "--machines", "kv,nosuch")
    assert out.returncode == 2
    assert "no state machine named 'nosuch' is installed (installed: " in out.stderr, out.stderr
    assert "kv" in out.stderr.split("installed: ")[1] and "znodes" in out.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was written


def test_a_restart_with_other_machines_is_refused_before_anything_starts(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    from replicator.cli import cluster_configs

    for cfg in cluster_configs(3, "raft", cluster_port_block(3), data, True, ("kv", "locks")):
        (data / f"n{cfg.node_id}.toml").write_text(config_mod.to_toml(cfg))
    started = time.monotonic()
    out = cli("cluster", "--data-dir", data, "--machines", "kv,znodes")
    assert out.returncode == 2 and time.monotonic() - started < 30
    assert "running the machines kv,locks, not kv,znodes" in out.stderr, out.stderr
    assert not list(data.glob("n*.log"))  # no node was started
