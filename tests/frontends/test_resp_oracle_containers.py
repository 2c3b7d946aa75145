"""A machine's container commands (XGROUP, XINFO): the frontend routes each call by its
subcommand (writes through the log, reads served locally), and answers an unknown subcommand or
a wrong arity itself, inside MULTI too, byte for byte as redis-server 7.0."""

from __future__ import annotations

import shlex

import pytest
import trio
from resp_helpers import RawClient

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


def _run(port: int, lines: list[list[str]]) -> list[bytes]:
    with RawClient(port) as client:
        client.command("FLUSHALL")
        return [client.command(*args) for args in lines]


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_replies_as_redis(name, port, oracle_port):
    lines = [shlex.split(line) for line in CASES[name].strip().splitlines() if line.strip()]
    theirs = await trio.to_thread.run_sync(_run, oracle_port, lines)
    ours = await trio.to_thread.run_sync(_run, port, lines)
    bad = [f"{args}: redis {want!r}, replicator {got!r}" for args, want, got in zip(lines, theirs, ours) if got != want]
    assert not bad, "\n".join(bad)
