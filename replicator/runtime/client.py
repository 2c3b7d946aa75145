"""A minimal blocking RESP client for the CLI (`replicator status`).

The CLI must not depend on redis-py, which is a test dependency only.
"""

from __future__ import annotations

import socket
import ssl

import hiredis


def command(
    host: str,
    port: int,
    *args: str | bytes,
    timeout_s: float = 3.0,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
):
    """Send one command (after AUTH `password`, if given) and return its parsed reply
    (errors come back as values: a failed AUTH's error is the reply). `tls`: over TLS, with
    that context (which checks the node's certificate)."""
    commands = [("AUTH", password), args] if password else [args]
    request = b"".join(map(_encode, commands))
    reader = hiredis.Reader()
    replies = []
    with socket.create_connection((host, port), timeout=timeout_s) as plain:
        sock = plain if tls is None else tls.wrap_socket(plain, server_hostname=host)
        sock.sendall(request)
        while len(replies) < len(commands):
            while (reply := reader.gets()) is False:
                data = sock.recv(1 << 16)
                if not data:
                    raise ConnectionError("connection closed before a reply")
                reader.feed(data)
            if isinstance(reply, Exception) and len(replies) < len(commands) - 1:
                return reply  # AUTH failed
            replies.append(reply)
    return replies[-1]


def _encode(args) -> bytes:
    parts = [a.encode() if isinstance(a, str) else a for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def info_section(host: str, port: int, section: str, tls: ssl.SSLContext | None = None) -> dict[str, str]:
    """INFO <section> as a dict of its `key:value` lines."""
    reply = command(host, port, "INFO", section, tls=tls)
    if isinstance(reply, Exception):
        raise ConnectionError(str(reply))
    fields = {}
    for line in reply.decode().splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("#"):
            fields[key] = value
    return fields
