"""Imports point one way: an ast scan of every module of replicator/, statemachines/ and frontends/.

DESIGN.md's direction: frontends -> runtime -> core -> protocol and storage;
core -> statemachines (to apply); statemachines import nothing of the
replication core; protocol imports nothing of ours but its own messages, types
and the log-store contract; the simulator drives the core without the runtime;
the process's assembly (cli, process.py) sits above all of them.

Every module belongs to one layer of LAYERS, and may import its own layer and
the layers MAY_IMPORT names for it (a layer may skip those below it, never
reach above). Every import counts: at the top, inside a function (a lazy
import is still a dependency) and under `if TYPE_CHECKING:`. Modules must
not import each other in a cycle either, even inside one layer: a cycle means
neither side can be read, tested or replaced alone. (importlib calls with a
module name in a string, as replicator/protocols.py's engine registry makes,
are not seen.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("replicator", "statemachines", "frontends")

# layer -> the modules in it; a name covers its submodules, except the bare
# package `replicator` (its __init__ only: everything else starts with it).
LAYERS: dict[str, tuple[str, ...]] = {
    "process": (  # entry points and assembly: the CLI, `serve`, embedding, offline conversion
        "replicator",
        "replicator.__main__",
        "replicator.cli",
        "replicator.process",
        "replicator.embed",
        "replicator.convert",
        "replicator.backup",
        "replicator.restore",
        "replicator.member_cli",
        "replicator.import_cli",
        "replicator.certs",  # a local CA and node certificates, for `cluster --tls` and tests
    ),
    "frontends": ("frontends",),
    "runtime": ("replicator.runtime",),  # the trio shell
    "sim": ("replicator.sim",),  # the deterministic simulator: drives the core, never trio
    "core": (
        "replicator.core",
        "replicator.node",
        "replicator.transactions",
        "replicator.incarnations",
        "replicator.members",  # operators' membership changes, as the leader turns them into configurations
    ),
    # what a node is told, the wire's frame limit, and the TLS contexts built from what it is told
    "config": ("replicator.config", "replicator.codec", "replicator.tls", "replicator.metrics_access"),
    "storage": ("replicator.storage",),
    "protocol": ("replicator.protocol", "replicator.protocols"),  # the engines, and which serves which name
    "statemachines": ("statemachines",),
    "types": ("replicator.types", "replicator.hoptrace"),  # hoptrace: stamped from every layer, imports nothing
}

MAY_IMPORT: dict[str, frozenset[str]] = {
    "process": frozenset(LAYERS),
    "frontends": frozenset({"runtime", "core", "config", "storage", "protocol", "statemachines", "types"}),
    "runtime": frozenset({"core", "config", "storage", "protocol", "statemachines", "types"}),
    "sim": frozenset({"core", "config", "storage", "protocol", "statemachines", "types"}),
    "core": frozenset({"config", "storage", "protocol", "statemachines", "types"}),
    "config": frozenset({"protocol", "statemachines", "types"}),
    "storage": frozenset({"protocol", "types"}),  # the stores implement protocol/log_store.py's contract
    "protocol": frozenset({"types"}),
    "statemachines": frozenset(),
    "types": frozenset(),
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


MODULES = all_modules()


def layer_of(module: str) -> str | None:
    best, best_len = None, -1
    for layer, names in LAYERS.items():
        for name in names:
            covers = module == name or (name != "replicator" and module.startswith(name + "."))
            if covers and len(name) > best_len:
                best, best_len = layer, len(name)
    return best


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported module of ours, line) for every import statement anywhere in the file.
    `from pkg import name` is pkg.name when that is a module, else pkg."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")
                if not is_package:
                    parent = parent[:-1]
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found += [(t, node.lineno) for t in dict.fromkeys(targets) if t.split(".")[0] in PACKAGES]
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, list[tuple[str, int]]]:
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def layer_violations(graph: dict[str, list[tuple[str, int]]]) -> list[str]:
    found = []
    for module, imports in graph.items():
        mine = layer_of(module)
        for target, line in imports:
            theirs = layer_of(target)
            if theirs is not None and theirs != mine and theirs not in MAY_IMPORT[mine]:
                found.append(f"{module}:{line} ({mine}) imports {target} ({theirs})")
    return found


def cycles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """The import graph's strongly connected components with more than one module (Tarjan)."""
    edges = {m: sorted({t for t, _ in imports if t in graph and t != m}) for m, imports in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative: no recursion limit on a long chain
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_the_scan_sees_every_package():
    assert {"replicator.protocol.raft.engine", "frontends.resp.gate", "statemachines.kv", "replicator"} <= set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_has_a_layer(module):
    assert layer_of(module) is not None, f"{module}: add it to a layer of LAYERS in tests/test_layers.py"


def test_imports_point_down_the_layers():
    assert layer_violations(import_graph(MODULES)) == []


def test_no_import_cycles():
    assert cycles(import_graph(MODULES)) == []


def test_the_scan_catches_a_reversed_import_and_a_cycle(tmp_path):
    """The checks themselves, on a small tree: a lazy import upward, a TYPE_CHECKING cycle."""
    files = {
        "replicator/__init__.py": "",
        "replicator/protocol/__init__.py": "",
        "replicator/protocol/engine.py": "def f():\n    from replicator.runtime import driver\n",
        "replicator/runtime/__init__.py": "",
        "replicator/runtime/driver.py": "from replicator.protocol import engine\n",
        "frontends/__init__.py": "",
        "frontends/gate.py": "from frontends import table\n",
        "frontends/table.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from frontends.gate import Gate\n",
        "statemachines/__init__.py": "from replicator.types import Entry\n",
    }
    for rel, source in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(source)
    modules = {module_name(p, tmp_path): p for p in sorted(tmp_path.rglob("*.py"))}
    graph = {name: imports_of(name, path, set(modules)) for name, path in modules.items()}
    assert layer_violations(graph) == [
        "replicator.protocol.engine:2 (protocol) imports replicator.runtime.driver (runtime)",
        "statemachines:1 (statemachines) imports replicator.types (types)",
    ]
    assert cycles(graph) == [
        ["frontends.gate", "frontends.table"],
        ["replicator.protocol.engine", "replicator.runtime.driver"],
    ]
