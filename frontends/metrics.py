"""Prometheus metrics of one node, and the small HTTP endpoint that serves them.

    metrics = NodeMetrics(cfg)                  # a NodeObserver with its own registry
    node = Node(cfg, machines, observer=metrics)
    ... await nursery.start(node.run); metrics.bind(node)
    await nursery.start(serve_metrics, metrics, host, port)
    serve_resp(node, ..., hooks=metrics.resp)    # client connections and commands

Every node has its own CollectorRegistry, so several nodes can run in one
process (tests) without sharing a series. Every series carries the labels
`cluster`, `node` and `protocol`; names follow Prometheus' conventions
(`replicator_` prefix, base units `_seconds`/`_bytes`, counters end in `_total`).

Two kinds of series:

- Event metrics (counters and histograms) are fed by the NodeObserver hooks
  the driver calls on the engine task: proposals and their latency, fsync
  latency and batch size, elections, snapshots, read barriers, forwarded
  writes; and by `RespMetrics`, the hook object of the RESP server.
- State gauges (role, term, leader, commit/applied, log bounds, snapshot
  index, per-peer progress, data directory and filesystem sizes) are read at
  scrape time from `node.status()` by a custom collector, so INFO and
  /metrics report the same numbers and nothing is updated on the hot path.

The endpoint never blocks the engine: node.status() is read on the trio
thread (it is cheap and must not race the engine), then the exposition text
(and the data-directory scan, a few syscalls) is rendered in a worker thread.

Structured event logs live here too: one INFO line per election started and
won and per snapshot installed (the driver already logs role changes and
snapshots taken), with the event's fields in `extra=` for `--log-format json`.

Metric reference (all with labels cluster, node, protocol):

    replicator_node_info{version,fsync}              1
    replicator_role{role}                            1 for the current role, 0 for the others
    replicator_term                                  Raft term / ZAB epoch
    replicator_leader_id                             0 while no leader is known
    replicator_commit_index, replicator_applied_index
    replicator_log_first_index, replicator_log_last_index, replicator_log_entries
    replicator_snapshot_index
    replicator_members{role="voter"|"learner"|"observer"}   the configuration in force on this node
    replicator_member_info{member,role}              1 per member of that configuration
    replicator_membership_changes_total              configurations this node took on (appended,
                                                     truncated away, or installed with a snapshot)
    replicator_voters_healthy, replicator_voters_quorum   leader only: voters heard from recently
                                                     (itself included) and the majority they need
    replicator_peer_match_index{peer}                leader only
    replicator_peer_lag_entries{peer}                leader only: last_index - match
    replicator_peer_active{peer}                     leader only: heard from recently
    replicator_peer_connected{peer}                  outgoing link up (every node)
    replicator_peer_last_contact_seconds{peer}       since the last message from the peer
    replicator_data_dir_bytes                        disk used by the data directory
    replicator_data_fs_free_bytes, replicator_data_fs_size_bytes
    replicator_proposals_total{outcome="ok"|"error"|"unknown"}
    replicator_proposal_duration_seconds             histogram: submit -> result (committed)
    replicator_forwarded_writes_total
    replicator_fsync_duration_seconds                histogram: one durable write
    replicator_fsync_batch_entries                   histogram: entries per durable write
    replicator_persisted_entries_total, replicator_persisted_bytes_total
    replicator_read_barriers_total{consistency}, replicator_read_barrier_reads_total{consistency}
    replicator_elections_started_total, replicator_elections_won_total
    replicator_leader_changes_total
    replicator_snapshots_total{kind="taken"|"installed"}
    replicator_snapshot_bytes_total{kind}, replicator_snapshot_last_size_bytes{kind}
    replicator_snapshot_duration_seconds             histogram: taking one snapshot
    replicator_client_connections                    gauge
    replicator_client_connections_accepted_total, replicator_client_connections_rejected_total
    replicator_resp_auth_failures_total              AUTH / HELLO AUTH answered WRONGPASS
    replicator_commands_total{command,result}        result: "ok" or the error prefix (ERR, MOVED...)
    replicator_event_loop_lag_seconds                histogram: how late the loop-lag probe woke
    replicator_event_loop_lag_max_seconds            the worst lag since the previous scrape
    replicator_peer_messages_dropped_total{reason}   peer messages the engine refused as impossible
                                                     (replicator/protocol/drops.py lists the reasons)
    replicator_peer_progress_resets_total            leader: a follower had lost entries it acknowledged
    replicator_peer_lost_data{peer}                  a peer that lost its disk: the index it must catch up to
"""

