"""REPLICATOR.BACKUP: a consistent copy of the node's state, for `replicator backup`.

    REPLICATOR.BACKUP BEGIN                  -> the backup's header (msgpack, storage/backup_file.py)
    REPLICATOR.BACKUP READ <chunk> <offset>  -> up to READ_BYTES of that chunk from offset
    REPLICATOR.BACKUP END                    -> OK: the node lets go of it

BEGIN works on any node, leader or follower, as etcd's snapshot save does:

1. a linearizable read barrier (Raft ReadIndex, ZAB sync) through the node core, like a
   linearizable GET: once it passes, this node has applied every write acknowledged before
   BEGIN was sent;
2. the capture (NodeHost.capture_snapshot, reached as a slow read of the node itself:
   node.CAPTURE_SNAPSHOT), run off the event loop while applies wait, exactly as the node's
   own snapshots are captured: the state is the one at the applied index, never torn;
3. the encoding and a sha256 of the chunks, in a worker thread while applies go on (the
   reply is computed off the event loop: entry.Later).

The encoded snapshot stays with the connection until END, another BEGIN, or the connection
closing; the client reads it in parts no bigger than READ_BYTES (and half the client output
buffer limit), so no reply is huge whatever the state's size and a slow client holds back
nothing but its own reads. At most HELD_MAX backups are held by one process at a time (each
is a whole copy of the state); one idle for IDLE_S gives way to a new BEGIN.

Behind AUTH like every command when a password is set. Inside MULTI it is refused at EXEC.
"""

from __future__ import annotations

import time
import weakref
from functools import partial

import trio

from frontends.resp.commands.entry import (
    OK,
    READ,
    Later,
    ServerView,
    Submit,
    container,
    frontend_command,
    help_handler,
)
from frontends.resp.commands.errors import NOT_INTEGER
from frontends.resp.protocol import string2ll
from frontends.resp.session import Session
from replicator.node import CAPTURE_SNAPSHOT, snapshot_machines
from replicator.runtime.api import ReadConsistency
from replicator.storage.backup_file import BackupHeader, chunks_digest, encode_header
from replicator.types import Snapshot
from statemachines import TRANSACTIONS, ReplyError, Result

READ_BYTES = 1 << 20
HELD_MAX = 2
IDLE_S = 60.0


class HeldBackup:
    """One connection's backup: its snapshot once encoded (None before, and once dropped)."""

    __slots__ = ("snapshot", "used_s", "dropped", "__weakref__")

    def __init__(self, now_s: float) -> None:
        self.snapshot: Snapshot | None = None
        self.used_s = now_s
        self.dropped = False  # given way to another backup after IDLE_S


_held: weakref.WeakSet[HeldBackup] = weakref.WeakSet()  # alive while a session holds it


def _make_room(now_s: float) -> bool:
    """Whether one more backup may be held, dropping those idle for IDLE_S if need be."""
    if len(_held) < HELD_MAX:
        return True
    for held in list(_held):
        if held.snapshot is not None and now_s - held.used_s > IDLE_S:
            held.snapshot, held.dropped = None, True  # its READs now answer that it was dropped
            _held.discard(held)
    return len(_held) < HELD_MAX


