"""A node's configuration: one TOML file, parsed and validated once.

Example (what `replicator cluster` writes for node 1 of 3):

    cluster_id = "local"
    node_id = 1
    protocol = "raft"
    data_dir = "data/n1"
    resp = "127.0.0.1:7001"
    peer = "127.0.0.1:7101"
    metrics = "127.0.0.1:7201"
    tick_ms = 50
    election_ticks = 20
    heartbeat_ticks = 1
    fsync = true
    max_entry_bytes = 16777216      # largest client command (one log entry): 16 MiB
    read_consistency = "linearizable"
    lease_reads = false             # true on every member: a leader may serve "lease" reads from its lease
    write_mode = "forward"          # or "redirect" (-MOVED to the leader)
    requirepass = ""                # optional: clients must AUTH with it
    aclfile = "users.acl"           # optional: Redis ACL users (ACL LOAD/SAVE; seeds a new cluster)
    cluster_secret = "..."          # peers prove it in the handshake (or cluster_secret_file = "path")

    [[members]]
    id = 1
    peer = "127.0.0.1:7101"
    resp = "127.0.0.1:7001"
    role = "voter"                  # or "learner" (promoted once caught up) or "observer"

Every error names the file and the key, so a typo never starts a wrong node.

Peers authenticate each other with a shared cluster secret (runtime/handshake.py):
`cluster_secret_file` (preferred: the secret stays out of the config, e.g. in a
Kubernetes Secret) or `cluster_secret` inline. A node of a multi-member cluster
without one refuses to start unless `insecure_peers = true` says that anyone who
can reach its peer port may act as a member.
"""

from __future__ import annotations

import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from replicator.codec import MAX_FRAME_BYTES
from replicator.metrics_access import KEYS as METRICS_ACCESS_KEYS
from replicator.metrics_access import MetricsAccess, MetricsAccessError
from replicator.metrics_access import parse as parse_metrics_access
from replicator.metrics_access import toml_lines as metrics_access_toml_lines
from replicator.protocols import PROTOCOLS
from replicator.tls import KEYS as TLS_KEYS
from replicator.tls import TlsError, TlsSettings
from replicator.tls import parse as parse_tls
from replicator.tls import toml_lines as tls_toml_lines
from replicator.types import ClusterMember, Membership
from statemachines import reserved_name

READ_LEVELS = ("linearizable", "lease", "sequential", "stale")
MAX_ENTRY_BYTES = 16 << 20  # default max_entry_bytes
DATABASES_MAX = (1 << 31) - 1  # Redis: a C int (each database is made only when used)
MIN_ENTRY_BYTES = 2 << 20  # a pipeline entry (driver.PIPELINE_ENTRY_BYTES, 1 MiB) must always fit
MAX_ENTRY_BYTES_LIMIT = MAX_FRAME_BYTES // 2
WRITE_MODES = ("forward", "redirect")


MIN_SECRET_CHARS = 16  # a guessable secret could be found offline from one recorded handshake


class ConfigError(ValueError):
    pass


Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    peer: Address
    resp: Address
    role: str = "voter"


