"""`replicator restore FILE --config C [--config C2 ...]`: seed a NEW cluster from a backup.

As `etcdctl snapshot restore` does, each node of the new cluster gets a fresh data directory
whose snapshot is the backup's state, with the membership of the NEW cluster: its config
file gives the node id, protocol, members (with their addresses), cluster id and data_dir.
Repeat --config to seed several nodes at once, or run it once per node; either way EVERY
member of the new cluster must be seeded from the same backup before any starts (etcd asks
the same): two empty voters are a majority of three and could elect a leader without the
state, whose log would then overwrite it. A single-node cluster is seeded by one run.

What a restored store holds (the pieces of replicator/convert.py, which does the same for a
stopped node's own store): the snapshot at the backup's index, with the epoch the source
log gave that index and, under ZAB, the zxid epoch << 32 | index; no log entries after it;
a hard state that promises that epoch (Raft: term, a vote for this node; ZAB: acceptedEpoch
and currentEpoch) and commits the index. So a backup of a Raft cluster restores into a ZAB
cluster and back: the state machines never learn which protocol wrote their state. The new
cluster's first leader starts a higher epoch and goes on from index + 1.

Refused, with nothing written:
- a file that is not a backup, of an unknown format, truncated or damaged (its checksums);
- a data directory that is not empty (a store there is named: restoring never replaces
  data; move it away first), or two configs naming the same one;
- a backup of another cluster: the backup's cluster id must be the config's, unless
  --source-cluster names the backup's cluster. This is the guard against the wrong file,
  not an identity: the new cluster's identity is its config's cluster_id (etcd's
  --initial-cluster-token plays that part there), and peers of two clusters never talk
  unless they share the cluster secret and id;
- a backup holding the state of a machine the config does not run, or state its machines
  cannot read (the state is restored once in memory before anything is written).

Every target is checked before the first is written; each store is written beside its
directory, checked by opening the target engine on it, fsynced and renamed into place.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from replicator import config as config_mod
from replicator.config import Config, ConfigError
from replicator.convert import ConvertError, fsync_dir, hard_state_for, offline_host, write_store, zxid_for
from replicator.protocol.log_store import StorageError
from replicator.protocol.ready import Ready
from replicator.storage import DataDirMismatch
from replicator.storage.backup_file import BackupError, BackupHeader, read_backup
from replicator.storage.lmdb_store import recorded_identity
from replicator.storage.memory_store import MemoryStore
from replicator.types import ClusterMember, Membership, Snapshot, SnapshotMeta
from statemachines import reserved_name
from statemachines.registry import load_machine


class RestoreError(Exception):
    """The restore was refused or failed; nothing was written (the text says so otherwise)."""


@dataclass(frozen=True, slots=True)
class SeededNode:
    config: Path
    data_dir: Path
    node_id: int
    cluster_id: str
    protocol: str
    members: Membership


@dataclass(frozen=True, slots=True)
class Restored:
    """What `restore` did: the backup it read and every node it seeded."""

    file: Path
    header: BackupHeader
    nodes: list[SeededNode]


def restore(
    file: Path, config_paths: list[Path], *, data_dir: Path | None = None, source_cluster: str | None = None
) -> Restored:
    try:
        header, chunks = read_backup(Path(file))
    except BackupError as e:
        raise RestoreError(f"{e}; nothing was restored") from None
    configs = []
    for path in config_paths:
        try:
            configs.append((Path(path), config_mod.load(path)))
        except ConfigError as e:
            raise RestoreError(str(e)) from None
    if data_dir is not None:
        if len(configs) != 1:
            raise RestoreError("--data-dir goes with one --config (each config names its node's data_dir)")
        path, cfg = configs[0]
        if Path(data_dir).resolve() != cfg.data_dir.resolve():
            raise RestoreError(
                f"{path} is the config of the node whose data_dir is {cfg.data_dir}, not {data_dir}: "
                f"the node started with it would not find the restored state (fix data_dir, or drop --data-dir)"
            )
    _check_targets(header, configs, source_cluster)
    _check_state_restores(header, chunks, configs)

    done: list[SeededNode] = []
    for path, cfg in configs:
        try:
            _seed(header, chunks, cfg)
        except (ConvertError, StorageError, OSError) as e:
            kept = ", ".join(str(r.data_dir) for r in done)
            note = f"; already restored: {kept} (remove them to start over)" if kept else "; nothing was restored"
            raise RestoreError(f"restoring node {cfg.node_id} into {cfg.data_dir} failed: {e}{note}") from None
        done.append(SeededNode(path, cfg.data_dir, cfg.node_id, cfg.cluster_id, cfg.protocol, members_of(cfg)))
    return Restored(Path(file), header, done)


def members_of(cfg: Config) -> Membership:
    """The new cluster's membership, with addresses, as its config file gives it."""
    members = (
        ClusterMember(m.id, m.role, config_mod.format_address(m.peer), config_mod.format_address(m.resp))
        for m in cfg.members
    )
    return Membership(tuple(sorted(members, key=lambda m: m.id)))


