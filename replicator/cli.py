"""The `replicator` command: serve one node, run a local cluster, show status.

    replicator serve --config FILE
    replicator cluster --nodes 3 [--protocol raft] [--port 7001] [--data-dir ./data] [--machines kv,znodes]
                       [--restore BACKUP] [--tls]
    replicator status --port 7001
    replicator secret [--file PATH]      a new random cluster secret (printed, or written to PATH, mode 0600)
    replicator convert --to zab|raft --data-dir DIR [--config FILE]   (node stopped)
    replicator plugins [--commands] [--json]    installed state machines and their commands
    replicator backup [--host H] --port P FILE   a consistent backup, from any node of a running cluster
    replicator restore FILE --config C [--config C2 ...]   seed a NEW cluster's nodes from a backup

Global options, before the command: --log-level debug|info|warning|error and
--log-format text|json (json: one object per line with ts, level, logger,
msg, node; `cluster` passes both on to its nodes).

`cluster` is the embedded default for trying things out: it writes one config
file per node into the data directory (or reuses the ones already there, so a
second run restarts the same cluster with its data) and runs
`replicator serve --config` for each node as its own process. Ports: RESP on
port+i, peers on port+100+i, metrics on port+200+i (i = 0..N-1). The configs
share a fresh random cluster secret, which the nodes prove to each other, and
are written readable by their owner only. With --tls, a local CA and one certificate
per node are made under DATA_DIR/tls/ (keys 0600), every node's RESP port speaks
TLS only (`redis-cli --tls --cacert data/tls/ca.crt -p 7001`) and peers mutual TLS.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

from replicator import config as config_mod
from replicator import import_cli, member_cli
from replicator.config import Config, ConfigError, Member, format_address
from replicator.protocol.log_store import StorageError
from replicator.protocols import PROTOCOLS
from replicator.runtime.listen import CannotListen

log = logging.getLogger("replicator")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if args.log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), handlers=[handler], force=True)
    errors: list[BaseException] = []
    try:
        return args.func(args)
    except* Exception as group:  # raised inside trio nurseries too, hence except*
        errors = _leaves(group)
    status = 2
    for exc in errors:
        if _expected(exc):
            print(f"replicator: {exc}", file=sys.stderr)
        else:  # a bug: say so, never dress it up as a config error (KeyError's text is just the key)
            log.error("internal error", exc_info=exc)
            print(
                f"replicator: stopped by an internal error: {type(exc).__name__}: {exc} "
                f"(a bug; the traceback is logged above)",
                file=sys.stderr,
            )
            status = 1
    return status


def _expected(exc: BaseException) -> bool:
    """Errors whose text is the whole story for an operator: bad config, a data directory
    that is refused, a state machine that is not installed (the registry's LookupError,
    not its subclasses KeyError and IndexError, which are bugs)."""
    return isinstance(exc, (ConfigError, StorageError, CannotListen)) or type(exc) is LookupError


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    return [
        leaf for exc in group.exceptions for leaf in (_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    ]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, node, then any `extra=` fields
    (e.g. event="election_won", epoch=5) and exc for a traceback."""

    node: int | None = None  # set by `serve` once the config names the node
    _standard = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}

    def format(self, record: logging.LogRecord) -> str:
        import json
        from datetime import datetime

        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "node": JsonFormatter.node,
        }
        for key, value in record.__dict__.items():
            if key not in self._standard and key not in out:
                out[key] = value if isinstance(value, (int, float, str, bool, type(None))) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="replicator", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="the least severe messages logged (default info; `cluster` passes it on to its nodes)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="json: one JSON object per line (ts, level, logger, msg, node)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run one node from a TOML config file")
    serve.add_argument("--config", required=True, type=Path, help="the node's TOML config file (docs: config.py)")
    serve.set_defaults(func=cmd_serve)

    cluster = sub.add_parser("cluster", help="run a local cluster, one process per node")
    cluster.add_argument("--nodes", type=int, default=3, help="how many nodes, 1 to 9 (default 3)")
    cluster.add_argument("--protocol", choices=PROTOCOLS, default="raft", help="the agreement protocol (default raft)")
    cluster.add_argument("--port", type=int, default=7001, help="RESP port of node 1 (default 7001)")
    cluster.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="where the config files, data directories and logs go (default ./data); "
        "a directory that holds a cluster already restarts that cluster",
    )
    cluster.add_argument("--no-fsync", action="store_true", help="benchmarks only: acknowledged writes may be lost")
    cluster.add_argument(
        "--machines",
        type=_machine_list,
        help="comma-separated state machines every node runs, e.g. kv,znodes,locks (default kv; "
        "`replicator plugins` lists the installed ones); the first serves WATCH and INFO keyspace",
    )
    cluster.add_argument(
        "--restore",
        type=Path,
        metavar="FILE",
        help="seed a NEW cluster from a `replicator backup` file before starting it (its cluster id and, "
        "unless --machines says otherwise, its machines are the backup's)",
    )
    cluster.add_argument(
        "--tls",
        action="store_true",
        help="every node's RESP port speaks TLS only, with a local CA and node certificates made under "
        "DATA_DIR/tls/ (clients trust DATA_DIR/tls/ca.crt: redis-cli --tls --cacert data/tls/ca.crt -p 7001)",
    )
    cluster.set_defaults(func=cmd_cluster)

    secret = sub.add_parser("secret", help="make a random cluster secret for cluster_secret / cluster_secret_file")
    secret.add_argument("--file", type=Path, help="write it to FILE (mode 0600), unless FILE already exists")
    secret.set_defaults(func=cmd_secret)

    status = sub.add_parser("status", help="print every member's role, term, leader, commit and applied")
    status.add_argument("--host", default="127.0.0.1", help="address of any node's RESP port (default 127.0.0.1)")
    status.add_argument("--port", type=int, default=7001, help="that node's RESP port (default 7001)")
    status.add_argument("--tls", action="store_true", help="the RESP ports speak TLS (as redis-cli --tls)")
    status.add_argument("--cacert", type=Path, help="with --tls: the CA to check nodes against (data/tls/ca.crt)")
    status.set_defaults(func=cmd_status)

    convert = sub.add_parser("convert", help="carry a STOPPED node's committed state over to the other protocol")
    convert.add_argument("--to", required=True, choices=PROTOCOLS, help="the protocol to convert to")
    convert.add_argument("--data-dir", type=Path, help="the node's data directory (default: the config's data_dir)")
    convert.add_argument("--config", type=Path, help="the node's config file: its protocol line is updated too")
    convert.set_defaults(func=cmd_convert)

    backup = sub.add_parser("backup", help="save a consistent backup of a running cluster's state, from any node")
    backup.add_argument("file", type=Path, help="the backup file to write (via FILE.tmp, fsynced, then renamed)")
    backup.add_argument("--host", default="127.0.0.1", help="address of any node's RESP port (default 127.0.0.1)")
    backup.add_argument("--port", type=int, default=7001, help="that node's RESP port (default 7001)")
    backup.add_argument(
        "--password", help="the cluster's requirepass, if it has one (default: $REPLICATOR_PASSWORD, else none)"
    )
    backup.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for a leader and the capture (default 60)"
    )
    backup.add_argument("--tls", action="store_true", help="the RESP port speaks TLS (as redis-cli --tls)")
    backup.add_argument("--cacert", type=Path, help="with --tls: the CA to check the node against")
    backup.set_defaults(func=cmd_backup)

    restore = sub.add_parser("restore", help="seed the data directories of a NEW cluster's nodes from a backup")
    restore.add_argument("file", type=Path, help="a file written by `replicator backup`")
    restore.add_argument(
        "--config",
        type=Path,
        action="append",
        required=True,
        help="the new node's config file (node id, protocol, members, cluster id, data_dir); "
        "repeat it to seed several nodes, e.g. every node of the new cluster",
    )
    restore.add_argument(
        "--data-dir", type=Path, help="the node's data directory: must be the config's data_dir (default: that)"
    )
    restore.add_argument(
        "--source-cluster",
        metavar="ID",
        help="restore a backup of cluster ID into a config naming another cluster id (refused otherwise)",
    )
    restore.set_defaults(func=cmd_restore)

    plugins = sub.add_parser("plugins", help="list the installed state machines and the commands they declare")
    plugins.add_argument("--commands", action="store_true", help="one line per command: arity, flags, syntax")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(func=cmd_plugins)

    member_cli.add_parser(sub)
    import_cli.add_parser(sub)
    return parser


