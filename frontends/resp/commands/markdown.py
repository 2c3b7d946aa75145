"""docs/commands.md: the command reference, generated from the table itself.

    python -m frontends.resp.commands --markdown > docs/commands.md

(tests/frontends/test_resp_command_docs.py checks that the file is current).
"""

from __future__ import annotations

import argparse
import sys

from frontends.resp.commands.entry import Command, CommandTable
from frontends.resp.commands.table import build_table
from frontends.resp.config_params import EFFECTS, FIXED_HERE, PARAMS
from statemachines.registry import load_machine


def markdown(table: CommandTable, machine: str = "kv") -> str:
    """The command reference as Markdown, from the table itself (docs/commands.md is this output)."""

    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    def row(cmd: Command) -> str:
        if cmd.group == "transactions":
            kind = "transaction"
        else:
            kind = "write" if cmd.is_write else "read" if "readonly" in cmd.flags else "connection/server"
        syntax = f"`{cell(cmd.name.replace('|', ' ').upper())}{' ' + cell(cmd.syntax) if cmd.syntax else ''}`"
        return f"| {syntax} | {cmd.arity} | {kind} | {cell(cmd.summary)} |"

    groups: dict[str, list[Command]] = {}
    for cmd in table.commands:
        groups.setdefault(cmd.group, []).append(cmd)
    out = [
        "# Commands",
        "",
        f"Every command the RESP frontend serves with the `{machine}` machine: {len(table)} commands.",
        "Generated from the command table by `python -m frontends.resp.commands --markdown`;",
        "do not edit by hand (a test checks that this file is current).",
        "",
        "Arity follows Redis: N means exactly N words counting the command name, -N at least N.",
        "Writes go through the log as one entry each (MULTI/EXEC: one entry for the whole",
        "transaction); reads are served at the connection's read consistency; connection and",
        "server commands are answered by the node the client is connected to.",
    ]
    for group in sorted(groups):
        out += ["", f"## {group}", "", "| Command | Arity | Kind | Summary |", "| --- | --- | --- | --- |"]
        for cmd in sorted(groups[group], key=lambda c: c.name):
            out.append(row(cmd))
            out.extend(row(sub) for sub in sorted(cmd.subcommands.values(), key=lambda c: c.name))
    return "\n".join(out + config_parameters()) + "\n"


def config_parameters() -> list[str]:
    """The CONFIG parameters section: the ones with an effect here, then those accepted without."""
    out = [
        "",
        "## CONFIG parameters",
        "",
        f"CONFIG GET and CONFIG SET take every Redis 7.0 parameter ({len(PARAMS)}, and their aliases) with",
        "Redis' types, ranges, defaults and error texts. CONFIG SET is per node, as it is per server in Redis:",
        "it changes the node the client is connected to and nothing goes through the log, so set a value that",
        "should hold cluster-wide on every node. These parameters have an effect here:",
        "",
        "| Parameter | Effect |",
        "| --- | --- |",
    ]
    out += [f"| `{name}` | {effect} |" for name, effect in sorted(EFFECTS.items())]
    fixed = ", ".join(f"`{name}`" for name in sorted(FIXED_HERE))
    out += [
        "",
        f"Of these, {fixed} are fixed at start: CONFIG SET checks the value, then refuses it.",
        "OBJECT ENCODING names the encoding Redis 7.0 would give a value of its current size under this",
        "node's thresholds: Redis converts a value once and never back, so a value that shrank reports the",
        "small encoding here, and a short string APPEND or SETRANGE made reports embstr, not raw. Reads do",
        "not go through the log, so access is not tracked: OBJECT IDLETIME answers 0 and OBJECT FREQ (under",
        "an LFU policy) the counter of a new key.",
    ]
    idle = sorted(param.name for param in PARAMS if param.name not in EFFECTS)
    out += [
        "",
        "Accepted without effect (stored, returned by CONFIG GET, checked as Redis checks them):",
        "",
        ", ".join(f"`{name}`" for name in idle) + ".",
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frontends.resp.commands", description=main.__doc__)
    parser.add_argument("--markdown", action="store_true", help="print the command reference as Markdown")
    parser.add_argument("--machine", default="kv", help="the state machine whose commands to list (default kv)")
    args = parser.parse_args(argv)
    if not args.markdown:
        parser.print_help()
        return 2
    sys.stdout.write(markdown(build_table(load_machine(args.machine).commands()), args.machine))
    return 0