@dataclass(frozen=True, slots=True)
class Config:
    node_id: int
    members: tuple[Member, ...]
    data_dir: Path
    resp: Address
    peer: Address
    metrics: Address | None = None
    cluster_id: str = "local"
    protocol: str = "raft"
    tick_ms: int = 50
    # 1-2 s at 50 ms ticks (etcd: 1 s). Shorter timeouts lost leaders on this 2-core
    # machine while million-key snapshots were written (bench/snapshot_catchup.py).
    election_ticks: int = 20
    heartbeat_ticks: int = 1
    fsync: bool = True
    snapshot_entries: int = 100_000  # etcd's --snapshot-count; at 40k writes/s a snapshot every 2.5 s
    keep_entries: int = 5_000  # etcd's catch-up entries
    read_consistency: str = "linearizable"
    # Lease reads allowed (cluster-wide: every member must say so, because a follower that
    # answered a leader's heartbeat then refuses to help elect another within the lease).
    lease_reads: bool = False
    write_mode: str = "forward"
    request_timeout_ms: int = 10_000
    # The largest command a client may send as one log entry (a write, a whole
    # MULTI/EXEC); bigger ones are refused when they arrive, nothing proposed. It
    # must stay well below the peer frame limit (codec.MAX_FRAME_BYTES): an entry
    # travels whole in one append message. 16 MiB: on the 2-core development machine,
    # loaded, back-to-back 16 MiB SETs held a node's event loop at most ~0.3 s (each
    # copy, encode and decode of an entry holds it); 32 MiB reached 0.7 s and 64 MiB
    # cost elections, with the default 1-2 s election timeout.
    max_entry_bytes: int = MAX_ENTRY_BYTES
    machines: tuple[str, ...] = ("kv",)
    # Redis' `databases`: how many SELECT may choose from, on a machine that has them (kv).
    # Cluster-wide: every member must have the same (MOVE 5 must mean the same everywhere).
    databases: int = 16
    # Redis' aclfile: ACL LOAD / SAVE's file, and the ACL users of a cluster whose users were never
    # set (users are replicated state: frontends/resp/aclfile.py). Relative: to the config file.
    aclfile: Path | None = None
    requirepass: str = ""  # clients must AUTH with it when set (Redis' requirepass)
    # Redis' protected-mode: without a password, a node listening beyond loopback refuses clients
    # from other hosts (frontends/resp/protected.py); CONFIG SET protected-mode changes it per node.
    protected_mode: bool = True
    cluster_secret: str = field(default="", repr=False)  # never printed with the config
    cluster_secret_file: Path | None = None
    insecure_peers: bool = False
    tls: TlsSettings = TlsSettings()  # the tls_* keys (replicator/tls.py)
    # the metrics_* keys: HTTPS and a token or basic auth for /metrics (replicator/metrics_access.py)
    metrics_access: MetricsAccess = MetricsAccess()

    @property
    def voters(self) -> tuple[int, ...]:
        return tuple(m.id for m in self.members if m.role == "voter")

    @property
    def observers(self) -> tuple[int, ...]:
        return tuple(m.id for m in self.members if m.role == "observer")

    def membership(self) -> Membership:
        """The members as a configuration, with their addresses. It bootstraps a new
        cluster only: a node that has a store follows the configuration in it."""
        return Membership(
            tuple(
                ClusterMember(m.id, m.role, format_address(m.peer), format_address(m.resp))
                for m in sorted(self.members, key=lambda m: m.id)
            )
        )

    def member(self, node_id: int) -> Member:
        for m in self.members:
            if m.id == node_id:
                return m
        raise KeyError(node_id)


def address_of(text: str) -> Address | None:
    """`host:port` as an Address; None if it is not one (members' addresses in a replicated
    configuration are strings: every reader goes through here)."""
    host, sep, port = str(text).rpartition(":")
    # ASCII digits only (str.isdigit takes other scripts' too), and few of them (int() of
    # thousands refuses with an exception)
    if not sep or not host or not (port.isascii() and port.isdigit() and len(port) <= 5) or int(port) > 65535:
        return None
    return host, int(port)


def parse_address(text: str, where: str) -> Address:
    address = address_of(text)
    if address is None:
        raise ConfigError(f"{where}: expected host:port, got {text!r}")
    return address


def format_address(addr: Address) -> str:
    return f"{addr[0]}:{addr[1]}"


def load(path: str | Path) -> Config:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return from_dict(raw, str(path), base=path.parent)


_KNOWN = {
    "max_entry_bytes",
    "node_id",
    "members",
    "data_dir",
    "resp",
    "peer",
    "metrics",
    "cluster_id",
    "protocol",
    "tick_ms",
    "election_ticks",
    "heartbeat_ticks",
    "fsync",
    "snapshot_entries",
    "keep_entries",
    "read_consistency",
    "lease_reads",
    "write_mode",
    "request_timeout_ms",
    "machines",
    "databases",
    "aclfile",
    "requirepass",
    "protected_mode",
    "cluster_secret",
    "cluster_secret_file",
    "insecure_peers",
    *TLS_KEYS,
    *METRICS_ACCESS_KEYS,
}