# --- serve ---------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    import trio

    from replicator.process import serve_node

    cfg = config_mod.load(args.config)
    JsonFormatter.node = cfg.node_id
    trio.run(serve_node, cfg)
    return 0


# --- secret --------------------------------------------------------------------------
def cmd_secret(args: argparse.Namespace) -> int:
    """One secret for every member of a cluster: make it once, copy the file to each."""
    secret = config_mod.generate_secret()
    if args.file is None:
        print(secret)
        return 0
    try:
        # O_EXCL: never overwrite a secret the cluster already uses; 0600 from the start, never readable by others.
        fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"{args.file} already exists: kept as it is (delete it first to make a new secret)")
        return 0
    except OSError as exc:
        raise ConfigError(f"cannot write {args.file}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    print(f"wrote a new cluster secret to {args.file}; copy it to every member and point cluster_secret_file at it")
    return 0


# --- cluster -------------------------------------------------------------------------
def cluster_configs(
    nodes: int, protocol: str, port: int, data_dir: Path, fsync: bool, machines: tuple[str, ...] = ("kv",)
) -> list[Config]:
    members = tuple(
        Member(id=i + 1, peer=("127.0.0.1", port + 100 + i), resp=("127.0.0.1", port + i)) for i in range(nodes)
    )
    secret = config_mod.generate_secret()
    return [
        Config(
            node_id=m.id,
            members=members,
            data_dir=Path(f"n{m.id}"),
            resp=m.resp,
            peer=m.peer,
            metrics=("127.0.0.1", port + 200 + m.id - 1),
            protocol=protocol,
            fsync=fsync,
            cluster_secret=secret,
            machines=machines,
        )
        for m in members
    ]


def _with_tls(configs: list[Config], tls_dir: Path) -> list[Config]:
    """`cluster --tls`: a local CA and a certificate per node (replicator/certs.py) under tls_dir; every
    node's RESP port speaks TLS only (tls_port is its port), without asking clients for certificates,
    and peers speak mutual TLS (tls_cluster), each certificate naming its member id."""
    from dataclasses import replace

    from replicator.certs import write_cluster_tls
    from replicator.tls import TlsSettings

    issued = write_cluster_tls(tls_dir, [cfg.node_id for cfg in configs])
    return [
        replace(
            cfg,
            tls=TlsSettings(
                port=cfg.resp[1],
                cert_file=issued[cfg.node_id][0],
                key_file=issued[cfg.node_id][1],
                ca_cert_file=tls_dir / "ca.crt",
                auth_clients="no",
                cluster=True,
            ),
        )
        for cfg in configs
    ]


def _shown_path(path: Path) -> str:
    """A path as the user may type it: relative to the working directory when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _machine_list(text: str) -> tuple[str, ...]:
    """--machines kv,znodes,locks: installed machines only, each once (argparse reports the error)."""
    from statemachines.registry import available

    names = tuple(name.strip() for name in text.split(","))
    installed = sorted(available())
    for name in names:
        if not name:
            raise argparse.ArgumentTypeError(f"{text!r}: an empty machine name (write e.g. kv,znodes,locks)")
        if name not in installed:
            raise argparse.ArgumentTypeError(
                f"no state machine named {name!r} is installed (installed: {', '.join(installed) or 'none'})"
            )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r} names a machine twice")
    return names


def cmd_cluster(args: argparse.Namespace) -> int:
    if not 1 <= args.nodes <= 9:
        raise ConfigError("--nodes must be between 1 and 9")
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = [data_dir / f"n{i + 1}.toml" for i in range(args.nodes)]
    existing = sorted(data_dir.glob("n*.toml"))
    if existing:
        if existing != sorted(paths):
            raise ConfigError(
                f"{data_dir} already holds a cluster of {len(existing)} node(s); "
                f"use --nodes {len(existing)} or another --data-dir"
            )
        _add_missing_secret(paths)
        configs = [config_mod.load(p) for p in paths]
        if configs[0].protocol != args.protocol:
            raise ConfigError(
                f"{data_dir} holds a {configs[0].protocol} cluster; "
                f"pass --protocol {configs[0].protocol} or use another --data-dir"
            )
        if args.restore is not None:
            raise ConfigError(f"{data_dir} already holds a cluster: --restore seeds a new one (use another --data-dir)")
        _check_same_machines(data_dir, configs, args.machines)
        if args.tls and not configs[0].tls.enabled:
            raise ConfigError(
                f"{data_dir} holds a cluster without TLS; start it without --tls or use another --data-dir"
            )
        print(
            f"restarting the {len(paths)}-node {configs[0].protocol} cluster in {data_dir} "
            f"(machines: {', '.join(configs[0].machines)})"
        )
    else:
        machines = args.machines or ("kv",)
        configs = cluster_configs(args.nodes, args.protocol, args.port, data_dir, not args.no_fsync, machines)
        if args.tls:
            configs = _with_tls(configs, data_dir / "tls")
        if args.restore is not None:
            configs = _restore_cluster(args.restore, paths, configs, args.machines)
        else:
            for path, cfg in zip(paths, configs):
                _write_private(path, config_mod.to_toml(cfg))
        machines = configs[0].machines
        print(f"created a {args.nodes}-node {args.protocol} cluster in {data_dir} (machines: {', '.join(machines)})")
    for cfg in configs:
        _check_free(cfg)

    procs: list[subprocess.Popen] = []
    # SIGTERM (e.g. from a service manager or `timeout`) stops the nodes like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for path, cfg in zip(paths, configs):
            logfile = open(data_dir / f"n{cfg.node_id}.log", "ab")
            cmd = [
                sys.executable,
                "-m",
                "replicator",
                "--log-level",
                args.log_level,
                "--log-format",
                args.log_format,
                "serve",
                "--config",
                str(path),
            ]
            procs.append(subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True))
            print(
                f"  node {cfg.node_id}: redis on {format_address(cfg.resp)}, peers on {format_address(cfg.peer)}, "
                f"log {data_dir / f'n{cfg.node_id}.log'}"
            )
            print(f"          started as: replicator serve --config {path}")
        for cfg, proc in zip(configs, procs):
            _wait_listening(cfg.resp, proc)
        if configs[0].tls.port is not None:
            ca = _shown_path(configs[0].tls.ca_cert_file)
            print(f"\nready. connect with:  redis-cli --tls --cacert {ca} -p {configs[0].resp[1]}")
        else:
            print(f"\nready. connect with:  redis-cli -p {configs[0].resp[1]}")
        tls_note = f" --tls --cacert {_shown_path(configs[0].tls.ca_cert_file)}" if configs[0].tls.port else ""
        print(f"cluster status:       replicator status --port {configs[0].resp[1]}{tls_note}")
        print("press Ctrl-C to stop every node\n", flush=True)
        _supervise(procs, configs)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(procs)
    print("all nodes stopped")
    return 0


def _restore_cluster(file: Path, paths: list[Path], configs: list[Config], machines: tuple[str, ...] | None):
    """The new cluster's configs take the backup's cluster id (and machines, unless given),
    and every node is seeded from it; if the restore is refused, the configs go again."""
    from dataclasses import replace

    from replicator.restore import RestoreError, format_results, restore
    from replicator.storage.backup_file import BackupError, read_header

    for cfg in configs:
        _check_free(cfg)  # before the restore, which takes a while and leaves a cluster behind
    try:
        header = read_header(file)
    except BackupError as exc:
        raise ConfigError(f"--restore: {exc}") from None
    configs = [replace(cfg, cluster_id=header.cluster_id, machines=machines or header.machines) for cfg in configs]
    for path, cfg in zip(paths, configs):
        _write_private(path, config_mod.to_toml(cfg))
    try:
        print(format_results(restore(file, paths)))
    except RestoreError as exc:
        for path in paths:
            path.unlink(missing_ok=True)
        raise ConfigError(f"--restore: {exc}") from None
    return [config_mod.load(p) for p in paths]


def _check_same_machines(data_dir: Path, configs: list[Config], wanted: tuple[str, ...] | None) -> None:
    """A restart runs the machines its config files name; --machines that differ is refused,
    never ignored: a machine dropped would leave its state in the snapshots unreadable, and
    adding one is an edit of every config file (then a restart), which the operator makes."""
    running = {cfg.machines for cfg in configs}
    if len(running) > 1:
        files = ", ".join(f"n{cfg.node_id}.toml: {','.join(cfg.machines)}" for cfg in configs)
        raise ConfigError(f"the config files in {data_dir} name different machines ({files}); make them agree")
    (current,) = running
    if wanted is not None and wanted != current:
        raise ConfigError(
            f"{data_dir} holds a cluster running the machines {','.join(current)}, not {','.join(wanted)}: "
            f"pass --machines {','.join(current)} (or none), use another --data-dir for a new cluster, or "
            f"edit machines = [...] in every n*.toml there to change what the nodes run"
        )


def _write_private(path: Path, text: str) -> None:
    """A config that holds the cluster secret is for its owner's eyes only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file existed with a wider mode
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _add_missing_secret(paths: list[Path]) -> None:
    """Configs that `cluster` wrote before peers authenticated have no secret: give them all one,
    the same, so that the cluster restarts as it would have been created today."""
    import tomllib

    keys = ("cluster_secret", "cluster_secret_file", "insecure_peers")
    try:
        raws = [tomllib.loads(p.read_text()) for p in paths]
    except (OSError, tomllib.TOMLDecodeError):
        return  # load() reports it with the file's name
    if any(key in raw for raw in raws for key in keys):
        return
    line = f'cluster_secret = "{config_mod.generate_secret()}"\n'  # top-level keys come before [[members]]
    for path in paths:
        _write_private(path, line + path.read_text())
    print(f"added a cluster secret to the configs in {paths[0].parent} (peers now prove it to each other)")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _check_free(cfg: Config) -> None:
    for addr in (cfg.resp, cfg.peer):
        with socket.socket() as s:
            if s.connect_ex(addr) == 0:
                raise ConfigError(f"{format_address(addr)} is already in use (is the cluster already running?)")


def _wait_listening(addr: tuple[str, int], proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"the node on {format_address(addr)} exited with status {proc.returncode}; see its log")
        with socket.socket() as s:
            if s.connect_ex(addr) == 0:
                return
        time.sleep(0.05)
    raise ConfigError(f"no node listening on {format_address(addr)} after {timeout_s:.0f}s")


def _supervise(procs: list[subprocess.Popen], configs: list[Config]) -> None:
    reported: set[int] = set()
    while True:
        for proc, cfg in zip(procs, configs):
            if proc.poll() is not None and cfg.node_id not in reported:
                reported.add(cfg.node_id)
                print(f"node {cfg.node_id} exited with status {proc.returncode}", flush=True)
        time.sleep(0.2)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- convert -------------------------------------------------------------------------
def cmd_convert(args: argparse.Namespace) -> int:
    from replicator.convert import ConvertError, convert, format_result

    try:
        result = convert(args.data_dir, args.to, args.config)
    except ConvertError as exc:
        print(f"replicator: {exc}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 0


# --- backup and restore --------------------------------------------------------------
def cmd_backup(args: argparse.Namespace) -> int:
    from replicator.backup import format_result, password_from, take_backup
    from replicator.storage.backup_file import BackupError

    try:
        result = take_backup(
            args.host,
            args.port,
            args.file,
            password=password_from(args.password),
            timeout_s=args.timeout,
            tls=_client_tls(args),
        )
    except BackupError as exc:
        print(f"replicator: {exc}", file=sys.stderr)
        return 2
    print(format_result(result))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from replicator.restore import RestoreError, format_results, restore

    try:
        results = restore(args.file, args.config, data_dir=args.data_dir, source_cluster=args.source_cluster)
    except RestoreError as exc:
        print(f"replicator: {exc}", file=sys.stderr)
        return 2
    print(format_results(results))
    return 0


# --- plugins -------------------------------------------------------------------------
def cmd_plugins(args: argparse.Namespace) -> int:
    """Every machine of the `replicator.statemachines` entry-point group, loaded and asked for
    its commands(). A plugin that fails to load is reported (exit status 1), not fatal."""
    import json
    import textwrap

    from statemachines.registry import available, load_machine

    found, broken = [], 0
    for name, target in sorted(available().items()):
        try:
            specs = list(load_machine(name).commands())
        except Exception as exc:  # a broken plugin must not hide the others
            found.append({"name": name, "target": target, "error": f"{type(exc).__name__}: {exc}"})
            broken += 1
            continue
        commands = [
            {"name": s.name, "arity": s.arity, "flags": sorted(s.flags), "syntax": s.syntax, "summary": s.summary}
            for s in specs
        ]
        found.append({"name": name, "target": target, "commands": commands})
    if args.json:
        print(json.dumps(found, indent=2))
        return 1 if broken else 0
    if not found:
        print("no state machines installed (entry-point group replicator.statemachines)")
    for machine in found:
        if "error" in machine:
            print(f"{machine['name']:<10} {machine['target']}  FAILED TO LOAD: {machine['error']}")
            continue
        names = [c["name"] for c in machine["commands"]]
        print(f"{machine['name']:<10} {machine['target']}  ({len(names)} commands)")
        if args.commands:
            for c in machine["commands"]:
                kind = "write" if "write" in c["flags"] else "read"
                print(f"    {c['name']:<20} {c['arity']:>3}  {kind:<5}  {c['syntax']}".rstrip())
        else:
            print(textwrap.fill(" ".join(names), width=100, initial_indent="    ", subsequent_indent="    "))
    return 1 if broken else 0


# --- status --------------------------------------------------------------------------
def _client_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    """--tls / --cacert, as redis-cli takes them: a context that checks the node against that CA."""
    if not (args.tls or args.cacert):
        return None
    return ssl.create_default_context(cafile=str(args.cacert) if args.cacert else None)


def cmd_status(args: argparse.Namespace) -> int:
    from replicator.runtime.client import info_section

    tls = _client_tls(args)
    try:
        first = info_section(args.host, args.port, "consensus", tls)
    except OSError as exc:
        print(f"replicator: cannot reach a node on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    # member_<id>:address=host:port,kind=voter  (one line per member, this node included)
    members = sorted(
        (int(k.split("_")[1]), dict(kv.split("=", 1) for kv in v.split(",")))
        for k, v in first.items()
        if k.startswith("member_")
    )
    print(
        f"{'node':>4}  {'address':<21} {'member':<9} {'role':<13} {'term':>6} {'leader':>6} {'commit':>9} "
        f"{'applied':>9}"
    )
    for node_id, member in members:
        addr, kind = member["address"], member.get("kind", "?")  # kind: voter, learner or observer
        host, _, port = addr.rpartition(":")
        try:
            info = info_section(host, int(port), "consensus", tls)
        except OSError:
            print(f"{node_id:>4}  {addr:<21} {kind:<9} {'unreachable':<13}")
            continue
        print(
            f"{node_id:>4}  {addr:<21} {kind:<9} {info.get('consensus_role', '?'):<13} {info.get('term', '?'):>6} "
            f"{info.get('leader_id') or '-':>6} {info.get('commit_index', '?'):>9} {info.get('applied_index', '?'):>9}"
        )
    return 0
