from __future__ import annotations

from functools import partial

import pytest
from fake_node import FakeNode
from resp_helpers import real_redis

from frontends.resp.server import serve_resp


@pytest.fixture(scope="session")
def oracle_port():
    """A real redis-server: the reference for exact replies and error texts."""
    with real_redis() as port:
        if port is None:
            pytest.skip("redis-server is not installed")
        yield port


@pytest.fixture
async def node(nursery):
    node = FakeNode(batched=True)
    await nursery.start(node.run)
    return node


@pytest.fixture
async def port(nursery, node):
    return await nursery.start(partial(serve_resp, node, "127.0.0.1", 0))
