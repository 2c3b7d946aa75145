"""`replicator convert`: carry a stopped node's state over to the other protocol.

    replicator convert --to zab|raft --data-dir D [--config FILE]

Raft and ZAB keep one log format (index, epoch, zxid, kind, data: see
types.py), but each engine keeps its own durable promises (hard state) and the
store records which protocol wrote it, so that a node never reads another
protocol's promises as its own. Converting a STOPPED node rewrites its data
directory for the other protocol:

1. The old store is opened under the protocol it records; the commit index
   comes from that protocol's hard state (or the snapshot, if higher).
2. The state machines are rebuilt with NodeHost's own restore/apply path: the
   snapshot is restored, then every NORMAL entry up to the commit index is
   applied in order, with its own ts_ms. NodeHost.take_snapshot() frames the
   result, exactly as a running node would.
3. A new store for the target protocol is written in a temporary directory
   beside D, in one durable write, with the same cluster and node id:
   - that snapshot, at the commit index, with the epoch (term) the old log
     gave that index;
   - the log entries after the commit index, unchanged but for their zxid
     (ZAB: epoch << 32 | index; Raft: 0). They were not known committed here,
     but some of them may be committed (and acknowledged) elsewhere: the
     first leader of the new protocol decides their fate, like any leader;
   - a hard state in the target protocol's format that promises no less than
     the old one did (below).
4. D is renamed to D.<old protocol>.bak-<timestamp> and the new store to D.
5. With --config, the config file's `protocol = ...` line is rewritten.

Why entries keep their epochs, and why there is a hard state. A converted
cluster elects its first leader from the converted stores, so what each store
holds must let the election pick a node that has every committed entry.
Both protocols order candidates by (epoch of the last entry, last index)
(ZAB first by currentEpoch, set here to that same last epoch), and in both a
position (index, epoch) names one entry in every log. Keeping each entry's
epoch and each node's uncommitted tail therefore keeps the old protocol's
guarantee: a node whose log is at least as up to date as a majority's holds
every committed entry, whichever node wins. New epochs must not reuse old
ones (an old epoch's entry and a new one at the same position would look
identical): the converted hard state records the highest epoch the node had
promised (Raft: its term; ZAB: acceptedEpoch), so new leaders start above it.

    to ZAB:  acceptedEpoch = max(term, last epoch), acceptedLeader = 0,
             currentEpoch = last epoch, commit
    to Raft: term = max(acceptedEpoch, last epoch), vote = this node (so no
             other candidate can win that term), commit

Refused: a directory that is not a replicator store, a store already of the
target protocol, a node that is running (its replicator.lock is held), a
config file naming another node, cluster or directory.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import random
import re
import shutil
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from replicator import config as config_mod
from replicator.config import Config
from replicator.node import NodeHost
from replicator.protocol import EngineConfig
from replicator.protocol.log_store import LogStore
from replicator.protocol.ready import Ready
from replicator.protocols import PROTOCOLS, committed_index, engine_factory
from replicator.storage import DataDirMismatch
from replicator.storage.backup_file import fsync_dir
from replicator.storage.lmdb_store import DIR_LOCK_FILE, LmdbStore, recorded_identity
from replicator.types import Entry, Membership, NodeId, Snapshot
from statemachines import StateMachine
from statemachines.hooks import set_databases
from statemachines.registry import load_machine

APPLY_BATCH_BYTES = 8 << 20  # log payload read per batch while rebuilding the state machines
_DEFAULT_MACHINES: tuple[str, ...] = next(f.default for f in dataclasses.fields(Config) if f.name == "machines")


class ConvertError(Exception):
    """The conversion was refused or failed; nothing was changed unless the message says so."""


@dataclass(frozen=True, slots=True)
class ConvertResult:
    data_dir: Path
    backup: Path  # the old store, renamed
    cluster_id: str
    node_id: NodeId
    source: str  # protocol converted from
    target: str  # protocol converted to
    commit: int  # index of the snapshot: every entry known committed here
    epoch: int  # epoch (term) of the entry at `commit`
    snapshot_bytes: int
    tail: int  # entries after `commit` kept in the new log
    machines: tuple[str, ...]
    config: Path | None
    config_note: str  # what happened to the config file, or the edit the operator must make


def convert(data_dir: Path | None, to: str, config_path: Path | None = None) -> ConvertResult:
    """Convert the stopped node's store in `data_dir` (or the config's data_dir) to protocol `to`."""
    if to not in PROTOCOLS:
        raise ConvertError(f"unknown protocol {to!r}; choose one of: {', '.join(PROTOCOLS)}")
    cfg = config_mod.load(config_path) if config_path is not None else None
    if data_dir is None:
        if cfg is None:
            raise ConvertError("give --data-dir, --config, or both")
        data_dir = cfg.data_dir
    data_dir = Path(data_dir)
    if cfg is not None and cfg.data_dir.resolve() != data_dir.resolve():
        raise ConvertError(
            f"{config_path} is the config of the node in {cfg.data_dir}, not {data_dir}; "
            f"pass that node's own config file"
        )
    check_stopped(data_dir)
    try:
        cluster_id, node_id, source = recorded_identity(data_dir)
    except DataDirMismatch as e:
        raise ConvertError(f"{data_dir} is not a replicator data directory: {e}") from None
    if source == to:
        hint = ""
        if cfg is not None and cfg.protocol != to:
            hint = f"; its config {config_path} still says protocol = {cfg.protocol!r}: set it to {to!r}"
        raise ConvertError(
            f"{data_dir} already holds a {to} store (node {node_id} of cluster {cluster_id!r}): "
            f"nothing to convert{hint}"
        )
    if source not in PROTOCOLS:
        raise ConvertError(f"{data_dir} holds a store of protocol {source!r}, which this replicator does not know")
    if cfg is not None and (cfg.cluster_id, cfg.node_id) != (cluster_id, node_id):
        raise ConvertError(
            f"{data_dir} belongs to node {node_id} of cluster {cluster_id!r}, but {config_path} "
            f"configures node {cfg.node_id} of cluster {cfg.cluster_id!r}"
        )

    machine_names = cfg.machines if cfg is not None else _DEFAULT_MACHINES
    machines = {name: load_machine(name) for name in machine_names}
    set_databases(machines.values(), cfg.databases if cfg is not None else Config.databases)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tmp = _unique(data_dir.with_name(f".{data_dir.name}.{to}.converting-{stamp}"))
    backup = _unique(data_dir.with_name(f"{data_dir.name}.{source}.bak-{stamp}"))

    src = LmdbStore.open(data_dir, cluster_id=cluster_id, node_id=node_id, protocol=source)
    try:
        src_meta = src.snapshot_meta()
        if cfg is not None:
            voters, observers = cfg.voters, cfg.observers
        elif src_meta is not None:
            voters, observers = src_meta.voters, src_meta.observers
        else:
            voters, observers = (), ()
        raw = src.hard_state()
        try:
            commit = committed_index(source, raw)
            promised = _PROMISED_EPOCH[source](raw) if raw is not None else 0
        except ValueError as e:
            raise ConvertError(f"{data_dir}: the {source} hard state is unreadable ({e})") from None
        commit = max(commit, src_meta.index if src_meta is not None else 0)
        last = src.last_index()
        if commit > last:
            raise ConvertError(f"{data_dir} is inconsistent: commit index {commit} is past its last entry {last}")

        # Rebuild the state machines through NodeHost: restore, then apply up to commit.
        try:
            # Only the apply step runs here (committed entries, in order): the engine is never
            # stepped. Without a config file or a snapshot that names the members, it is given
            # this node alone, a placeholder the snapshot below does not record.
            host = offline_host(source, node_id, src, machines, voters or (node_id,), observers)
        except ValueError as e:  # the snapshot holds a machine we did not load
            raise ConvertError(
                f"{data_dir}: {e} (machines: {', '.join(machine_names)}; pass the node's "
                f"--config so that its machines are loaded)"
            ) from None
        while host.applied < commit:
            batch = src.entries(host.applied + 1, commit + 1, APPLY_BATCH_BYTES)
            host.apply(_apply_only(tuple(batch)))
        assert host.applied == commit, (host.applied, commit)
        snapshot = None
        epoch = src.term(commit)
        if commit > 0:
            snapshot = host.take_snapshot()
            meta = dataclasses.replace(snapshot.meta, zxid=zxid_for(to, epoch, commit))
            if not voters and host.membership == Membership.of((node_id,)):
                # Members unknown here (no config, no snapshot, no CONFIG entry): the node's
                # config file names them when it starts, as it did before the conversion.
                meta = dataclasses.replace(meta, voters=(), observers=(), membership=None)
            snapshot = Snapshot(meta, snapshot.chunks)
        tail = tuple(
            msgspec.structs.replace(e, zxid=zxid_for(to, e.epoch, e.index))
            for e in (src.entries(commit + 1, last + 1) if last > commit else ())
        )
        last_epoch = src.term(last)
        hard_state = None
        if promised or last_epoch or commit:
            hard_state = hard_state_for(to, node_id, max(promised, last_epoch), last_epoch, commit)

        # The new store, beside the old one, in one durable write.
        write_store(tmp, cluster_id, node_id, to, snapshot, tail, hard_state, voters, observers, commit)
        # Swap, still holding the old store's lock (it moves with the directory).
        try:
            os.rename(data_dir, backup)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ConvertError(f"cannot rename {data_dir} to {backup}: {e}; nothing was changed") from None
        try:
            os.rename(tmp, data_dir)
        except OSError as e:
            try:
                os.rename(backup, data_dir)
                undone = f"the old store is back in {data_dir}; the new one is left in {tmp}"
            except OSError:
                undone = f"the old store is in {backup}, the converted one in {tmp}: rename one of them to {data_dir}"
            raise ConvertError(f"cannot rename {tmp} to {data_dir}: {e}; {undone}") from None
        fsync_dir(data_dir.parent)
    finally:
        src.close()

    config_note = f'set protocol = "{to}" in this node\'s config file before starting it'
    if config_path is not None:
        config_note = set_config_protocol(config_path, to)
    return ConvertResult(
        data_dir=data_dir,
        backup=backup,
        cluster_id=cluster_id,
        node_id=node_id,
        source=source,
        target=to,
        commit=commit,
        epoch=epoch,
        snapshot_bytes=snapshot.meta.size_bytes if snapshot else 0,
        tail=len(tail),
        machines=tuple(machine_names),
        config=config_path,
        config_note=config_note,
    )


def format_result(r: ConvertResult) -> str:
    lines = [f"converted node {r.node_id} of cluster {r.cluster_id!r} in {r.data_dir} from {r.source} to {r.target}:"]
    if r.commit:
        lines.append(
            f"  state machines ({', '.join(r.machines)}) rebuilt through index {r.commit} (epoch {r.epoch}), "
            f"the last entry known committed here: now a snapshot of {r.snapshot_bytes} bytes"
        )
    else:
        lines.append("  no entry was known committed here (a commit index alone is not fsync'd): no snapshot")
    if r.tail:
        lines.append(
            f"  {r.tail} log entries after index {r.commit} kept with their index and epoch: "
            f"the first {r.target} leader commits them (or drops those never committed)"
        )
    lines.append(f"  the {r.source} store is kept in {r.backup} (delete it once the cluster runs well)")
    lines.append(f"  config: {r.config_note}")
    return "\n".join(lines)


# --- the config file ----------------------------------------------------------------
_TABLE_LINE = re.compile(r"^\s*\[")
_PROTOCOL_LINE = re.compile(r"""^(?P<lead>\s*protocol\s*=\s*)(?P<value>"[^"]*"|'[^']*')(?P<rest>.*?)(?P<eol>\r?\n?)$""")


