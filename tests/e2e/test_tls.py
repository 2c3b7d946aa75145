"""TLS with real node processes: `replicator cluster --tls` as a user runs it, and a node's
certificate renewed on disk and reloaded by SIGHUP without a restart."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from replicator import config as config_mod
from replicator.certs import make_ca, make_cert, make_node_cert, write_cluster_tls, write_issued
from replicator.tls import TlsSettings
from tests.e2e.harness import ProcessCluster, cluster_port_block, free_ports, wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def tls_redis(port: int, ca: Path, **kw) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        ssl=True,
        ssl_ca_certs=str(ca),
        socket_timeout=15,
        retry=Retry(NoBackoff(), 0),
        **kw,
    )


def served_certificate(port: int, ca: Path) -> bytes:
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_cluster_tls_quick_start(tmp_path: Path):
    """The README's line works as printed: `redis-cli --tls --cacert data/tls/ca.crt -p PORT`;
    the CA and node certificates are under data/tls with private keys 0600; the RESP ports speak
    TLS only (a plain client gets nothing)."""
    base = cluster_port_block(3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's packages, from tmp_path as working directory
    cmd = [sys.executable, "-m", "replicator", "cluster", "--tls", "--port", str(base), "--data-dir", "data"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = ""
        while "ready." not in out:
            line = proc.stdout.readline()
            assert line, f"cluster exited ({proc.poll()}): {out}"
            out += line
        printed = out.split("connect with:", 1)[1].splitlines()[0].strip()
        assert printed == f"redis-cli --tls --cacert data/tls/ca.crt -p {base}", out
        tls_dir = tmp_path / "data" / "tls"
        for name in ("ca.key", "node1.key", "node2.key", "node3.key"):
            assert stat.S_IMODE((tls_dir / name).stat().st_mode) == 0o600, name
        for i in (1, 2, 3):
            cfg = config_mod.load(tmp_path / "data" / f"n{i}.toml")
            assert cfg.tls.port == cfg.resp[1] and cfg.tls.ca_cert_file == tls_dir / "ca.crt" and cfg.tls.cluster

        def cli(*args: str) -> str:
            done = subprocess.run(
                [*shlex.split(printed), *args], cwd=tmp_path, capture_output=True, text=True, timeout=30
            )
            return (done.stdout + done.stderr).strip()

        assert cli("PING") == "PONG"
        status = subprocess.run(
            [sys.executable, "-m", "replicator", "status", "--port", str(base), "--tls", "--cacert", "data/tls/ca.crt"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0 and status.stdout.count("127.0.0.1:") == 3, status.stdout + status.stderr
        listing = subprocess.run(
            [
                sys.executable,
                "-m",
                "replicator",
                "member",
                "list",
                "--port",
                str(base),
                "--tls",
                "--cacert",
                "data/tls/ca.crt",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listing.returncode == 0 and listing.stdout.count("voter") == 3, listing.stdout + listing.stderr
        backup = subprocess.run(
            [
                sys.executable,
                "-m",
                "replicator",
                "backup",
                "b.rbk",
                "--port",
                str(base + 1),
                "--tls",
                "--cacert",
                "data/tls/ca.crt",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert backup.returncode == 0 and (tmp_path / "b.rbk").stat().st_size > 0, backup.stdout + backup.stderr
        wait_for(lambda: cli("SET", "greeting", "hello") == "OK", what="SET over TLS")
        ca = tls_dir / "ca.crt"
        wait_for(lambda: tls_redis(base + 2, ca).get("greeting") == b"hello", what="the write on node 3")
        with pytest.raises(redis.ConnectionError):
            redis.Redis(port=base + 1, socket_timeout=5, retry=Retry(NoBackoff(), 0)).ping()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
    assert proc.returncode == 0 and "all nodes stopped" in rest, rest


def test_sighup_reloads_a_renewed_certificate(tmp_path: Path):
    """Rotation without a restart: the files are replaced, SIGHUP, new connections get the new
    certificate while an open one keeps working; a botched renewal (a key that does not match)
    is refused with a log line and the node keeps serving the certificate it had."""
    ca = make_ca("e2e CA")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.cert_pem)
    cert, key = tmp_path / "node.crt", tmp_path / "node.key"
    write_issued(make_cert(ca, "first"), cert, key)
    cluster = ProcessCluster(tmp_path / "c", nodes=1)
    (tls_port,) = free_ports(1)
    settings = TlsSettings(port=tls_port, cert_file=cert, key_file=key, ca_cert_file=ca_file, auth_clients="no")
    cluster.configs[1] = replace(cluster.configs[1], tls=settings)
    cluster.config_paths[1].write_text(config_mod.to_toml(cluster.configs[1]))
    try:
        cluster.start_all()
        client = tls_redis(tls_port, ca_file)
        wait_for(lambda: client.set("k", "v"), what="a write over TLS")
        assert cluster.client(1).get("k") == b"v"  # the plain port beside it
        first = served_certificate(tls_port, ca_file)

        write_issued(make_cert(ca, "second"), cert, key)
        cluster.procs[1].send_signal(signal.SIGHUP)
        wait_for(lambda: served_certificate(tls_port, ca_file) != first, what="the renewed certificate")
        assert client.get("k") == b"v"  # the connection opened before lives on
        second = served_certificate(tls_port, ca_file)

        write_issued(make_cert(ca, "third"), cert, tmp_path / "other.key")  # cert renewed, key not
        cluster.procs[1].send_signal(signal.SIGHUP)
        wait_for(lambda: "TLS certificates not reloaded" in cluster.log_tail(1), what="the refusal logged")
        assert served_certificate(tls_port, ca_file) == second
        assert tls_redis(tls_port, ca_file).get("k") == b"v"
        assert "PRIVATE KEY" not in (cluster.root / "n1.log").read_text()
    finally:
        cluster.close()


def test_peers_over_mutual_tls(tmp_path: Path):
    """tls_cluster on real nodes: writes sent to a follower are forwarded to the leader and
    replicated over TLS; a node started late catches up by snapshot (the log is compacted
    meanwhile) over TLS; a node restarted with a certificate that names another member is
    refused by the others with one clear line, and gets nothing."""
    ca = make_ca("e2e cluster CA")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.cert_pem)
    cluster = ProcessCluster(tmp_path / "c", nodes=3, snapshot_entries=50, keep_entries=10)

    def use_certificate(node_id: int, names: int) -> None:
        cert, key = tmp_path / f"n{node_id}.crt", tmp_path / f"n{node_id}.key"
        write_issued(make_node_cert(ca, names), cert, key)
        tls = TlsSettings(cert_file=cert, key_file=key, ca_cert_file=ca_file, cluster=True)
        cluster.configs[node_id] = replace(cluster.configs[node_id], tls=tls)
        cluster.config_paths[node_id].write_text(config_mod.to_toml(cluster.configs[node_id]))

    for node_id in (1, 2, 3):
        use_certificate(node_id, node_id)
    try:
        cluster.start(1)
        cluster.start(2)
        leader = cluster.leader()
        follower = ({1, 2} - {leader}).pop()
        client = cluster.steady_client(follower)  # forwarded to the leader, over TLS
        for i in range(300):
            assert client.set(f"k{i}", i)
        cluster.start(3)  # behind the compacted log: a snapshot, over TLS
        wait_for(lambda: cluster.steady_client(3).get("k299") == b"299", what="node 3 caught up")
        assert cluster.steady_client(3).get("k0") == b"0"
        assert "snapshot installed" in (cluster.root / "n3.log").read_text()
        for node_id in (1, 2, 3):
            assert "refusing peer connection" not in (cluster.root / f"n{node_id}.log").read_text()

        cluster.kill(3)
        use_certificate(3, 2)  # a valid certificate of the cluster's CA, for node 2
        cluster.start(3)
        line = "TLS: claims to be node 3 but its certificate names node 2"
        wait_for(lambda: line in cluster.log_tail(leader, 200), what="the refusal logged")
        assert client.set("after", "1")
        applied = int(cluster.info(3)["applied_index"])
        assert int(cluster.info(leader)["commit_index"]) > applied  # node 3 got nothing new
    finally:
        cluster.close()


def test_member_add_issues_the_new_members_certificate(tmp_path: Path):
    """On a tls_cluster made with the local CA's layout (ca.key beside ca.crt), `replicator member
    add` issues the new member a certificate naming it, and the new member links and catches up."""
    tls_dir = tmp_path / "tls"
    issued = write_cluster_tls(tls_dir, [1, 2, 3])
    cluster = ProcessCluster(tmp_path / "c", nodes=3)
    for node_id, (cert, key) in issued.items():
        tls = TlsSettings(cert_file=cert, key_file=key, ca_cert_file=tls_dir / "ca.crt", cluster=True)
        cluster.configs[node_id] = replace(cluster.configs[node_id], tls=tls)
        cluster.config_paths[node_id].write_text(config_mod.to_toml(cluster.configs[node_id]))
    try:
        cluster.start_all()
        cluster.leader()
        assert cluster.steady_client(1).set("before", "1")
        resp, peer = free_ports(2)
        path = cluster.root / "n4.toml"
        cmd = [sys.executable, "-m", "replicator", "member", "add", "--port", str(cluster.port(2)), "--id", "4"]
        cmd += ["--peer", f"127.0.0.1:{peer}", "--resp", f"127.0.0.1:{resp}", "--write-config", str(path)]
        cmd += ["--from-config", str(cluster.config_paths[1])]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's packages, from another working directory
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, cwd=cluster.root, env=env)
        assert done.returncode == 0, done.stderr
        cfg = config_mod.load(path)
        assert cfg.tls.cert_file == tls_dir / "node4.crt" and cfg.tls.cluster
        assert stat.S_IMODE((tls_dir / "node4.key").stat().st_mode) == 0o600
        cluster.adopt(4, path)
        cluster.start(4)
        wait_for(lambda: cluster.steady_client(4).get("before") == b"1", what="node 4 caught up over TLS")
        assert "refusing peer connection" not in cluster.log_tail(1, 500)
    finally:
        cluster.close()