from __future__ import annotations

import bisect
import logging
import os
from functools import partial
from importlib import metadata

import trio
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from replicator.config import Config
from replicator.core.observer import NodeObserver
from replicator.metrics_access import Credentials
from replicator.protocol.drops import REASONS as DROP_REASONS
from replicator.runtime.listen import serve_tcp
from replicator.runtime.transport import REFUSAL_REASONS as _REFUSAL_REASONS
from replicator.tls import ReloadableContext
from replicator.types import MemberRole, Membership, NodeId, Role
from statemachines import ReplyError

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes
REQUEST_HEAD_BYTES_MAX = 8192
REQUEST_TIMEOUT_S = 5.0
CONNECTIONS_MAX = 64  # concurrent scrapes; more wait for a slot

# Seconds. Group commit puts many writes behind one fsync: 100 us (tmpfs, no fsync)
# to seconds (a saturated disk).
LATENCY_BUCKETS_S = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
SNAPSHOT_BUCKETS_S = (0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)

_ELECTION_ROLES = (Role.CANDIDATE, Role.LOOKING)
_PROPOSAL_OUTCOMES = ("ok", "error", "unknown")
_CONSISTENCIES = ("linearizable", "lease")  # the levels that take a barrier
_SNAPSHOT_KINDS = ("taken", "installed")


def _version() -> str:
    try:
        return metadata.version("replicator")
    except metadata.PackageNotFoundError:
        return "unknown"


