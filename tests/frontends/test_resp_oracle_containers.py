"""A machine's container commands (XGROUP, XINFO): the frontend routes each call by its
subcommand (writes through the log, reads served locally), and answers an unknown subcommand or
a wrong arity itself, inside MULTI too, byte for byte as redis-server 7.0."""

from __future__ import annotations

import pytest
from resp_helpers import assert_same_as_redis

CASES = {
    "stream-containers": """
        XGROUP
        XGROUP FOO
        xgroup foo bar
        XGROUP CREATE
        XGROUP CREATE s g
        XGROUP CREATE s g $
        XGROUP CREATE s g $ MKSTREAM
        XGROUP CREATECONSUMER s g alice
        XGROUP DESTROY s
        XINFO
        XINFO FOO s
        XINFO STREAM
        XINFO GROUPS
        XINFO CONSUMERS s nogroup
        XINFO GROUPS s
        MULTI
        XGROUP CREATECONSUMER s g bob
        XINFO GROUPS s
        EXEC
        MULTI
        XGROUP CREATECONSUMER s g carol
        XGROUP NOPE s
        EXEC
        MULTI
        XINFO STREAM
        EXEC
        XGROUP DESTROY s g
        XINFO GROUPS s
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name])
