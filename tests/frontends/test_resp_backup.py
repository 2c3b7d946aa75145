"""REPLICATOR.BACKUP over RESP against the test double: the header and parts reassemble into
the node's state, parts respect the client output buffer limit, AUTH and MULTI apply, at most
HELD_MAX backups are held and an idle one gives way. (tests/e2e/test_backup_restore.py takes
backups from real clusters.)"""

from __future__ import annotations

from functools import partial

import pytest
import redis
import trio
from fake_node import FakeNode
from resp_helpers import RawClient

from frontends.resp.commands import backup as backup_cmd
from frontends.resp.server import RespServer
from replicator.convert import hard_state_for, offline_host
from replicator.protocol.ready import Ready
from replicator.runtime.api import ReadConsistency
from replicator.storage.backup_file import chunks_digest, decode_header
from replicator.storage.memory_store import MemoryStore
from replicator.types import Snapshot, SnapshotMeta
from statemachines import encode_args
from statemachines.kv import KVMachine

BIG = b"x" * 300_000  # one value bigger than a part


async def start(nursery, **options) -> tuple[FakeNode, int]:
    node = FakeNode(batched=True)
    await nursery.start(node.run)
    server = RespServer(node, **options)
    await nursery.start(partial(server.serve, "127.0.0.1", 0))
    return node, server.port


def client(port: int, **kwargs) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=10, **kwargs)


def take(r: redis.Redis) -> tuple[object, list[bytes], list[int]]:
    """BEGIN, every part of every chunk, END: (header, chunks, the size of every part)."""
    header = decode_header(r.execute_command("REPLICATOR.BACKUP", "BEGIN"))
    chunks, parts = [], []
    for i, size in enumerate(header.chunk_sizes):
        data = b""
        while len(data) < size:
            part = r.execute_command("REPLICATOR.BACKUP", "READ", i, len(data))
            parts.append(len(part))
            data += part
        chunks.append(data)
    assert r.execute_command("REPLICATOR.BACKUP", "END") == b"OK"
    return header, chunks, parts


def restored_get(header, chunks: list[bytes], key: bytes) -> object:
    meta = SnapshotMeta(header.index, header.epoch, (1,), chunk_count=len(chunks))
    store = MemoryStore()
    hard_state = hard_state_for("raft", 1, header.epoch, header.epoch, header.index)
    store.save(Ready(0, hard_state, (), Snapshot(meta, tuple(chunks)), True, (), (), (), (), None))
    host = offline_host("raft", 1, store, {"kv": KVMachine()}, (1,))
    return host.query("kv", encode_args([b"GET", key]), 0)


async def test_a_backup_reassembles_into_the_nodes_state(nursery):
    node, port = await start(nursery)

    def scenario():
        r = client(port)
        for i in range(100):
            r.set(f"k{i}", f"v{i}")
        r.set("big", BIG)
        header, chunks, parts = take(r)
        assert header.cluster_id == "fake" and header.machines == ("kv",) and header.node_id == 1
        assert chunks_digest(chunks) == header.chunks_sha256
        assert max(parts) <= backup_cmd.READ_BYTES
        assert restored_get(header, chunks, b"k42") == b"v42"
        assert restored_get(header, chunks, b"big") == BIG
        with pytest.raises(redis.ResponseError, match="no backup on this connection"):
            r.execute_command("REPLICATOR.BACKUP", "READ", 0, 0)

    await trio.to_thread.run_sync(scenario)
    # Through the node's read path, linearizable and slow: the node runs it off its event loop
    # while applies wait, as it captures its own snapshots (core/node.py, SlowReads).
    assert [read[:2] for read in node.reads] == [(backup_cmd.CAPTURE_SNAPSHOT, ReadConsistency.LINEARIZABLE)]
    assert node.slow_batches == [True]


async def test_parts_stay_within_the_output_buffer_limit(nursery):
    _, port = await start(nursery)

    def scenario():
        r = client(port)
        r.set("big", BIG)
        r.config_set("client-output-buffer-limit", "normal 64kb 0 0")
        header, chunks, parts = take(r)
        assert max(parts) <= 32 * 1024 and len(parts) > len(chunks)  # half the hard limit per reply
        assert restored_get(header, chunks, b"big") == BIG

    await trio.to_thread.run_sync(scenario)


async def test_bad_requests_are_answered_and_change_nothing(nursery):
    _, port = await start(nursery)

    def scenario():
        r = client(port)
        r.set("a", "1")
        with r.pipeline(transaction=False) as pipe:  # READ before BEGIN has answered
            pipe.execute_command("REPLICATOR.BACKUP", "BEGIN")
            pipe.execute_command("REPLICATOR.BACKUP", "READ", 0, 0)
            header, early = pipe.execute(raise_on_error=False)
        assert decode_header(header).index >= 1 and "not ready: READ once BEGIN has answered" in str(early)
        for args, message in [
            (("READ", "x", "0"), "not an integer"),
            (("READ", " 0", "0"), "not an integer"),
            (("READ", "0", "1_0"), "not an integer"),
            (("READ", "99", "0"), "no such part"),
            (("READ", "0", "-1"), "no such part"),
            (("READ", "0", str(1 << 40)), "no such part"),
            (("FROB",), "unknown subcommand"),
            (("READ", "0"), "wrong number of arguments"),
        ]:
            with pytest.raises(redis.ResponseError, match=message):
                r.execute_command("REPLICATOR.BACKUP", *args)
        assert r.execute_command("REPLICATOR.BACKUP", "READ", 0, 0)  # the backup is still there
        help_lines = r.execute_command("REPLICATOR.BACKUP", "HELP")
        assert any(line.startswith(b"READ <chunk> <offset>") for line in help_lines)
        with r.pipeline() as pipe:  # inside MULTI: refused at EXEC, no capture
            pipe.execute_command("REPLICATOR.BACKUP", "BEGIN")
            pipe.get("a")
            refused, value = pipe.execute(raise_on_error=False)
        assert "not allowed inside MULTI" in str(refused) and value == b"1"

    await trio.to_thread.run_sync(scenario)


async def test_behind_auth(nursery):
    _, port = await start(nursery, requirepass="sekret")

    def scenario():
        with RawClient(port) as raw:
            assert raw.command("REPLICATOR.BACKUP", "BEGIN") == b"-NOAUTH Authentication required.\r\n"
        authed = client(port, password="sekret")
        authed.set("a", "1")
        assert take(authed)[0].machines == ("kv",)

    await trio.to_thread.run_sync(scenario)


async def test_at_most_held_max_backups_and_an_idle_one_gives_way(nursery, monkeypatch):
    _, port = await start(nursery)

    def scenario():
        holders = [client(port) for _ in range(backup_cmd.HELD_MAX)]
        for r in holders:
            r.execute_command("REPLICATOR.BACKUP", "BEGIN")
        late = client(port)
        with pytest.raises(redis.ResponseError, match="being taken from this node already"):
            late.execute_command("REPLICATOR.BACKUP", "BEGIN")
        holders[0].execute_command("REPLICATOR.BACKUP", "END")
        late.execute_command("REPLICATOR.BACKUP", "BEGIN")  # room again
        holders[1].close()  # a closed connection lets go of its backup too
        for _ in range(100):
            try:
                holders[0].execute_command("REPLICATOR.BACKUP", "BEGIN")
                break
            except redis.ResponseError:
                trio.from_thread.run(trio.sleep, 0.01)  # the server notices the close
        else:
            raise AssertionError("a closed connection's backup was never let go")
        monkeypatch.setattr(backup_cmd, "IDLE_S", -1.0)  # every held backup counts as idle
        client(port).execute_command("REPLICATOR.BACKUP", "BEGIN")
        with pytest.raises(redis.ResponseError, match="was dropped"):
            late.execute_command("REPLICATOR.BACKUP", "READ", 0, 0)

    await trio.to_thread.run_sync(scenario)