class NodeMetrics(NodeObserver):
    """The metrics of one node: a NodeObserver, a registry, and the RESP hooks (`.resp`)."""

    def __init__(self, cfg: Config, *, process_metrics: bool = True) -> None:
        self.config = cfg
        disable_created_metrics()  # no *_created series: Prometheus does not need them (process-wide switch)
        self.registry = CollectorRegistry(auto_describe=False)
        self.const = {"cluster": cfg.cluster_id, "node": str(cfg.node_id), "protocol": cfg.protocol}
        names = tuple(self.const)
        reg = self.registry

        def counter(name: str, doc: str, extra: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, names + extra, registry=reg)

        def counter1(name: str, doc: str):  # a counter of this node, without further labels
            return counter(name, doc).labels(**self.const)

        def histogram(name: str, doc: str, buckets) -> Histogram:
            return Histogram(name, doc, names, registry=reg, buckets=buckets).labels(**self.const)

        # Counted once per client write: plain-Python collectors (see _HotCounter).
        self._proposals = _HotCounter(
            "replicator_proposals",
            "Client writes proposed by this node, by outcome "
            "(ok, error: the state machine answered an error, unknown: leadership "
            "was lost or the request timed out).",
            self.const,
            ("outcome",),
        )
        for outcome in _PROPOSAL_OUTCOMES:
            self._proposals.inc((outcome,), 0)
        self._proposal_s = _HotHistogram(
            "replicator_proposal_duration_seconds",
            "From submit to the committed result, for this node's client writes.",
            self.const,
            LATENCY_BUCKETS_S,
        )
        reg.register(self._proposals)
        reg.register(self._proposal_s)
        self._forwarded = counter1("replicator_forwarded_writes", "Client writes sent on to the leader.")
        # Observed once per durable write, on every node: plain-Python collectors too.
        self._fsync_s = _HotHistogram(
            "replicator_fsync_duration_seconds",
            "One durable write of a Ready (a journal record with its fdatasync, or an LMDB commit).",
            self.const,
            LATENCY_BUCKETS_S,
        )
        self._batch = _HotHistogram(
            "replicator_fsync_batch_entries",
            "Log entries per durable write (group commit), writes with entries only.",
            self.const,
            BATCH_BUCKETS,
        )
        self._persisted_entries = _HotCounter(
            "replicator_persisted_entries", "Log entries written durably.", self.const, ()
        )
        self._persisted_bytes = _HotCounter(
            "replicator_persisted_bytes", "Payload bytes of log entries written durably.", self.const, ()
        )
        for collector in (self._fsync_s, self._batch, self._persisted_entries, self._persisted_bytes):
            reg.register(collector)
        barriers = counter("replicator_read_barriers", "Read barriers started (ReadIndex / sync).", ("consistency",))
        reads = counter(
            "replicator_read_barrier_reads", "Client reads served through a read barrier.", ("consistency",)
        )
        self._barriers = {c: barriers.labels(**self.const, consistency=c) for c in _CONSISTENCIES}
        self._barrier_reads = {c: reads.labels(**self.const, consistency=c) for c in _CONSISTENCIES}
        self._barrier_metrics = (barriers, reads)
        self._elections = counter1(
            "replicator_elections_started", "Elections this node started (became candidate, or looking under ZAB)."
        )
        self._elections_won = counter1("replicator_elections_won", "Elections this node won (became leader).")
        self._membership_changes = counter1(
            "replicator_membership_changes",
            "Configurations this node took on: appended, truncated away, or installed with a snapshot.",
        )
        self._leader_changes = counter1(
            "replicator_leader_changes", "Changes of the leader this node follows (to a known leader)."
        )
        snapshots = counter("replicator_snapshots", "Snapshots taken locally or installed from the leader.", ("kind",))
        snapshot_bytes = counter("replicator_snapshot_bytes", "Bytes of snapshots taken or installed.", ("kind",))
        last_size = Gauge(
            "replicator_snapshot_last_size_bytes",
            "Size of the latest snapshot taken or installed.",
            names + ("kind",),
            registry=reg,
        )
        self._snapshots = {k: snapshots.labels(**self.const, kind=k) for k in _SNAPSHOT_KINDS}
        self._snapshot_bytes = {k: snapshot_bytes.labels(**self.const, kind=k) for k in _SNAPSHOT_KINDS}
        self._snapshot_size = {k: last_size.labels(**self.const, kind=k) for k in _SNAPSHOT_KINDS}
        self._snapshot_s = histogram(
            "replicator_snapshot_duration_seconds", "Taking and saving one snapshot.", SNAPSHOT_BUCKETS_S
        )
        self.resp = RespMetrics(reg, self.const)
        self.loop_lag = LoopLag(self.const)
        reg.register(self.loop_lag)
        self.status_collector = StatusCollector(self)
        reg.register(self.status_collector)
        reg.register(EngineDropsCollector(self))
        if process_metrics:  # process_* (CPU, memory, fds), with our labels so dashboards can filter by node
            reg.register(_Labelled(ProcessCollector(registry=None), self.const))
        self.node = None
        self._role: Role | None = None
        self._leader: NodeId | None = None
        self._render_lock = trio.Lock()

    def bind(self, node) -> None:
        """The running Node (after node.run has started) whose status() the gauges read."""
        self.node = node

    # --- NodeObserver: called on the engine task, keep cheap ----------------------------
    def persisted(self, seconds: float, entries: int, payload_bytes: int) -> None:
        self._fsync_s.observe(seconds)
        if entries:
            self._batch.observe(entries)
            self._persisted_entries.inc((), entries)
            self._persisted_bytes.inc((), payload_bytes)

    def write_done(self, seconds: float, outcome: str, writes: int = 1) -> None:
        self._proposals.inc((outcome,), writes)
        if outcome != "unknown":  # a lost write's wait measures the failure, not the path
            self._proposal_s.observe(seconds, writes)

    def forwarded(self, writes: int) -> None:
        self._forwarded.inc(writes)

    def read_barrier(self, consistency: str, reads: int) -> None:
        if consistency not in self._barriers:
            barriers, barrier_reads = self._barrier_metrics
            self._barriers[consistency] = barriers.labels(**self.const, consistency=consistency)
            self._barrier_reads[consistency] = barrier_reads.labels(**self.const, consistency=consistency)
        self._barriers[consistency].inc()
        self._barrier_reads[consistency].inc(reads)

    def role_changed(self, role: Role, leader: NodeId | None, epoch: int) -> None:
        previous, self._role = self._role, role
        if role in _ELECTION_ROLES and previous != role:
            self._elections.inc()
            log.info(
                "election started by node %d for epoch %d",
                self.config.node_id,
                epoch,
                extra={"event": "election_started", "epoch": epoch},
            )
        if role is Role.LEADER and previous is not Role.LEADER:
            if previous not in _ELECTION_ROLES:  # the whole campaign fell between two Readies
                self._elections.inc()
            self._elections_won.inc()
            log.info(
                "election won: node %d leads epoch %d",
                self.config.node_id,
                epoch,
                extra={"event": "election_won", "epoch": epoch},
            )
        if leader is not None and leader != self._leader:
            self._leader_changes.inc()
        self._leader = leader

    def snapshot_taken(self, index: int, size_bytes: int, seconds: float) -> None:
        self._snapshots["taken"].inc()
        self._snapshot_bytes["taken"].inc(size_bytes)
        self._snapshot_size["taken"].set(size_bytes)
        self._snapshot_s.observe(seconds)

    def snapshot_installed(self, index: int, size_bytes: int) -> None:
        self._snapshots["installed"].inc()
        self._snapshot_bytes["installed"].inc(size_bytes)
        self._snapshot_size["installed"].set(size_bytes)
        log.info(
            "snapshot installed at index %d (%d bytes)",
            index,
            size_bytes,
            extra={"event": "snapshot_installed", "index": index, "size_bytes": size_bytes},
        )

    def membership_changed(self, membership: Membership) -> None:
        self._membership_changes.inc()

    # --- rendering -----------------------------------------------------------------
    async def render(self) -> bytes:
        """The exposition text. Reads the node on this (trio) thread, renders in a worker."""
        async with self._render_lock:
            self.status_collector.capture()
            return await trio.to_thread.run_sync(generate_latest, self.registry)