def set_config_protocol(path: Path, protocol: str) -> str:
    """Rewrite the top-level `protocol = ...` line of the TOML file (adding one if
    there is none), keeping every other line as it is. Returns what was done; if
    the file cannot be edited safely, says which edit the operator must make."""
    manual = f'edit {path} by hand: set protocol = "{protocol}" (a top-level key, before any [[members]])'
    try:
        text = path.read_text()
    except OSError as e:
        return f"cannot read {path} ({e}); {manual}"
    lines = text.splitlines(keepends=True)
    insert_at = len(lines)
    found = None
    for i, line in enumerate(lines):
        if _TABLE_LINE.match(line):
            insert_at = i
            break
        m = _PROTOCOL_LINE.match(line)
        if m:
            found = i
            if m["value"][1:-1] == protocol:
                return f'{path} already says protocol = "{protocol}"'
            lines[i] = f'{m["lead"]}"{protocol}"{m["rest"]}{m["eol"] or ""}'
    if found is None:
        if insert_at > 0 and not lines[insert_at - 1].endswith("\n"):
            lines[insert_at - 1] += "\n"
        lines.insert(insert_at, f'protocol = "{protocol}"\n')
    new = "".join(lines)
    try:
        raw = tomllib.loads(new)
        if raw.get("protocol") != protocol:
            return f"could not find where to set it; {manual}"
        config_mod.from_dict(raw, str(path), base=path.parent)
    except (tomllib.TOMLDecodeError, config_mod.ConfigError) as e:
        return f"the edit would not parse ({e}); {manual}"
    tmp = path.with_name(f".{path.name}.converting")
    try:
        # 0600 until it takes the config's own mode: the file holds the cluster secret and requirepass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a leftover from an interrupted run may have a wider mode
        with os.fdopen(fd, "w") as f:
            f.write(new)
            f.flush()
            os.fsync(f.fileno())
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        return f"cannot write {path} ({e}); {manual}"
    return f'{path} now says protocol = "{protocol}"'


