"""MEMORY: USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE, HELP, in Redis 7.0's reply shapes.

USAGE is a read of the machine (statemachines/kv/memory.py estimates a key's bytes as Redis would
lay it out): the container passes it on as a READ of `MEMORY USAGE ...`, which the kv machine
declares. The rest describes this process, which only the frontend sees:

- STATS: Redis' 27 fields + a `db.N` map per database holding keys. Python has no allocator counters as cheap as
  jemalloc's, so the figures are estimates: total and allocator sizes are the process's resident
  set, peak its peak RSS, startup its RSS when this module was imported, the hash-table overhead
  Redis' (dict entries and buckets) for the keys the machine reports (INFO keyspace's read), and
  the dataset whatever lies above startup and overhead.
- DOCTOR: Redis' report for an instance with no issue its detector can see, or, while the dataset
  is under 5 MB (RSS grown since start), its "empty instance" text, as Redis says it.
- MALLOC-STATS: Redis' answer for an allocator without statistics (libc's, like ours).
- PURGE: a full garbage collection and glibc's malloc_trim, returning free pages to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

from frontends.resp.commands.entry import OK, READ, ServerView, Submit, container, frontend_command, help_handler
from frontends.resp.commands.info import _memory_bytes
from frontends.resp.replies import Verbatim
from frontends.resp.session import Session
from replicator.runtime.api import ReadConsistency
from statemachines import KEYSPACE_INFO, Result, encode_args

STARTUP_RSS_BYTES = _memory_bytes()[0]
EMPTY_DATASET_BYTES = 5 << 20  # getMemoryDoctorReport: under this, "empty or using very little memory"
CLIENT_BYTES = 20 << 10  # a connection's buffers, roughly (Redis' query buffer and reply list)
DICT_ENTRY_BYTES, DICT_BUCKET_BYTES = 24, 8

DOCTOR_FINE = (
    "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
)
DOCTOR_EMPTY = (
    "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these "
    "conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back "
    "to our programming as soon as I finished rebooting.\n"
)


def _hashtable_bytes(keys: int) -> int:
    """A Redis dict of `keys` entries: the entries and a power-of-two bucket array."""
    buckets = 1 << max(keys - 1, 3).bit_length() if keys else 0
    return keys * DICT_ENTRY_BYTES + buckets * DICT_BUCKET_BYTES


def cmd_usage(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return Submit(READ, encode_args(args), lambda _args, result, _protocol: result)


def _stats(gate: ServerView, keyspace: Result) -> dict:
    # KEYSPACE_INFO: [[db, keys, keys with a TTL], ...] for the databases holding keys
    databases = [db for db in keyspace if isinstance(db, list) and len(db) == 3] if isinstance(keyspace, list) else []
    keys = sum(db[1] for db in databases)
    rss, peak = _memory_bytes()
    clients = gate.connected_clients() * CLIENT_BYTES
    tables = {db[0]: (_hashtable_bytes(db[1]), _hashtable_bytes(db[2])) for db in databases}
    overhead = STARTUP_RSS_BYTES + clients + sum(main + expiring for main, expiring in tables.values())
    dataset = max(rss - overhead, 0)
    net = max(rss - STARTUP_RSS_BYTES, 1)
    stats: dict = {
        b"peak.allocated": peak,
        b"total.allocated": rss,
        b"startup.allocated": STARTUP_RSS_BYTES,
        b"replication.backlog": 0,
        b"clients.slaves": 0,
        b"clients.normal": clients,
        b"cluster.links": 0,
        b"aof.buffer": 0,
        b"lua.caches": 0,
        b"functions.caches": 0,
    }
    for db, (main, expiring) in tables.items():
        stats[b"db.%d" % db] = {
            b"overhead.hashtable.main": main,
            b"overhead.hashtable.expires": expiring,
            b"overhead.hashtable.slot-to-keys": 0,
        }
    stats.update(
        {
            b"overhead.total": overhead,
            b"keys.count": keys,
            b"keys.bytes-per-key": (rss - STARTUP_RSS_BYTES) // keys if keys else 0,
            b"dataset.bytes": dataset,
            b"dataset.percentage": 100.0 * dataset / net,
            b"peak.percentage": 100.0 * rss / max(peak, 1),
            b"allocator.allocated": rss,
            b"allocator.active": rss,
            b"allocator.resident": rss,
            b"allocator-fragmentation.ratio": 1.0,
            b"allocator-fragmentation.bytes": 0,
            b"allocator-rss.ratio": 1.0,
            b"allocator-rss.bytes": 0,
            b"rss-overhead.ratio": 1.0,
            b"rss-overhead.bytes": 0,
            b"fragmentation": 1.0,
            b"fragmentation.bytes": 0,
        }
    )
    return stats


def cmd_stats(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return Submit(
        READ,
        encode_args([KEYSPACE_INFO]),
        lambda _args, result, _protocol: _stats(gate, result),
        ReadConsistency.STALE,
    )


def cmd_doctor(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    rss = _memory_bytes()[0]
    return Verbatim((DOCTOR_EMPTY if rss - STARTUP_RSS_BYTES < EMPTY_DATASET_BYTES else DOCTOR_FINE).encode())


def cmd_malloc_stats(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return b"Stats not supported for the current allocator"


def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _malloc_trim()


def cmd_purge(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
    return OK


_SUBS = [
    frontend_command(
        "memory|doctor",
        2,
        "",
        cmd_doctor,
        group="server",
        summary="Outputs memory problems report",
        since="4.0.0",
        acl="slow",
    ),
    frontend_command(
        "memory|help",
        2,
        "loading stale",
        help_handler(
            "MEMORY",
            [
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Prints this help.",
            ],
        ),
        group="server",
        summary="Show helpful text about the different subcommands",
        since="4.0.0",
        acl="slow",
    ),
    frontend_command(
        "memory|malloc-stats",
        2,
        "",
        cmd_malloc_stats,
        group="server",
        summary="Show allocator internal stats",
        since="4.0.0",
        complexity="Depends on how much memory is allocated, could be slow",
        acl="slow",
    ),
    frontend_command(
        "memory|purge",
        2,
        "",
        cmd_purge,
        group="server",
        summary="Ask the allocator to release memory",
        since="4.0.0",
        complexity="Depends on how much memory is allocated, could be slow",
        acl="slow",
    ),
    frontend_command(
        "memory|stats",
        2,
        "",
        cmd_stats,
        group="server",
        summary="Show memory usage details",
        since="4.0.0",
        acl="slow",
    ),
    frontend_command(
        "memory|usage",
        -3,
        "readonly",
        cmd_usage,
        group="server",
        summary="Estimate the memory usage of a key",
        since="4.0.0",
        complexity="O(N) where N is the number of samples.",
        syntax="key [SAMPLES count]",
        acl="read slow",
        keys=(2, 2, 1),
    ),
]

COMMANDS = [
    frontend_command(
        "memory",
        -2,
        "",
        container(_SUBS),
        group="server",
        summary="A container for memory diagnostics commands",
        since="4.0.0",
        complexity="Depends on subcommand.",
        acl="slow",
        subcommands=_SUBS,
        node_read=True,
    ),
]