# --- event loop lag ------------------------------------------------------------------
# Everything a node does runs on one trio thread: heartbeats, votes, acks, client
# replies. Code that holds that thread (a long command, a huge reply, a GC pause)
# silences the node; a leader silent for an election timeout is deposed. The probe
# task sleeps a fixed short interval and records how late it woke: the time the
# loop could not run anything. The histogram shows how often, the max gauge (reset
# when scraped) catches a single stall between two scrapes.
LOOP_LAG_PROBE_S = 0.025  # cadence: a stall shorter than this may go unseen; 40 cheap wake-ups a second
LOOP_LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LoopLag(Collector):
    """replicator_event_loop_lag_seconds (histogram) and replicator_event_loop_lag_max_seconds
    (the worst lag since the previous scrape), fed by `probe_loop_lag`."""

    def __init__(self, const: dict[str, str]) -> None:
        self.histogram = _HotHistogram(
            "replicator_event_loop_lag_seconds",
            "How late the event loop's probe "
            f"woke from a {LOOP_LAG_PROBE_S:g} s sleep: time the node could not "
            "answer peers or clients.",
            const,
            LOOP_LAG_BUCKETS_S,
        )
        self.const = const
        self.worst = 0.0

    def observe(self, seconds: float) -> None:
        self.histogram.observe(seconds)
        if seconds > self.worst:
            self.worst = seconds

    def collect(self):
        yield from self.histogram.collect()
        worst, self.worst = self.worst, 0.0
        family = GaugeMetricFamily(
            "replicator_event_loop_lag_max_seconds",
            "The longest event loop lag seen since the previous scrape.",
            labels=list(self.const),
        )
        family.add_metric(list(self.const.values()), worst)
        yield family


async def probe_loop_lag(lag: LoopLag, interval_s: float = LOOP_LAG_PROBE_S) -> None:
    """Sleep `interval_s` again and again; each wake-up's delay is one observation.
    Runs as its own task (service.serve_node starts it) until cancelled."""
    clock = trio.current_time
    while True:
        started = clock()
        await trio.sleep(interval_s)
        lag.observe(max(clock() - started - interval_s, 0.0))


