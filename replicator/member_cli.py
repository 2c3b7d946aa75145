"""`replicator member add | remove | promote | list`: membership changes from the command line.

Each is one REPLICATOR.MEMBER command sent to any node (frontends/resp/commands/
members.py), retried while the cluster says to retry (no leader yet, another change
in progress, a leader handing over). `add` also writes (or prints) the config file
the new node starts with: the cluster's settings copied from an existing member's
config (--from-config, or found in ./data for a `replicator cluster`), the members
as the cluster now knows them, and the new node's own addresses and data directory.

On a TLS cluster, --tls --cacert FILE reach the nodes as redis-cli does; the new member's
config keeps the cluster's TLS with a certificate of its own: --tls-cert-file/--tls-key-file,
or one issued for it by the CA of a `replicator cluster --tls` (whose ca.key is beside ca.crt).
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import time
from dataclasses import replace
from pathlib import Path

from replicator import config as config_mod
from replicator.config import Config, ConfigError, Member, parse_address
from replicator.runtime.client import command
from replicator.tls import TlsSettings

RETRY_FOR_S = 30.0  # how long a change is retried while the cluster says "try again"
_REMOVED = "was removed from the cluster"  # a removed node's answer (core/requests.py Removed)
_RETRYABLE = ("TRYAGAIN", "CLUSTERDOWN", "in progress", "not committed an entry of its term", "has not caught up")


def add_parser(sub: argparse._SubParsersAction) -> None:
    member = sub.add_parser("member", help="add, remove, promote or list the cluster's members")
    actions = member.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1", help="a member's RESP host (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=7001, help="a member's RESP port (default 7001)")
        p.add_argument(
            "--password",
            default=os.environ.get("REPLICATOR_PASSWORD") or os.environ.get("REDISCLI_AUTH"),
            help="the requirepass (default: $REPLICATOR_PASSWORD, else $REDISCLI_AUTH)",
        )
        p.add_argument("--tls", action="store_true", help="the RESP port speaks TLS (as redis-cli --tls)")
        p.add_argument("--cacert", type=Path, help="with --tls: the CA to check the node against")

    add = actions.add_parser("add", help="add a learner (promoted to voter once caught up) or an observer")
    common(add)
    add.add_argument("--id", type=int, required=True, help="the new member's node id (unused in this cluster)")
    add.add_argument("--peer", required=True, help="the new member's peer address, host:port")
    add.add_argument("--resp", required=True, help="the new member's client (RESP) address, host:port")
    add.add_argument("--role", choices=["learner", "observer"], default="learner", help="default: learner")
    add.add_argument("--metrics", help="the new member's metrics address, host:port (default: none)")
    add.add_argument(
        "--bind-host",
        help="the host the new member binds its ports on, if not the one its peers use (e.g. 0.0.0.0 in a pod)",
    )
    add.add_argument("--write-config", type=Path, help="write the new member's config to FILE (else print it)")
    add.add_argument("--data-dir", type=Path, help="the new member's data directory (default: beside its config)")
    add.add_argument(
        "--from-config", type=Path, help="an existing member's config, whose cluster settings the new one copies"
    )
    add.add_argument("--tls-cert-file", type=Path, help="on a TLS cluster: the new member's certificate")
    add.add_argument("--tls-key-file", type=Path, help="on a TLS cluster: the new member's private key")
    add.add_argument("--tls-port", type=int, help="its TLS port, when the cluster serves TLS beside plain RESP")
    add.set_defaults(func=cmd_add)

    remove = actions.add_parser("remove", help="remove a member (the leader hands over first if it is the one)")
    common(remove)
    remove.add_argument("--id", type=int, required=True, help="the node id to remove")
    remove.set_defaults(func=cmd_remove)

    promote = actions.add_parser("promote", help="make a caught-up learner a voter now")
    common(promote)
    promote.add_argument("--id", type=int, required=True, help="the learner's node id")
    promote.set_defaults(func=cmd_promote)

    listing = actions.add_parser("list", help="every member: id, role, addresses, match index, last contact")
    common(listing)
    listing.set_defaults(func=cmd_list)


class MemberCommandFailed(Exception):
    """The cluster refused the change, or could not be reached: the text says why."""


def send(args: argparse.Namespace, *words: str):
    """One REPLICATOR.MEMBER command, retried while the answer says to retry."""
    deadline = time.monotonic() + RETRY_FOR_S
    while True:
        try:
            reply = command(
                args.host,
                args.port,
                "REPLICATOR.MEMBER",
                *words,
                timeout_s=15.0,
                password=args.password,
                tls=_client_tls(args),
            )
        except OSError as exc:
            raise MemberCommandFailed(f"cannot reach a node on {args.host}:{args.port}: {exc}") from None
        if not isinstance(reply, Exception):
            return reply
        text = str(reply)
        final = _REMOVED in text  # the node asked left the cluster: asking it again changes nothing
        if final or not any(word in text for word in _RETRYABLE) or time.monotonic() > deadline:
            raise MemberCommandFailed(text)
        time.sleep(0.3)


def members_of(reply) -> list[dict[str, object]]:
    """LIST's (or a change's) answer as one dict per member."""
    rows = []
    for row in reply:
        fields = dict(zip(row[::2], row[1::2]))
        rows.append({k.decode(): v.decode() if isinstance(v, bytes) else v for k, v in fields.items()})
    return rows


def _outcome_known(args: argparse.Namespace, want) -> list[dict[str, object]] | None:
    """After an unknown outcome: the members if the change is visible, else None."""
    rows = members_of(send(args, "LIST"))
    return rows if want(rows) else None


def _change(args: argparse.Namespace, words: list[str], want) -> list[dict[str, object]]:
    try:
        return members_of(send(args, *words))
    except MemberCommandFailed as exc:
        # An unknown outcome, or a node that says it left (a retry of "remove yourself" that
        # the new leader already applied): its LIST shows the configuration it holds.
        if not any(word in str(exc) for word in ("outcome unknown", "TRYAGAIN", _REMOVED)):
            raise
        for _ in range(50):  # the change may have committed after all: look
            rows = _outcome_known(args, want)
            if rows is not None:
                return rows
            time.sleep(0.2)
        raise


def _client_tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not (args.tls or args.cacert):
        return None
    return ssl.create_default_context(cafile=str(args.cacert) if args.cacert else None)


def cmd_add(args: argparse.Namespace) -> int:
    for what in ("peer", "resp"):
        parse_address(getattr(args, what), f"--{what}")
    template = _template(args)
    tls = _new_member_tls(args, template)  # before the change: a member that could not start is never added
    try:
        rows = _change(
            args,
            ["ADD", str(args.id), args.peer, args.resp, args.role],
            lambda rows: any(r["id"] == args.id for r in rows),
        )
    except MemberCommandFailed as exc:
        print(f"replicator: member add refused: {exc}", file=sys.stderr)
        return 2
    config_text = config_mod.to_toml(replace(_new_member_config(args, template, rows), tls=tls))
    if args.write_config is not None:
        _write_private(args.write_config, config_text)
        print(f"node {args.id} added as a {args.role}; its config is in {args.write_config}. Start it with:")
        print(f"  replicator serve --config {args.write_config}")
    else:
        print(config_text, end="")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    try:
        rows = _change(args, ["REMOVE", str(args.id)], lambda rows: all(r["id"] != args.id for r in rows))
    except MemberCommandFailed as exc:
        print(f"replicator: member remove refused: {exc}", file=sys.stderr)
        return 2
    print(f"node {args.id} removed; members now: " + ", ".join(f"{r['id']} ({r['role']})" for r in rows))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    try:
        _change(
            args,
            ["PROMOTE", str(args.id)],
            lambda rows: any(r["id"] == args.id and r["role"] == "voter" for r in rows),
        )
    except MemberCommandFailed as exc:
        print(f"replicator: member promote refused: {exc}", file=sys.stderr)
        return 2
    print(f"node {args.id} is a voter")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    try:
        rows = members_of(send(args, "LIST"))
    except MemberCommandFailed as exc:
        print(f"replicator: {exc}", file=sys.stderr)
        return 1
    print(f"{'node':>4}  {'role':<9} {'peer':<21} {'resp':<21} {'leader':<6} {'match':>9} {'last contact':>12}")
    for r in rows:
        contact = "-" if r["last_contact_ms"] is None else f"{r['last_contact_ms']} ms"
        match = "-" if r["match"] is None else r["match"]
        leader = "yes" if r["leader"] else ""
        print(f"{r['id']:>4}  {r['role']:<9} {r['peer']:<21} {r['resp']:<21} {leader:<6} {match:>9} {contact:>12}")
    return 0


def _template(args: argparse.Namespace) -> Config:
    """The existing member's config the new one copies its cluster settings from."""
    path = args.from_config
    if path is None:
        for candidate in sorted(Path("data").glob("n*.toml")):
            try:
                cfg = config_mod.load(candidate)
            except ConfigError:
                continue
            if cfg.resp[1] == args.port:
                path = candidate
                break
    if path is None:
        raise ConfigError(
            "pass --from-config FILE: an existing member's config, whose cluster id, protocol, secret and "
            "settings the new member copies (for a `replicator cluster`, data/n1.toml)"
        )
    return config_mod.load(path)


