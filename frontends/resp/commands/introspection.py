"""COMMAND, COMMAND COUNT / INFO / DOCS / LIST: the table describing itself, so redis-cli's
help and hints cover every command served, plugins' included. The arguments of COMMAND
DOCS come from each entry's help syntax (syntax.py)."""

from __future__ import annotations

from frontends.resp import acl_categories
from frontends.resp.commands.entry import (
    REPLICATOR_VERSION,
    Command,
    ServerView,
    container,
    frontend_command,
    help_handler,
)
from frontends.resp.commands.errors import text
from frontends.resp.commands.syntax import syntax_arguments
from frontends.resp.replies import RespSet
from frontends.resp.session import Session
from statemachines import Result


def cmd_command(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return [command_info(cmd) for cmd in gate.table.commands]


def cmd_command_count(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return len(gate.table)


def cmd_command_list(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """Every command, each followed by its subcommands ("client|list"), as Redis 7 lists them."""
    out = []
    for cmd in gate.table.commands:
        out.append(cmd.name.encode())
        out += (sub.encode() for sub in cmd.subcommands)
    return out


def _lookup_full(gate: ServerView, name: bytes) -> Command | None:
    container, _, sub = name.lower().partition(b"|")
    cmd = gate.table.get(container)
    if cmd is not None and sub:
        return cmd.subcommands.get(f"{text(container)}|{text(sub)}")
    return cmd


def cmd_command_info(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if len(args) == 2:
        return cmd_command(gate, session, args)
    out = []
    for name in args[2:]:
        cmd = _lookup_full(gate, name)
        out.append(None if cmd is None else command_info(cmd))
    return out


def cmd_command_docs(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if len(args) == 2:
        return {cmd.name.encode(): command_docs(cmd) for cmd in gate.table.commands}
    out = {}
    for name in args[2:]:
        cmd = _lookup_full(gate, name)
        if cmd is not None:
            out[cmd.name.encode()] = command_docs(cmd)
    return out


_FLAG_ORDER = [
    "write",
    "readonly",
    "denyoom",
    "module",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_monitor",
    "skip_slowlog",
    "asking",
    "fast",
    "no_auth",
    "may_replicate",
    "allow_busy",
]


def _ordered_flags(flags: frozenset[str]) -> RespSet:
    known = [flag for flag in _FLAG_ORDER if flag in flags]
    return RespSet(known + sorted(flags - set(_FLAG_ORDER)))


def _key_specs(cmd: Command) -> list[dict]:
    if cmd.first_key <= 0:
        return []
    last = cmd.last_key - cmd.first_key if cmd.last_key >= 0 else cmd.last_key
    flags = RespSet(["RW", "update"] if cmd.is_write else ["RO", "access"])
    return [
        {
            b"flags": flags,
            b"begin_search": {b"type": b"index", b"spec": {b"index": cmd.first_key}},
            b"find_keys": {b"type": b"range", b"spec": {b"lastkey": last, b"keystep": cmd.key_step, b"limit": 0}},
        }
    ]


def command_info(cmd: Command) -> list:
    """One COMMAND INFO entry (Redis 7: ten fields)."""
    return [
        cmd.name.encode(),
        cmd.arity,
        _ordered_flags(cmd.flags),
        cmd.first_key,
        cmd.last_key,
        cmd.key_step,
        RespSet(f"@{category}" for category in acl_categories.names(cmd.categories)),
        RespSet(),
        _key_specs(cmd),
        [command_info(sub) for sub in cmd.subcommands.values()],
    ]


def command_docs(cmd: Command) -> dict:
    """One COMMAND DOCS entry: what redis-cli reads for HELP and for its hints."""
    docs: dict = {
        b"summary": cmd.summary.encode(),
        b"since": (cmd.since or REPLICATOR_VERSION).encode(),
        b"group": cmd.group.encode(),
    }
    if cmd.complexity:
        docs[b"complexity"] = cmd.complexity.encode()
    arguments = syntax_arguments(cmd.syntax)
    if arguments:
        docs[b"arguments"] = arguments
    if cmd.subcommands:
        docs[b"subcommands"] = {sub.name.encode(): command_docs(sub) for sub in cmd.subcommands.values()}
    return docs


_COMMAND_SUBS = [
    frontend_command(
        "command|count",
        2,
        "loading stale",
        cmd_command_count,
        group="server",
        summary="Get total number of Redis commands",
        since="2.8.13",
        acl="slow connection",
    ),
    frontend_command(
        "command|info",
        -2,
        "loading stale",
        cmd_command_info,
        group="server",
        summary="Get array of specific Redis command details, or all when no argument is given.",
        since="2.8.13",
        complexity="O(N) where N is the number of commands to look up",
        syntax="[command-name [command-name ...]]",
        acl="slow connection",
    ),
    frontend_command(
        "command|docs",
        -2,
        "loading stale",
        cmd_command_docs,
        group="server",
        summary="Get array of specific Redis command documentation",
        since="7.0.0",
        complexity="O(N) where N is the number of commands to look up",
        syntax="[command-name [command-name ...]]",
        acl="slow connection",
    ),
    frontend_command(
        "command|list",
        -2,
        "loading stale",
        cmd_command_list,
        group="server",
        summary="Get an array of Redis command names",
        since="7.0.0",
        complexity="O(N) where N is the total number of Redis commands",
        acl="slow connection",
    ),
    frontend_command(
        "command|help",
        2,
        "loading stale",
        help_handler(
            "COMMAND",
            ["(no subcommand)", "COUNT", "INFO [<command-name> ...]", "DOCS [<command-name> ...]", "LIST", "HELP"],
        ),
        group="server",
        summary="Show helpful text about the different subcommands",
        since="5.0.0",
        acl="slow connection",
    ),
]


def _cmd_command_dispatch(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if len(args) == 1:
        return cmd_command(gate, session, args)
    return _COMMAND_DISPATCH(gate, session, args)


_COMMAND_DISPATCH = container(_COMMAND_SUBS)

COMMANDS = [
    frontend_command(
        "command",
        -1,
        "loading stale",
        _cmd_command_dispatch,
        group="server",
        summary="Get array of Redis command details",
        since="2.8.13",
        complexity="O(N) where N is the total number of Redis commands",
        acl="slow connection",
        subcommands=_COMMAND_SUBS,
    ),
]
