"""replicator: a replicated state machine framework (Raft or ZAB, LMDB, trio).

The public API for programs that embed a node:

    import replicator
    async with replicator.open_node(config, machines) as node: ...

Everything else lives in its submodule (replicator.config, replicator.sim, ...).
Names are imported lazily so that `import replicator.protocol` (pure, stdlib
only) does not pull in trio or LMDB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Config", "EmbeddedNode", "ReadConsistency", "Status", "load_config", "open_node"]

if TYPE_CHECKING:
    from replicator.config import Config
    from replicator.config import load as load_config
    from replicator.embed import EmbeddedNode, open_node
    from replicator.runtime.api import ReadConsistency
    from replicator.types import Status

_LAZY = {
    "Config": ("replicator.config", "Config"),
    "load_config": ("replicator.config", "load"),
    "EmbeddedNode": ("replicator.embed", "EmbeddedNode"),
    "open_node": ("replicator.embed", "open_node"),
    "ReadConsistency": ("replicator.runtime.api", "ReadConsistency"),
    "Status": ("replicator.types", "Status"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'replicator' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