def from_dict(raw: dict, where: str = "config", base: Path | None = None) -> Config:
    unknown = set(raw) - _KNOWN
    if unknown:
        raise ConfigError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}")
    for key in ("node_id", "members", "data_dir", "resp", "peer"):
        if key not in raw:
            raise ConfigError(f"{where}: missing required key '{key}'")
    members = []
    for i, m in enumerate(raw["members"]):
        at = f"{where}: members[{i}]"
        if not isinstance(m, dict) or "id" not in m or "peer" not in m or "resp" not in m:
            raise ConfigError(f"{at}: needs id, peer and resp")
        role = m.get("role", "voter")
        if role not in ("voter", "learner", "observer"):
            raise ConfigError(f"{at}: role must be 'voter', 'learner' or 'observer', not {role!r}")
        members.append(
            Member(
                _int(m["id"], f"{at}.id", 1),
                parse_address(m["peer"], f"{at}.peer"),
                parse_address(m["resp"], f"{at}.resp"),
                role,
            )
        )
    ids = [m.id for m in members]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{where}: duplicate member ids in {ids}")
    node_id = _int(raw["node_id"], f"{where}: node_id", 1)
    if node_id not in ids:
        raise ConfigError(f"{where}: node_id {node_id} is not among the members {ids}")
    if not any(m.role == "voter" for m in members):
        raise ConfigError(f"{where}: at least one member must be a voter")
    data_dir = Path(raw["data_dir"])
    if base is not None and not data_dir.is_absolute():
        data_dir = base / data_dir
    secret_file = None
    if "cluster_secret_file" in raw:
        secret_file = Path(_str(raw["cluster_secret_file"], f"{where}: cluster_secret_file"))
        if base is not None and not secret_file.is_absolute():
            secret_file = base / secret_file
    aclfile = None
    if "aclfile" in raw:
        aclfile = Path(_str(raw["aclfile"], f"{where}: aclfile"))
        if base is not None and not aclfile.is_absolute():
            aclfile = base / aclfile
    cfg = Config(
        node_id=node_id,
        aclfile=aclfile,
        members=tuple(members),
        data_dir=data_dir,
        resp=parse_address(raw["resp"], f"{where}: resp"),
        peer=parse_address(raw["peer"], f"{where}: peer"),
        metrics=parse_address(raw["metrics"], f"{where}: metrics") if raw.get("metrics") else None,
        cluster_id=str(raw.get("cluster_id", "local")),
        protocol=_choice(raw.get("protocol", "raft"), PROTOCOLS, f"{where}: protocol"),
        tick_ms=_int(raw.get("tick_ms", 50), f"{where}: tick_ms", 1),
        election_ticks=_int(raw.get("election_ticks", 20), f"{where}: election_ticks", 2),
        heartbeat_ticks=_int(raw.get("heartbeat_ticks", 1), f"{where}: heartbeat_ticks", 1),
        fsync=_bool(raw.get("fsync", True), f"{where}: fsync"),
        snapshot_entries=_int(raw.get("snapshot_entries", 100_000), f"{where}: snapshot_entries", 1),
        keep_entries=_int(raw.get("keep_entries", 5_000), f"{where}: keep_entries", 0),
        read_consistency=_choice(
            raw.get("read_consistency", "linearizable"), READ_LEVELS, f"{where}: read_consistency"
        ),
        lease_reads=_bool(raw.get("lease_reads", False), f"{where}: lease_reads"),
        write_mode=_choice(raw.get("write_mode", "forward"), WRITE_MODES, f"{where}: write_mode"),
        request_timeout_ms=_int(raw.get("request_timeout_ms", 10_000), f"{where}: request_timeout_ms", 1),
        max_entry_bytes=_int(raw.get("max_entry_bytes", MAX_ENTRY_BYTES), f"{where}: max_entry_bytes", MIN_ENTRY_BYTES),
        machines=_machines(raw.get("machines", ["kv"]), f"{where}: machines"),
        databases=_int(raw.get("databases", 16), f"{where}: databases", 1),
        requirepass=_str(raw.get("requirepass", ""), f"{where}: requirepass"),
        protected_mode=_bool(raw.get("protected_mode", True), f"{where}: protected_mode"),
        cluster_secret=_str(raw.get("cluster_secret", ""), f"{where}: cluster_secret"),
        cluster_secret_file=secret_file,
        insecure_peers=_bool(raw.get("insecure_peers", False), f"{where}: insecure_peers"),
        tls=_tls(raw, where, base),
        metrics_access=_metrics_access(raw, where, base),
    )
    if cfg.max_entry_bytes > MAX_ENTRY_BYTES_LIMIT:
        raise ConfigError(
            f"{where}: max_entry_bytes must be at most {MAX_ENTRY_BYTES_LIMIT} (half the peer "
            f"frame limit: an entry travels whole in one message), got {cfg.max_entry_bytes}"
        )
    if cfg.databases > DATABASES_MAX:
        raise ConfigError(f"{where}: databases must be at most {DATABASES_MAX}, got {cfg.databases}")
    if cfg.heartbeat_ticks >= cfg.election_ticks:
        raise ConfigError(f"{where}: heartbeat_ticks must be smaller than election_ticks")
    if cfg.read_consistency == "lease" and not cfg.lease_reads:
        raise ConfigError(
            f'{where}: read_consistency = "lease" needs lease_reads = true (on every member: leases '
            "are safe only when every follower honours them)"
        )
    _check_secret_keys(cfg, where)
    _check_tls_port(cfg, where)
    return cfg


