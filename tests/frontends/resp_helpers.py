"""Test helpers: a real redis-server to compare against, a raw RESP client, a server fixture."""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def real_redis(*extra: str):
    """A throwaway redis-server on 127.0.0.1 (no persistence); yields its port, or None if not installed.
    `extra`: more command-line options, e.g. "--requirepass", "pw"."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tmp,
                "--protected-mode",
                "no",
                "--logfile",
                "",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("redis-server did not start")
                    time.sleep(0.02)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


def encode_command(*args: bytes | str | int) -> bytes:
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class RawClient:
    """Blocking client that returns each reply's exact bytes (run it in a thread under trio)."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.pending = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        """The next reply's bytes; b"" at EOF."""
        while True:
            if self.pending:
                try:
                    size = _reply_size(self.pending)
                except (ValueError, IndexError):  # incomplete
                    size = len(self.pending) + 1
                if size <= len(self.pending):
                    raw, self.pending = self.pending[:size], self.pending[size:]
                    return raw
            data = self.sock.recv(65536)
            if not data:
                return b""
            self.pending += data

    def command(self, *args) -> bytes:
        self.send(encode_command(*args))
        return self.reply()

    def read_until_eof(self, timeout: float = 5.0) -> bytes:
        self.sock.settimeout(timeout)
        out = self.pending
        self.pending = b""
        while True:
            data = self.sock.recv(65536)
            if not data:
                return out
            out += data


def _reply_size(buf: bytes) -> int:
    """Length of the first complete RESP2/RESP3 reply in buf."""

    def item(pos: int) -> int:
        kind = buf[pos : pos + 1]
        end = buf.index(b"\r\n", pos)
        head = buf[pos + 1 : end]
        pos = end + 2
        if kind in b"$=!" and kind:
            size = int(head)
            return pos if size < 0 else pos + size + 2
        if kind in (b"*", b"~", b">"):
            count = int(head)
            for _ in range(max(count, 0)):
                pos = item(pos)
            return pos
        if kind in (b"%", b"|"):
            for _ in range(int(head) * 2):
                pos = item(pos)
            return pos
        return pos

    return item(0)


# --- oracle cases: command lines replayed on redis-server and on ours -------------------------
def case_lines(text: str) -> list[list[str]]:
    """A case's command lines, split as a shell would (quotes for spaces and empty strings)."""
    return [shlex.split(line) for line in text.strip().splitlines() if line.strip()]


def escaped_case_lines(text: str) -> list[list[bytes]]:
    """case_lines with \\xNN escapes made the bytes they name (high bytes, C whitespace, a
    library's newlines): a case module that needs them binds it as its `case_lines`."""
    return [
        [re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m[1], 16)]), arg.encode()) for arg in shlex.split(line)]
        for line in text.strip().splitlines()
        if line.strip()
    ]


def replay(port: int, lines: list[list], protocol: int = 2) -> list[bytes]:
    """Each line's raw reply, on a fresh connection after FLUSHALL (HELLO 3 first for RESP3)."""
    with RawClient(port) as client:
        client.command("FLUSHALL")
        if protocol == 3:
            client.command("HELLO", "3")
        return [client.command(*args) for args in lines]


def mismatches(lines: list[list], theirs: list[bytes], ours: list[bytes], who: str = "replicator") -> list[str]:
    """One line per differing reply (arguments and replies cut short: some are megabytes)."""
    return [
        f"{[a[:40] for a in args]}: redis {want[:300]!r}, {who} {got[:300]!r}"
        for args, want, got in zip(lines, theirs, ours)
        if got != want
    ]


async def assert_same_as_redis(port: int, oracle_port: int, text: str, protocol: int = 2, parse=None) -> None:
    """A case (command lines, split by `parse`, default case_lines) answers byte for byte as the
    oracle does. A case module whose lines need their own parsing defines `case_lines` (the
    follower runner, tests/e2e/test_oracle_follower.py, uses the module's)."""
    import trio

    lines = (parse or case_lines)(text)
    theirs = await trio.to_thread.run_sync(replay, oracle_port, lines, protocol)
    ours = await trio.to_thread.run_sync(replay, port, lines, protocol)
    bad = mismatches(lines, theirs, ours)
    assert not bad, "\n".join(bad)
