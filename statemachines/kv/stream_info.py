"""XINFO (Redis 7.0 t_stream.c): STREAM [FULL [COUNT count]], GROUPS, CONSUMERS, HELP. Reads: idle
times use the serving node's clock (`now`), delivery and seen times are the entries' ts_ms.

XINFO STREAM's radix-tree-keys and radix-tree-nodes are the listpack-node figures streams.py
emulates, so they equal redis-server's for the same commands.
"""

from __future__ import annotations

from statemachines import NOT_AN_INTEGER, ReplyError, Result
from statemachines.kv.keyspace import WRONGTYPE, Keyspace, parse_int
from statemachines.kv.stream_commands import (
    NO_SUCH_KEY,
    dispatch_subcommand,
    help_reply,
    keyword,
    read_stream,
    subcommand_arities,
    subcommand_syntax,
    wrap64,
)
from statemachines.kv.stream_groups import no_group
from statemachines.kv.streams import ENTRIES_READ_UNKNOWN, ID_MAX, Stream, format_id
from statemachines.kv.table import command, subcommand

# --- XINFO ------------------------------------------------------------------------------------
_XINFO_SUBCOMMANDS = (
    subcommand(
        "xinfo|consumers",
        4,
        "readonly",
        group="stream",
        syntax="key group",
        summary="List the consumers in a consumer group",
    ),
    subcommand(
        "xinfo|groups", 3, "readonly", group="stream", syntax="key", summary="List the consumer groups of a stream"
    ),
    subcommand(
        "xinfo|stream",
        -3,
        "readonly",
        group="stream",
        syntax="key [FULL [COUNT count]]",
        summary="Get information about a stream",
    ),
    subcommand(
        "xinfo|help",
        2,
        "readonly loading stale",
        (0, 0, 0),
        group="stream",
        summary="Show helpful text about the different subcommands",
    ),
)
_XINFO_ARITY = subcommand_arities(_XINFO_SUBCOMMANDS)
_XINFO_HELP = (
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
)
XINFO_COUNT_DEFAULT = 10


def parse_xinfo_stream(args: list[bytes]) -> tuple[bool, int] | ReplyError:
    """XINFO STREAM's [FULL [COUNT count]] -> (full, count); read after the key, as Redis does."""
    options = args[3:]
    if not options:
        return False, XINFO_COUNT_DEFAULT
    if len(options) not in (1, 3) or keyword(options[0]) != b"full":
        return subcommand_syntax(args)
    count = XINFO_COUNT_DEFAULT
    if len(options) == 3:
        if keyword(options[1]) != b"count":
            return subcommand_syntax(args)
        count = parse_int(options[2])
        if count is None:
            return NOT_AN_INTEGER
        if count < 0:
            count = XINFO_COUNT_DEFAULT
    return True, count


def _check_xinfo(args: list[bytes]) -> ReplyError | None:
    sub = dispatch_subcommand(args, _XINFO_ARITY)
    return sub if type(sub) is ReplyError else None


def _first_count(items, count: int):
    return items if not count else items[:count]


def _stream_info(s: Stream, full: bool, count: int) -> dict:
    info: dict = {
        b"length": s.length,
        b"radix-tree-keys": len(s.nodes),
        b"radix-tree-nodes": s.tree_nodes(),
        b"last-generated-id": format_id(s.last_id),
        b"max-deleted-entry-id": format_id(s.max_deleted),
        b"entries-added": s.entries_added,
        b"recorded-first-entry-id": format_id(s.first_id),
    }
    if not full:
        info[b"groups"] = len(s.groups)
        first = s.range(0, ID_MAX, 1)
        last = s.range(0, ID_MAX, 1, reverse=True)
        info[b"first-entry"] = first[0] if first else None
        info[b"last-entry"] = last[0] if last else None
        return info
    info[b"entries"] = s.range(0, ID_MAX, count)
    groups = []
    for name in sorted(s.groups):
        group = s.groups[name]
        pending = []
        for entry_id in _first_count(group.pel_ids, count):
            nack = group.pel[entry_id]
            pending.append([format_id(entry_id), nack.consumer.name, nack.time, wrap64(nack.count)])
        consumers = []
        for consumer_name in sorted(group.consumers):
            consumer = group.consumers[consumer_name]
            own = []
            for entry_id in _first_count(consumer.pel, count):
                nack = group.pel[entry_id]
                own.append([format_id(entry_id), nack.time, wrap64(nack.count)])
            consumers.append(
                {b"name": consumer_name, b"seen-time": consumer.seen, b"pel-count": len(consumer.pel), b"pending": own}
            )
        groups.append(
            {
                b"name": name,
                b"last-delivered-id": format_id(group.last_id),
                b"entries-read": None if group.entries_read == ENTRIES_READ_UNKNOWN else group.entries_read,
                b"lag": s.lag(group),
                b"pel-count": len(group.pel),
                b"pending": pending,
                b"consumers": consumers,
            }
        )
    info[b"groups"] = groups
    return info


@command(
    "xinfo",
    -2,
    "",  # a container: each subcommand says whether it writes (the frontend routes by it)
    (0, 0, 0),  # a container has no key positions; its subcommands have
    group="stream",
    summary="A container for stream introspection commands",
    check=_check_xinfo,
    subcommands=_XINFO_SUBCOMMANDS,
)
def cmd_xinfo(ks: Keyspace, args: list[bytes], now: int) -> Result:
    sub = dispatch_subcommand(args, _XINFO_ARITY)
    if type(sub) is ReplyError:
        return sub
    if sub == b"help":
        return help_reply(args, _XINFO_HELP)
    s = read_stream(ks, args[2], now)
    if s is None or s is WRONGTYPE:
        return NO_SUCH_KEY if s is None else s
    if sub == b"consumers":
        group = s.groups.get(args[3])
        if group is None:
            return no_group(args[2], args[3])
        return [
            {b"name": name, b"pending": len(c.pel), b"idle": max(wrap64(now - c.seen), 0)}
            for name, c in sorted(group.consumers.items())
        ]
    if sub == b"groups":
        return [
            {
                b"name": name,
                b"consumers": len(group.consumers),
                b"pending": len(group.pel),
                b"last-delivered-id": format_id(group.last_id),
                b"entries-read": None if group.entries_read == ENTRIES_READ_UNKNOWN else group.entries_read,
                b"lag": s.lag(group),
            }
            for name, group in sorted(s.groups.items())
        ]
    options = parse_xinfo_stream(args)
    if type(options) is ReplyError:
        return options
    return _stream_info(s, *options)