def _check_tls_port(cfg: Config, where: str) -> None:
    taken = {"peer": cfg.peer[1], "metrics": cfg.metrics[1] if cfg.metrics else None}
    for key, port in taken.items():
        if cfg.tls.port is not None and cfg.tls.port == port:
            raise ConfigError(f"{where}: tls_port {port} is the {key} port too (equal to resp's port: TLS only)")


def _tls(raw: dict, where: str, base: Path | None) -> TlsSettings:
    try:
        return parse_tls(raw, where, base)
    except TlsError as exc:
        raise ConfigError(str(exc)) from None


def _metrics_access(raw: dict, where: str, base: Path | None) -> MetricsAccess:
    try:
        return parse_metrics_access(raw, where, base)
    except MetricsAccessError as exc:
        raise ConfigError(str(exc)) from None


def generate_secret() -> str:
    """A fresh random cluster secret (256 bits, URL-safe text: fits TOML, YAML and shells unquoted)."""
    return secrets.token_urlsafe(32)


def peer_secret(cfg: Config) -> bytes | None:
    """The key peers prove in the handshake; None when they run without one (insecure_peers,
    or a cluster of one, which has no peer to accept). Read from cluster_secret_file when the
    node starts, so a file that is missing or unreadable stops it with the path named."""
    _check_secret_keys(cfg, f"node {cfg.node_id}")
    if cfg.cluster_secret_file is not None:
        path = cfg.cluster_secret_file
        try:
            secret = path.read_text().strip()  # an editor's trailing newline is not part of it
        except FileNotFoundError:
            raise ConfigError(
                f"cluster_secret_file {path}: no such file "
                f"(`replicator secret --file {path}` makes one; copy it to every member)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cluster_secret_file {path}: cannot read it: {exc}") from None
        _check_secret_length(secret, f"cluster_secret_file {path}")
        return secret.encode()
    if cfg.cluster_secret:
        return cfg.cluster_secret.encode()
    if cfg.insecure_peers or len(cfg.members) == 1:
        return None
    raise ConfigError(
        f"node {cfg.node_id}: no cluster secret, and without one anyone who reaches the peer port "
        'can act as a member. Set cluster_secret_file = "path" (or cluster_secret = "...") to the '
        "same secret on every member (`replicator secret --file path` makes one), or "
        "insecure_peers = true to run without peer authentication"
    )


