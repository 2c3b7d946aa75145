"""The commands of the engine transcripts (tests/protocol/testdata/<protocol>/*.txt).

A transcript drives a harness cluster (engine_harness.py) of one protocol and
prints what each step did, one line per fact, so that a protocol change shows up
as a readable diff of the transcript:

    n1 ready #3                      a Ready of node 1, carried out in ready.py's order
      soft: LEADER leader=1 term=2   its role/leader/term (ZAB: epoch) changed
      persist: hs 2/2:noop           what it wrote (hs = a hard state); "(no fsync)": a
                                     write a driver may skip (commit-only hard state)
      send: AppendEntries(1->2 ...)  messages sent at once
      send after persist: ...        acks sent after the write
      apply: 2/2:noop 3/2:"x"        entries committed and applied (index/epoch:data)
      read: ctx=7 index=3            read barriers released
    lost (cut): Heartbeat(1->3 ...)  a message a cut link, a crash or a drop lost

Commands (N is a node id; `quiet` keeps only soft, apply, read lines and losses
are not printed):

    new voters=3 [observers=1] [seed=0] [<EngineConfig field>=value ...]
    tick [n=1] [nodes=(1, 2)] [quiet]   tick every live node (or `nodes`), then settle; n rounds
    elect [nodes=(..)] [verbose]        tick until a leader serves; quiet unless verbose
    stabilize [quiet]                   carry out Readies and deliver until nothing moves
    process-ready N                     carry out one Ready of N (no delivery)
    deliver [from=N] [to=N]             deliver the queued messages (matching), nothing else
    campaign N                          Raft: N starts an election now
    propose N data...                   each data a command; prints its index
    read-index N ctx=C                  a read barrier
    transfer-leadership from=N to=M
    isolate N | partition 1,2 3 | cut from=N to=M [both] | heal | crash N | restart N
    compact N [keep=0]                  N snapshots its state machine and compacts its log
    status                              one line per node
    log N                               N's durable log
"""

from __future__ import annotations

import re

from replicator.protocol.ready import Ready
from replicator.sim.trace import summarize
from replicator.types import Entry, EntryKind, NotLeader
from tests.datadriven import ClusterTranscript, ParseError, TestData
from tests.protocol.engine_harness import CLUSTERS, Cluster

_ERRORS = (NotLeader, ValueError)  # what an engine raises at a caller: printed, not fatal
_ZXID = re.compile(r"\b(zxid|last_zxid)=(\d+)")
_SESSION = re.compile(r"\bsession=(\d+)")


def fmt_entries(entries, limit: int = 8) -> str:
    """`index/epoch:data` for each entry; a long run shows its two ends."""

    def one(e: Entry) -> str:
        if e.kind is not EntryKind.NORMAL:
            return f"{e.index}/{e.epoch}:{e.kind.name.lower()}"
        data = e.data
        if len(data) <= 16 and data.isascii() and data.decode().isprintable():
            return f'{e.index}/{e.epoch}:"{data.decode()}"'
        return f"{e.index}/{e.epoch}:<{len(data)}B>"

    entries = list(entries)
    if len(entries) > limit:
        return " ".join(map(one, entries[:2])) + f" ...{len(entries) - 4} more... " + " ".join(map(one, entries[-2:]))
    return " ".join(map(one, entries))


