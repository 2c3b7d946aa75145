"""replicator/protocol/zab/node.py: ZabNode names all a role (Leader, Learner) uses of its node,
and ZabEngine has all of it, so the roles can depend on the protocol instead of the engine."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

import replicator.protocol.zab as zab
from replicator.protocol import EngineConfig
from replicator.protocol.zab.engine import ZabEngine
from replicator.protocol.zab.node import ZabNode
from replicator.storage.memory_store import MemoryStore

DECLARED = set(ZabNode.__annotations__) | {
    name for name, value in vars(ZabNode).items() if callable(value) and not name.startswith("__")
}


def used_of_node(path: Path) -> set[str]:
    """Every attribute read as `node.x` or `self.node.x` in a role module."""
    used = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id == "node") or (
                isinstance(owner, ast.Attribute) and owner.attr == "node"
            ):
                used.add(node.attr)
    return used


@pytest.mark.parametrize("role", ["leader.py", "learner.py"])
def test_the_protocol_declares_all_a_role_uses(role):
    used = used_of_node(Path(zab.__file__).parent / role)
    assert used, "the scan sees the role's uses of its node"
    assert used - DECLARED == set()


def test_the_engine_has_all_the_protocol_declares():
    engine = ZabEngine(EngineConfig(node_id=1, voters=(1, 2, 3)), MemoryStore(), random.Random(0))
    assert {name for name in DECLARED if not hasattr(engine, name)} == set()