def _check_secret_keys(cfg: Config, where: str) -> None:
    if cfg.cluster_secret and cfg.cluster_secret_file is not None:
        raise ConfigError(f"{where}: set cluster_secret or cluster_secret_file, not both")
    if cfg.insecure_peers and (cfg.cluster_secret or cfg.cluster_secret_file is not None):
        raise ConfigError(f"{where}: insecure_peers = true contradicts the cluster secret it also sets; remove one")
    if cfg.cluster_secret:
        _check_secret_length(cfg.cluster_secret, f"{where}: cluster_secret")


def _check_secret_length(secret: str, where: str) -> None:
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"{where}: the secret is too short ({len(secret)} characters; at least "
            f"{MIN_SECRET_CHARS}, e.g. from `replicator secret`)"
        )


def to_toml(cfg: Config) -> str:
    """The inverse of load(), for `replicator cluster` to write one file per node."""
    q = _quote
    lines = [
        f"cluster_id = {q(cfg.cluster_id)}",
        f"node_id = {cfg.node_id}",
        f"protocol = {q(cfg.protocol)}",
        f"data_dir = {q(str(cfg.data_dir))}",
        f"resp = {q(format_address(cfg.resp))}",
        f"peer = {q(format_address(cfg.peer))}",
    ]
    if cfg.metrics:
        lines.append(f"metrics = {q(format_address(cfg.metrics))}")
    lines += [
        f"tick_ms = {cfg.tick_ms}",
        f"election_ticks = {cfg.election_ticks}",
        f"heartbeat_ticks = {cfg.heartbeat_ticks}",
        f"fsync = {'true' if cfg.fsync else 'false'}",
        f"snapshot_entries = {cfg.snapshot_entries}",
        f"keep_entries = {cfg.keep_entries}",
        f"read_consistency = {q(cfg.read_consistency)}",
        f"write_mode = {q(cfg.write_mode)}",
        f"request_timeout_ms = {cfg.request_timeout_ms}",
        f"max_entry_bytes = {cfg.max_entry_bytes}",
        f"machines = [{', '.join(q(m) for m in cfg.machines)}]",
    ]
    if cfg.databases != 16:
        lines.append(f"databases = {cfg.databases}")
    if cfg.aclfile is not None:
        lines.append(f"aclfile = {q(str(cfg.aclfile))}")
    if cfg.requirepass:
        lines.append(f"requirepass = {q(cfg.requirepass)}")
    if not cfg.protected_mode:
        lines.append("protected_mode = false")
    if cfg.cluster_secret:
        lines.append(f"cluster_secret = {q(cfg.cluster_secret)}")
    if cfg.cluster_secret_file is not None:
        lines.append(f"cluster_secret_file = {q(str(cfg.cluster_secret_file))}")
    if cfg.lease_reads:
        lines.append("lease_reads = true")
    if cfg.insecure_peers:
        lines.append("insecure_peers = true")
    lines += tls_toml_lines(cfg.tls, q)
    lines += metrics_access_toml_lines(cfg.metrics_access, q)
    for m in cfg.members:
        lines += [
            "",
            "[[members]]",
            f"id = {m.id}",
            f"peer = {q(format_address(m.peer))}",
            f"resp = {q(format_address(m.resp))}",
            f"role = {q(m.role)}",
        ]
    return "\n".join(lines) + "\n"


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _int(value, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _str(value, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _machines(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(name, str) for name in value):
        raise ConfigError(f"{where}: expected a non-empty list of machine names, got {value!r}")
    for name in value:
        if reserved_name(name):
            raise ConfigError(f"{where}: {name!r} is reserved for the node (names beginning with '__')")
    return tuple(value)


def _bool(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _choice(value, choices: tuple[str, ...], where: str) -> str:
    if value not in choices:
        raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
    return value
