"""docs/commands.md: the command reference, generated from the table itself.

    python -m frontends.resp.commands --markdown > docs/commands.md

(tests/frontends/test_resp_command_docs.py checks that the file is current).
"""

from __future__ import annotations

import argparse
import sys

from frontends.resp.commands.entry import Command, CommandTable
from frontends.resp.commands.table import build_table
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
    return "\n".join(out) + "\n"


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
