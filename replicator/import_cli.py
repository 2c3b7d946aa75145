"""`replicator import --from HOST:PORT [--match PATTERN]`: copy a running redis-server's keys into
the cluster.

The way redis-cli --migrate and MIGRATE do it, in batches: SCAN the source (MATCH, COUNT
--batch), then for each key of a batch PTTL and DUMP, pipelined; then RESTORE key ttl payload
REPLACE into the cluster through any node (a follower forwards writes to the leader), pipelined
too. DUMP's payload is Redis' own serialization, which the kv machine reads (statemachines/kv/
rdb.py), so every type and encoding comes across as it is. The TTL is the one left when the key
was read, so a key keeps its remaining time to live (as MIGRATE does); a key that expired or was
deleted between SCAN and DUMP is skipped.

RESTORE ... REPLACE is idempotent, so what the cluster says may be retried (TRYAGAIN: no leader,
outcome unknown; CLUSTERDOWN while electing) is sent again, with backoff, until --timeout.
SCAN may return a key twice while the source resizes its table (its guarantee is "at least
once"): such a key is copied twice (harmless with REPLACE) and counted twice. A progress line on stderr (plain text, redrawn in place on a terminal) shows keys copied
out of the source's DBSIZE; the last line of stdout is the final count.
"""

from __future__ import annotations

import argparse
import os
import queue
import socket
import sys
import threading
import time

import hiredis

from replicator.config import ConfigError, parse_address

RETRY_PREFIXES = ("TRYAGAIN", "CLUSTERDOWN")
BATCH_KEYS = 256
PROGRESS_WIDTH = 30  # characters of the bar
READ_AHEAD_BATCHES = 4  # batches the source reader may run ahead of the cluster's writes


class ImportFailed(Exception):
    """The source or the cluster refused, or could not be reached: the text says why."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="copy a running redis-server's keys (SCAN + DUMP + PTTL) into the cluster")
    p.add_argument("--from", dest="source", required=True, metavar="HOST:PORT", help="the redis-server to copy from")
    p.add_argument("--match", default="*", help="copy only the keys matching this glob pattern (default: all)")
    p.add_argument("--db", type=int, default=0, help="the source database to copy from (default 0)")
    p.add_argument(
        "--from-password",
        default=os.environ.get("REDISCLI_AUTH"),
        help="the source's password (default: $REDISCLI_AUTH)",
    )
    p.add_argument("--to-db", type=int, default=0, help="the cluster's database to copy into (default 0)")
    p.add_argument("--host", default="127.0.0.1", help="a cluster member's RESP host (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7001, help="a cluster member's RESP port (default 7001)")
    p.add_argument(
        "--password",
        default=os.environ.get("REPLICATOR_PASSWORD"),
        help="the cluster's requirepass (default: $REPLICATOR_PASSWORD)",
    )
    p.add_argument(
        "--batch", type=int, default=BATCH_KEYS, help=f"keys per SCAN and per pipeline (default {BATCH_KEYS})"
    )
    p.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to keep retrying while the cluster has no leader"
    )
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr, only the final count")
    p.set_defaults(func=cmd_import)


class Connection:
    """One blocking RESP connection that pipelines (hiredis parses; no redis-py in the CLI)."""

    def __init__(self, host: str, port: int, timeout_s: float, what: str) -> None:
        self.what = what
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as e:
            raise ImportFailed(f"cannot reach {what} on {host}:{port}: {e.strerror or e}") from None
        self.reader = hiredis.Reader()

    def pipeline(self, commands: list[tuple]) -> list:
        """Send every command, then read as many replies (errors come back as values)."""
        out = bytearray()
        for args in commands:
            parts = [a.encode() if isinstance(a, str) else a for a in args]
            out += b"*%d\r\n" % len(parts)
            for part in parts:
                out += b"$%d\r\n%s\r\n" % (len(part), part)
        try:
            self.sock.sendall(out)
            replies = []
            while len(replies) < len(commands):
                reply = self.reader.gets()
                if reply is False:
                    data = self.sock.recv(1 << 20)
                    if not data:
                        raise ImportFailed(f"{self.what} closed the connection")
                    self.reader.feed(data)
                    continue
                replies.append(reply)
        except (OSError, hiredis.ProtocolError) as e:
            raise ImportFailed(f"the connection to {self.what} failed: {e}") from None
        return replies

    def call(self, *args):
        reply = self.pipeline([args])[0]
        if isinstance(reply, hiredis.ReplyError):
            raise ImportFailed(f"{self.what} refused {args[0]}: {reply}")
        return reply

    def close(self) -> None:
        self.sock.close()


class Progress:
    """One line on stderr: redrawn in place on a terminal, a line per few seconds otherwise. With
    --match only some of the source's keys are copied, so there is no bar, only counts."""

    def __init__(self, total: int, quiet: bool, whole: bool) -> None:
        self.total = max(total, 1)
        self.whole = whole
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.started = self.last = time.monotonic()

    def show(self, copied: int, skipped: int, final: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not final and now - self.last < (0.1 if self.tty else 2.0)):
            return
        self.last = now
        rate = copied / max(now - self.started, 1e-9)
        counts = f"({copied} copied, {skipped} skipped) {rate:.0f} keys/s"
        if self.whole:
            done = min(copied + skipped, self.total)
            filled = PROGRESS_WIDTH * done // self.total
            line = f"[{'#' * filled}{'.' * (PROGRESS_WIDTH - filled)}] {done}/{self.total} keys {counts}"
        else:
            line = f"{copied + skipped} matching keys of the source's {self.total} {counts}"
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def cmd_import(args: argparse.Namespace) -> int:
    try:
        source_host, source_port = parse_address(args.source, "--from")
    except ConfigError as e:
        print(f"replicator: {e}", file=sys.stderr)
        return 2
    if args.batch < 1 or args.db < 0 or args.to_db < 0:
        print("replicator: --batch must be at least 1, --db and --to-db at least 0", file=sys.stderr)
        return 2
    try:
        copied, skipped, retried, seconds = copy_keys(args, source_host, source_port)
    except ImportFailed as e:
        print(f"replicator: import stopped: {e}", file=sys.stderr)
        return 1
    print(
        f"imported {copied} keys from {args.source} in {seconds:.1f}s ({skipped} skipped: gone before DUMP; "
        f"{retried} RESTOREs sent again while the cluster had no leader)"
    )
    return 0


