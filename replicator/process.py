"""A whole node process: the replication node plus its RESP frontend and metrics.

`serve_node` is what `replicator serve` runs. SIGTERM and SIGINT stop it
cleanly: trio cancels every task, the store closes after its last write.

The assembly (config -> machines, node, frontends) sits above every layer, next
to the CLI: the runtime never imports the frontends that call it
(tests/test_layers.py checks the direction).
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
from functools import partial

import trio

from frontends.metrics import NodeMetrics, probe_loop_lag, serve_metrics
from frontends.resp.server import install_script_acl, serve_resp
from replicator.config import Config, ConfigError, format_address
from replicator.metrics_access import Credentials, MetricsAccessError
from replicator.metrics_access import ssl_context as metrics_ssl_context
from replicator.runtime.api import ReadConsistency
from replicator.runtime.driver import Node
from replicator.tls import ReloadableContext, TlsError, server_context
from statemachines.hooks import Databases
from statemachines.registry import load_machine

log = logging.getLogger(__name__)


# Each batch's fsync runs in a worker thread. When it returns, that thread needs
# the GIL back from a busy event loop, and CPython hands it over only every
# switch interval (5 ms by default): that wait, not the disk, bounded a batch
# cycle. 0.25 ms keeps the handover far below an fsync.
GIL_SWITCH_INTERVAL_S = 0.00025

# CPython's cyclic GC runs a young collection every 700 net new container
# objects. A busy leader keeps ~10k young objects alive at any moment (entries
# in flight, batches, waiters) and allocates hundreds of thousands a second,
# so with the defaults it collected hundreds of times per second, found almost
# nothing, and spent a third of the CPU of a write doing it (-P 16: ~37 -> ~24
# µs per SET on the leader). The node creates few reference cycles (trio's
# cancellations and errors), so collecting after 50k net allocations keeps
# memory bounded at a fraction of the cost; gc.freeze() leaves everything
# loaded at startup (modules, the restored state) out of every collection.
GC_THRESHOLDS = (50_000, 10, 10)


async def serve_node(cfg: Config, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    machines = {name: load_machine(name) for name in cfg.machines}
    metrics = NodeMetrics(cfg)
    client_tls = _tls_context(cfg, server_context) if cfg.tls.port is not None else None
    metrics_tls, metrics_credentials = _metrics_access(cfg)
    node = Node(cfg, machines, observer=metrics)
    # Scripts' redis.calls are checked at apply against the ACL users: the check must be in place
    # before the node applies its first entry, whatever the RESP server does meanwhile.
    script_acl = install_script_acl(node, cfg.machines[0], cfg.machines, cfg.requirepass)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_stop_on_signal, nursery.cancel_scope)
        await nursery.start(node.run)
        reloadable = [tls for tls in (client_tls, node.peer_tls, metrics_tls) if tls is not None]
        nursery.start_soon(_reload_tls_on_sighup, reloadable)
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        metrics.bind(node)
        nursery.start_soon(probe_loop_lag, metrics.loop_lag)
        if cfg.metrics is not None:
            await nursery.start(
                partial(
                    serve_metrics,
                    metrics,
                    cfg.metrics[0],
                    cfg.metrics[1],
                    tls=metrics_tls,
                    credentials=metrics_credentials,
                )
            )
        await nursery.start(
            partial(
                serve_resp,
                node,
                cfg.resp[0],
                cfg.resp[1],
                hooks=metrics.resp,
                machine=cfg.machines[0],
                machines=cfg.machines,
                aclfile=cfg.aclfile,
                script_acl=script_acl,
                read_consistency=ReadConsistency(cfg.read_consistency),
                requirepass=cfg.requirepass or None,
                protected_mode=cfg.protected_mode,
                max_entry_bytes=cfg.max_entry_bytes,
                databases=cfg.databases if isinstance(machines[cfg.machines[0]], Databases) else 1,
                tls=client_tls,
                tls_port=cfg.tls.port,
            )
        )
        log.info(
            "node %d (%s, cluster %r) serving redis on %s%s, peers on %s, data in %s%s",
            cfg.node_id,
            cfg.protocol,
            cfg.cluster_id,
            format_address(cfg.resp),
            _tls_note(cfg),
            format_address(cfg.peer),
            cfg.data_dir,
            "" if cfg.fsync else " (fsync OFF: acknowledged writes can be lost)",
        )
        task_status.started(node)


def _tls_context(cfg: Config, build) -> ReloadableContext:
    """The node's TLS files read once at start: a file that is missing or wrong stops it, named."""
    try:
        return ReloadableContext(cfg.tls, build)
    except TlsError as exc:
        raise ConfigError(f"node {cfg.node_id}: {exc}") from None


def _metrics_access(cfg: Config) -> tuple[ReloadableContext | None, Credentials | None]:
    """The metrics endpoint's TLS context and credentials, read once at start: a file that is missing
    or wrong stops the node, named (never its content)."""
    if cfg.metrics is None:
        return None, None
    try:
        tls = metrics_ssl_context(cfg.metrics_access, cfg.metrics[1]) if cfg.metrics_access.tls else None
        return tls, Credentials(cfg.metrics_access)
    except MetricsAccessError as exc:
        raise ConfigError(f"node {cfg.node_id}: {exc}") from None


def _tls_note(cfg: Config) -> str:
    if cfg.tls.port is None:
        return ""
    if cfg.tls.port == cfg.resp[1]:
        return " (TLS only)"
    return f" and over TLS on port {cfg.tls.port}"


async def _reload_tls_on_sighup(contexts: list[ReloadableContext]) -> None:
    """SIGHUP rereads the TLS files (a renewed certificate) for new connections; a reload that fails
    keeps the certificate in force and logs why, so a botched renewal never stops the node."""
    if not contexts:
        return
    with trio.open_signal_receiver(signal.SIGHUP) as signals:
        async for _ in signals:
            for tls in contexts:
                try:
                    tls.reload()
                except TlsError as exc:
                    log.warning("SIGHUP: TLS certificates not reloaded, the old ones stay in force: %s", exc)
                else:
                    log.info("SIGHUP: TLS certificates reloaded from %s", tls.settings.cert_file)


async def _stop_on_signal(scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            log.info("received %s, stopping", signal.Signals(signum).name)
            scope.cancel()
            return