# --- helpers ------------------------------------------------------------------------
def _apply_only(committed: tuple[Entry, ...]) -> Ready:
    return Ready(
        number=0,
        hard_state=None,
        entries=(),
        snapshot=None,
        must_sync=False,
        messages=(),
        messages_after_persist=(),
        committed=committed,
        read_states=(),
        soft_state=None,
    )


def zxid_for(protocol: str, epoch: int, index: int) -> int:
    """An entry's zxid in `protocol`'s log: epoch << 32 | index for ZAB (counters grow with the
    index inside an epoch), 0 for Raft."""
    if protocol != "zab":
        return 0
    from replicator.protocol.zab.zxid import make_zxid

    try:
        return make_zxid(epoch, index)  # counters grow with the index inside an epoch
    except ValueError:
        raise ConvertError(f"epoch {epoch} or index {index} does not fit a ZAB zxid (32 bits each)") from None


def _raft_promised(raw: bytes) -> int:
    from replicator.protocol.raft.engine import decode_hard_state

    return decode_hard_state(raw)[0]  # term


def _zab_promised(raw: bytes) -> int:
    from replicator.protocol.zab.engine import decode_hard_state

    return decode_hard_state(raw)[0]  # acceptedEpoch


def _raft_hard_state(node_id: NodeId, epoch: int, last_epoch: int, commit: int) -> bytes:
    from replicator.protocol.raft.engine import encode_hard_state

    return encode_hard_state(epoch, node_id, commit)