def copy_keys(args: argparse.Namespace, source_host: str, source_port: int) -> tuple[int, int, int, float]:
    """(keys copied, keys skipped, RESTOREs retried, seconds). A reader thread SCANs and DUMPs the source up to
    READ_AHEAD_BATCHES ahead while this one RESTOREs into the cluster: the two round trips overlap."""
    started = time.monotonic()
    source = Connection(source_host, source_port, 30.0, "the source")
    target = Connection(args.host, args.port, 30.0, "the cluster")
    batches: queue.Queue = queue.Queue(READ_AHEAD_BATCHES)
    stop = threading.Event()
    try:
        if args.from_password:
            source.call("AUTH", args.from_password)
        if args.db:
            source.call("SELECT", str(args.db))
        if args.password:
            target.call("AUTH", args.password)
        if args.to_db:
            target.call("SELECT", str(args.to_db))  # one connection, never reopened: selected once
        progress = Progress(source.call("DBSIZE"), args.quiet, whole=args.match == "*")
        reader = threading.Thread(target=_read_source, args=(source, args, batches, stop), daemon=True)
        reader.start()
        copied = skipped = retried = 0
        while (item := batches.get()) is not None:
            if isinstance(item, ImportFailed):
                raise item
            scanned, batch = item
            skipped += scanned - len(batch)
            retried += _restore_batch(target, batch, args.timeout)
            copied += len(batch)
            progress.show(copied, skipped)
        progress.show(copied, skipped, final=True)
    finally:
        stop.set()
        source.close()
        target.close()
    return copied, skipped, retried, time.monotonic() - started


def _read_source(source: Connection, args: argparse.Namespace, batches: queue.Queue, stop: threading.Event) -> None:
    """SCAN to the end, queueing (keys scanned, [(key, ttl, payload)]) per batch, then None; a
    failure is queued as the ImportFailed it is. Stops early once `stop` is set."""

    def put(item) -> bool:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    try:
        cursor = b"0"
        while True:
            cursor, keys = source.call("SCAN", cursor, "MATCH", args.match, "COUNT", str(args.batch))
            if keys and not put((len(keys), _read_batch(source, keys))):
                return
            if cursor == b"0":
                break
        put(None)
    except ImportFailed as e:
        put(e)
    except Exception as e:  # a closed socket after stop, or a bug: the main thread reports it
        put(ImportFailed(f"reading the source failed: {type(e).__name__}: {e}"))


def _read_batch(source: Connection, keys: list[bytes]) -> list[tuple[bytes, int, bytes]]:
    """(key, ttl ms or 0, payload) of the keys that still exist, from one pipeline."""
    replies = source.pipeline([cmd for key in keys for cmd in (("PTTL", key), ("DUMP", key))])
    out = []
    for i, key in enumerate(keys):
        ttl, payload = replies[2 * i], replies[2 * i + 1]
        for reply in (ttl, payload):
            if isinstance(reply, hiredis.ReplyError):
                raise ImportFailed(f"the source refused PTTL/DUMP of {key!r}: {reply}")
        if payload is None or ttl == -2:
            continue  # expired or deleted since SCAN
        out.append((key, max(ttl, 0), payload))
    return out


def _restore_batch(target: Connection, batch: list[tuple[bytes, int, bytes]], timeout_s: float) -> int:
    """RESTORE ... REPLACE of every key, pipelined; what the cluster says to retry is sent again.
    Returns how many RESTOREs were sent again."""
    deadline = time.monotonic() + timeout_s
    pending = batch
    delay = 0.05
    retried = 0
    while pending:
        replies = target.pipeline([("RESTORE", key, str(ttl), payload, "REPLACE") for key, ttl, payload in pending])
        retry = []
        last_error = None
        for item, reply in zip(pending, replies):
            if isinstance(reply, hiredis.ReplyError):
                if not str(reply).startswith(RETRY_PREFIXES):
                    raise ImportFailed(f"the cluster refused RESTORE of {item[0]!r}: {reply}")
                retry.append(item)
                last_error = reply
        if retry and time.monotonic() + delay > deadline:
            raise ImportFailed(f"the cluster kept answering {last_error} for {timeout_s:.0f}s")
        if retry:
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
            retried += len(retry)
        pending = retry
    return retried
