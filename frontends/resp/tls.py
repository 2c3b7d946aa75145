"""Redis' tls-* parameters on a node serving TLS: what CONFIG GET shows, what CONFIG SET reloads.

The TLS context itself (files, protocols, ciphers, reloads) is replicator/tls.py's; this
maps Redis' parameter names onto its settings. CONFIG SET tls-cert-file (tls-key-file,
tls-ca-cert-file, tls-auth-clients, tls-protocols, tls-ciphers, tls-ciphersuites) rebuilds
the context at once, as Redis' applyTlsCfg does: new connections get it, open ones keep
theirs; a context that cannot be built (a missing file, a key that does not match) leaves
everything as it was and answers Redis' error. Set the same on every node, as anything
CONFIG SET changes. tls-port is fixed at start (the listener), as port is here.
"""

from __future__ import annotations

import logging
from pathlib import Path

from replicator.tls import ReloadableContext, TlsError

log = logging.getLogger(__name__)

# Redis' parameter -> TlsSettings field
SETTINGS = {
    "tls-cert-file": "cert_file",
    "tls-key-file": "key_file",
    "tls-ca-cert-file": "ca_cert_file",
    "tls-auth-clients": "auth_clients",
    "tls-protocols": "protocols",
    "tls-ciphers": "ciphers",
    "tls-ciphersuites": "ciphersuites",
}
_PATHS = frozenset(("cert_file", "key_file", "ca_cert_file"))


def tls_config_params(tls: ReloadableContext | None, tls_port: int | None) -> dict[str, str]:
    """CONFIG GET's values of the tls-* parameters in force ({} without TLS: the stored defaults show)."""
    if tls is None:
        return {}
    settings = tls.settings
    shown = {"tls-port": str(tls_port or 0), "tls-cluster": "yes" if settings.cluster else "no"}
    for name, field in SETTINGS.items():
        value = getattr(settings, field)
        shown[name] = "" if value is None else str(value)
    return shown


def reload_for_config_set(tls: ReloadableContext | None, changes: dict[str, bytes]) -> str | None:
    """Apply CONFIG SET's tls-* values (Redis names -> raw values) by rebuilding the context; None when
    done, else Redis' error text after "ERR" (the reason goes to the log, as Redis logs it)."""
    if tls is None:
        return None  # TLS is off on this node: the values are only kept, as Redis keeps them
    fields = {}
    for name, raw in changes.items():
        value = raw.decode("utf-8", "surrogateescape")
        field = SETTINGS[name]
        fields[field] = (Path(value) if value else None) if field in _PATHS else value
    try:
        tls.reload(**fields)
    except TlsError as exc:
        log.warning("CONFIG SET: TLS configuration not changed: %s", exc)
        first = next(iter(changes))
        return (
            f"CONFIG SET failed (possibly related to argument '{first}') - "
            "Unable to update TLS configuration. Check server logs."
        )
    return None