def cmd_begin(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    session.backup = None  # a new BEGIN lets go of this connection's earlier one
    now_s = gate.now_s()
    if not _make_room(now_s):
        return ReplyError(f"ERR {HELD_MAX} backups are being taken from this node already; try again later")
    held = HeldBackup(now_s)
    _held.add(held)
    session.backup = held
    return Submit(
        READ,
        CAPTURE_SNAPSHOT,
        partial(_captured, gate, session, held),
        ReadConsistency.LINEARIZABLE,  # whatever the connection's level: a backup misses no acknowledged write
        TRANSACTIONS,
    )


def _captured(gate: ServerView, session: Session, held: HeldBackup, args, result: Result, protocol: int) -> Result:
    if result is None:  # run inside EXEC (transactions.run_queued): no capture was taken
        _drop(session, held)
        return ReplyError("ERR REPLICATOR.BACKUP is not allowed inside MULTI")
    if not callable(result):  # TRYAGAIN, CLUSTERDOWN, a timeout: the client may BEGIN again
        _drop(session, held)
        return result if isinstance(result, ReplyError) else ReplyError("ERR backup capture failed")
    return Later(partial(_encode, gate, session, held, result))


async def _encode(gate: ServerView, session: Session, held: HeldBackup, encode) -> Result:
    config = gate.node.config
    try:
        snapshot, machines, digest = await trio.to_thread.run_sync(_encoded, encode)
    except Exception as exc:  # a machine's snapshot() failed: report it, the node goes on
        gate.log.exception("encoding a backup failed")
        _drop(session, held)
        return ReplyError(f"ERR backup failed on this node: {type(exc).__name__}: {exc}")
    if session.backup is not held:  # END or another BEGIN came meanwhile (pipelined)
        return ReplyError("ERR this backup was ended before it was ready")
    held.snapshot, held.used_s = snapshot, gate.now_s()
    return encode_header(
        BackupHeader(
            cluster_id=config.cluster_id,
            protocol=config.protocol,
            node_id=gate.node.node_id,
            taken_ms=int(time.time() * 1000),
            index=snapshot.meta.index,
            epoch=snapshot.meta.epoch,
            membership=snapshot.meta.members(),
            machines=tuple(machines),
            chunk_sizes=tuple(map(len, snapshot.chunks)),
            chunks_sha256=digest,
        )
    )


def _encoded(encode) -> tuple[Snapshot, list[str], bytes]:
    """In a worker thread: the snapshot, the machines it holds, the sha256 of its chunks."""
    snapshot: Snapshot = encode()
    return snapshot, snapshot_machines(snapshot.chunks), chunks_digest(snapshot.chunks)


def _drop(session: Session, held: HeldBackup) -> None:
    _held.discard(held)
    if session.backup is held:
        session.backup = None


def cmd_read(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    held = session.backup
    if held is None:
        return ReplyError("ERR no backup on this connection (REPLICATOR.BACKUP BEGIN first)")
    if held.snapshot is None:
        if held.dropped:
            return ReplyError("ERR this connection's backup was dropped after being idle; BEGIN again")
        return ReplyError("ERR the backup is not ready: READ once BEGIN has answered")
    chunk, offset = string2ll(args[2]), string2ll(args[3])
    if chunk is None or offset is None:
        return NOT_INTEGER
    chunks = held.snapshot.chunks
    if not 0 <= chunk < len(chunks) or not 0 <= offset <= len(chunks[chunk]):
        return ReplyError(f"ERR no such part: the backup has {len(chunks)} chunks")
    held.used_s = gate.now_s()
    hard = gate.output_buffer_limits["normal"][0]
    size = min(READ_BYTES, hard // 2) if hard else READ_BYTES
    return chunks[chunk][offset : offset + max(size, 1024)]


def cmd_end(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    held = session.backup
    if held is not None:
        _drop(session, held)
    return OK


_SUBS = [
    frontend_command(
        "replicator.backup|begin",
        2,
        "admin noscript",
        cmd_begin,
        group="server",
        summary="Capture the node's state at a linearizable point and hold it for READ",
        complexity="O(N) where N is the size of the state",
        acl="admin slow dangerous",
    ),
    frontend_command(
        "replicator.backup|read",
        4,
        "admin noscript",
        cmd_read,
        group="server",
        summary="Return a part of a chunk of this connection's backup",
        syntax="chunk offset",
        acl="admin slow dangerous",
    ),
    frontend_command(
        "replicator.backup|end",
        2,
        "admin noscript",
        cmd_end,
        group="server",
        summary="Let go of this connection's backup",
        acl="admin slow dangerous",
    ),
    frontend_command(
        "replicator.backup|help",
        2,
        "loading stale",
        help_handler(
            "REPLICATOR.BACKUP",
            [
                "BEGIN",
                "    Capture the state at a linearizable point; returns the backup's header.",
                "READ <chunk> <offset>",
                "    Return up to 1 MiB of that chunk of the backup, from offset.",
                "END",
                "    Let go of the backup.",
                "HELP",
            ],
        ),
        group="server",
        summary="Show helpful text about the different subcommands",
        acl="slow",
    ),
]

COMMANDS = [
    frontend_command(
        "replicator.backup",
        -2,
        "",
        container(_SUBS),
        group="server",
        summary="Take a consistent backup of the node's state (replicator backup)",
        complexity="Depends on subcommand.",
        acl="slow",
        subcommands=_SUBS,
    ),
]
