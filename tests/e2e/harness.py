"""Real node processes on free 127.0.0.1 ports, for end-to-end tests.

Each node runs `python -m replicator serve --config nK.toml` as its own OS
process with its own LMDB directory under the test's tmp_path. Every process a
test starts is stopped by `ProcessCluster.close()` (the fixture calls it).
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ClusterDownError, TryAgainError
from redis.retry import Retry

from replicator import config as config_mod
from replicator.config import Config, Member, generate_secret
from replicator.runtime.client import info_section


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def cluster_port_block(nodes: int) -> int:
    """A RESP port P such that P+i, P+100+i and P+200+i (the ports `cluster` uses) are free.
    Below Linux's ephemeral range (32768 and up): a port there can be taken by any outgoing
    connection between this check and the nodes' bind (seen once: "Address already in use")."""
    for _ in range(200):
        base = random.randrange(10000, 32768 - 200 - nodes)
        ports = [base + offset + i for offset in (0, 100, 200) for i in range(nodes)]
        socks = []
        try:
            for port in ports:
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free port range")


def rss_bytes(pid: int) -> int:
    """A process's resident memory, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def wait_for(predicate, timeout_s: float = 20.0, what: str = "condition", interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, redis.RedisError) as exc:
            last_exc = exc
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last error: {last_exc})")


def closed_by_node(sock: socket.socket, timeout_s: float = 10.0) -> bytes:
    """Read until the node closes the connection (a FIN or a reset); what it sent before."""
    sock.settimeout(timeout_s)
    received = b""
    try:
        while chunk := sock.recv(1 << 16):
            received += chunk
    except ConnectionResetError:
        pass
    return received


class ProcessCluster:
    def __init__(self, root: Path, nodes: int = 3, protocol: str = "raft", observers: int = 0, **settings) -> None:
        """`nodes` members, the last `observers` of them non-voting observers."""
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        ports = free_ports(2 * nodes)
        members = tuple(
            Member(
                id=i + 1,
                peer=("127.0.0.1", ports[nodes + i]),
                resp=("127.0.0.1", ports[i]),
                role="observer" if i >= nodes - observers else "voter",
            )
            for i in range(nodes)
        )
        base = dict(tick_ms=20, election_ticks=10, protocol=protocol)
        if not {"cluster_secret", "cluster_secret_file", "insecure_peers"} & set(settings):
            base["cluster_secret"] = generate_secret()  # one per cluster, as `replicator cluster` does
        base.update(settings)
        self.configs = {
            m.id: Config(node_id=m.id, members=members, data_dir=root / f"n{m.id}", resp=m.resp, peer=m.peer, **base)
            for m in members
        }
        self.procs: dict[int, subprocess.Popen] = {}
        self.config_paths: dict[int, Path] = {}
        for node_id, cfg in self.configs.items():
            path = root / f"n{node_id}.toml"
            path.write_text(config_mod.to_toml(cfg))
            self.config_paths[node_id] = path

    @classmethod
    def existing(cls, root: Path, protocol: str | None = None) -> ProcessCluster:
        """The cluster whose config files (nK.toml) are already in `root`, with their
        ports and data dirs as they are, e.g. to start it again after its nodes'
        configs were edited; `protocol`, if given, must be what every file says."""
        self = cls.__new__(cls)
        self.root = root
        self.config_paths = {int(p.stem[1:]): p for p in sorted(root.glob("n*.toml")) if p.stem[1:].isdigit()}
        assert self.config_paths, f"no node config files in {root}"
        self.configs = {node_id: config_mod.load(path) for node_id, path in self.config_paths.items()}
        if protocol is not None:
            found = {node_id: cfg.protocol for node_id, cfg in self.configs.items()}
            assert set(found.values()) == {protocol}, f"config protocols {found}, expected {protocol}"
        self.procs = {}
        return self

    def adopt(self, node_id: int, path: Path) -> None:
        """A member added while the cluster runs (`replicator member add --write-config path`)."""
        self.config_paths[node_id] = path
        self.configs[node_id] = config_mod.load(path)

    # --- processes -------------------------------------------------------------------
    def start(self, node_id: int) -> None:
        assert node_id not in self.procs or self.procs[node_id].poll() is not None
        log = open(self.root / f"n{node_id}.log", "ab")
        cmd = [sys.executable, "-m", "replicator", "serve", "--config", str(self.config_paths[node_id])]
        self.procs[node_id] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self._listening(node_id), what=f"node {node_id} to listen")

    def start_all(self) -> None:
        for node_id in self.configs:
            self.start(node_id)

    def kill(self, node_id: int, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[node_id]
        proc.send_signal(sig)
        proc.wait(timeout=20)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def alive(self) -> list[int]:
        return [i for i, p in self.procs.items() if p.poll() is None]

    def _listening(self, node_id: int) -> bool:
        proc = self.procs[node_id]
        if proc.poll() is not None:
            raise AssertionError(f"node {node_id} exited with {proc.returncode}: {self.log_tail(node_id)}")
        with socket.socket() as s:
            return s.connect_ex(self.configs[node_id].resp) == 0

    def log_tail(self, node_id: int, lines: int = 30) -> str:
        path = self.root / f"n{node_id}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # --- clients -----------------------------------------------------------------------
    def port(self, node_id: int) -> int:
        return self.configs[node_id].resp[1]

    def client(self, node_id: int, **kwargs) -> redis.Redis:
        """A redis-py client that fails at once (redis-py would retry a refused connection
        for seconds, which hides how quickly the cluster itself recovers)."""
        return redis.Redis(
            host="127.0.0.1", port=self.port(node_id), socket_timeout=15, retry=Retry(NoBackoff(), 0), **kwargs
        )

    def steady_client(self, node_id: int, **kwargs) -> redis.Redis:
        """A redis-py client for tests that are not about leader changes: it sends a command
        again when the node says it may (TRYAGAIN: a leader changed before answering, or
        CLUSTERDOWN: none yet), and when a connection drops, for about 30 s. Only for
        commands that may be applied twice with the same effect (SET, GET, DEL...), since
        "outcome unknown" means the first attempt may have been applied."""
        retry = Retry(
            ExponentialBackoff(cap=1.0, base=0.05),
            60,
            supported_errors=(TryAgainError, ClusterDownError, redis.ConnectionError, redis.TimeoutError),
        )
        return redis.Redis(host="127.0.0.1", port=self.port(node_id), socket_timeout=15, retry=retry, **kwargs)

    def info(self, node_id: int) -> dict[str, str]:
        """INFO consensus: node_id, consensus_role, leader_id, term, commit_index, applied_index, ..."""
        return info_section("127.0.0.1", self.port(node_id), "consensus")

    def leader(self, timeout_s: float = 20.0) -> int:
        """The node every live node agrees leads, once there is one."""

        def agreed():
            infos = {i: self.info(i) for i in self.alive()}
            leaders = {info.get("leader_id") for info in infos.values()}
            ids = [i for i, info in infos.items() if info.get("consensus_role") == "leader"]
            leaders.discard(None)
            if len(ids) == 1 and leaders == {str(ids[0])}:
                return ids[0]
            return None

        return wait_for(agreed, timeout_s, "an agreed leader")

    def with_settings(self, **settings) -> None:
        """Rewrite every config file (takes effect at each node's next start)."""
        for node_id, cfg in self.configs.items():
            self.configs[node_id] = replace(cfg, **settings)
            self.config_paths[node_id].write_text(config_mod.to_toml(self.configs[node_id]))
