"""`replicator backup --port P [--host H] FILE`: a consistent backup of a running cluster.

Like `etcdctl snapshot save`, from any node, leader or follower: the node passes a
linearizable read barrier, so the backup holds every write acknowledged before the command
started; captures its state at that point (frontends/resp/commands/backup.py); and this
client reads it in parts of at most 1 MiB into FILE (replicator/storage/backup_file.py: header,
chunks, sha256), written to FILE.tmp, fsynced and renamed. While there is no leader (an
election) the node answers TRYAGAIN or CLUSTERDOWN: the client asks again until --timeout.

The password (requirepass), if the cluster has one: --password, or the environment
variable REPLICATOR_PASSWORD (which keeps it out of the process list).
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import hiredis

from replicator.storage.backup_file import BackupError, BackupHeader, BackupWriter, decode_header

RETRY_ERRORS = ("TRYAGAIN", "CLUSTERDOWN")  # no leader now: the capture may be asked again


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    header: BackupHeader
    file_bytes: int
    seconds: float


class _Connection:
    """One blocking RESP connection (the CLI depends on hiredis only, never redis-py)."""

    def __init__(self, host: str, port: int, timeout_s: float, tls: ssl.SSLContext | None = None) -> None:
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout_s)
            if tls is not None:  # a node whose RESP port speaks TLS (checked against the CA of `tls`)
                self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        except OSError as e:  # ssl.SSLError included
            raise BackupError(f"cannot reach a node on {host}:{port}: {e.strerror or e}") from None
        self.reader = hiredis.Reader()

    def call(self, *args: str | bytes):
        parts = [a.encode() if isinstance(a, str) else a for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        while (reply := self.reader.gets()) is False:
            data = self.sock.recv(1 << 20)
            if not data:
                raise BackupError("the node closed the connection")
            self.reader.feed(data)
        return reply

    def close(self) -> None:
        self.sock.close()


def take_backup(
    host: str,
    port: int,
    path: Path,
    *,
    password: str | None = None,
    timeout_s: float = 60.0,
    tls: ssl.SSLContext | None = None,
) -> BackupResult:
    started = time.monotonic()
    deadline = started + timeout_s
    conn = _Connection(host, port, timeout_s, tls)
    try:
        if password:
            _check(conn.call("AUTH", password), "AUTH")
        header_bytes = _begin(conn, deadline)
        try:
            header = decode_header(header_bytes)
        except BackupError as e:
            raise BackupError(f"the node on {host}:{port} sent a backup this replicator cannot read: {e}") from None
        writer = BackupWriter(path, header, header_bytes)
        try:
            for chunk, size in enumerate(header.chunk_sizes):
                offset = 0
                while offset < size:
                    part = _check(conn.call("REPLICATOR.BACKUP", "READ", str(chunk), str(offset)), "READ")
                    if not isinstance(part, bytes) or not part:
                        raise BackupError(f"the node sent no data for chunk {chunk} at offset {offset}")
                    writer.chunk_part(part)
                    offset += len(part)
                if offset != size:
                    raise BackupError(f"chunk {chunk} came as {offset} bytes, the header says {size}")
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        conn.call("REPLICATOR.BACKUP", "END")
    except (OSError, hiredis.ProtocolError) as e:
        raise BackupError(f"the connection to {host}:{port} failed: {e}") from None
    finally:
        conn.close()
    return BackupResult(path, header, path.stat().st_size, time.monotonic() - started)


def _begin(conn: _Connection, deadline: float) -> bytes:
    """BEGIN, asked again while the cluster has no leader, until the deadline."""
    delay = 0.05
    while True:
        reply = conn.call("REPLICATOR.BACKUP", "BEGIN")
        if not isinstance(reply, hiredis.ReplyError) or not str(reply).startswith(RETRY_ERRORS):
            return _check(reply, "BEGIN")
        if time.monotonic() + delay > deadline:
            raise BackupError(f"no backup: the cluster did not answer in time ({reply})")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _check(reply, what: str):
    if isinstance(reply, hiredis.ReplyError):
        text = str(reply)
        if text.startswith("ERR unknown command"):
            text += " (is this node a replicator older than REPLICATOR.BACKUP?)"
        raise BackupError(f"the node refused {what}: {text}")
    return reply


def format_result(r: BackupResult) -> str:
    h = r.header
    voters = ",".join(str(m.id) for m in h.membership.members)
    return (
        f"backup of cluster {h.cluster_id!r} ({h.protocol}, members {voters}) taken from node {h.node_id} at "
        f"index {h.index}, epoch {h.epoch}: machines {', '.join(h.machines)}, {h.size_bytes} bytes of state "
        f"in {len(h.chunk_sizes)} chunks; wrote {r.path} ({r.file_bytes} bytes, sha256-checked) in {r.seconds:.1f}s"
    )


def password_from(arg: str | None) -> str | None:
    return arg if arg is not None else os.environ.get("REPLICATOR_PASSWORD") or None
