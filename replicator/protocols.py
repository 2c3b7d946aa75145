"""Which engine serves which protocol name ("raft", "zab").

Drivers (the runtime, the simulator, the CLI) never branch on the protocol:
they ask this module for a factory and the wire tags of its messages.
"""

from __future__ import annotations

import importlib

from replicator.protocol import EngineFactory

_ENGINES = {
    "raft": ("replicator.protocol.raft.engine", "RaftEngine", "replicator.protocol.raft.messages"),
    "zab": ("replicator.protocol.zab.engine", "ZabEngine", "replicator.protocol.zab.messages"),
}

PROTOCOLS = tuple(_ENGINES)


def engine_factory(protocol: str) -> EngineFactory:
    module, name, _ = _spec(protocol)
    return getattr(importlib.import_module(module), name)


def message_types(protocol: str) -> dict[int, type]:
    """Stable wire tag -> message class, for the codec."""
    return importlib.import_module(_spec(protocol)[2]).MESSAGE_TYPES


def committed_index(protocol: str, hard_state: bytes | None) -> int:
    """The commit index recorded in `protocol`'s hard state (0 if there is none).
    Raises ValueError if the bytes are not that protocol's hard state."""
    if hard_state is None:
        return 0
    return importlib.import_module(_spec(protocol)[0]).committed_index(hard_state)


def _spec(protocol: str) -> tuple[str, str, str]:
    try:
        return _ENGINES[protocol]
    except KeyError:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}") from None
