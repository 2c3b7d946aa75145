"""Finding state machines: the `replicator.statemachines` entry-point group.

A plugin distribution declares, in its pyproject.toml,

    [project.entry-points."replicator.statemachines"]
    mymachine = "mypackage:MyMachine"

and a cluster whose config lists `machines = ["kv", "mymachine"]` runs it.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from statemachines import StateMachine

GROUP = "replicator.statemachines"


def available() -> dict[str, str]:
    """name -> "module:attr" of every installed machine."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def load_machine(name: str) -> StateMachine:
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            return ep.load()()
    known = ", ".join(sorted(available())) or "none"
    raise LookupError(f"no state machine named {name!r} is installed (installed: {known})")
