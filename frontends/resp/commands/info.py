"""What the server says about itself: INFO (its sections), ROLE and TIME."""

from __future__ import annotations

import os
import platform
import re
import sys
import time

from frontends.resp.commands.entry import READ, REDIS_VERSION, REPLICATOR_VERSION, ServerView, Submit, frontend_command
from frontends.resp.commands.errors import text
from frontends.resp.replies import Verbatim
from frontends.resp.session import Session
from replicator.runtime.api import ReadConsistency
from replicator.types import Role
from statemachines import KEYSPACE_INFO, Result, encode_args

INFO_SECTIONS = ("server", "clients", "memory", "stats", "replication", "consensus", "keyspace")


def cmd_info(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """INFO [section ...]. The keyspace section asks the machine (KEYSPACE_INFO, a local read at
    STALE level: INFO must answer without a leader too), so INFO with it is a READ."""
    wanted = {text(arg).lower() for arg in args[1:]}
    if not wanted or wanted & {"all", "default", "everything"}:
        wanted = set(INFO_SECTIONS)

    def render(keyspace: Result) -> Verbatim:
        sections = []
        for name in INFO_SECTIONS:
            if name in wanted:
                lines = _info_keyspace(keyspace) if name == "keyspace" else _INFO_BUILDERS[name](gate)
                sections.append(f"# {name.capitalize()}\r\n" + "".join(f"{key}:{value}\r\n" for key, value in lines))
        return Verbatim("\r\n".join(sections).encode("utf-8", "surrogateescape"))

    if "keyspace" not in wanted:
        return render(None)
    return Submit(
        READ,
        encode_args([KEYSPACE_INFO]),
        lambda _args, result, _protocol: render(result),
        ReadConsistency.STALE,
    )


def _info_keyspace(result: Result) -> list[tuple[str, object]]:
    """dbN:keys=K,expires=E,avg_ttl=0 for each database holding keys (none: no line, as in Redis;
    a machine without KEYSPACE_INFO answers an error, which shows nothing either)."""
    if not isinstance(result, list):
        return []
    return [
        (f"db{db[0]}", f"keys={db[1]},expires={db[2]},avg_ttl=0")
        for db in result
        if isinstance(db, list) and len(db) == 3 and db[1]
    ]


def _memory_bytes() -> tuple[int, int]:
    """(resident set size, peak resident set size) of this process, in bytes."""
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = 0
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    except (ImportError, OSError):
        peak = rss
    return rss, max(peak, rss)


def _human(size: int) -> str:
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.2f}{unit}"
    return f"{size}B"


def _info_memory(gate: ServerView) -> list[tuple[str, object]]:
    rss, peak = _memory_bytes()
    return [
        ("used_memory", rss),  # Python has no allocator counter as cheap as Redis': the process' RSS
        ("used_memory_human", _human(rss)),
        ("used_memory_rss", rss),
        ("used_memory_rss_human", _human(rss)),
        ("used_memory_peak", peak),
        ("used_memory_peak_human", _human(peak)),
        ("maxmemory", 0),
        ("maxmemory_human", "0B"),
        ("maxmemory_policy", "noeviction"),
        ("mem_allocator", "pymalloc"),
    ]


def _info_stats(gate: ServerView) -> list[tuple[str, object]]:
    stats = gate.stats
    return [
        ("total_connections_received", stats["total_connections_received"]),
        ("total_commands_processed", stats["total_commands_processed"]),
        ("rejected_connections", stats["rejected_connections"]),
        ("client_output_buffer_limit_disconnections", stats["client_output_buffer_limit_disconnections"]),
        ("acl_access_denied_auth", stats["acl_access_denied_auth"]),  # failed AUTH / HELLO AUTH
        ("acl_access_denied_cmd", stats["acl_access_denied_cmd"]),
        ("acl_access_denied_key", stats["acl_access_denied_key"]),
        ("acl_access_denied_channel", stats["acl_access_denied_channel"]),
        ("pubsub_channels", len(gate.pubsub.channels)),  # this node's subscriptions
        ("pubsub_patterns", len(gate.pubsub.patterns)),
        ("pubsubshard_channels", len(gate.pubsub.shard_channels)),
        ("blocked_pops_returned", gate.blocked.returned),  # popped for a client that had gone: pushed back
        ("tracking_total_keys", len(gate.tracking.table)),
        ("tracking_total_items", sum(map(len, gate.tracking.table.values()))),
        ("tracking_total_prefixes", len(gate.tracking.prefixes)),
    ]


def _info_server(gate: ServerView) -> list[tuple[str, object]]:
    uptime = int(gate.now_s() - gate.started_s)
    return [
        ("redis_version", REDIS_VERSION),
        ("redis_mode", "standalone"),
        ("replicator_version", REPLICATOR_VERSION),
        ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
        ("python_version", platform.python_version()),
        ("process_id", os.getpid()),
        ("tcp_port", gate.port),
        ("server_time_usec", int(time.time() * 1_000_000)),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("state_machine", gate.machine),
        ("read_consistency_default", gate.default_consistency.value),
    ]