class EngineTranscript(ClusterTranscript):
    """The handler of one transcript file: owns its cluster, prints what each command did."""

    def __init__(self, protocol: str) -> None:
        super().__init__(protocol)
        self.c: Cluster | None = None
        self.sessions: dict[str, str] = {}  # ZAB session nonce -> s1, s2, ... in order of appearance

    # --- printing ------------------------------------------------------------
    def _watch(self, event: str, *args) -> None:
        if event == "ready":
            self._print_ready(*args)
        elif not self.quiet:
            msg, why = args
            self.out.append(f"lost ({why}): {self.summarize(msg)}")

    def summarize(self, msg) -> str:
        """One line per message; ZAB zxids as epoch:counter, session nonces (random) as s1, s2..."""
        text = _ZXID.sub(lambda m: f"{m[1]}={int(m[2]) >> 32}:{int(m[2]) & 0xFFFFFFFF}", summarize(msg))
        return _SESSION.sub(lambda m: "session=" + self.sessions.setdefault(m[1], f"s{len(self.sessions) + 1}"), text)

    def _print_ready(self, i: int, rd: Ready) -> None:
        lines = []
        if rd.soft_state is not None:
            ss = rd.soft_state
            lines.append(f"soft: {ss.role.name} leader={ss.leader} {self.term}={ss.epoch}")
        if not self.quiet:
            written = []
            if rd.hard_state is not None:
                written.append("hs")
            if rd.snapshot is not None:
                meta = rd.snapshot.meta
                written.append(f"snapshot index={meta.index} chunks={meta.chunk_count}")
            if rd.entries:
                written.append(fmt_entries(rd.entries))
            if written:
                lines.append(f"persist{'' if rd.must_sync else ' (no fsync)'}: " + " ".join(written))
            lines += [f"send: {self.summarize(m)}" for m in rd.messages]
            lines += [f"send after persist: {self.summarize(m)}" for m in rd.messages_after_persist]
        if rd.committed:
            lines.append("apply: " + fmt_entries(rd.committed))
        lines += [f"read: ctx={rs.ctx} index={rs.index}" for rs in rd.read_states]
        if not lines:
            return
        if self.quiet:
            self.out += [f"n{i} {line}" for line in lines]
        else:
            self.out.append(f"n{i} ready #{rd.number}")
            self.out += ["  " + line for line in lines]

    def _node(self, td: TestData, word: int = 0) -> int:
        words = td.positional()
        try:
            i = int(words[word])
        except (IndexError, ValueError):
            raise ParseError(f"{td.pos}: {td.cmd} needs a node id") from None
        if i not in self.c.ids:
            raise ParseError(f"{td.pos}: no node {i}")
        return i

    def _engine_call(self, fn, *args):
        try:
            return fn(*args)
        except _ERRORS as exc:
            self.out.append(f"error: {type(exc).__name__}: {exc}")
            return None

    # --- commands ------------------------------------------------------------
    def cmd_new(self, td: TestData) -> None:
        overrides = {}
        for a in td.args:
            if a.key in ("voters", "observers", "seed"):
                continue
            (value,) = a.values
            overrides[a.key] = {"true": True, "false": False}.get(value, value)
            if isinstance(overrides[a.key], str):
                overrides[a.key] = int(value)
        self.c = CLUSTERS[self.protocol](
            td.get_int("voters", 3), observers=td.get_int("observers", 0), seed=td.get_int("seed", 0), **overrides
        )
        self.c.watch = self._watch

    def cmd_tick(self, td: TestData) -> None:
        nodes = td.ints("nodes")
        for k in range(1, td.get_int("n", 1) + 1):
            before = len(self.out)
            self.c.tick(nodes=nodes)
            if len(self.out) > before and td.get_int("n", 1) > 1:
                self.out.insert(before, f"@tick {k}")

    def cmd_elect(self, td: TestData) -> None:
        leader = self.c.elect(nodes=td.ints("nodes"))
        self.out.append(f"leader: {leader} {self.term}={self.c[leader].status().epoch}")

    def cmd_stabilize(self, td: TestData) -> None:
        self.c.stabilize()

    def cmd_process_ready(self, td: TestData) -> None:
        if self.c.process_ready(self._node(td)) is None:
            self.out.append("no ready")

    def cmd_deliver(self, td: TestData) -> None:
        src, dst = td.get("from"), td.get("to")

        def wanted(m) -> bool:
            return (src is None or m.src == int(src)) and (dst is None or m.dst == int(dst))

        count = self.c.deliver(wanted)
        self.out.append(f"delivered {count}")

    def cmd_campaign(self, td: TestData) -> None:
        self._engine_call(self.c[self._node(td)].campaign)

    def cmd_propose(self, td: TestData) -> None:
        i = self._node(td)
        for data in td.positional()[1:]:
            index = self._engine_call(self.c[i].propose, data.encode())
            if index is not None:
                self.out.append(f"index {index}")

    def cmd_read_index(self, td: TestData) -> None:
        self._engine_call(self.c[self._node(td)].read_index, td.get_int("ctx"))

    def cmd_transfer_leadership(self, td: TestData) -> None:
        self._engine_call(self.c[td.get_int("from")].transfer_leadership, td.get_int("to"))

    def cmd_isolate(self, td: TestData) -> None:
        self.c.isolate(self._node(td))

    def cmd_partition(self, td: TestData) -> None:
        self.c.partition(*(tuple(int(i) for i in group.split(",")) for group in td.positional()))

    def cmd_cut(self, td: TestData) -> None:
        a, b = td.get_int("from"), td.get_int("to")
        self.c.cut.add((a, b))
        if td.has("both"):
            self.c.cut.add((b, a))

    def cmd_heal(self, td: TestData) -> None:
        self.c.heal()

    def cmd_crash(self, td: TestData) -> None:
        self.c.crash(self._node(td))

    def cmd_restart(self, td: TestData) -> None:
        self.c.restart(self._node(td))

    def cmd_compact(self, td: TestData) -> None:
        node = self.c.nodes[self._node(td)]
        snap = node.take_snapshot()
        node.store.save_snapshot(snap)
        node.store.compact(snap.meta.index - td.get_int("keep", 0))
        self.out.append(f"snapshot index={snap.meta.index} chunks={snap.meta.chunk_count}")
        self.out.append(f"log: {node.store.first_index()}..{node.store.last_index()}")

    def cmd_status(self, td: TestData) -> None:
        for i in self.c.ids:
            st = self.c[i].status()
            node = self.c.nodes[i]
            line = (
                f"n{i}: {st.role.name} leader={st.leader} {self.term}={st.epoch} commit={st.commit}"
                f" applied={node.applied_index} log={st.first_index}..{st.last_index}"
            )
            if "phase" in st.extra:
                line += f" phase={st.extra['phase']}"
            if i in self.c.down:
                line += " (down)"
            data = b",".join(node.applied).decode(errors="replace")
            self.out.append(line + (f" data={data}" if data else ""))

    def cmd_log(self, td: TestData) -> None:
        store = self.c.nodes[self._node(td)].store
        meta = store.snapshot_meta()
        if meta is not None:
            self.out.append(f"snapshot: index={meta.index} epoch={meta.epoch}")
        entries = store.entries(store.first_index(), store.last_index() + 1)
        self.out.append("entries: " + (fmt_entries(entries, limit=1000) or "(none)"))