def _zab_hard_state(node_id: NodeId, epoch: int, last_epoch: int, commit: int) -> bytes:
    from replicator.protocol.zab.engine import encode_hard_state

    return encode_hard_state(epoch, 0, last_epoch, commit)


_PROMISED_EPOCH: dict[str, Callable[[bytes], int]] = {"raft": _raft_promised, "zab": _zab_promised}
_HARD_STATE: dict[str, Callable[[NodeId, int, int, int], bytes]] = {"raft": _raft_hard_state, "zab": _zab_hard_state}


def offline_host(
    protocol: str,
    node_id: int,
    store: LogStore,
    machines: dict[str, StateMachine],
    voters: tuple[int, ...],
    observers: tuple[int, ...] = (),
) -> NodeHost:
    """A NodeHost over `store` with an engine that is never stepped: it restores the store's
    snapshot into `machines` as a starting node does, for tools and checks that need the state."""
    meta = store.snapshot_meta()
    engine = engine_factory(protocol)(
        EngineConfig(node_id=node_id, voters=voters, observers=observers, applied=meta.index if meta else 0),
        store,
        random.Random(0),
    )
    return NodeHost(node_id, engine, store, machines, voters=voters, observers=observers)


def hard_state_for(protocol: str, node_id: NodeId, promised: int, last_epoch: int, commit: int) -> bytes:
    """`protocol`'s hard state that promises epoch `promised` (Raft: term, with a vote for this
    node; ZAB: acceptedEpoch), with currentEpoch `last_epoch` (ZAB) and the commit index."""
    return _HARD_STATE[protocol](node_id, promised, last_epoch, commit)


def write_store(
    path: Path,
    cluster_id: str,
    node_id: NodeId,
    protocol: str,
    snapshot: Snapshot | None,
    tail: tuple[Entry, ...],
    hard_state: bytes | None,
    voters: tuple[NodeId, ...],
    observers: tuple[NodeId, ...],
    commit: int,
) -> None:
    """A new store for `protocol` in the new directory `path`, in one durable write: the
    snapshot, the log entries after it, the hard state; checked by opening the target engine
    on it (it must see `commit`). Removed again if anything fails."""
    try:
        with LmdbStore.open(path, cluster_id=cluster_id, node_id=node_id, protocol=protocol) as dst:
            dst.save(
                Ready(
                    number=0,
                    hard_state=hard_state,
                    entries=tail,
                    snapshot=snapshot,
                    must_sync=True,
                    messages=(),
                    messages_after_persist=(),
                    committed=(),
                    read_states=(),
                    soft_state=None,
                )
            )
            _check_target(protocol, dst, node_id, voters, observers, commit)
        fsync_dir(path)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def _check_target(protocol: str, store: LmdbStore, node_id: NodeId, voters, observers, commit: int) -> None:
    """The target engine starts from the new store and sees the commit index we meant."""
    if node_id not in voters and node_id not in observers:
        voters, observers = (*voters, node_id), tuple(o for o in observers if o != node_id)
    meta = store.snapshot_meta()
    engine = engine_factory(protocol)(
        EngineConfig(
            node_id=node_id, voters=tuple(voters), observers=tuple(observers), applied=meta.index if meta else 0
        ),
        store,
        random.Random(0),
    )
    status = engine.status()
    if status.commit != commit or committed_index(protocol, store.hard_state()) != commit:
        raise ConvertError(f"the converted {protocol} store reports commit {status.commit}, expected {commit}")


def check_stopped(path: Path) -> None:
    """Refuses (ConvertError) a data directory whose node is running: its lock is held."""
    lock = path / DIR_LOCK_FILE
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return  # no lock file: no store was ever opened here (recorded_identity says what it is)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise ConvertError(
                f"{path} is in use: its node looks running ({lock} is locked). "
                f"Stop the node first (for a cluster: stop every node)"
            ) from None
        raise
    finally:
        os.close(fd)


def _unique(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate
