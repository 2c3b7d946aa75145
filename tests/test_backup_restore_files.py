"""The backup file and `restore` in-process: what a restored store holds in each protocol,
and every refusal (tests/e2e/test_backup_restore.py runs the whole thing with real nodes)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgspec
import pytest

from replicator import config as config_mod
from replicator.config import Config, Member
from replicator.convert import offline_host
from replicator.protocol.raft.engine import decode_hard_state as raft_hard_state
from replicator.protocol.zab.engine import decode_hard_state as zab_hard_state
from replicator.restore import RestoreError, restore
from replicator.storage.backup_file import (
    MAGIC,
    BackupError,
    BackupHeader,
    BackupWriter,
    chunks_digest,
    encode_header,
    read_backup,
    read_header,
)
from replicator.storage.lmdb_store import LmdbStore
from replicator.storage.memory_store import MemoryStore
from replicator.types import Membership
from statemachines import encode_args
from statemachines.kv import KVMachine

INDEX, EPOCH = 57, 3


def write_backup(path: Path, *, chunks: tuple[bytes, ...] | None = None, **fields) -> BackupHeader:
    """A backup of a kv holding k0..k9, as if taken at INDEX in EPOCH of cluster "c"."""
    if chunks is None:
        kv = KVMachine()
        for i in range(10):
            kv.apply(i + 1, encode_args([b"SET", b"k%d" % i, b"v%d" % i]), 0)
        chunks = offline_host("raft", 1, MemoryStore(), {"kv": kv}, (1,)).take_snapshot().chunks
    header = BackupHeader(
        cluster_id="c",
        protocol="raft",
        node_id=2,
        taken_ms=0,
        index=INDEX,
        epoch=EPOCH,
        membership=Membership.of((1, 2, 3)),
        machines=("kv",),
        chunk_sizes=tuple(map(len, chunks)),
        chunks_sha256=chunks_digest(chunks),
    )
    header = msgspec.structs.replace(header, **fields) if fields else header
    writer = BackupWriter(path, header, encode_header(header))
    for chunk in chunks:
        writer.chunk_part(chunk)
    writer.commit()
    return header


def node_config(root: Path, node_id: int = 1, nodes: int = 3, **settings) -> Path:
    members = tuple(
        Member(id=i, peer=("127.0.0.1", 17100 + i), resp=("127.0.0.1", 17000 + i)) for i in range(1, nodes + 1)
    )
    me = members[node_id - 1]
    cfg = Config(
        node_id=node_id, members=members, data_dir=root / f"n{node_id}", resp=me.resp, peer=me.peer, cluster_id="c"
    )
    path = root / f"n{node_id}.toml"
    path.write_text(config_mod.to_toml(dataclasses.replace(cfg, **settings)))
    return path


def test_the_file_round_trips_and_is_written_whole(tmp_path):
    header = write_backup(tmp_path / "b")
    assert not (tmp_path / "b.tmp").exists()
    read, chunks = read_backup(tmp_path / "b")
    assert read == header and chunks_digest(chunks) == header.chunks_sha256
    assert read_header(tmp_path / "b") == header


@pytest.mark.parametrize("protocol", ["raft", "zab"])
def test_a_restored_store_holds_the_state_at_the_backups_index(tmp_path, protocol):
    write_backup(tmp_path / "b")
    paths = [node_config(tmp_path, i, protocol=protocol) for i in (1, 2, 3)]
    done = restore(tmp_path / "b", paths)
    assert [n.node_id for n in done.nodes] == [1, 2, 3]
    for node_id in (1, 2, 3):
        with LmdbStore.open(tmp_path / f"n{node_id}", cluster_id="c", node_id=node_id, protocol=protocol) as store:
            meta = store.snapshot_meta()
            assert (meta.index, meta.epoch, store.last_index()) == (INDEX, EPOCH, INDEX)
            assert [(m.id, m.peer) for m in meta.members().members] == [
                (i, f"127.0.0.1:{17100 + i}") for i in (1, 2, 3)
            ]
            if protocol == "zab":
                assert meta.zxid == EPOCH << 32 | INDEX
                assert zab_hard_state(store.hard_state()) == (EPOCH, 0, EPOCH, INDEX)
            else:
                assert raft_hard_state(store.hard_state()) == (EPOCH, node_id, INDEX)
            host = offline_host(protocol, node_id, store, {"kv": KVMachine()}, (1, 2, 3))
            assert host.applied == INDEX
            assert host.query("kv", encode_args([b"GET", b"k7"]), 0) == b"v7"


def refused(tmp_path: Path, backup: Path, paths: list[Path], message: str, **options) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(RestoreError, match=message):
        restore(backup, paths, **options)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no temporary left


def test_inconsistent_or_foreign_files_are_refused(tmp_path):
    config = node_config(tmp_path)
    write_backup(tmp_path / "zero", index=0)
    refused(tmp_path, tmp_path / "zero", [config], "header is inconsistent")
    write_backup(tmp_path / "future", format=2)
    refused(tmp_path, tmp_path / "future", [config], "backup format 2; this replicator reads format 1")
    (tmp_path / "empty").write_bytes(b"")
    refused(tmp_path, tmp_path / "empty", [config], "not a replicator backup")
    (tmp_path / "magic").write_bytes(MAGIC + b"\xff\xff\xff\xff" + bytes(40))
    refused(tmp_path, tmp_path / "magic", [config], "truncated or damaged")
    with pytest.raises(BackupError, match="not a replicator backup"):
        read_header(tmp_path / "empty")


def test_state_the_machines_cannot_read_is_refused_before_anything_is_written(tmp_path):
    config = node_config(tmp_path)
    garbage = msgspec.msgpack.encode(("kv", [1])), b"\xc1 not a kv chunk"
    write_backup(tmp_path / "b", chunks=garbage)  # checksums fine: the node sent this
    refused(tmp_path, tmp_path / "b", [config], "cannot be restored by the machines kv")
    unframed = (b"\xc1 no header",)
    write_backup(tmp_path / "c", chunks=unframed)
    refused(tmp_path, tmp_path / "c", [config], "cannot be restored")


def test_targets_are_all_checked_before_the_first_is_written(tmp_path):
    write_backup(tmp_path / "b")
    one, two = node_config(tmp_path, 1), node_config(tmp_path, 2)
    (tmp_path / "n2").mkdir()
    (tmp_path / "n2" / "x").write_text("")
    refused(tmp_path, tmp_path / "b", [one, two], "n2 already holds 1 file")
    same = tmp_path / "same.toml"
    same.write_text(one.read_text().replace("node_id = 1", "node_id = 2"))
    refused(tmp_path, tmp_path / "b", [one, same], "name the same data_dir")
    refused(tmp_path, tmp_path / "b", [one, two], "--data-dir goes with one --config", data_dir=tmp_path / "n1")
    refused(tmp_path, tmp_path / "b", [one], "would not find the restored state", data_dir=tmp_path / "elsewhere")
    (tmp_path / "n1").mkdir()  # an empty directory is fine
    restore(tmp_path / "b", [one], data_dir=tmp_path / "n1")
    assert (tmp_path / "n1" / "data.mdb").exists()


def test_backup_from_an_unreachable_node_is_one_line_and_writes_nothing(tmp_path, capsys):
    from replicator import cli
    from tests.e2e.harness import free_ports

    (port,) = free_ports(1)
    assert cli.main(["backup", "--port", str(port), str(tmp_path / "b")]) == 2
    assert capsys.readouterr().err.startswith(f"replicator: cannot reach a node on 127.0.0.1:{port}")
    assert list(tmp_path.iterdir()) == []


def test_seeding_part_of_a_cluster_names_the_members_left(tmp_path):
    from replicator.restore import format_results

    write_backup(tmp_path / "b")
    text = format_results(restore(tmp_path / "b", [node_config(tmp_path, 1)]))
    assert "node(s) 2, 3 must be seeded from this same backup too" in text
    others = tmp_path / "all"
    others.mkdir()
    text = format_results(restore(tmp_path / "b", [node_config(others, i) for i in (1, 2, 3)]))
    assert "must be seeded" not in text and "node 3 of cluster 'c' (raft)" in text
