"""Finding state machines: the `replicator.statemachines` entry-point group.

A plugin distribution declares, in its pyproject.toml,

    [project.entry-points."replicator.statemachines"]
    mymachine = "mypackage:MyMachine"

and a cluster whose config lists `machines = ["kv", "mymachine"]` runs it.
Names beginning with "__" belong to the node (statemachines.TRANSACTIONS):
a plugin declaring one is never loaded.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from statemachines import StateMachine, reserved_name

GROUP = "replicator.statemachines"


def available() -> dict[str, str]:
    """name -> "module:attr" of every installed machine."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def load_machine(name: str) -> StateMachine:
    if reserved_name(name):
        raise LookupError(f"{name!r} is reserved for the node: no state machine may take it")
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            return ep.load()()
    known = ", ".join(sorted(available())) or "none"
    raise LookupError(f"no state machine named {name!r} is installed (installed: {known})")