class RespMetrics:
    """The hook object the RESP server calls (serve_resp(..., hooks=...)): connections and commands."""

    def __init__(self, registry: CollectorRegistry, const: dict[str, str]) -> None:
        names = tuple(const)
        self.const = const
        self._connections = Gauge(
            "replicator_client_connections", "Open client (RESP) connections.", names, registry=registry
        ).labels(**const)
        self._accepted = Counter(
            "replicator_client_connections_accepted", "Client (RESP) connections accepted.", names, registry=registry
        ).labels(**const)
        self._rejected = Counter(
            "replicator_client_connections_rejected",
            "Client connections refused (max clients reached, or protected mode's DENIED).",
            names,
            registry=registry,
        ).labels(**const)
        self._output_limit = Counter(
            "replicator_client_output_buffer_limit_disconnections",
            "Client connections closed because their unread replies passed client-output-buffer-limit.",
            names,
            registry=registry,
        ).labels(**const)
        self._auth_failures = Counter(
            "replicator_resp_auth_failures",
            "Failed client authentications: AUTH or HELLO AUTH answered WRONGPASS (INFO's acl_access_denied_auth).",
            names,
            registry=registry,
        ).labels(**const)
        self._commands = _HotCounter(
            "replicator_commands",
            "Client commands answered, by command and result "
            "(ok, or the error prefix: ERR, WRONGTYPE, MOVED, TRYAGAIN...).",
            const,
            ("command", "result"),
        )
        registry.register(self._commands)

    def connection_opened(self) -> None:
        self._accepted.inc()
        self._connections.inc()

    def connection_closed(self) -> None:
        self._connections.dec()

    def connection_rejected(self) -> None:
        self._rejected.inc()

    def output_limit_disconnection(self) -> None:
        self._output_limit.inc()

    def command(self, name: str, reply: object) -> None:
        """One command answered; `name` is the command table's name ("unknown" if none)."""
        result = _result_label(reply)
        self._commands.inc((name, result))
        if result == "WRONGPASS":  # Redis answers it to a failed authentication only
            self._auth_failures.inc()


class _HotCounter(Collector):
    """A labelled counter for the per-request path: a dict increment on the trio
    thread instead of prometheus-client's locked child lookup and inc (which cost
    several percent of a busy leader). Rendered into a family at scrape time;
    the copy of the dict is one C-level step under the GIL."""

    def __init__(self, name: str, doc: str, const: dict[str, str], labels: tuple[str, ...]) -> None:
        self.name, self.doc, self.const, self.labels = name, doc, const, labels
        self.counts: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...], amount: float = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount

    def collect(self):
        family = CounterMetricFamily(self.name, self.doc, labels=[*self.const, *self.labels])
        for key, value in list(self.counts.items()):
            family.add_metric([*self.const.values(), *key], value)
        yield family


class _HotHistogram(Collector):
    """A histogram for the per-request path: one bisect and two additions per
    observation, rendered with cumulative buckets at scrape time."""

    def __init__(self, name: str, doc: str, const: dict[str, str], buckets) -> None:
        self.name, self.doc, self.const = name, doc, const
        self.bounds = sorted(b for b in buckets if b != float("inf"))
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float, times: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += times  # bucket le = first bound >= value
        self.total += value * times

    def collect(self):
        counts, total = list(self.counts), self.total
        cumulative, buckets = 0, []
        for bound, count in zip([*self.bounds, float("inf")], counts):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        family = HistogramMetricFamily(self.name, self.doc, labels=list(self.const))
        family.add_metric(list(self.const.values()), buckets, sum_value=total)
        yield family


class _Labelled(Collector):
    """Another collector's series with our constant labels added."""

    def __init__(self, inner: Collector, labels: dict[str, str]) -> None:
        self.inner = inner
        self.labels = labels

    def describe(self):
        return []

    def collect(self):
        for family in self.inner.collect():
            family.samples = [s._replace(labels={**s.labels, **self.labels}) for s in family.samples]
            yield family


def _result_label(reply: object) -> str:
    if reply.__class__ is not ReplyError:
        return "ok"
    prefix = str(reply.message).split(" ", 1)[0]
    # A bounded label set: Redis-style prefixes only; anything else counts as ERR.
    return prefix if prefix.isalpha() and prefix.isupper() and len(prefix) <= 16 else "ERR"


