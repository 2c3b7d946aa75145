"""Who may scrape a node's /metrics, and over what: optional TLS, a bearer token or basic auth.

The node's TOML keys (paths relative to the config file, as the TLS ones):

    metrics_tls_cert_file = "n1.crt"             # with the key: /metrics is served over HTTPS only
    metrics_tls_key_file = "n1.key"
    metrics_bearer_token_file = "metrics.token"  # a scrape must send `Authorization: Bearer <token>`
    metrics_basic_auth_user = "prometheus"       # or HTTP basic auth with this user ...
    metrics_basic_auth_password_file = "metrics.password"  # ... and the password in this file

The names follow Prometheus' scrape config (tls_config, authorization / bearer_token_file,
basic_auth with password_file), so deploy/prometheus/prometheus.yml reads the same files.
Secrets live in files only, never in the TOML; a file's content is taken with surrounding
whitespace removed (as Prometheus reads them). With a token and basic auth both set, either
is accepted. The files are read when the node starts (a missing or empty one stops it, named);
the certificate is reread on SIGHUP like the RESP port's, a new token needs a restart.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from replicator.tls import ReloadableContext, TlsError, TlsSettings, server_context

KEYS = (
    "metrics_tls_cert_file",
    "metrics_tls_key_file",
    "metrics_bearer_token_file",
    "metrics_basic_auth_user",
    "metrics_basic_auth_password_file",
)


class MetricsAccessError(ValueError):
    """A metrics_* setting or file that cannot be used; the text names the key or file and why."""


@dataclass(frozen=True, slots=True)
class MetricsAccess:
    """The metrics_* keys of a node's config (paths resolved against the config's directory)."""

    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    bearer_token_file: Path | None = None
    basic_auth_user: str = ""
    basic_auth_password_file: Path | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def authenticated(self) -> bool:
        return self.bearer_token_file is not None or bool(self.basic_auth_user)

    def tls_settings(self, port: int) -> TlsSettings:
        """For replicator/tls.py's server context (reloaded on SIGHUP as the RESP port's): the
        certificate shown on `port`, none asked of scrapers."""
        return TlsSettings(port=port, cert_file=self.tls_cert_file, key_file=self.tls_key_file, auth_clients="no")


def parse(raw: dict, where: str, base: Path | None) -> MetricsAccess:
    def path(key: str) -> Path | None:
        if key not in raw:
            return None
        value = raw[key]
        if not isinstance(value, str) or not value:
            raise MetricsAccessError(f"{where}: {key}: expected a file path, got {value!r}")
        p = Path(value)
        return base / p if base is not None and not p.is_absolute() else p

    user = raw.get("metrics_basic_auth_user", "")
    if not isinstance(user, str) or ":" in user:
        raise MetricsAccessError(f"{where}: metrics_basic_auth_user: expected a user name without ':', got {user!r}")
    access = MetricsAccess(
        tls_cert_file=path("metrics_tls_cert_file"),
        tls_key_file=path("metrics_tls_key_file"),
        bearer_token_file=path("metrics_bearer_token_file"),
        basic_auth_user=user,
        basic_auth_password_file=path("metrics_basic_auth_password_file"),
    )
    if (access.tls_cert_file is None) != (access.tls_key_file is None):
        raise MetricsAccessError(f"{where}: metrics_tls_cert_file and metrics_tls_key_file go together")
    if bool(access.basic_auth_user) != (access.basic_auth_password_file is not None):
        raise MetricsAccessError(f"{where}: metrics_basic_auth_user and metrics_basic_auth_password_file go together")
    if access != MetricsAccess() and not raw.get("metrics"):
        raise MetricsAccessError(f"{where}: metrics_* settings without a metrics address: nothing would use them")
    return access


def toml_lines(access: MetricsAccess, quote) -> list[str]:
    """The settings as config lines (config.to_toml), only those that are set."""
    lines = []
    for key, value in (
        ("metrics_tls_cert_file", access.tls_cert_file),
        ("metrics_tls_key_file", access.tls_key_file),
        ("metrics_bearer_token_file", access.bearer_token_file),
        ("metrics_basic_auth_user", access.basic_auth_user or None),
        ("metrics_basic_auth_password_file", access.basic_auth_password_file),
    ):
        if value is not None:
            lines.append(f"{key} = {quote(str(value))}")
    return lines


def _secret(key: str, path: Path) -> bytes:
    try:
        value = path.read_bytes().strip()
    except FileNotFoundError:
        raise MetricsAccessError(f"{key} {path}: no such file") from None
    except OSError as exc:
        raise MetricsAccessError(f"{key} {path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    if not value:
        raise MetricsAccessError(f"{key} {path}: the file is empty")
    return value


class Credentials:
    """What a scrape must send, read from the files once (the secrets are never logged or shown)."""

    __slots__ = ("_token", "_basic")

    def __init__(self, access: MetricsAccess) -> None:
        self._token = (
            _secret("metrics_bearer_token_file", access.bearer_token_file)
            if access.bearer_token_file is not None
            else None
        )
        self._basic = None
        if access.basic_auth_user:
            password = _secret("metrics_basic_auth_password_file", access.basic_auth_password_file)
            self._basic = access.basic_auth_user.encode() + b":" + password

    @property
    def required(self) -> bool:
        return self._token is not None or self._basic is not None

    @property
    def challenge(self) -> str:
        """WWW-Authenticate of a 401 (RFC 7235): the schemes accepted."""
        schemes = []
        if self._token is not None:
            schemes.append('Bearer realm="replicator"')
        if self._basic is not None:
            schemes.append('Basic realm="replicator"')
        return ", ".join(schemes)

    def allow(self, authorization: bytes | None) -> bool:
        """Whether a request with this Authorization header value (None: none sent) may scrape.
        Compared in constant time: a scanner learns nothing from how long a refusal takes."""
        if not self.required:
            return True
        if authorization is None:
            return False
        scheme, _, value = authorization.strip().partition(b" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == b"bearer" and self._token is not None:
            return hmac.compare_digest(value, self._token)
        if scheme == b"basic" and self._basic is not None:
            try:
                sent = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(sent, self._basic)
        return False


def ssl_context(access: MetricsAccess, port: int) -> ReloadableContext:
    """The HTTPS context of /metrics (replicator/tls.py's, with its checks and error texts),
    rebuilt from the same files by reload() (SIGHUP)."""
    try:
        return ReloadableContext(access.tls_settings(port), server_context)
    except TlsError as exc:
        raise MetricsAccessError(_TLS_KEY.sub(r"metrics_\1", str(exc))) from None


_TLS_KEY = re.compile(r"(?<![\w/])(tls_(?:cert|key)_file)\b")  # tls.py names its keys: say ours
