"""replicator/protocol is pure: an ast scan of every module's imports.

Rule 1 of replicator/protocol/__init__.py: nothing under the package does I/O,
reads a clock or uses global randomness. It may import the standard library
(minus the modules that reach the OS, a clock or threads), replicator.types and
its own modules (the log-store contract is one: protocol/log_store.py).
`random` may be imported for the `random.Random` annotation only: no call into
the module (global RNG) and no `random.Random()` construction (OS seed).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import replicator.protocol

ROOT = Path(replicator.protocol.__file__).parent
FILES = sorted(ROOT.rglob("*.py"))

BANNED_STDLIB = {
    "asyncio",
    "concurrent",
    "datetime",
    "multiprocessing",
    "os",
    "pathlib",
    "select",
    "selectors",
    "shutil",
    "signal",
    "socket",
    "sqlite3",
    "ssl",
    "subprocess",
    "tempfile",
    "threading",
    "time",
    "secrets",
    "uuid",
}
OURS = ("replicator.types", "replicator.protocol")


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def check_module(name: str, line: int, names: list[str] | None = None) -> None:
        top = name.split(".")[0]
        if top == "replicator":
            if not any(name == ok or name.startswith(ok + ".") for ok in OURS):
                found.append(f"{path.name}:{line}: imports {name}")
        elif top not in sys.stdlib_module_names:
            found.append(f"{path.name}:{line}: imports non-stdlib {name}")
        elif top in BANNED_STDLIB:
            found.append(f"{path.name}:{line}: imports {name} (I/O, clock or threads)")
        elif top == "random" and names is not None and set(names) - {"Random"}:
            found.append(f"{path.name}:{line}: from random import {names} (global RNG)")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check_module(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                check_module(node.module or "", node.lineno, [a.name for a in node.names])
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "random":
            if node.attr != "Random":
                found.append(f"{path.name}:{node.lineno}: random.{node.attr} (global RNG)")
        elif isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == "Random") or (
                isinstance(func, ast.Name) and func.id == "Random"
            ):
                found.append(f"{path.name}:{node.lineno}: constructs a Random (inject the rng instead)")
    return found


def test_the_scan_sees_the_engine():
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"log.py", "quorum.py", "progress.py", "ready.py", "raft/engine.py", "raft/messages.py"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_protocol_module_is_pure(path):
    assert _violations(path) == []


def test_the_scan_catches_impurity(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import time\nimport trio\nimport random\nfrom replicator.runtime import driver\n"
        "from replicator.storage import LmdbStore\nx = random.random()\nr = random.Random()\n"
    )
    assert len(_violations(bad)) == 6