class EngineDropsCollector(Collector):
    """The engine's own counters of peer messages it refused (drops.py) and of
    follower progress resets. Read at scrape time: the engine keeps plain ints
    (copied in one C-level step under the GIL), nothing on the hot path."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics

    def describe(self):
        return []

    def collect(self):
        const = self.metrics.const
        node = self.metrics.node
        engine = node.host.engine if node is not None and node.host is not None else None  # None: starting
        dropped = dict(engine.dropped_messages) if engine is not None else {}
        family = CounterMetricFamily(
            "replicator_peer_messages_dropped",
            "Peer messages the engine dropped because they cannot be true (a buggy or hostile peer), by reason.",
            labels=[*const, "reason"],
        )
        for reason in sorted(set(dropped) | set(DROP_REASONS)):
            family.add_metric([*const.values(), reason], dropped.get(reason, 0))
        yield family
        resets = CounterMetricFamily(
            "replicator_peer_progress_resets",
            "Leader: followers found to have lost entries they had acknowledged (their progress was reset).",
            labels=list(const),
        )
        resets.add_metric(list(const.values()), engine.progress_resets if engine is not None else 0)
        yield resets
        suspects = dict(engine.lost_data.until) if engine is not None else {}
        family = GaugeMetricFamily(
            "replicator_peer_lost_data",
            "1 for a peer that came back without its disk and "
            "whose votes do not count until the leader has seen it catch up to the index "
            "(the gauge's value is that index).",
            labels=[*const, "peer"],
        )
        for peer, until in sorted(suspects.items()):
            family.add_metric([*const.values(), str(peer)], until)
        yield family


class StatusCollector(Collector):
    """Gauges read from node.status() (and the data directory) at scrape time."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics
        self._captured: tuple | None = None

    def capture(self) -> None:
        """On the trio thread: copy what collect() will render in a worker thread."""
        node = self.metrics.node
        status = connected = rejected = None
        if node is not None and node.host is not None:
            status = node.status()
            transport = node.transport
            connected = set(transport.connected) if transport is not None else None
            rejected = dict(transport.rejected) if transport is not None else None
        membership = node.membership() if node is not None else self.metrics.config.membership()
        contact = {}
        for member in membership.members:
            seconds = node.last_contact_s(member.id) if node is not None else None
            if seconds is not None:
                contact[member.id] = seconds
        self._captured = (status, connected, contact, rejected, membership)

    def describe(self):
        return []

    def collect(self):
        cfg = self.metrics.config
        const = self.metrics.const
        names = list(const)
        values = list(const.values())
        status, connected, contact, rejected, membership = self._captured or (
            None,
            None,
            {},
            None,
            cfg.membership(),
        )

        def gauge(name: str, doc: str, value: float | None = None, **extra):
            family = GaugeMetricFamily(name, doc, labels=names + list(extra))
            if value is not None:
                family.add_metric(values + list(extra.values()), value)
            return family

        info = GaugeMetricFamily(
            "replicator_node_info", "Static facts about this node (value 1).", labels=names + ["version", "fsync"]
        )
        info.add_metric(values + [_version(), "true" if cfg.fsync else "false"], 1)
        yield info
        members = GaugeMetricFamily(
            "replicator_members", "Members of the configuration in force here, by role.", labels=names + ["role"]
        )
        for member_role in MemberRole:
            members.add_metric(values + [member_role.value], len(membership.with_role(member_role)))
        yield members
        member_info = GaugeMetricFamily(
            "replicator_member_info",
            "1 per member of the configuration in force here.",
            labels=names + ["member", "role"],
        )
        for member in membership.members:
            member_info.add_metric(values + [str(member.id), str(member.role)], 1)
        yield member_info
        yield from _disk_gauges(cfg, names, values)
        if status is None:
            return  # starting: no engine yet
        role = GaugeMetricFamily(
            "replicator_role", "1 for this node's current role, 0 for the others.", labels=names + ["role"]
        )
        for r in Role:
            role.add_metric(values + [r.value], 1 if status.role is r else 0)
        yield role
        yield gauge("replicator_term", "Current Raft term or ZAB epoch.", status.epoch)
        yield gauge("replicator_leader_id", "Node id of the leader this node knows; 0 if none.", status.leader or 0)
        yield gauge("replicator_commit_index", "Highest log index known committed.", status.commit)
        yield gauge("replicator_applied_index", "Highest log index applied to the state machine.", status.applied)
        yield gauge("replicator_log_first_index", "First index still held in the log.", status.first_index)
        yield gauge("replicator_log_last_index", "Last index in the log.", status.last_index)
        yield gauge(
            "replicator_log_entries",
            "Entries held in the log (last - first + 1).",
            max(status.last_index - status.first_index + 1, 0),
        )
        yield gauge(
            "replicator_snapshot_index",
            "Log index covered by the latest snapshot; 0 if none.",
            int(status.extra.get("snapshot_index", 0) or 0),
        )
        peer_labels = names + ["peer"]
        match = GaugeMetricFamily(
            "replicator_peer_match_index", "Leader: highest index known replicated on the peer.", labels=peer_labels
        )
        lag = GaugeMetricFamily(
            "replicator_peer_lag_entries",
            "Leader: entries the peer is behind the leader's last index.",
            labels=peer_labels,
        )
        active = GaugeMetricFamily(
            "replicator_peer_active", "Leader: 1 if the peer answered recently.", labels=peer_labels
        )
        for peer, progress in sorted(status.progress.items()):
            if peer == cfg.node_id:
                continue
            labels = values + [str(peer)]
            match.add_metric(labels, progress.match)
            lag.add_metric(labels, max(status.last_index - progress.match, 0))
            active.add_metric(labels, 1 if progress.recent_active else 0)
        yield match
        yield lag
        yield active
        if status.role is Role.LEADER:
            voters = membership.voters
            healthy = sum(
                1 for v in voters if v == cfg.node_id or (v in status.progress and status.progress[v].recent_active)
            )
            yield gauge(
                "replicator_voters_healthy",
                "Leader: voters of the configuration in force that answered recently, itself included.",
                healthy,
            )
            yield gauge(
                "replicator_voters_quorum", "Leader: the majority of voters commits need.", len(voters) // 2 + 1
            )
        link = GaugeMetricFamily(
            "replicator_peer_connected", "1 if the outgoing link to the peer is up.", labels=peer_labels
        )
        for member in membership.members:
            if member.id != cfg.node_id and connected is not None:
                link.add_metric(values + [str(member.id)], 1 if member.id in connected else 0)
        yield link
        last = GaugeMetricFamily(
            "replicator_peer_last_contact_seconds",
            "Seconds since the last message received from the peer.",
            labels=peer_labels,
        )
        for peer, seconds in sorted(contact.items()):
            last.add_metric(values + [str(peer)], seconds)
        yield last
        if rejected is not None:
            refused = CounterMetricFamily(
                "replicator_peer_connections_rejected",
                "Incoming peer connections "
                "refused, by reason (handshake: garbage, a stranger or a wrong secret; "
                "timeout; busy: too many unproven; protocol: a bad message from a "
                "member).",
                labels=names + ["reason"],
            )
            for reason in _REFUSAL_REASONS:
                refused.add_metric(values + [reason], rejected.get(reason, 0))
            yield refused