def _check_targets(header: BackupHeader, configs: list[tuple[Path, Config]], source_cluster: str | None) -> None:
    seen: dict[Path, Path] = {}
    for path, cfg in configs:
        target = cfg.data_dir.resolve()
        if target in seen:
            raise RestoreError(f"{seen[target]} and {path} name the same data_dir {cfg.data_dir}")
        seen[target] = path
        if header.cluster_id != cfg.cluster_id and source_cluster != header.cluster_id:
            hint = (
                f"--source-cluster {source_cluster!r} does not name it either"
                if source_cluster is not None
                else f"pass --source-cluster {header.cluster_id} if this is the backup you mean to restore"
            )
            raise RestoreError(
                f"the backup is of cluster {header.cluster_id!r}, but {path} configures cluster {cfg.cluster_id!r}: "
                f"{hint}; nothing was restored"
            )
        # (the node's own state, ACL users, is restored by every node: not a machine to configure)
        missing = [name for name in header.machines if name not in cfg.machines and not reserved_name(name)]
        if missing:
            raise RestoreError(
                f"the backup holds the state of machine(s) {', '.join(missing)}, which {path} does not run "
                f"(machines = {list(cfg.machines)}): add them to every config of the new cluster; nothing was restored"
            )
        _check_empty(cfg.data_dir)
        if cfg.protocol == "zab":
            try:
                zxid_for("zab", header.epoch, header.index)
            except ConvertError as e:
                raise RestoreError(f"{e}: this backup cannot be restored into a ZAB cluster") from None


def _check_empty(data_dir: Path) -> None:
    try:
        contents = os.listdir(data_dir)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise RestoreError(f"{data_dir} is a file, not a data directory; nothing was restored") from None
    if not contents:
        return
    try:
        cluster_id, node_id, protocol = recorded_identity(data_dir)
        what = f"the {protocol} store of node {node_id} of cluster {cluster_id!r}"
    except (DataDirMismatch, StorageError):
        what = f"{len(contents)} file(s)"
    raise RestoreError(
        f"{data_dir} already holds {what}: a restore seeds a NEW node and never replaces data "
        f"(stop that node and move the directory away first); nothing was restored"
    )


def _check_state_restores(header: BackupHeader, chunks: list[bytes], configs: list[tuple[Path, Config]]) -> None:
    """Restore the state once per distinct set of machines, in memory, before writing
    anything: a backup whose state those machines cannot read is refused here, not when the
    new nodes start."""
    for machine_names in {cfg.machines for _, cfg in configs}:
        cfg = next(cfg for _, cfg in configs if cfg.machines == machine_names)
        store = MemoryStore()
        hard_state = hard_state_for(cfg.protocol, cfg.node_id, header.epoch, header.epoch, header.index)
        store.save(Ready(0, hard_state, (), _snapshot(header, chunks, cfg), True, (), (), (), (), None))
        try:
            machines = {name: load_machine(name) for name in machine_names}
            offline_host(cfg.protocol, cfg.node_id, store, machines, cfg.voters, cfg.observers)
        except LookupError as e:
            raise RestoreError(f"{e}; nothing was restored") from None
        except Exception as e:  # a machine's restore() refusing what the chunks hold
            raise RestoreError(
                f"the backup's state cannot be restored by the machines {', '.join(machine_names)} "
                f"({type(e).__name__}: {e}); nothing was restored"
            ) from None


def _snapshot(header: BackupHeader, chunks: list[bytes], cfg: Config) -> Snapshot:
    meta = SnapshotMeta(
        index=header.index,
        epoch=header.epoch,
        voters=cfg.voters,
        observers=cfg.observers,
        zxid=zxid_for(cfg.protocol, header.epoch, header.index),
        chunk_count=len(chunks),
        size_bytes=header.size_bytes,
        membership=members_of(cfg),
    )
    return Snapshot(meta, tuple(chunks))


def _seed(header: BackupHeader, chunks: list[bytes], cfg: Config) -> None:
    """Write the node's store beside its data directory, then rename it into place."""
    target = cfg.data_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.restoring-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    hard_state = hard_state_for(cfg.protocol, cfg.node_id, header.epoch, header.epoch, header.index)
    write_store(
        tmp,
        cfg.cluster_id,
        cfg.node_id,
        cfg.protocol,
        _snapshot(header, chunks, cfg),
        (),
        hard_state,
        cfg.voters,
        cfg.observers,
        header.index,
    )
    try:
        os.rename(tmp, target)  # onto an empty directory too (rename(2) replaces it)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(target.parent)


def format_results(r: Restored) -> str:
    h = r.header
    lines = [
        f"restored the backup {r.file} of cluster {h.cluster_id!r} ({h.protocol}, taken from node {h.node_id} "
        f"at index {h.index}, epoch {h.epoch}; machines {', '.join(h.machines)}, {h.size_bytes} bytes of state):"
    ]
    for n in r.nodes:
        members = ", ".join(f"{m.id} ({m.role}, {m.peer})" for m in n.members.members)
        lines.append(
            f"  node {n.node_id} of cluster {n.cluster_id!r} ({n.protocol}) in {n.data_dir}: members {members}"
        )
    seeded = {n.node_id for n in r.nodes}
    members = {m.id for n in r.nodes for m in n.members.members}
    if members - seeded:
        others = ", ".join(map(str, sorted(members - seeded)))
        lines.append(
            f"node(s) {others} must be seeded from this same backup too (here or by another run) before "
            f"any node starts: an empty majority could elect a leader without this state"
        )
        lines.append("then start each node with: replicator serve --config <its config>")
    else:
        lines.append("start each node with: replicator serve --config <its config>")
    return "\n".join(lines)
