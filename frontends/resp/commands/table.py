"""The command table a server serves: the frontend's own commands, then the machines'.

A machine's CommandSpec becomes an entry without a handler, which the gate
routes to the machine; the frontend's own entries (each module of this package
declares its COMMANDS) come first and win a name clash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from frontends.resp import acl_categories
from frontends.resp.commands import (
    acl,
    backup,
    client,
    config,
    connection,
    info,
    introspection,
    members,
    memory,
    objects,
    pubsub,
    transactions,
    wait,
)
from frontends.resp.commands.entry import Command, CommandTable
from statemachines import CommandSpec

FRONTEND_COMMANDS: list[Command] = [
    *connection.COMMANDS,
    *client.COMMANDS,
    *introspection.COMMANDS,
    *config.COMMANDS,
    *info.COMMANDS,
    *transactions.COMMANDS,
    *members.COMMANDS,
    *backup.COMMANDS,
    *wait.COMMANDS,
    *objects.COMMANDS,
    *memory.COMMANDS,
    *pubsub.COMMANDS,
    *acl.COMMANDS,
]


def from_spec(spec: CommandSpec, machine: str = "") -> Command:
    """A machine's CommandSpec as a table entry (no handler: gate.py routes it)."""
    flags = set(spec.flags)
    name = spec.name.lower()
    group = acl_categories.mask([acl_categories.CATEGORY_OF_GROUP.get(spec.group, "")])
    subcommands = {sub.name.lower(): from_spec(sub, machine) for sub in spec.subcommands}
    return Command(
        name=name,
        arity=spec.arity,
        flags=frozenset(flags),
        first_key=spec.first_key,
        last_key=spec.last_key,
        key_step=spec.key_step,
        group=spec.group,
        summary=spec.summary,
        since="",
        syntax=spec.syntax,
        check=spec.check,
        reply=spec.reply,
        categories=acl_categories.categories(name, flags, group),
        machine=machine,
        subcommands=subcommands,
    )


def build_table(machine_specs: Iterable[CommandSpec]) -> CommandTable:
    """Frontend-owned commands first (they win a name clash), then the machine's."""
    return CommandTable([*FRONTEND_COMMANDS, *(from_spec(spec) for spec in machine_specs)])


def build_routed_table(machines: Mapping[str, Iterable[CommandSpec]]) -> CommandTable:
    """One table for a node running several machines: every machine command routes to
    the machine that declared it. Two machines declaring one name is a configuration
    error, refused at start rather than resolved by order."""
    owner: dict[str, str] = {}
    entries = []
    for machine, specs in machines.items():
        for spec in specs:
            name = spec.name.lower()
            if name in owner:
                raise ValueError(
                    f"command {name!r} is declared by both state machine {owner[name]!r} and "
                    f"{machine!r}: a node cannot serve both"
                )
            owner[name] = machine
            entries.append(from_spec(spec, machine))
    return CommandTable([*FRONTEND_COMMANDS, *entries])
