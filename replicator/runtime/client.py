"""A minimal blocking RESP client for the CLI (`replicator status`).

The CLI must not depend on redis-py, which is a test dependency only.
"""

from __future__ import annotations

import socket

import hiredis


def command(host: str, port: int, *args: str | bytes, timeout_s: float = 3.0):
    """Send one command and return its parsed reply (errors come back as values)."""
    parts = [a.encode() if isinstance(a, str) else a for a in args]
    request = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    reader = hiredis.Reader()
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(request)
        while (reply := reader.gets()) is False:
            data = sock.recv(1 << 16)
            if not data:
                raise ConnectionError("connection closed before a reply")
            reader.feed(data)
    return reply


def info_section(host: str, port: int, section: str) -> dict[str, str]:
    """INFO <section> as a dict of its `key:value` lines."""
    reply = command(host, port, "INFO", section)
    if isinstance(reply, Exception):
        raise ConnectionError(str(reply))
    fields = {}
    for line in reply.decode().splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("#"):
            fields[key] = value
    return fields
