"""SimCluster: real engines and NodeHosts on virtual time, a simulated network, crashes.

One `random.Random(seed)` is the only source of randomness: engine RNGs,
network delays, faults and the client workload all draw from it (engine RNGs
are seeded from it when a node starts), so a seed replays byte-identically.

Time is virtual milliseconds on a heap of `(time_ms, seq, kind, args)`
events; `seq` breaks ties in scheduling order. Event kinds:

    TICK       one engine tick of a node (every tick_ms, with per-node drift)
    DELIVER    a message reaches its destination
    PERSIST    a node's durable write of its current Ready completes
    CRASH      a node dies: its in-flight Ready is lost (scheduled mid-Ready too)
    RESTART    a fresh engine + NodeHost + machine rebuilt from its MemoryStore
    CLIENT     a client issues its next operation
    TIMEOUT    a client gives up on an operation (its outcome becomes unknown)
    NEMESIS    the fault injector picks its next fault
    HEAL       partitions end
    WAKE       a stalled node resumes: either a paused process (GC, SIGSTOP: its
               ticker did not run, those ticks are lost, as with the trio
               runtime's sleep-based ticker) or a blocked engine task (its
               ticks and messages pile up in the inbox)
    PHASE      chaos -> heal (faults stop, all restart) -> settle (clients stop)
    TIMER      a callback of a library user (see runner.check_machine)
    FORGE      the Byzantine-lite forger (forger.py) injects a message into a
               node's inbox: a replay, a stranger's, a misrouted, a malformed
               or an impossible one (profile `byzantine`)

Each node is the node core the trio runtime drives (replicator/core/node.py),
driven the same way (STYLE.md D): inputs arriving while the node is busy with
a Ready (or stalled) wait in its inbox; when it is free it drains the whole
inbox into the core, steps it, and runs the core's Ready cycle: next_write
(messages sent, Readies without a durable write carried out whole) ->
apply_during_write -> [persist delay] -> persist -> written (acks out) ->
finish (apply, reads, advance). A crash can land anywhere in that cycle;
whatever was not saved in the MemoryStore is gone, since the store holds
exactly the durable state.

Clients talk to any node through the core, as Redis clients do through the
RESP server: single writes and reads, pipeline bursts mixing them (one
pipeline entry), MULTI/EXEC (a TRANSACTIONS entry), every read level, writes
forwarded from followers over the simulated network (ForwardRequest/Reply, lost,
duplicated and reordered like any message), and -MOVED in redirect mode. The
history checker sees every write and every linearizable read (lease reads too,
whose guarantee is linearizability while clocks drift within the bound the
lease assumes: profile `lease`; `lease-pauses` shows a stopped clock break it);
each sequential read must be served at an index no older than its connection
has seen.

Invariants (invariants.py) are checked at each step of the cycle; the client
history is checked for linearizability at the end of the run, followed by a
liveness check: after healing and a quiet period, one leader, all replicas
converged.
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from replicator.core.messages import Incarnation
from replicator.core.node import CaptureSnapshot, CoreConfig, NodeCore, SaveSnapshot, SlowReads
from replicator.core.requests import Moved, ReadConsistency, Removed, RequestError
from replicator.incarnations import Incarnations
from replicator.node import NodeHost
from replicator.protocol import EngineConfig
from replicator.protocol.ready import Ready
from replicator.protocols import engine_factory
from replicator.sim import registers as reg
from replicator.sim.forger import Forger
from replicator.sim.history import CAS, PUT, READ, Op, check_history
from replicator.sim.invariants import Invariants, Violation
from replicator.sim.network import NetworkConfig, SimNetwork
from replicator.sim.reconfig import Reconfigurer
from replicator.sim.trace import Trace
from replicator.storage.memory_store import MemoryStore
from replicator.transactions import encode_transaction
from replicator.types import Membership, NotLeader, Role
from statemachines import TRANSACTIONS, ReplyError

# The cores' log lines (a peer lost its disk, snapshots) belong in a node's log; here the
# trace tells the story, so they must not reach stderr through logging's last resort.
logging.getLogger("replicator.core").addHandler(logging.NullHandler())

# event kinds
TICK, DELIVER, PERSIST, CRASH, RESTART, CLIENT, TIMEOUT, NEMESIS, HEAL, WAKE, PHASE, TIMER, CALL, FORGE = range(14)

CHAOS, HEALING, SETTLING, DONE = "chaos", "heal", "settle", "done"


@dataclass
class SimConfig:
    """Everything a run depends on besides the seed. Times in virtual ms."""

    protocol: str = "raft"
    nodes: int = 3
    # engine and host
    tick_ms: int = 10
    tick_drift_ms: int = 1  # each node ticks every tick_ms +- up to this (fixed per node)
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    max_inflight_msgs: int = 8
    max_batch_bytes: int = 2048
    pre_vote: bool = True
    check_quorum: bool = True
    snapshot_entries: int = 30
    keep_entries: int = 10
    max_uncommitted_bytes: int = 64 << 20
    max_apply_bytes: int = 64 << 20
    lease_read: bool = False
    vary: bool = True  # draw the knobs above from the seed (see SimCluster._vary)
    # run length
    chaos_ms: int = 3000
    heal_ms: int = 1500  # faults off, everything restarted, clients keep going
    settle_ms: int = 1000  # clients stopped: replicas must converge
    max_steps: int | None = None  # cap on events in the chaos phase
    # disk
    fsync_ms_min: int = 0
    fsync_ms_max: int = 3
    # network
    network: NetworkConfig = field(default_factory=NetworkConfig)
    # faults (rates are per second of virtual time, drawn by the nemesis)
    nemesis_ms_min: int = 150
    nemesis_ms_max: int = 700
    crash_weight: int = 0
    partition_weight: int = 0
    one_way_weight: int = 0
    stall_weight: int = 0
    transfer_weight: int = 0  # ask the leader to hand over to another voter (TimeoutNow)
    heal_weight: int = 2
    target_leader: float = 0.5  # chance a crash/isolation/stall picks the current leader
    mid_ready_crash: float = 0.0  # chance per durable Ready that the node crashes inside its cycle
    max_down: int = 1  # most nodes crashed at once
    forge_ms_max: int = 0  # > 0: the forger injects a message every 1..forge_ms_max ms of chaos (forger.py)
    wipe_disk: float = 0.0  # chance a nemesis crash also loses the node's disk (wipe_disk)
    restart_ms_min: int = 50
    restart_ms_max: int = 800
    partition_ms_min: int = 100
    partition_ms_max: int = 1500
    stall_ms_min: int = 50
    stall_ms_max: int = 600
    # clients
    clients: int = 4
    keys: int = 3
    op_timeout_ms: int = 1000
    think_ms_max: int = 20
    retry_ms_min: int = 10
    retry_ms_max: int = 60
    read_share: float = 0.4
    cas_share: float = 0.2
    pipeline_share: float = 0.15  # a request is a pipeline burst of 2-4 reads and writes
    multi_share: float = 0.1  # a request is a MULTI/EXEC of 2-3 commands (one TRANSACTIONS entry)
    # Read levels: each client reads at one (drawn from these shares, the rest linearizable;
    # lease only where lease reads are on).
    sequential_share: float = 0.25
    stale_share: float = 0.1
    write_mode: str = "forward"  # or "redirect": followers answer -MOVED, clients follow
    # Membership changes (sim/reconfig.py): members added, removed and replaced at random
    # during chaos, from `spare_nodes` extra ids as well as the first ones. Off by default
    # so that a seed without it replays exactly as before.
    reconfig: bool = False
    spare_nodes: int = 2
    # NodeHost numbers proposals from 1 in every incarnation; it once took an old
    # incarnation's entry (same origin, same seq) for a new proposal's result
    # (.sim-findings.md #1, fixed by matching the index too). True starts each
    # incarnation's seqs at incarnation << 32, hiding that class of bug: off by
    # default so the real NodeHost is what gets tested.
    host_seq_workaround: bool = False


# --- fault mixes -------------------------------------------------------------------
def _profile_calm(c: SimConfig) -> SimConfig:
    return c


def _profile_lossy(c: SimConfig) -> SimConfig:
    return replace(c, network=NetworkConfig(1, 12, loss=0.05, duplicate=0.05, reorder=0.1, straggle=0.005))


def _profile_crashes(c: SimConfig) -> SimConfig:
    return replace(c, crash_weight=4, transfer_weight=1, mid_ready_crash=0.01, max_down=1)


def _profile_partitions(c: SimConfig) -> SimConfig:
    return replace(
        c,
        partition_weight=4,
        one_way_weight=2,
        transfer_weight=1,
        network=NetworkConfig(1, 10, reorder=0.05, straggle=0.002),
    )


def _profile_stalls(c: SimConfig) -> SimConfig:
    return replace(c, stall_weight=4, fsync_ms_max=12, crash_weight=1, network=NetworkConfig(1, 20, reorder=0.1))


def _profile_chaos(c: SimConfig) -> SimConfig:
    return replace(
        c,
        crash_weight=3,
        partition_weight=3,
        one_way_weight=2,
        stall_weight=2,
        transfer_weight=1,
        mid_ready_crash=0.01,
        max_down=2,
        network=NetworkConfig(1, 15, loss=0.03, duplicate=0.03, reorder=0.1, straggle=0.003),
    )


def _profile_five(c: SimConfig) -> SimConfig:
    return replace(_profile_chaos(c), nodes=5, max_down=2)


def _profile_total(c: SimConfig) -> SimConfig:
    """Whole-cluster crashes: nothing survives but the stores."""
    return replace(c, crash_weight=5, mid_ready_crash=0.02, max_down=3, restart_ms_max=300)


def _profile_byzantine(c: SimConfig) -> SimConfig:
    """Byzantine-lite (forger.py): the chaos mix, plus a forger that injects a
    message every few ms: replays of any past message, messages from
    non-members, misrouted ones, malformed copies (impossible fields) and
    messages built from the receiver's state that no correct peer can send
    then (acks past the leader's log, a second leader of a term, a commit that
    contradicts a committed entry...). It never tells a plausible lie in a
    correct member's name (no CFT protocol survives that: a member with the
    secret can vote twice). Engines must not raise, and every invariant holds.
    Not in the default rotation: tests/sim/test_sim_byzantine.py runs it."""
    return replace(_profile_chaos(c), forge_ms_max=12)


def _profile_lease_pauses(c: SimConfig) -> SimConfig:
    """Lease reads with process pauses: a paused leader's clock stops, so its lease
    outlives the real one. Expected to break linearizability: the textbook limit of
    leases (thesis §6.4.1), not in the default rotation; run it with --profile."""
    return replace(_profile_lease(c), stall_weight=4)


def _profile_wiped_disks(c: SimConfig) -> SimConfig:
    """Crashes that lose the disk (the node returns empty, with a new incarnation),
    partitions that leave a node behind, and two nodes down at once: so that an empty
    voter and a stale one are often all that is up."""
    return replace(
        c,
        crash_weight=4,
        partition_weight=2,
        one_way_weight=1,
        wipe_disk=0.5,
        max_down=2,
        target_leader=0.7,
        mid_ready_crash=0.01,
    )


def _profile_lease(c: SimConfig) -> SimConfig:
    """Lease reads (opt-in) under partitions; no stalls: a lease trusts tick rates."""
    return replace(_profile_partitions(c), lease_read=True, crash_weight=1)


PROFILES: dict[str, Callable[[SimConfig], SimConfig]] = {
    "calm": _profile_calm,
    "lossy": _profile_lossy,
    "crashes": _profile_crashes,
    "partitions": _profile_partitions,
    "stalls": _profile_stalls,
    "chaos": _profile_chaos,
    "five": _profile_five,
    "total": _profile_total,
    "lease": _profile_lease,
    "lease-pauses": _profile_lease_pauses,
    "byzantine": _profile_byzantine,
    "wiped-disks": _profile_wiped_disks,
}

# Profiles a seed may pick by itself (and the test suite spreads seeds over);
# the others are run on purpose, with --profile.
ROTATION = tuple(sorted(set(PROFILES) - {"lease-pauses", "byzantine"}))


def profile_for_seed(seed: int) -> str:
    """The fault mix a seed runs when none is forced: a spread over every profile."""
    return ROTATION[random.Random(f"profile/{seed}").randrange(len(ROTATION))]


def make_config(profile: str, protocol: str = "raft", **overrides: Any) -> SimConfig:
    cfg = PROFILES[profile](SimConfig(protocol=protocol))
    return replace(cfg, **overrides) if overrides else cfg


# --- run results ---------------------------------------------------------------------
@dataclass
class Stats:
    events: int = 0
    ops_ok: int = 0
    ops_unknown: int = 0
    reads_ok: int = 0
    rejected: int = 0  # NotLeader / node down: never entered the log
    # client requests by kind ("write", "pipeline", "multi", "<level> read") and how they
    # travelled ("forwarded": writes a follower sent on; "moved": redirect answers)
    requests: dict[str, int] = field(default_factory=dict)
    elections: int = 0
    crashes: int = 0
    mid_ready_crashes: int = 0
    wiped_disks: int = 0
    snapshots_taken: int = 0
    snapshots_installed: int = 0
    partitions: int = 0
    stalls: int = 0
    transfers: int = 0
    forged: int = 0  # messages the forger injected (byzantine profile)
    dropped: int = 0  # peer messages the engines dropped as impossible (drops.py), all incarnations
    reconfigs: dict[str, int] = field(default_factory=dict)  # membership changes: asked, ok, error
    commit: int = 0
    virtual_ms: int = 0
    wall_s: float = 0.0


@dataclass
class SimResult:
    seed: int
    profile: str
    protocol: str
    ok: bool
    kind: str = ""
    message: str = ""
    stats: Stats = field(default_factory=Stats)
    trace_tail: list[str] = field(default_factory=list)
    replay: str = ""
    trace: Trace | None = None  # the whole trace when run with full tracing

    def report(self, tail: int = 60) -> str:
        lines = [
            f"seed {self.seed} ({self.protocol}, profile {self.profile}): "
            + ("ok" if self.ok else f"FAILED {self.kind}"),
        ]
        if not self.ok:
            lines.append(self.message)
            lines.append(f"replay: {self.replay}")
            if self.trace_tail and tail > 0:
                lines.append(f"--- last {min(tail, len(self.trace_tail))} trace lines ---")
                lines += self.trace_tail[-tail:]
        return "\n".join(lines)


# --- nodes and clients -----------------------------------------------------------------
class SimNode:
    __slots__ = (
        "id",
        "store",
        "core",
        "host",
        "machine",
        "incarnation",
        "incarnations",
        "alive",
        "busy",
        "inflight",
        "crash_point",
        "stalled_until",
        "inbox",
        "commit",
        "lead_term",
        "tick_ms",
        "ticks_lost_in_stall",
        "bootstrap",
        "booted",
    )

    def __init__(self, node_id: int, tick_ms: int) -> None:
        self.id = node_id
        self.store = MemoryStore()
        self.core: NodeCore | None = None
        self.host: NodeHost | None = None  # core.host
        self.machine: Any = None
        self.incarnation = 0  # boots so far (not the data directory's incarnation id)
        self.incarnations: Incarnations | None = None  # what it knows of its peers' disks
        self.alive = False
        self.busy = False  # a Ready is between take_ready and finish
        self.inflight: Ready | None = None
        self.crash_point: str | None = None  # planned crash inside the current cycle
        self.stalled_until = 0
        self.inbox: deque = deque()
        self.commit = 0
        self.lead_term: int | None = None  # term it leads, per the last soft state it reported
        self.tick_ms = tick_ms
        self.ticks_lost_in_stall = True
        self.bootstrap: Membership | None = None  # the member list its config file would hold
        self.booted = False  # ever: a spare id joins the cluster only when it is added


class SimClient:
    __slots__ = ("id", "target", "batch", "counter", "seen", "seen_index", "token", "stopped", "roaming", "level")

    def __init__(self, client_id: int, level: ReadConsistency) -> None:
        self.id = client_id
        self.target: int | None = None  # node it believes leads
        self.batch: ClientBatch | None = None  # the request awaiting its answers
        self.counter = 0
        self.seen: dict[bytes, bytes | None] = {}  # last value it saw per key (for cas)
        self.seen_index = 0  # highest log index among its answers (a connection's last seen index)
        self.token = 0  # invalidates stale CLIENT/TIMEOUT events
        self.stopped = False
        # A roaming client sends each request to a random node (writes get forwarded,
        # deposed leaders get asked); the others stick to the leader they found.
        self.roaming = client_id % 2 == 0
        self.level = level  # its connection's read consistency


_PENDING = object()


class ClientBatch:
    """One client request as the core sees it (core/requests.py, Answers): one op per slot
    (a MULTI/EXEC is one slot whose result is the list of its ops' results)."""

    __slots__ = (
        "cluster",
        "client",
        "ops",
        "multi",
        "level",
        "node",
        "incarnation",
        "results",
        "indexes",
        "left",
        "started",
        "deadline",
        "dead",
        "floor",
    )

    def __init__(self, cluster: SimCluster, client: SimClient, ops: list[Op], multi: bool, level, node: SimNode):
        self.cluster = cluster
        self.client = client
        self.ops = ops
        self.multi = multi
        self.level = level  # the read level of its reads (None: they are steps of a log entry)
        self.node = node.id
        self.incarnation = node.incarnation
        slots = 1 if multi else len(ops)
        self.results: list = [_PENDING] * slots
        self.indexes = [0] * slots
        self.left = slots
        self.started = cluster.now / 1000
        self.deadline = self.started + cluster.config.op_timeout_ms / 1000
        self.dead = False  # the client gave up (timeout, crash): later answers say nothing
        self.floor = client.seen_index  # what its connection had seen when it asked

    def set(self, slot: int, value, index: int = 0) -> None:
        if self.dead or self.results[slot] is not _PENDING:
            return
        self.results[slot] = value
        self.indexes[slot] = index
        self.left -= 1
        if not self.left:
            self.cluster._answered(self)


class SimCluster:
    """N nodes, a network, clients and a nemesis, all on one seeded heap."""

    def __init__(
        self,
        seed: int,
        protocol: str = "raft",
        nodes: int | None = None,
        *,
        config: SimConfig | None = None,
        profile: str = "calm",
        trace: Trace | None = None,
        machine_factory: Callable[[], Any] = reg.Registers,
        workload: bool = True,
        engine: Callable[..., Any] | None = None,
    ) -> None:
        cfg = config if config is not None else make_config(profile, protocol)
        if nodes is not None:
            cfg = replace(cfg, nodes=nodes)
        if protocol != cfg.protocol:
            cfg = replace(cfg, protocol=protocol)
        self.seed = seed
        self.profile = profile
        self.rng = random.Random(seed)
        if cfg.vary:
            cfg = self._vary(cfg)
        self.config = cfg
        self.factory = engine if engine is not None else engine_factory(cfg.protocol)
        self.machine_factory = machine_factory
        self.machine_name = getattr(machine_factory, "name", "registers")
        self.trace = trace if trace is not None else Trace()
        self.net = SimNetwork(self.rng, replace(cfg.network))
        self.ids = tuple(range(1, cfg.nodes + 1))
        first = Membership.of(self.ids)
        self.inv = Invariants(self.ids)
        self.stats = Stats()
        self.now = 0
        self.phase = CHAOS
        self._heap: list = []
        self._seq = 0
        self._stamp = 0  # history stamps (exact real-time order)
        self.nodes: dict[int, SimNode] = {}
        for i in self.ids:
            drift = self.rng.randint(-cfg.tick_drift_ms, cfg.tick_drift_ms)
            self.nodes[i] = SimNode(i, max(1, cfg.tick_ms + drift))
            self.nodes[i].bootstrap = first
        self.reconfigurer: Reconfigurer | None = None
        if cfg.reconfig:
            rrng = random.Random(f"reconfig/{seed}")
            self.reconfigurer = Reconfigurer(self, rrng)
            spares = tuple(range(cfg.nodes + 1, cfg.nodes + 1 + cfg.spare_nodes))
            for i in spares:
                drift = rrng.randint(-cfg.tick_drift_ms, cfg.tick_drift_ms)
                self.nodes[i] = SimNode(i, max(1, cfg.tick_ms + drift))
            self.ids += spares
        self.history: list[Op] = []
        self.clients = [SimClient(c, self._read_level()) for c in range(1, cfg.clients + 1)] if workload else []
        self.keys = [f"k{k}".encode() for k in range(cfg.keys)]
        self.on_applied: list[Callable[[int, int], None]] = []  # hooks (node, applied)
        self._started = False
        self._steps_chaos = 0
        self._ok_at_heal = 0
        self._forced: dict[int, str] = {}  # node -> scripted mid-Ready crash point
        self.forger = Forger(self.rng, cfg.protocol, self.ids) if cfg.forge_ms_max > 0 else None
        self._lost_disks: dict[int, list[MemoryStore]] = {}  # node -> stores it lost (wipe_disk)
        self._recovering: set[int] = set()  # wiped nodes that have not held the committed log since

    def _vary(self, cfg: SimConfig) -> SimConfig:
        """Draw the engine and host knobs from the seed, so seeds also cover
        configurations: tiny batches and windows, frequent snapshots with no log
        kept behind them (InstallSnapshot), slow heartbeats, proposal back-pressure."""
        rng = self.rng
        return replace(
            cfg,
            snapshot_entries=rng.randint(8, 40),
            keep_entries=rng.choice((0, 0, 2, 5, 10)),
            max_inflight_msgs=rng.choice((1, 2, 4, 8, 64)),
            max_batch_bytes=rng.choice((64, 512, 2048, 1 << 20)),
            heartbeat_ticks=rng.choice((1, 1, 2, 3)),
            election_ticks=rng.randint(8, 14),
            max_uncommitted_bytes=rng.choice((64 << 20, 64 << 20, 1024)),
            max_apply_bytes=rng.choice((64 << 20, 64 << 20, 100)),
            keys=rng.choice((1, 2, 3, 5)),
            op_timeout_ms=rng.choice((150, 300, 600, 1000)),
            write_mode=rng.choice(("forward", "forward", "redirect")),
        )

    def describe_config(self) -> str:
        c = self.config
        return (
            f"config: {c.nodes} nodes, election {c.election_ticks} ticks, heartbeat {c.heartbeat_ticks}, "
            f"tick {c.tick_ms} ms, inflight {c.max_inflight_msgs}, batch {c.max_batch_bytes} B, "
            f"uncommitted {c.max_uncommitted_bytes} B, apply {c.max_apply_bytes} B, "
            f"{'lease reads, ' if c.lease_read else ''}snapshot every {c.snapshot_entries} keeping {c.keep_entries}, "
            f"clients {len(self.clients)} on {c.keys} keys (timeout {c.op_timeout_ms} ms, {c.write_mode} mode), "
            f"chaos {c.chaos_ms} ms"
        )

    # --- scheduling ----------------------------------------------------------------
    def _at(self, time_ms: int, kind: int, *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time_ms, self._seq, kind, args))

    def _stamp_next(self) -> int:
        self._stamp += 1
        return self._stamp

    def _log(self, node: SimNode | None, what: str, obj: Any = None) -> None:
        if node is None:
            self.trace.add(self.now, None, None, what, obj)
            return
        host = node.host
        if host is None:
            state = ("down", "-", "-", node.store.last_index())
        else:
            state = (host.role, host.epoch, node.commit, node.store.last_index())
        self.trace.add(self.now, node.id, state, what, obj)

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        assert not self._started
        self._started = True
        cfg = self.config
        self._log(None, f"seed {self.seed}, profile {self.profile}, protocol {cfg.protocol}")
        self._log(None, self.describe_config())
        for node in self.nodes.values():
            if node.bootstrap is not None:
                self._boot(node)
        if self.reconfigurer is not None:
            self.reconfigurer.start()
        for client in self.clients:
            self._at(self.rng.randint(0, 50), CLIENT, client.id, client.token)
        if self._nemesis_enabled():
            self._at(self.rng.randint(cfg.nemesis_ms_min, cfg.nemesis_ms_max), NEMESIS)
        if self.forger is not None:
            self._at(self.rng.randint(1, cfg.forge_ms_max), FORGE)
        self._at(cfg.chaos_ms, PHASE, HEALING)

    def add_timer(self, delay_ms: int, fn: Callable[[], None]) -> None:
        """Call fn() after delay_ms of virtual time (library hook)."""
        self._at(self.now + delay_ms, TIMER, fn)

    # --- scripted faults (named scenarios) -------------------------------------------------
    def at(self, time_ms: int, fn: Callable[[], None]) -> None:
        """Call fn() at virtual time time_ms (for scripted scenarios)."""
        self._at(time_ms, TIMER, fn)

    def leader(self) -> int | None:
        """The live node that believes it leads, in the highest term."""
        return self._leader()

    def crash_mid_ready(self, node_id: int, point: str = "before-persist") -> None:
        """Crash node_id inside its next Ready cycle that writes something durable:
        "before-persist" (messages sent, write lost), "after-persist" (write done,
        acks never sent) or "after-acks" (acks sent, nothing applied). It restarts
        after restart_ms_min..restart_ms_max."""
        assert point in ("before-persist", "after-persist", "after-acks"), point
        self._forced[node_id] = point

    def partition(self, groups: list[list[int]], heal_after_ms: int | None = None) -> None:
        self.net.heal()
        self.net.partition(groups)
        self.stats.partitions += 1
        self._log(None, "partition " + " | ".join(str(g) for g in groups))
        if heal_after_ms is not None:
            self._at(self.now + heal_after_ms, HEAL)

    def heal(self) -> None:
        self.net.heal()
        self._log(None, "heal: network whole again")

    def call_on(self, node_id: int, fn: Callable[[NodeHost], None]) -> None:
        """Run fn(host) on a live node as one of its inputs (then its Ready cycle)."""
        node = self.nodes[node_id]
        if node.alive:
            node.inbox.append((CALL, fn))
            self._pump(node)

    def _nemesis_enabled(self) -> bool:
        c = self.config
        return bool(c.crash_weight or c.partition_weight or c.one_way_weight or c.stall_weight or c.transfer_weight)

    def _boot(self, node: SimNode) -> None:
        cfg = self.config
        node.incarnation += 1
        meta = node.store.snapshot_meta()
        bootstrap = node.bootstrap
        assert bootstrap is not None, f"n{node.id} was never added"
        node.booted = True
        econf = EngineConfig(
            node_id=node.id,
            voters=bootstrap.voters,
            observers=bootstrap.non_voters,
            membership=bootstrap,
            election_ticks=cfg.election_ticks,
            heartbeat_ticks=cfg.heartbeat_ticks,
            max_inflight_msgs=cfg.max_inflight_msgs,
            max_batch_bytes=cfg.max_batch_bytes,
            max_uncommitted_bytes=cfg.max_uncommitted_bytes,
            max_apply_bytes=cfg.max_apply_bytes,
            lease_read=cfg.lease_read,
            pre_vote=cfg.pre_vote,
            check_quorum=cfg.check_quorum,
            applied=meta.index if meta is not None else 0,
        )
        engine = self.factory(econf, node.store, random.Random(self.rng.getrandbits(64)))
        node.machine = self.machine_factory()
        node.host = _CheckedHost(
            node.id,
            engine,
            node.store,
            {self.machine_name: node.machine},
            voters=bootstrap.voters,
            observers=bootstrap.non_voters,
            snapshot_entries=cfg.snapshot_entries,
            keep_entries=cfg.keep_entries,
        )
        node.host.on_apply = partial(self._on_apply, node)
        node.incarnations = Incarnations(node.id, node.store, engine)
        node.core = NodeCore(
            CoreConfig(
                node_id=node.id,
                members=self.ids,
                resp={i: (f"n{i}", 6379) for i in self.ids},
                write_mode=cfg.write_mode,
            ),
            node.host,
            node.incarnations,
            send=self._send_one,
            clock=self._clock,
            wall_ms=self._wall_ms,
            pipeline_machines=(self.machine_name,),
            first_id=self.rng.getrandbits(62),
        )
        node.core.on_ready = partial(self._on_ready, node)
        if cfg.host_seq_workaround and node.host._seq == 0:
            node.host._seq = (node.incarnation - 1) << 32
        node.alive = True
        node.busy = False
        node.inflight = None
        node.crash_point = None
        node.stalled_until = 0
        node.inbox.clear()
        node.commit = node.host.applied
        node.lead_term = None
        self._log(
            node, f"boot #{node.incarnation} (snapshot {meta.index if meta else 0}, last {node.store.last_index()})"
        )
        self._at(self.now + self.rng.randint(1, node.tick_ms), TICK, node.id, node.incarnation)

    def crash(self, node_id: int, why: str = "crash", saved: bool = False) -> None:
        node = self.nodes[node_id]
        if not node.alive:
            return
        self.stats.crashes += 1
        self._count_drops(node)
        lost = node.inflight
        node.alive = False
        if lost is not None:
            node.core.crashed_mid_ready(lost)
        node.core = None
        node.host = None
        node.machine = None
        node.inflight = None
        node.busy = False
        waiting = [item for kind, item in node.inbox if kind == CLIENT]
        node.inbox.clear()
        node.lead_term = None
        for client in waiting:  # requests it never took: the client sees a refused connection
            if client.batch is None and not client.stopped:
                client.target = None
                self._retry(client)
        if lost is not None:
            why += f" (Ready #{lost.number} {'saved, not finished' if saved else 'lost: not saved'})"
        self._log(node, why)
        # Clients waiting on this node learn nothing: writes become unknown, reads vanish.
        for client in self.clients:
            batch = client.batch
            if batch is not None and batch.node == node_id and batch.incarnation == node.incarnation:
                self._fail_batch(client, "node crashed")

    def wipe_disk(self, node_id: int) -> None:
        """A down node loses its disk: it will boot from an empty store with a new
        incarnation id, and its peers learn that from its first message."""
        node = self.nodes[node_id]
        assert not node.alive, "wipe the disk of a stopped node"
        self._lost_disks.setdefault(node_id, []).append(node.store)
        self._recovering.add(node_id)
        node.store = MemoryStore(incarnation=self.rng.getrandbits(64) | 1)
        self.stats.wiped_disks += 1
        self._log(node, "disk wiped")

    def _may_wipe(self, target: int) -> bool:
        """The fault model: at most a minority of disks lost at once (f of 2f + 1). A
        lost disk counts until its node has held the whole committed log again and every
        other member's disk says so (it records the new disk, and suspects it no longer:
        replicator/incarnations.py); losing another before that can lose committed
        entries, or leave no member whose votes the others count, and no protocol can
        tell two empty voters from a new cluster, so the nemesis does not."""
        commit = self.inv.commit_max
        for n in self.nodes.values():
            if n.id in self._recovering and n.store.last_index() >= commit and self._trusted_by_all(n):
                self._recovering.discard(n.id)
        others_up = all(n.alive for n in self.nodes.values() if n.id != target and n.booted)
        return others_up and self._recovering <= {target}

    def _trusted_by_all(self, node: SimNode) -> bool:
        """Every other booted node's disk records `node`'s current disk, not suspected."""
        trusted = (node.store.incarnation, 0)
        return all(n.store.peers().get(node.id) == trusted for n in self.nodes.values() if n is not node and n.booted)

    def restart(self, node_id: int) -> None:
        node = self.nodes[node_id]
        if node.alive:
            return
        self._boot(node)

    # --- the main loop ---------------------------------------------------------------------
    def run(self) -> SimResult:
        """Run chaos, heal and settle phases; check history and liveness. Never raises
        for a property violation: the result says what broke."""
        t0 = time.perf_counter()
        result = SimResult(self.seed, self.profile, self.config.protocol, ok=True)
        try:
            if not self._started:
                self.start()
            self._loop()
            self._check_history()
            self._check_liveness()
        except Violation as v:
            result.ok, result.kind, result.message = False, v.kind, v.message
        except Exception as exc:  # an engine or host crash is a failure of the seed, not of the run
            import traceback

            result.ok, result.kind = False, f"exception {type(exc).__name__}"
            result.message = "".join(traceback.format_exception(exc)).rstrip()
        for node in self.nodes.values():
            self._count_drops(node)
        self.stats.virtual_ms = self.now
        self.stats.wall_s = time.perf_counter() - t0
        self.stats.commit = self.inv.commit_max
        result.stats = self.stats
        if not result.ok:
            result.trace_tail = self.trace.lines(last=200)
        return result

    def _loop(self) -> None:
        heap = self._heap
        cfg = self.config
        while heap and self.phase != DONE:
            t, _, kind, args = heapq.heappop(heap)
            self.now = t
            self.stats.events += 1
            if self.phase == CHAOS:
                self._steps_chaos += 1
                if cfg.max_steps is not None and self._steps_chaos >= cfg.max_steps:
                    self._phase(HEALING)
            if kind == TICK:
                self._on_tick(*args)
            elif kind == DELIVER:
                self._on_deliver(*args)
            elif kind == PERSIST:
                self._on_persist(*args)
            elif kind == CLIENT:
                self._on_client(*args)
            elif kind == TIMEOUT:
                self._on_timeout(*args)
            elif kind == CRASH:
                node_id, inc, why = args
                if self.nodes[node_id].incarnation == inc:
                    if why == "mid-ready crash":
                        self.stats.mid_ready_crashes += 1
                    self.crash(node_id, why)
                    self._schedule_restart(node_id)
            elif kind == RESTART:
                node_id, inc = args
                node = self.nodes[node_id]
                if not node.alive and node.incarnation == inc:
                    self.restart(node_id)
            elif kind == NEMESIS:
                self._on_nemesis()
            elif kind == HEAL:
                if self.net.blocked:
                    self.net.heal()
                    self._log(None, "heal: network whole again")
            elif kind == WAKE:
                node_id, inc = args
                node = self.nodes[node_id]
                if node.alive and node.incarnation == inc and node.stalled_until <= self.now:
                    self._log(node, "wake")
                    self._pump(node)
            elif kind == PHASE:
                self._phase(args[0])
            elif kind == TIMER:
                args[0]()
            elif kind == FORGE:
                self._on_forge()

    def _phase(self, phase: str) -> None:
        order = (CHAOS, HEALING, SETTLING, DONE)
        if order.index(phase) <= order.index(self.phase):
            return  # phases only move forward (a --steps cap may have moved it already)
        cfg = self.config
        self.phase = phase
        if phase == HEALING:
            # A quiet network from now on: delays only (copies already in flight,
            # stragglers included, still arrive late).
            self.net.heal()
            self.net.config.loss = 0.0
            self.net.config.duplicate = 0.0
            self.net.config.reorder = 0.0
            self.net.config.straggle = 0.0
            self._log(None, "phase heal: network healed, faults off, every node up")
            for node in self.nodes.values():
                if not node.alive and node.booted:
                    self.restart(node.id)
                elif node.stalled_until > self.now:
                    node.stalled_until = self.now
                    self._pump(node)
            self._heal_started = self.now
            self._ok_at_heal = self.stats.ops_ok + self.stats.reads_ok
            self._at(self.now + cfg.heal_ms, PHASE, SETTLING)
        elif phase == SETTLING:
            self._log(None, "phase settle: clients stop")
            for c in self.clients:
                c.stopped = True
            self._at(self.now + cfg.settle_ms, PHASE, DONE)
        elif phase == DONE:
            self._log(None, "phase done")

    # --- node driving ------------------------------------------------------------------------
    def _on_tick(self, node_id: int, inc: int) -> None:
        node = self.nodes[node_id]
        if not node.alive or node.incarnation != inc:
            return
        self._at(self.now + node.tick_ms, TICK, node_id, inc)
        if node.stalled_until > self.now and node.ticks_lost_in_stall:
            return  # a paused process runs no ticker either: these ticks never happen
        node.inbox.append((TICK, None))
        self._pump(node)

    def _on_deliver(self, msg: Any) -> None:
        node = self.nodes.get(msg.dst)
        if node is None:
            return  # an id no node of this run has (a forged or misread address): nobody is there
        if not self.net.deliverable(msg.src, msg.dst):
            return
        if not node.alive:
            return
        node.inbox.append((DELIVER, msg))
        self._pump(node)

    def _send(self, messages: tuple) -> None:
        for msg in messages:
            self._send_one(msg)

    def _send_one(self, msg: Any) -> None:
        if self.forger is not None:
            self.forger.record(msg)
        for delay in self.net.route(msg.src, msg.dst):
            self._at(self.now + delay, DELIVER, msg)

    def _clock(self) -> float:
        """The cores' monotonic clock: virtual seconds."""
        return self.now / 1000

    def _wall_ms(self) -> int:
        """The cores' wall clock (entries' ts_ms): virtual milliseconds."""
        return self.now

    def _pump(self, node: SimNode) -> None:
        """Feed everything waiting in the inbox to the core, step it, and run its Ready
        cycle up to the next durable write (whose PERSIST event continues it)."""
        if not node.alive or node.busy or node.stalled_until > self.now:
            return
        core = node.core
        assert core is not None
        inbox = node.inbox
        wiped = self.config.wipe_disk > 0 or self.config.reconfig  # a replaced member has a new disk
        while inbox:
            kind, item = inbox.popleft()
            if kind == TICK:
                core.tick()
            elif kind == DELIVER:
                self._log(node, "recv", item)
                if wiped:  # incarnations differ only once disks are lost
                    # The runtime's Incarnation message, first on every link: here the
                    # sender's current disk, told before each delivery.
                    core.receive(Incarnation(item.src, node.id, self.nodes[item.src].store.incarnation))
                core.receive(item)
            elif kind == CLIENT:
                self._serve_client(node, item)
            elif kind == FORGE:
                # Built from the receiver's state when it is stepped (forger.py: an "impossible"
                # message is impossible then): so first step what came before it, which may
                # change that state (a forwarded write is proposed as it is stepped).
                core.step()
                what, recipe = item
                msg = recipe(core.host.engine)
                if msg is not None and msg.src not in self.nodes:
                    # A stranger: the transport's handshake refuses whoever cannot prove the
                    # cluster secret, so its message never reaches the node (counted all the same).
                    self.stats.forged += 1
                    self.stats.dropped += 1
                    self._log(node, f"forged ({what}), refused by the transport", msg)
                elif msg is not None:
                    self.stats.forged += 1
                    self._log(node, f"forged ({what})", msg)
                    core.receive(msg)
            else:  # CALL: a library user's function of the host
                item(core.host)
        core.step()
        self._cycle(node)

    def _cycle(self, node: SimNode) -> None:
        """The core's Ready cycle, as the runtime runs it: Readies without a durable write
        are carried out whole; one with a write is applied while the write is under way
        and continues at its PERSIST event."""
        core = node.core
        rd = core.next_write()
        if rd is None:
            self._background(node)
            self._after_step(node)
            return
        cfg = self.config
        node.busy = True
        node.inflight = rd
        delay = self.rng.randint(cfg.fsync_ms_min, cfg.fsync_ms_max)
        node.crash_point = None
        forced = self._forced.pop(node.id, None)
        if forced is not None:
            point = forced
            self._log(node, f"scripted crash {point} of Ready #{rd.number}")
            if point == "before-persist":
                self._at(self.now + delay, CRASH, node.id, node.incarnation, "mid-ready crash")
            else:
                node.crash_point = point
        elif cfg.mid_ready_crash and self.phase == CHAOS and self._may_crash(node.id):
            if self.rng.random() < cfg.mid_ready_crash:
                point = self.rng.choice(("before-persist", "after-persist", "after-acks"))
                if point == "before-persist":
                    # messages are out, the write never lands (the event sorts before PERSIST)
                    self._at(self.now + delay, CRASH, node.id, node.incarnation, "mid-ready crash")
                else:
                    node.crash_point = point
        self._at(self.now + delay, PERSIST, node.id, node.incarnation, rd.number)
        core.apply_during_write(rd)

    def _on_ready(self, node: SimNode, rd: Ready) -> None:
        """Every Ready the core takes, before it carries out any of it."""
        self.inv.on_ready(node.id, rd, node.store)
        ss = rd.soft_state
        if ss is not None:
            if ss.role == Role.LEADER:
                if node.lead_term != ss.epoch:
                    self.stats.elections += 1
                node.lead_term = ss.epoch
            else:
                node.lead_term = None
        self._log(node, "ready", _ReadySummary(rd))

    def _on_persist(self, node_id: int, inc: int, number: int) -> None:
        node = self.nodes[node_id]
        if not node.alive or node.incarnation != inc:
            return  # crashed: that Ready is gone
        rd = node.inflight
        assert rd is not None and rd.number == number, (rd, number)
        core = node.core
        store = node.store
        held = self.inv.before_persist(rd, store)
        core.host.persist(rd)
        self.inv.on_persisted(node.id, rd, store, held)
        if rd.snapshot is not None:
            self.stats.snapshots_installed += 1
        if node.crash_point == "after-persist":
            self.stats.mid_ready_crashes += 1
            self.crash(node.id, "crash after persist", saved=True)
            self._schedule_restart(node.id)
            return
        core.written(rd)
        if node.crash_point == "after-acks":
            self.stats.mid_ready_crashes += 1
            self.crash(node.id, "crash after acks", saved=True)
            self._schedule_restart(node.id)
            return
        core.finish(rd)
        node.busy = False
        node.inflight = None
        self._pump(node)

    def _on_apply(self, node: SimNode, rd: Ready, before: int) -> None:
        """The host applied (part of) a Ready: the safety invariants of what it applied."""
        host = node.host
        applied_entries = [e for e in rd.committed if before < e.index <= host.applied]
        if applied_entries:
            # The node's term when this Ready was taken: it learned of these commits in
            # this term or an earlier one (an upper bound on the committing term).
            term_now = rd.soft_state.epoch if rd.soft_state is not None else host.epoch
            self.inv.on_applied(
                node.id,
                term_now,
                applied_entries,
                {n.id: n.store for n in self.nodes.values()},
                self._leaders_now(),
                self._lost_disks,
            )
        if applied_entries or (rd.snapshot is not None and host.applied == rd.snapshot.meta.index):
            self.inv.on_state(node.id, host.applied, self._state_bytes(node))
            for hook in self.on_applied:
                hook(node.id, host.applied)

    def _after_step(self, node: SimNode) -> None:
        st = node.host.engine.status()
        node.commit = st.commit
        self.inv.on_status(node.id, node.incarnation, st)

    def _background(self, node: SimNode) -> None:
        """The core's work between Ready cycles, done at once (the runtime's threads)."""
        core = node.core
        while work := core.background_work():
            for job in work:
                if job.__class__ is SlowReads:
                    core.slow_reads_done(job, job.run())
                elif job.__class__ is CaptureSnapshot:
                    encode = core.host.capture_snapshot()
                    core.snapshot_captured()
                    snap = encode()
                    self.inv.on_snapshot_taken(node.id, snap)
                    core.snapshot_encoded(snap, job.started)
                elif job.__class__ is SaveSnapshot:
                    core.host.save_snapshot(job.snapshot)
                    core.snapshot_saved(job)
                    self.stats.snapshots_taken += 1
                    store = node.store
                    self._log(
                        node,
                        f"snapshot at {job.snapshot.meta.index} (log now {store.first_index()}..{store.last_index()})",
                    )

    def _state_bytes(self, node: SimNode) -> bytes:
        return b"".join(node.machine.snapshot())

    def _leaders_now(self) -> dict:
        out = {}
        for n in self.nodes.values():
            if n.alive and n.lead_term is not None:
                extra = n.inflight.entries if n.inflight is not None else ()
                out[n.id] = (n.lead_term, n.store, extra)
        return out

    def _schedule_restart(self, node_id: int) -> None:
        cfg = self.config
        node = self.nodes[node_id]
        self._at(
            self.now + self.rng.randint(cfg.restart_ms_min, cfg.restart_ms_max), RESTART, node_id, node.incarnation
        )

    def _may_crash(self, node_id: int) -> bool:
        down = sum(1 for n in self.nodes.values() if n.booted and not n.alive)
        return self.nodes[node_id].alive and down < self.config.max_down

    # --- nemesis ---------------------------------------------------------------------------------
    def _leader(self) -> int | None:
        best = None
        for n in self.nodes.values():
            if n.alive and n.host is not None and n.host.role == Role.LEADER:
                if best is None or n.host.epoch > self.nodes[best].host.epoch:  # type: ignore[union-attr]
                    best = n.id
        return best

    def _pick_node(self, alive_only: bool = True) -> int | None:
        cfg = self.config
        leader = self._leader()
        if leader is not None and self.rng.random() < cfg.target_leader:
            return leader
        choices = [n.id for n in self.nodes.values() if n.alive or not alive_only]
        return self.rng.choice(choices) if choices else None

    def _on_nemesis(self) -> None:
        if self.phase != CHAOS:
            return
        cfg = self.config
        rng = self.rng
        self._at(self.now + rng.randint(cfg.nemesis_ms_min, cfg.nemesis_ms_max), NEMESIS)
        actions = [
            ("crash", cfg.crash_weight),
            ("partition", cfg.partition_weight),
            ("one-way", cfg.one_way_weight),
            ("stall", cfg.stall_weight),
            ("transfer", cfg.transfer_weight),
            ("heal", cfg.heal_weight if self.net.blocked else 0),
        ]
        total = sum(w for _, w in actions)
        if total == 0:
            return
        r = rng.randrange(total)
        for action, weight in actions:  # noqa: B007 (the chosen action is read after the loop)
            if r < weight:
                break
            r -= weight
        if action == "crash":
            target = self._pick_node()
            if target is not None and self._may_crash(target):
                self.crash(target, "crash (nemesis)")
                if cfg.wipe_disk and rng.random() < cfg.wipe_disk and self._may_wipe(target):
                    self.wipe_disk(target)
                self._schedule_restart(target)
        elif action == "partition":
            ids = list(self.ids)
            rng.shuffle(ids)
            leader = self._leader()
            if leader is not None and rng.random() < cfg.target_leader:
                ids.remove(leader)
                ids.insert(0, leader)  # the leader lands on the minority side
            cut = rng.randint(1, len(ids) // 2)
            groups = [ids[:cut], ids[cut:]]
            self.net.heal()
            self.net.partition(groups)
            self.stats.partitions += 1
            self._log(None, f"partition {groups[0]} | {groups[1]}")
            self._at(self.now + rng.randint(cfg.partition_ms_min, cfg.partition_ms_max), HEAL)
        elif action == "one-way":
            a, b = rng.sample(list(self.ids), 2)
            leader = self._leader()
            if leader is not None and rng.random() < cfg.target_leader:
                a = leader
                b = rng.choice([i for i in self.ids if i != leader])
                if rng.random() < 0.5:
                    a, b = b, a
            self.net.block(a, b)
            self.stats.partitions += 1
            self._log(None, f"one-way: {a} -> {b} blocked ({self.net.describe()})")
            self._at(self.now + rng.randint(cfg.partition_ms_min, cfg.partition_ms_max), HEAL)
        elif action == "stall":
            target = self._pick_node()
            if target is not None:
                node = self.nodes[target]
                until = self.now + rng.randint(cfg.stall_ms_min, cfg.stall_ms_max)
                if until > node.stalled_until:
                    node.stalled_until = until
                    node.ticks_lost_in_stall = rng.random() < 0.5
                    self.stats.stalls += 1
                    kind = "process pause" if node.ticks_lost_in_stall else "engine task blocked"
                    self._log(node, f"stall until {until} ({kind})")
                    self._at(until, WAKE, node.id, node.incarnation)
        elif action == "transfer":
            leader = self._leader()
            if leader is not None:
                to = rng.choice([i for i in self.ids if i != leader])
                self.stats.transfers += 1
                self._log(self.nodes[leader], f"transfer leadership to n{to} (nemesis)")
                self.call_on(leader, lambda host: self._transfer(host, to))
        elif action == "heal":
            self.net.heal()
            self._log(None, "heal (nemesis)")

    # --- the Byzantine-lite forger -------------------------------------------------------------
    def _on_forge(self) -> None:
        if self.phase != CHAOS or self.forger is None:
            return
        self._at(self.now + self.rng.randint(1, self.config.forge_ms_max), FORGE)
        alive = [n.id for n in self.nodes.values() if n.alive]
        forged = self.forger.forge(alive)
        if forged is None:
            return
        node_id, kind, recipe = forged
        node = self.nodes[node_id]
        node.inbox.append((FORGE, (kind, recipe)))
        self._pump(node)

    def _count_drops(self, node: SimNode) -> None:
        """Add a dying (or finished) engine's drop counts to the run's."""
        engine = node.host.engine if node.host is not None else None
        dropped = getattr(engine, "dropped_messages", None)
        if dropped:
            self.stats.dropped += sum(dropped.values())

    def _transfer(self, host: NodeHost, to: int) -> None:
        try:
            host.engine.transfer_leadership(to)
        except NotLeader:
            pass  # it stopped leading while the request waited in its inbox
        except ValueError:
            pass  # `to` is not a voter (any more): a membership change came first

    # --- clients ---------------------------------------------------------------------------------
    def _read_level(self) -> ReadConsistency:
        """A client's read level, drawn once: its connection's read consistency."""
        cfg, r = self.config, self.rng.random()
        if r < cfg.sequential_share:
            return ReadConsistency.SEQUENTIAL
        if r < cfg.sequential_share + cfg.stale_share:
            return ReadConsistency.STALE
        if cfg.lease_read and r < 0.5 + (cfg.sequential_share + cfg.stale_share) / 2:
            return ReadConsistency.LEASE
        return ReadConsistency.LINEARIZABLE

    def _on_client(self, client_id: int, token: int) -> None:
        client = self.clients[client_id - 1]
        if client.token != token or client.stopped or client.batch is not None:
            return
        node_id = client.target if client.target is not None else self.rng.choice(self.ids)
        node = self.nodes[node_id]
        if not node.alive:
            client.target = None
            self.stats.rejected += 1
            self._retry(client)
            return
        node.inbox.append((CLIENT, client))
        self._pump(node)

    def _new_op(self, client: SimClient, node: SimNode, read_ok: bool = True) -> tuple[Op, bytes, bool]:
        """One random op of `client`: (op, command, write)."""
        cfg, rng = self.config, self.rng
        key = rng.choice(self.keys)
        r = rng.random()
        client.counter += 1
        op = Op(id=-1, client=client.id, kind=READ, key=key, node=node.id)
        if read_ok and r < cfg.read_share:
            return op, reg.encode_get(key), False
        value = f"c{client.id}.{client.counter}".encode()
        if r < cfg.read_share + cfg.cas_share:
            op.kind, op.expected, op.arg = CAS, client.seen.get(key), value
            return op, reg.encode_cas(key, op.expected, value), True
        op.kind, op.arg = PUT, value
        return op, reg.encode_put(key, value), True

    def _serve_client(self, node: SimNode, client: SimClient) -> None:
        """The node takes the client's request (from its inbox), as the RESP server hands a
        connection's burst to the node: one write or read, a pipeline burst, or a MULTI/EXEC."""
        cfg, rng, core = self.config, self.rng, node.core
        if client.stopped or client.batch is not None:
            return
        name = self.machine_name
        r = rng.random()
        if r < cfg.pipeline_share and name in core.pipeline_machines:
            made = [self._new_op(client, node) for _ in range(rng.randint(2, 4))]
            batch = self._invoke(client, node, [op for op, _, _ in made], False, None)
            core.submit_pipeline([(name, command, write) for _, command, write in made], batch)
            kind = "pipeline"
        elif r < cfg.pipeline_share + cfg.multi_share:
            made = [self._new_op(client, node) for _ in range(rng.randint(2, 3))]
            batch = self._invoke(client, node, [op for op, _, _ in made], True, None)
            steps = encode_transaction((name, command, write) for _, command, write in made)
            core.submit_batch([(TRANSACTIONS, steps)], batch)
            kind = "multi"
        else:
            op, command, write = self._new_op(client, node)
            if write:
                batch = self._invoke(client, node, [op], False, None)
                core.submit_batch([(name, command)], batch)
                kind = "write"
            else:
                batch = self._invoke(client, node, [op], False, client.level)
                core.read_batch([(name, command)], client.level, batch, min_index=client.seen_index)
                kind = f"{client.level.value} read"
        self._count(kind)
        if kind in ("write", "pipeline", "multi") and node.host.role != Role.LEADER:
            self._count("at a follower")
        self._log(node, f"client c{client.id} {kind}", "; ".join(op.describe() for op in batch.ops))

    def _count(self, kind: str) -> None:
        requests = self.stats.requests
        requests[kind] = requests.get(kind, 0) + 1

    def _invoke(self, client: SimClient, node: SimNode, ops: list[Op], multi: bool, level) -> ClientBatch:
        """Stamp the request's ops and start waiting for their answers. Reads at a level
        weaker than linearizable stay out of the history (they are checked on their own)."""
        for op in ops:
            op.invoke, op.invoke_ms = self._stamp_next(), self.now
            if op.kind != READ or level in (None, ReadConsistency.LINEARIZABLE, ReadConsistency.LEASE):
                op.id = len(self.history)
                self.history.append(op)
        batch = ClientBatch(self, client, ops, multi, level, node)
        client.batch = batch
        client.target = node.id
        client.token += 1
        self._at(self.now + self.config.op_timeout_ms, TIMEOUT, client.id, client.token)
        return batch

    def _answered(self, batch: ClientBatch) -> None:
        """Every slot of a client's request is decided (called by the core, through set)."""
        client = batch.client
        if client.batch is not batch:
            return
        if batch.multi:
            result, index = batch.results[0], batch.indexes[0]
            if isinstance(result, list) and len(result) == len(batch.ops):
                answers = [(value, index) for value in result]
            else:
                answers = [(result, index)] * len(batch.ops)
        else:
            answers = list(zip(batch.results, batch.indexes))
        moved = None
        for op, (value, index) in zip(batch.ops, answers):
            if isinstance(value, Moved):
                moved = value.leader
            elif isinstance(value, Removed):
                client.target = None  # as a client whose node was removed: it connects elsewhere
            self._settle(client, batch, op, value, index)
        client.batch = None
        if moved is not None:  # redirect mode: never proposed; follow the address
            self.stats.rejected += 1
            self._count("moved")
            client.target = moved
            self._retry(client)
        else:
            self._next_op(client)

    def _settle(self, client: SimClient, batch: ClientBatch, op: Op, value, index: int) -> None:
        """One op's answer into the history (or its own check, for weaker reads)."""
        in_history = op.id >= 0
        if isinstance(value, RequestError):
            op.note = str(value)
            if op.kind == READ or isinstance(value, (Moved, Removed)):
                if in_history:
                    self.history.remove(op)  # a read with no answer, or a write never proposed, says nothing
            else:
                self.stats.ops_unknown += 1
            self._log(None, f"client c{client.id} {value}", op.describe())
            return
        if isinstance(value, ReplyError):
            raise Violation("ResultMismatch", f"machine error for {op.describe()}: {value.message}")
        if index > client.seen_index:
            client.seen_index = index
        op.response, op.response_ms = self._stamp_next(), self.now
        op.index = index if op.kind != READ else 0
        if op.kind == READ:
            if batch.level is ReadConsistency.SEQUENTIAL and index < batch.floor:
                raise Violation(
                    "SequentialReads",
                    f"c{client.id} read at index {index} after it had seen index {batch.floor}: {op.describe()}",
                )
            self.stats.reads_ok += 1
            op.result = value
        else:
            self.stats.ops_ok += 1
            op.result = (bool(value[0]), value[1]) if op.kind == CAS else value
        client.seen[op.key] = (
            op.result if op.kind == READ else op.arg if (op.kind == PUT or op.result[0]) else op.result[1]
        )
        self._log(self.nodes[op.node], f"client c{client.id} done", op.describe())

    def _retry(self, client: SimClient) -> None:
        cfg = self.config
        client.token += 1
        self._at(self.now + self.rng.randint(cfg.retry_ms_min, cfg.retry_ms_max), CLIENT, client.id, client.token)

    def _next_op(self, client: SimClient) -> None:
        client.batch = None
        if client.roaming:
            client.target = None
        client.token += 1
        self._at(self.now + self.rng.randint(0, self.config.think_ms_max), CLIENT, client.id, client.token)

    def _on_timeout(self, client_id: int, token: int) -> None:
        client = self.clients[client_id - 1]
        if client.token != token or client.batch is None:
            return
        self._fail_batch(client, "timed out")

    def _fail_batch(self, client: SimClient, why: str) -> None:
        """The client gives up on its request: its writes' outcomes are unknown, its reads say nothing."""
        batch = client.batch
        if batch is None:
            return
        batch.dead = True
        for op in batch.ops:
            op.note = why
            if op.kind == READ:
                if op.id >= 0:
                    self.history.remove(op)
            else:
                self.stats.ops_unknown += 1
            self._log(None, f"client c{client.id} {why}", op.describe())
        client.target = None
        self._next_op(client)

    # --- end-of-run checks ----------------------------------------------------------------------
    def _check_history(self) -> None:
        res = check_history(self.history)
        if not res.ok:
            raise Violation("Linearizability", res.explain())

    def _check_liveness(self) -> None:
        if self.phase != DONE:
            raise Violation("Liveness", f"run ended in phase {self.phase} at {self.now} ms")
        if self.clients and self.stats.ops_ok + self.stats.reads_ok == self._ok_at_heal:
            raise Violation("Liveness", f"no client op completed in the {self.config.heal_ms} ms after healing")
        leaders = [n for n in self.nodes.values() if n.host is not None and n.host.role == Role.LEADER]
        if not leaders:
            raise Violation("Liveness", "no leader after healing and settling")
        top = max(leaders, key=lambda n: n.host.epoch)  # type: ignore[union-attr]
        st = top.host.engine.status()  # type: ignore[union-attr]
        for n in self.nodes.values():
            if n.host is None:
                continue  # an id that was never added
            if n is not top and n.host.role == Role.LEADER and n.host.epoch == top.host.epoch:  # type: ignore[union-attr]
                raise Violation("Liveness", f"two leaders in term {st.epoch}")
        if st.commit != st.last_index:
            raise Violation(
                "Liveness", f"leader n{top.id} has committed {st.commit} of {st.last_index} entries after settling"
            )
        ref = self._state_bytes(top)
        # The members of the leader's configuration: a removed node (which may still run) and
        # an id never added are not expected to follow anyone.
        members = top.host.membership_in_force().ids()  # type: ignore[union-attr]
        for n in self.nodes.values():
            if n.id not in members:
                continue
            host = n.host
            assert host is not None
            if host.applied != top.host.applied:  # type: ignore[union-attr]
                raise Violation(
                    "Liveness",
                    f"n{n.id} applied {host.applied} but leader n{top.id} applied {top.host.applied}",  # type: ignore[union-attr]
                )
            if host.leader != top.id or host.epoch != top.host.epoch:  # type: ignore[union-attr]
                raise Violation(
                    "Liveness",
                    f"n{n.id} follows {host.leader} in term {host.epoch}, not n{top.id} in {top.host.epoch}",  # type: ignore[union-attr]
                )
            if self._state_bytes(n) != ref:
                raise Violation(
                    "Liveness", f"n{n.id}'s machine state differs from the leader's at applied {host.applied}"
                )


class _CheckedHost(NodeHost):
    """A NodeHost that reports each apply to the simulator's invariants."""

    on_apply: Callable[[Ready, int], None]

    def apply(self, rd: Ready):
        before = self.applied
        out = super().apply(rd)
        self.on_apply(rd, before)
        return out


class _ReadySummary:
    """Lazy trace rendering of a Ready (formatted only if the line is printed)."""

    __slots__ = ("rd",)

    def __init__(self, rd: Ready) -> None:
        self.rd = rd

    def __str__(self) -> str:
        from replicator.sim.trace import summarize

        rd = self.rd
        parts = [f"#{rd.number}"]
        if rd.soft_state is not None:
            ss = rd.soft_state
            parts.append(f"soft={ss.role.value}/t{ss.epoch}/leader={ss.leader}")
        if rd.hard_state is not None:
            parts.append("hs")
        if rd.snapshot is not None:
            parts.append(f"snap={rd.snapshot.meta.index}/t{rd.snapshot.meta.epoch}")
        if rd.entries:
            parts.append(f"ents={rd.entries[0].index}..{rd.entries[-1].index}/t{rd.entries[-1].epoch}")
        if rd.committed:
            parts.append(f"apply={rd.committed[0].index}..{rd.committed[-1].index}")
        if rd.read_states:
            parts.append("reads=" + ",".join(f"{r.ctx}@{r.index}" for r in rd.read_states))
        for label, msgs in (("send", rd.messages), ("after", rd.messages_after_persist)):
            if msgs:
                shown = "; ".join(summarize(m) for m in msgs[:6])
                more = f"; +{len(msgs) - 6} more" if len(msgs) > 6 else ""
                parts.append(f"{label}=[{shown}{more}]")
        return " ".join(parts)
