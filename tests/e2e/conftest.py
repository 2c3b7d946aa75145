"""The e2e tests' default cluster: three real node processes with the default
settings, once per protocol. A module that needs other settings (timings, a
scope) defines its own `cluster` fixture, which takes precedence."""

from __future__ import annotations

import pytest

from tests.e2e.harness import ProcessCluster


@pytest.fixture(params=("raft", "zab"))
def cluster(tmp_path, request):
    c = ProcessCluster(tmp_path, protocol=request.param)
    c.start_all()
    try:
        yield c
    finally:
        c.close()