def _new_member_config(args: argparse.Namespace, template: Config, rows: list[dict[str, object]]) -> Config:
    members = tuple(
        Member(
            int(r["id"]),
            parse_address(str(r["peer"]), "peer"),
            parse_address(str(r["resp"]), "resp"),
            str(r["role"]),
        )
        for r in rows
    )
    if args.data_dir is not None:
        data_dir = args.data_dir.resolve()
    elif args.write_config is not None:
        data_dir = args.write_config.resolve().parent / f"n{args.id}"
    else:
        data_dir = Path(f"n{args.id}").resolve()
    return replace(
        template,
        node_id=args.id,
        members=members,
        data_dir=data_dir,
        resp=_bound(parse_address(args.resp, "--resp"), args.bind_host),
        peer=_bound(parse_address(args.peer, "--peer"), args.bind_host),
        metrics=parse_address(args.metrics, "--metrics") if args.metrics else None,
    )


def _new_member_tls(args: argparse.Namespace, template: Config) -> TlsSettings:
    """The template's TLS settings for the new member: its own TLS port and certificate."""
    tls = template.tls
    if not tls.enabled:
        return tls
    resp_port = parse_address(args.resp, "--resp")[1]
    if tls.port is None:
        port = None
    elif tls.port == template.resp[1]:  # TLS only: so is the new member's RESP port
        port = resp_port
    elif args.tls_port is not None:
        port = args.tls_port
    else:
        raise ConfigError("the cluster serves TLS beside plain RESP: pass --tls-port for the new member")
    if (args.tls_cert_file is None) != (args.tls_key_file is None):
        raise ConfigError("pass both --tls-cert-file and --tls-key-file, or neither")
    if args.tls_cert_file is not None:
        cert, key = args.tls_cert_file.resolve(), args.tls_key_file.resolve()
    elif tls.ca_cert_file is not None and (tls.ca_cert_file.parent / "ca.key").exists():
        from replicator.certs import write_cluster_tls

        cert, key = write_cluster_tls(tls.ca_cert_file.parent, [args.id])[args.id]
    else:
        raise ConfigError(
            f"the cluster uses TLS: give node {args.id} its certificate (--tls-cert-file, --tls-key-file; "
            f"for peers it must name the member: CN replicator-node-{args.id} or SAN URI replicator-node:{args.id})"
        )
    return replace(tls, port=port, cert_file=cert, key_file=key)


def _bound(address: tuple[str, int], host: str | None) -> tuple[str, int]:
    return address if host is None else (host, address[1])


def _write_private(path: Path, text: str) -> None:
    """Written 0600 from the start: it holds the cluster secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