def _info_clients(gate: ServerView) -> list[tuple[str, object]]:
    return [
        ("connected_clients", gate.connected_clients()),
        ("maxclients", gate.max_clients),
        ("blocked_clients", len(gate.blocked)),
        ("tracking_clients", len(gate.tracking.clients)),
    ]


def node_status(gate: ServerView):
    try:
        return gate.node.status()
    except Exception:  # the node may still be starting
        return None


def _info_replication(gate: ServerView) -> list[tuple[str, object]]:
    status = node_status(gate)
    if status is None:
        return [("role", "unknown")]
    lines: list[tuple[str, object]] = []
    if status.role is Role.LEADER:
        lines.append(("role", "master"))
        lines.append(("connected_slaves", sum(1 for p in status.progress.values() if p.recent_active)))
        for i, (peer, progress) in enumerate(sorted(status.progress.items())):
            lag = max(status.last_index - progress.match, 0)
            lines.append(
                (
                    f"slave{i}",
                    f"node_id={peer},state={progress.state},offset={progress.match},"
                    f"next={progress.next},lag={lag},active={int(progress.recent_active)}",
                )
            )
    else:
        lines.append(("role", "slave"))
        leader = gate.node.leader_address()
        lines.append(("master_host", leader[0] if leader else ""))
        lines.append(("master_port", leader[1] if leader else 0))
        lines.append(("master_link_status", "up" if status.leader is not None else "down"))
        lines.append(("connected_slaves", 0))
    lines.append(("master_repl_offset", status.commit))
    # the consensus view of the same thing (also in the Consensus section)
    lines.append(("leader_id", "" if status.leader is None else status.leader))
    lines.append(("term", status.epoch))
    lines.append(("commit_index", status.commit))
    lines.append(("applied_index", status.applied))
    return lines


def _info_consensus(gate: ServerView) -> list[tuple[str, object]]:
    status = node_status(gate)
    if status is None:
        return [("node_id", gate.node.node_id), ("consensus_role", "starting")]
    leader = gate.node.leader_address()
    lines: list[tuple[str, object]] = [
        ("node_id", status.node_id),
        ("consensus_role", status.role.value),  # not "role": INFO's sections share one namespace
        ("leader_id", "" if status.leader is None else status.leader),
        ("leader_address", f"{leader[0]}:{leader[1]}" if leader else ""),
        ("term", status.epoch),
        ("epoch", status.epoch),
        ("commit_index", status.commit),
        ("applied_index", status.applied),
        ("first_index", status.first_index),
        ("last_index", status.last_index),
    ]
    for peer, progress in sorted(status.progress.items()):
        lines.append(
            (
                f"peer_{peer}",
                f"match={progress.match},next={progress.next},state={progress.state},"
                f"active={int(progress.recent_active)}",
            )
        )
    for node_id, (host, port), kind in gate.node.members():
        lines.append((f"member_{node_id}", f"address={host}:{port},kind={kind}"))
    for key, value in sorted(status.extra.items()):
        lines.append((re.sub(r"[^A-Za-z0-9_]", "_", str(key)), value))
    return lines


_INFO_BUILDERS = {
    "server": _info_server,
    "clients": _info_clients,
    "memory": _info_memory,
    "stats": _info_stats,
    "replication": _info_replication,
    "consensus": _info_consensus,
}


def cmd_time(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    now_us = time.time_ns() // 1000
    return [b"%d" % (now_us // 1_000_000), b"%d" % (now_us % 1_000_000)]


def cmd_role(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """ROLE: the leader answers as a master listing its followers (host, port, matched index);
    any other node as a replica of the leader (state "connected" while it knows one)."""
    status = node_status(gate)
    if status is not None and status.role is Role.LEADER:
        addresses = {node_id: addr for node_id, addr, _ in gate.node.members()}
        replicas = []
        for peer, progress in sorted(status.progress.items()):
            host, port = addresses.get(peer, ("", 0))
            replicas.append([host.encode(), b"%d" % port, b"%d" % progress.match])
        return [b"master", status.commit, replicas]
    leader = gate.node.leader_address() if status is not None else None
    host, port = leader if leader else ("", 0)
    applied = status.applied if status is not None else 0
    return [b"slave", host.encode(), port, b"connected" if leader else b"connect", applied]


COMMANDS = [
    frontend_command(
        "info",
        -1,
        "loading stale",
        cmd_info,
        group="server",
        summary="Get information and statistics about the server",
        syntax="[section [section ...]]",
        acl="slow dangerous",
        node_read=True,
    ),
    frontend_command(
        "time",
        1,
        "loading stale fast",
        cmd_time,
        group="server",
        summary="Return the current server time",
        since="2.6.0",
        acl="fast",
    ),
    frontend_command(
        "role",
        1,
        "noscript loading stale fast",
        cmd_role,
        group="server",
        summary="Return the role of the instance in the context of replication",
        since="2.8.12",
        acl="admin fast dangerous",
    ),
]