def _disk_gauges(cfg: Config, names: list[str], values: list[str]):
    """Disk use of the data directory and room left on its filesystem (runs in the render thread)."""
    path = cfg.data_dir
    used = 0
    try:
        with os.scandir(path) as it:
            for entry in it:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    used += st.st_blocks * 512  # allocated, not apparent: LMDB files are sparse
    except OSError:
        return
    family = GaugeMetricFamily("replicator_data_dir_bytes", "Disk space used by the data directory.", labels=names)
    family.add_metric(values, used)
    yield family
    try:
        fs = os.statvfs(path)
    except OSError:
        return
    free = GaugeMetricFamily(
        "replicator_data_fs_free_bytes",
        "Bytes available to this node on the data directory's filesystem.",
        labels=names,
    )
    free.add_metric(values, fs.f_bavail * fs.f_frsize)
    yield free
    size = GaugeMetricFamily("replicator_data_fs_size_bytes", "Size of the data directory's filesystem.", labels=names)
    size.add_metric(values, fs.f_blocks * fs.f_frsize)
    yield size


# --- the HTTP endpoint -------------------------------------------------------------
async def serve_metrics(
    metrics: NodeMetrics,
    host: str,
    port: int,
    *,
    tls: ReloadableContext | None = None,
    credentials: Credentials | None = None,
    task_status=trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve GET /metrics on host:port until cancelled; task_status.started(bound port).

    HTTP/1.1 with `Connection: close`: one request per connection, which is
    how Prometheus scrapes. Anything but GET or HEAD of /metrics gets 405 or
    404. A slow or broken client costs only its own task (a deadline bounds
    it, TLS handshake included); a failed render answers 500 and is logged,
    never stops the node. With `tls` (replicator/metrics_access.py), HTTPS only;
    with `credentials` that require a token or basic auth, a request without
    them is answered 401 whatever it asks for.
    """
    limiter = trio.CapacityLimiter(CONNECTIONS_MAX)
    handler = partial(_handle, metrics, limiter, tls, credentials)
    async with trio.open_nursery() as nursery:
        listeners = await serve_tcp(nursery, handler, host, port, "metrics")
        bound = listeners[0].socket.getsockname()
        log.info("metrics on %s://%s:%d/metrics", "https" if tls else "http", bound[0], bound[1])
        task_status.started(bound[1])


async def _handle(
    metrics: NodeMetrics,
    limiter: trio.CapacityLimiter,
    tls: ReloadableContext | None,
    credentials: Credentials | None,
    stream: trio.abc.Stream,
) -> None:
    try:
        async with limiter:
            with trio.move_on_after(REQUEST_TIMEOUT_S):
                if tls is not None:
                    stream = trio.SSLStream(stream, tls.context, server_side=True)
                    await stream.do_handshake()
                request = await _read_head(stream)
                if request is None:
                    return
                method, target, authorization = request
                path = target.split("?", 1)[0]
                if credentials is not None and not credentials.allow(authorization):
                    await _respond(stream, 401, b"unauthorized\n", method, challenge=credentials.challenge)
                elif path != "/metrics":
                    await _respond(stream, 404, b"not found: try /metrics\n", method)
                elif method not in ("GET", "HEAD"):
                    await _respond(stream, 405, b"method not allowed\n", method, allow=True)
                else:
                    try:
                        body = await metrics.render()
                    except Exception:
                        log.exception("rendering metrics failed")
                        await _respond(stream, 500, b"rendering metrics failed\n", method)
                    else:
                        await _respond(stream, 200, body, method, content_type=CONTENT_TYPE)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass  # gone, or (TLS) a handshake that failed: a plain-HTTP scraper, an untrusted certificate
    except Exception:
        log.exception("metrics connection failed")
    finally:
        await trio.aclose_forcefully(stream)


async def _read_head(stream: trio.abc.Stream) -> tuple[str, str, bytes | None] | None:
    """(method, target, Authorization header or None) of the request, or None if it is malformed
    (answered 400) or cut."""
    data = bytearray()
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        if len(data) > REQUEST_HEAD_BYTES_MAX:
            await _respond(stream, 431, b"request head too large\n", "GET")
            return None
        chunk = await stream.receive_some(4096)
        if not chunk:
            return None
        data += chunk
    lines = bytes(data).split(b"\n")
    parts = lines[0].strip().decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        await _respond(stream, 400, b"bad request\n", "GET")
        return None
    authorization = None
    for line in lines[1:]:
        if not line.strip():
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            authorization = value.strip()
    return parts[0], parts[1], authorization


_REASONS = {
    200: "OK",
    401: "Unauthorized",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


async def _respond(
    stream: trio.abc.Stream,
    status: int,
    body: bytes,
    method: str,
    *,
    content_type: str = "text/plain; charset=utf-8",
    allow: bool = False,
    challenge: str = "",
) -> None:
    head = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if allow:
        head.append("Allow: GET, HEAD")
    if challenge:
        head.append(f"WWW-Authenticate: {challenge}")
    payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    await stream.send_all(payload if method == "HEAD" else payload + body)
