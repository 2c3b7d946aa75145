"""TLS settings and SSL contexts, with Redis' names: one module for the RESP frontend and the peer transport.

The node's TOML takes Redis' TLS parameters with underscores:

    tls_port = 7001                 # a TLS listener on resp's host; equal to resp's port: that port speaks TLS only
    tls_cert_file = "node.crt"      # PEM: the node's certificate (chain)
    tls_key_file = "node.key"       # PEM: its private key, unencrypted (never logged, never shown)
    tls_ca_cert_file = "ca.crt"     # the CA that signs client (and peer) certificates
    tls_auth_clients = "yes"        # Redis' default; "optional": checked when one is sent; "no": not asked
    tls_protocols = "TLSv1.2 TLSv1.3"
    tls_ciphers = "..."             # TLS 1.2 and below (OpenSSL cipher list)
    tls_ciphersuites = "..."        # TLS 1.3 (see below)
    tls_cluster = true              # peers speak mutual TLS (Redis' tls-cluster), with the same files

Peers (tls_cluster) check that a certificate names the member id of the connection (member_ids:
SAN URI `replicator-node:<id>`, else CN `replicator-node-<id>`; docs/operations.md "TLS").

TLS only is Redis' `port 0` with `tls-port`: here `tls_port` equal to the port of `resp`, so the members'
`resp` addresses (where -MOVED redirects point) stay the address clients use.

A context is built from the files when the node starts and again, from the same paths or
new ones, on SIGHUP and on CONFIG SET tls-cert-file & co (ReloadableContext): connections
made afterwards get the new certificate, open ones keep theirs. A reload that fails keeps
the context in force and says why (the path, the reason; never a key's bytes).

Python's ssl module cannot choose TLS 1.3 cipher suites (OpenSSL's SSL_CTX_set_ciphersuites
is not exposed), so `tls_ciphersuites` is accepted only when it names every suite OpenSSL
enables; restrict TLS 1.3 by leaving it out of `tls_protocols` and choosing `tls_ciphers`.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

KEYS = (
    "tls_port",
    "tls_cert_file",
    "tls_key_file",
    "tls_ca_cert_file",
    "tls_auth_clients",
    "tls_protocols",
    "tls_ciphers",
    "tls_ciphersuites",
    "tls_cluster",
)
AUTH_CLIENTS = ("no", "optional", "yes")
PROTOCOL_VERSIONS = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1.1": ssl.TLSVersion.TLSv1_1,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}
_VERIFY = {"no": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "yes": ssl.CERT_REQUIRED}


class TlsError(ValueError):
    """A TLS setting or file that cannot be used; the text names the key or path and why."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """The tls_* keys of a node's config (paths already resolved against the config's directory)."""

    port: int | None = None  # None: no TLS listener
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_cert_file: Path | None = None
    auth_clients: str = "yes"
    protocols: str = ""  # "": TLSv1.2 and TLSv1.3, as Redis
    ciphers: str = ""
    ciphersuites: str = ""
    cluster: bool = False

    @property
    def enabled(self) -> bool:
        return self.port is not None or self.cluster


def parse(raw: dict, where: str, base: Path | None) -> TlsSettings:
    """The tls_* keys of a parsed TOML table, checked (the files are read when the node starts)."""

    def path(key: str) -> Path | None:
        if key not in raw:
            return None
        value = raw[key]
        if not isinstance(value, str) or not value:
            raise TlsError(f"{where}: {key}: expected a file path, got {value!r}")
        p = Path(value)
        return base / p if base is not None and not p.is_absolute() else p

    def text(key: str) -> str:
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise TlsError(f"{where}: {key}: expected a string, got {value!r}")
        return value

    port = raw.get("tls_port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise TlsError(f"{where}: tls_port: expected a port 1-65535, got {port!r}")
    cluster = raw.get("tls_cluster", False)
    if not isinstance(cluster, bool):
        raise TlsError(f"{where}: tls_cluster: expected true or false, got {cluster!r}")
    auth = raw.get("tls_auth_clients", "yes")
    if auth not in AUTH_CLIENTS:
        raise TlsError(f"{where}: tls_auth_clients: expected one of {', '.join(AUTH_CLIENTS)}, got {auth!r}")
    settings = TlsSettings(
        port=port,
        cert_file=path("tls_cert_file"),
        key_file=path("tls_key_file"),
        ca_cert_file=path("tls_ca_cert_file"),
        auth_clients=auth,
        protocols=text("tls_protocols"),
        ciphers=text("tls_ciphers"),
        ciphersuites=text("tls_ciphersuites"),
        cluster=cluster,
    )
    check(settings, where)
    return settings


def check(settings: TlsSettings, where: str) -> None:
    """What can be checked without reading the files."""
    if not settings.enabled:
        stray = [k for k, v in (("tls_cert_file", settings.cert_file), ("tls_key_file", settings.key_file)) if v]
        if stray:
            raise TlsError(f"{where}: {', '.join(stray)} set without tls_port or tls_cluster: TLS would not be used")
        return
    if settings.cert_file is None or settings.key_file is None:
        raise TlsError(f"{where}: TLS (tls_port or tls_cluster) needs tls_cert_file and tls_key_file")
    if settings.ca_cert_file is None and (settings.cluster or (settings.port and settings.auth_clients != "no")):
        raise TlsError(
            f"{where}: tls_ca_cert_file is needed to check "
            + (
                "peers' certificates (tls_cluster)"
                if settings.cluster
                else 'clients\' certificates (tls_auth_clients = "no" to not ask for them)'
            )
        )
    protocol_range(settings.protocols, where)


def protocol_range(protocols: str, where: str = "tls_protocols") -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    """Redis' tls-protocols ("TLSv1.2 TLSv1.3", any case) as OpenSSL's minimum and maximum version."""
    words = protocols.lower().split()
    if not words:
        return ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
    order = list(PROTOCOL_VERSIONS)
    unknown = [w for w in words if w not in PROTOCOL_VERSIONS]
    if unknown:
        raise TlsError(f"{where}: tls_protocols: unknown protocol {unknown[0]!r} (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)")
    positions = sorted({order.index(w) for w in words})
    if positions != list(range(positions[0], positions[-1] + 1)):
        raise TlsError(f"{where}: tls_protocols: the versions must be consecutive, got {protocols!r}")
    return PROTOCOL_VERSIONS[order[positions[0]]], PROTOCOL_VERSIONS[order[positions[-1]]]


def toml_lines(settings: TlsSettings, quote: Callable[[str], str]) -> list[str]:
    """The settings as config lines (config.to_toml), only those that differ from the defaults."""
    lines = []
    if settings.port is not None:
        lines.append(f"tls_port = {settings.port}")
    for key, value in (
        ("tls_cert_file", settings.cert_file),
        ("tls_key_file", settings.key_file),
        ("tls_ca_cert_file", settings.ca_cert_file),
    ):
        if value is not None:
            lines.append(f"{key} = {quote(str(value))}")
    if settings.auth_clients != "yes":
        lines.append(f"tls_auth_clients = {quote(settings.auth_clients)}")
    for key, value in (
        ("tls_protocols", settings.protocols),
        ("tls_ciphers", settings.ciphers),
        ("tls_ciphersuites", settings.ciphersuites),
    ):
        if value:
            lines.append(f"{key} = {quote(value)}")
    if settings.cluster:
        lines.append("tls_cluster = true")
    return lines


def _base_context(settings: TlsSettings, purpose: ssl.Purpose) -> ssl.SSLContext:
    ctx = ssl.create_default_context(purpose)  # TLS_SERVER / TLS_CLIENT with OpenSSL's safe defaults
    ctx.minimum_version, ctx.maximum_version = protocol_range(settings.protocols)
    if settings.ciphers:
        try:
            ctx.set_ciphers(settings.ciphers)
        except ssl.SSLError:
            raise TlsError(f"tls_ciphers: OpenSSL knows none of the ciphers in {settings.ciphers!r}") from None
    if settings.ciphersuites:
        _check_ciphersuites(ctx, settings.ciphersuites)
    for key, path in (("tls_cert_file", settings.cert_file), ("tls_key_file", settings.key_file)):
        _check_readable(key, path)

    def encrypted() -> bytes:  # else OpenSSL would prompt on the terminal, and the node would hang there
        raise TlsError(
            f"tls_key_file {settings.key_file}: the key is encrypted; give it unencrypted, readable by the "
            "node's user only (a key passphrase, Redis' tls-key-file-pass, is not supported)"
        )

    try:
        ctx.load_cert_chain(settings.cert_file, settings.key_file, password=encrypted)
    except (ssl.SSLError, OSError) as exc:  # the reason only: never a key's bytes
        raise TlsError(
            f"tls_cert_file {settings.cert_file} / tls_key_file {settings.key_file}: not a matching PEM "
            f"certificate and private key ({getattr(exc, 'reason', None) or type(exc).__name__})"
        ) from None
    if settings.ca_cert_file is not None:
        _check_readable("tls_ca_cert_file", settings.ca_cert_file)
        try:
            ctx.load_verify_locations(cafile=settings.ca_cert_file)
        except (ssl.SSLError, OSError) as exc:
            raise TlsError(
                f"tls_ca_cert_file {settings.ca_cert_file}: not PEM certificates "
                f"({getattr(exc, 'reason', None) or type(exc).__name__})"
            ) from None
    return ctx


def _check_readable(key: str, path: Path) -> None:
    """A missing or unreadable file named with its key (OpenSSL's errors name no file)."""
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise TlsError(f"{key} {path}: no such file") from None
    except OSError as exc:
        raise TlsError(f"{key} {path}: cannot read it ({exc.strerror or type(exc).__name__})") from None


def _check_ciphersuites(ctx: ssl.SSLContext, suites: str) -> None:
    enabled = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.3"}
    named = set(suites.split(":")) - {""}
    if named != enabled:
        raise TlsError(
            f"tls_ciphersuites: Python's ssl cannot restrict TLS 1.3 suites; only the full set "
            f'{":".join(sorted(enabled))} is accepted (to choose ciphers, use tls_protocols = "TLSv1.2" '
            "and tls_ciphers)"
        )


def server_context(settings: TlsSettings) -> ssl.SSLContext:
    """For the RESP TLS port: the node's certificate; clients' certificates as tls_auth_clients says."""
    ctx = _base_context(settings, ssl.Purpose.CLIENT_AUTH)
    ctx.verify_mode = _VERIFY[settings.auth_clients]
    return ctx


class PeerContexts(NamedTuple):
    """Mutual TLS between members: both sides show a certificate from tls_ca_cert_file."""

    accept: ssl.SSLContext  # for connections peers make to us
    dial: ssl.SSLContext  # for connections we make to peers


def peer_contexts(settings: TlsSettings) -> PeerContexts:
    """The contexts of tls_cluster. Hostnames are not checked (members are named by address in
    the configuration, which certificates need not repeat): the transport checks instead that
    the certificate names the member id the connection is for (member_ids)."""
    accept = _base_context(settings, ssl.Purpose.CLIENT_AUTH)
    accept.verify_mode = ssl.CERT_REQUIRED
    dial = _base_context(settings, ssl.Purpose.SERVER_AUTH)
    dial.check_hostname = False
    dial.verify_mode = ssl.CERT_REQUIRED
    return PeerContexts(accept, dial)


class ReloadableContext:
    """The context new connections get, rebuilt from the files on demand (SIGHUP, CONFIG SET).

    `build` turns settings into a context (server_context, or peer_contexts' pair);
    a failed rebuild raises TlsError and leaves the context and settings in force."""

    def __init__(self, settings: TlsSettings, build: Callable[[TlsSettings], Any]) -> None:
        self.build = build
        self.settings = settings
        self.context = build(settings)

    def reload(self, **changes) -> None:
        settings = replace(self.settings, **changes)
        check(settings, "TLS")
        self.context = self.build(settings)
        self.settings = settings


def member_name(node_id: int) -> str:
    """The common name of member `node_id`'s certificate (its peers check it: docs/operations.md)."""
    return f"replicator-node-{node_id}"


def member_uri(node_id: int) -> str:
    """The SAN URI of member `node_id`'s certificate (checked before the common name, when present)."""
    return f"replicator-node:{node_id}"


_MEMBER_URI = re.compile(r"replicator-node:([1-9][0-9]{0,18})")
_MEMBER_CN = re.compile(r"replicator-node-([1-9][0-9]{0,18})")


def member_ids(peercert: dict | None) -> frozenset[int]:
    """The member ids a verified peer certificate (ssl's getpeercert() dict) names: its SAN URIs
    `replicator-node:<id>` when it has any such, else its common name `replicator-node-<id>`."""
    if not peercert:
        return frozenset()
    uris = [v for k, v in peercert.get("subjectAltName", ()) if k == "URI"]
    found = {int(m.group(1)) for u in uris if (m := _MEMBER_URI.fullmatch(u))}
    if found:
        return frozenset(found)
    names = [v for rdn in peercert.get("subject", ()) for k, v in rdn if k == "commonName"]
    return frozenset(int(m.group(1)) for n in names if (m := _MEMBER_CN.fullmatch(n)))


def describe_ids(ids: frozenset[int]) -> str:
    """For a refusal's log line: what a certificate claimed."""
    if not ids:
        return "no member (neither SAN URI replicator-node:<id> nor CN replicator-node-<id>)"
    return ", ".join(f"node {i}" for i in sorted(ids))


def handshake_failure(exc: BaseException) -> str:
    """Why a TLS handshake failed, in one phrase for one log line (OpenSSL's reason and, for a
    certificate, its verdict: expired, self-signed, unknown CA)."""
    if exc.__class__.__name__ == "TooSlowError":
        return "no handshake in time"
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"certificate refused: {cause.verify_message}"
    if isinstance(cause, ssl.SSLEOFError) or getattr(cause, "reason", None) == "UNEXPECTED_EOF_WHILE_READING":
        return "the other side hung up during the handshake (did it refuse our certificate?)"
    if isinstance(cause, ssl.SSLError):
        return (cause.reason or cause.__class__.__name__).lower().replace("_", " ")
    if isinstance(cause, OSError):
        return cause.strerror or cause.__class__.__name__
    return "connection closed during the handshake"
