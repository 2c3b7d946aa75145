"""Fixtures: the same LogStore cases run against every implementation.

`store` is parametrized over
- memory:       MemoryStore
- lmdb:         LmdbStore in a fresh directory
- lmdb-reopen:  LmdbStore that is closed and reopened after every write, so
                every case also checks what survives a restart.
- lmdb-crash:   LmdbStore with a tiny journal whose files are copied as a killed
                process leaves them after every write, and reopened from the copy:
                every case also checks the journal's replay and its checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from replicator.storage.memory_store import MemoryStore
from tests.storage.support import CrashingStore, ReopeningStore, open_lmdb

STORE_KINDS = ["memory", "lmdb", "lmdb-reopen", "lmdb-crash"]


def make_store(kind: str, path: Path) -> Any:
    if kind == "memory":
        return MemoryStore()
    if kind == "lmdb":
        return open_lmdb(path)
    if kind == "lmdb-crash":
        return CrashingStore(path)
    assert kind == "lmdb-reopen"
    return ReopeningStore(path)


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    s = make_store(request.param, tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.node.callspec.params["store"]
