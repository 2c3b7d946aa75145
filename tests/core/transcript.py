"""The commands of the node core transcripts (tests/core/testdata/<protocol>/*.txt).

A transcript drives a cluster of node cores (core_harness.py) and prints what each
core did, one line per fact, in the order it happened:

    n2 send: ForwardRequest(2->1 req=1 [put(a,1)])    a message a core sent (engine messages:
                                                      sim/trace.py's summarize; ZAB zxids as
                                                      epoch:counter, sessions as s1, s2..)
    n1 send: ForwardReply(1->2 req=1 [nil@3])         each slot's result@index, error or retry
    n1 persist: hs 3/2:put(a,1)                       a Ready's durable write (hs: hard state)
    n1 apply: 3/2:put(a,1)                            entries the Ready committed (applied here);
                                                      multi[...] is a TRANSACTIONS entry (MULTI/EXEC
                                                      or a pipeline entry), its steps in order
    n1 read: ctx=4 index=3                            a read barrier the engine released
    n1 role: LEADER leader=1 term=2                   its role/leader/term (ZAB: epoch) changed
    w1.0 = nil @3                                     a request's slot decided: value (or error
                                                      text) and the log index it carries
    lost (partition): Heartbeat(1->3 ...)             a message that did not arrive
    drop: ForwardReply(...) / dup: ForwardRequest(...)   what `deliver` was told to do

Commands (`quiet` leaves out sends, writes, applies and losses). N is a node: its id, or a
name the first `elect` gave it, `L` for the leader and `F1`, `F2`.. for the followers in
id order, so one script reads the same for both protocols (whose elections pick different
nodes); a later `elect as=NAME` names its leader NAME:

    new [voters=3] [mode=redirect]                  the cluster (the directory names the protocol)
    elect [nodes=(F1, F2)] [as=L2] [verbose]        tick and deliver until one of `nodes` leads
                                                    and every node it reaches follows it
    tick [node=N] [n=1] [quiet]                     tick N (or every live node) n times, stepping it
    tick n=K deliver [nodes=(..)] [quiet]           K rounds: tick every live node (of `nodes`),
                                                    deliver (taking deliver's filters), step
    write node=N id=ID op...                        submit_batch; ops: put K V | cas K OLD NEW | get K
    pipeline node=N id=ID op...                     submit_pipeline (a get is a read, the rest writes)
    multi node=N id=ID op...                        one TRANSACTIONS entry (MULTI/EXEC, no WATCH)
    read node=N id=ID level=L get K... [min=M]      read_batch at L (linearizable, lease, sequential,
                                                    stale); M an index, or the id of an earlier
                                                    request (its highest answered index)
      (the four above step the node at once; `queue` leaves the batch for a later `step`)
    step node=N                                     step N's queued inputs, carry out its Readies
    deliver [from=N] [to=N] [type=T] [hold=T] [drop=T] [dup=T] [quiet]
                                                    deliver the queued messages (matching from/to/type,
                                                    not of type hold: those stay in flight) once, then
                                                    step every live node; drop: lose those of type T;
                                                    dup: deliver those twice
    stabilize [drop=T] [dup=T] [quiet]              deliver and step until no message moves
    redeliver type=T [nth=K]                        a copy of the Kth (default: last) delivered T,
                                                    queued again
    partition 1 | 2 3  /  heal                      messages between groups are lost at delivery
    crash node=N / restart node=N                   a core rebuilt over the same MemoryStore
    answers                                         every named request: each slot's value and index
    status                                          one line per node
"""

from __future__ import annotations

from collections.abc import Collection

import msgspec

from replicator.core.messages import ForwardReply, ForwardRequest
from replicator.core.node import NodeCore
from replicator.core.requests import ReadConsistency, RequestError
from replicator.node import Payload
from replicator.protocol.ready import Ready
from replicator.sim import registers as reg
from replicator.transactions import decode_transaction, encode_transaction
from replicator.types import EntryKind, Role
from statemachines import TRANSACTIONS, ReplyError
from tests.core.core_harness import Answers, Cores
from tests.datadriven import ClusterTranscript, ParseError, TestData
from tests.protocol.transcript import EngineTranscript

_ARITY = {"put": 2, "cas": 3, "get": 1}
_ENCODE = {
    "put": reg.encode_put,
    "cas": lambda k, old, new: reg.encode_cas(k, None if old == b"nil" else old, new),
    "get": reg.encode_get,
}
_LEVELS = {level.value: level for level in ReadConsistency}
_MAX_ROUNDS = 500


def fmt_value(value) -> str:
    if isinstance(value, (RequestError, ReplyError)):
        return f"error {value}"
    if value is None:
        return "nil"
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, list):
        return "[" + " ".join(map(fmt_value, value)) + "]"
    return str(value)


def fmt_command(machine: str, command: bytes) -> str:
    """`put(k,v)` for a registers command, `multi[put(k,v) get(k)]` for a transaction."""
    if machine == TRANSACTIONS:
        try:
            txn = decode_transaction(command)
        except msgspec.DecodeError:
            return f"multi<{len(command)}B>"
        return "multi[" + " ".join(fmt_command(s.machine, s.command) for s in txn.steps) + "]"
    try:
        args = msgspec.msgpack.decode(command)
        op, rest = args[0].decode(), args[1:]
        return f"{op}(" + ",".join("nil" if a is None else a.decode(errors="replace") for a in rest) + ")"
    except (msgspec.DecodeError, AttributeError, IndexError, TypeError):
        return f"{machine}<{len(command)}B>"


def fmt_entry(entry) -> str:
    head = f"{entry.index}/{entry.epoch}"
    if entry.kind is not EntryKind.NORMAL:
        return f"{head}:{entry.kind.name.lower()}"
    try:
        payload = msgspec.msgpack.decode(entry.data, type=Payload)
    except msgspec.DecodeError:
        return f"{head}:<{len(entry.data)}B>"
    return f"{head}:{fmt_command(payload.machine, payload.command)}"


class CoreTranscript(ClusterTranscript):
    """The handler of one transcript file: owns its cluster, prints what each command did."""

    def __init__(self, protocol: str) -> None:
        super().__init__(protocol)
        self.c: Cores | None = None
        self.requests: dict[str, Answers] = {}  # id -> its answers, in order of submission
        self.groups: list[set[int]] = []  # partition groups; none: every link works
        self.delivered: dict[str, list] = {}  # message type -> those delivered, in order
        self.names: dict[str, int] = {}  # L, F1, F2 (the first election), as= of later ones
        self._engine_summary = EngineTranscript(protocol).summarize  # ZAB zxids as epoch:counter

    # --- printing ------------------------------------------------------------
    def summarize(self, msg) -> str:
        if isinstance(msg, ForwardRequest):
            cmds = " ".join(fmt_command(m, c) for m, c in zip(msg.machines, msg.commands))
            return f"ForwardRequest({msg.src}->{msg.dst} req={msg.req_id} [{cmds}])"
        if isinstance(msg, ForwardReply):
            parts = []
            for position, error in enumerate(msg.errors):
                if position in msg.retry:
                    parts.append("retry")
                elif error:
                    parts.append(f"error {error}")
                else:
                    value = msgspec.msgpack.decode(msg.results[position])
                    index = msg.indexes[position] if position < len(msg.indexes) else 0
                    parts.append(f"{fmt_value(value)}@{index}")
            return f"ForwardReply({msg.src}->{msg.dst} req={msg.req_id} [{', '.join(parts)}])"
        return self._engine_summary(msg)

    def _sent(self, i: int, msg) -> None:
        if not self.quiet:
            self.out.append(f"n{i} send: {self.summarize(msg)}")

    def _ready(self, i: int, rd: Ready) -> None:
        if rd.soft_state is not None:
            ss = rd.soft_state
            self.out.append(f"n{i} role: {ss.role.name} leader={ss.leader} {self.term}={ss.epoch}")
        if self.quiet:
            return
        written = []
        if rd.hard_state is not None:
            written.append("hs")
        if rd.snapshot is not None:
            written.append(f"snapshot index={rd.snapshot.meta.index}")
        written += [fmt_entry(e) for e in rd.entries]
        if written and rd.must_sync:
            self.out.append(f"n{i} persist: " + " ".join(written))
        if rd.committed:
            self.out.append(f"n{i} apply: " + " ".join(fmt_entry(e) for e in rd.committed))
        self.out += [f"n{i} read: ctx={rs.ctx} index={rs.index}" for rs in rd.read_states]

    def _answered(self, name: str, answers: Answers, slot: int) -> None:
        self.out.append(f"{name}.{slot} = {fmt_value(answers.values[slot])} @{answers.indexes[slot]}")

    def _lost(self, why: str, msg) -> None:
        self.out.append(f"lost ({why}): {self.summarize(msg)}")

    # --- driving ---------------------------------------------------------------
    def _id(self, td: TestData, word: str) -> int:
        i = self.names.get(word)
        if i is None:
            try:
                i = int(word)
            except ValueError:
                raise ParseError(f"{td.pos}: no node named {word!r}") from None
        if i not in self.c.ids:
            raise ParseError(f"{td.pos}: no node {i}")
        return i

    def _node(self, td: TestData, key: str = "node") -> int | None:
        word = td.get(key)
        return None if word is None else self._id(td, word)

    def _core(self, td: TestData) -> NodeCore:
        i = self._node(td)
        if i is None:
            raise ParseError(f"{td.pos}: {td.cmd} needs node=")
        if i in self.c.down:
            raise ParseError(f"{td.pos}: node {i} is down")
        return self.c.cores[i]

    def _linked(self, a: int, b: int) -> bool:
        return not self.groups or any(a in g and b in g for g in self.groups)

    def _deliver(self, td: TestData | None = None, tick: Collection[int] = ()) -> int:
        """Deliver the queued messages that match once, then step every receiver (having
        ticked the live nodes of `tick`). Returns how many arrived."""
        c = self.c
        src = self._node(td, "from") if td else None
        dst = self._node(td, "to") if td else None
        kind = td.get("type") if td else None
        drop = td.get("drop") if td else None
        dup = td.get("dup") if td else None
        hold = td.get("hold") if td else None
        wire, c.wire[:] = list(c.wire), []
        arrived = 0
        for msg in wire:
            name = type(msg).__name__
            if (src and msg.src != src) or (dst and msg.dst != dst) or (kind and name != kind) or name == hold:
                c.wire.append(msg)  # not this time
                continue
            if msg.dst in c.down:
                if not self.quiet:
                    self._lost("down", msg)
                continue
            if not self._linked(msg.src, msg.dst):
                if not self.quiet:
                    self._lost("partition", msg)
                continue
            if name == drop:
                self.out.append(f"drop: {self.summarize(msg)}")
                continue
            c.cores[msg.dst].receive(msg)
            self.delivered.setdefault(name, []).append(msg)
            arrived += 1
            if name == dup:
                self.out.append(f"dup: {self.summarize(msg)}")
                c.cores[msg.dst].receive(msg)
        for core in c.live():
            if core.node_id in tick:
                core.tick()
            c.process(core)
        return arrived

    def _submit(self, td: TestData, kind: str) -> None:
        core = self._core(td)
        name = td.get("id")
        if name is None or name in self.requests:
            raise ParseError(f"{td.pos}: {kind} needs a new id=")
        ops = self._ops(td)
        answers = Answers(len(ops) if kind != "multi" else 1)
        answers.on_set = lambda slot: self._answered(name, answers, slot)
        self.requests[name] = answers
        if kind == "write":
            core.submit_batch([("registers", _ENCODE[op](*args)) for op, args in ops], answers)
        elif kind == "pipeline":
            core.submit_pipeline([("registers", _ENCODE[op](*args), op != "get") for op, args in ops], answers)
        else:
            steps = [("registers", _ENCODE[op](*args), op != "get") for op, args in ops]
            core.submit_batch([(TRANSACTIONS, encode_transaction(steps))], answers)
        if not td.has("queue"):
            self.c.process(core)

    def _ops(self, td: TestData) -> list[tuple[str, tuple[bytes, ...]]]:
        words = [w for w in td.positional() if w != "queue"]
        ops = []
        while words:
            op = words.pop(0)
            if op not in _ARITY or len(words) < _ARITY[op]:
                raise ParseError(f"{td.pos}: bad operation {op!r} (put K V | cas K OLD NEW | get K)")
            args, words = words[: _ARITY[op]], words[_ARITY[op] :]
            ops.append((op, tuple(a.encode() for a in args)))
        if not ops:
            raise ParseError(f"{td.pos}: no operations")
        return ops

    def _min_index(self, td: TestData) -> int:
        value = td.get("min", "0")
        if value in self.requests:
            return max(self.requests[value].indexes)
        return int(value)

    # --- commands ------------------------------------------------------------
    def cmd_new(self, td: TestData) -> None:
        self.c = Cores(
            self.protocol,
            td.get_int("voters", 3),
            td.get("mode", "forward"),
            send=self._sent,
            on_ready=self._ready,
        )

    def cmd_elect(self, td: TestData) -> None:
        """Tick and deliver until a node of `nodes` leads and every node it reaches knows
        it; then deliver (no ticks) until quiet, so the next command starts clean."""
        c = self.c
        nodes = {self._id(td, word) for word in self._values(td, "nodes")} or set(c.ids)
        for _ in range(_MAX_ROUNDS):
            self._deliver(tick=c.ids)
            leaders = [core for core in c.live() if core.host.role == Role.LEADER and core.node_id in nodes]
            if len(leaders) == 1:
                lead = leaders[0].node_id
                if all(core.host.leader == lead for core in c.live() if self._linked(core.node_id, lead)):
                    break
        else:
            raise AssertionError(f"no leader among {sorted(nodes)} after {_MAX_ROUNDS} rounds")
        self._stabilize(td)
        if not self.names:
            self.names["L"] = lead
            for k, i in enumerate((i for i in c.ids if i != lead), 1):
                self.names[f"F{k}"] = i
        name = td.get("as")
        if name is not None:
            self.names[name] = lead
        named = ", ".join(f"{n}=n{i}" for n, i in self.names.items())
        self.out.append(f"leader: n{lead} {self.term}={leaders[0].host.epoch} ({named})")

    def _values(self, td: TestData, key: str) -> tuple[str, ...]:
        return next((a.values for a in td.args if a.key == key), ())

    def cmd_tick(self, td: TestData) -> None:
        if td.has("deliver"):  # rounds of: tick every live node, deliver what was sent, step
            ticked = {self._id(td, word) for word in self._values(td, "nodes")} or set(self.c.ids)
            for _ in range(td.get_int("n", 1)):
                self._deliver(td, tick=ticked)
            return
        cores = [self._core(td)] if td.has("node") else self.c.live()
        for _ in range(td.get_int("n", 1)):
            for core in cores:
                core.tick()
                self.c.process(core)

    def cmd_write(self, td: TestData) -> None:
        self._submit(td, "write")

    def cmd_pipeline(self, td: TestData) -> None:
        self._submit(td, "pipeline")

    def cmd_multi(self, td: TestData) -> None:
        self._submit(td, "multi")

    def cmd_read(self, td: TestData) -> None:
        core = self._core(td)
        name = td.get("id")
        if name is None or name in self.requests:
            raise ParseError(f"{td.pos}: read needs a new id=")
        level = _LEVELS.get(td.get("level", ""))
        if level is None:
            raise ParseError(f"{td.pos}: level= one of {', '.join(_LEVELS)}")
        ops = self._ops(td)
        if any(op != "get" for op, _ in ops):
            raise ParseError(f"{td.pos}: a read takes only gets")
        answers = Answers(len(ops))
        answers.on_set = lambda slot: self._answered(name, answers, slot)
        self.requests[name] = answers
        core.read_batch([("registers", _ENCODE["get"](*args)) for _, args in ops], level, answers, self._min_index(td))
        if not td.has("queue"):
            self.c.process(core)

    def cmd_step(self, td: TestData) -> None:
        self.c.process(self._core(td))

    def cmd_deliver(self, td: TestData) -> None:
        self._deliver(td)

    def _stabilize(self, td: TestData) -> None:
        for _ in range(_MAX_ROUNDS):
            if not self.c.wire:
                return
            self._deliver(td)
        raise AssertionError(f"messages still moving after {_MAX_ROUNDS} rounds")

    def cmd_redeliver(self, td: TestData) -> None:
        """A copy of the nth (from 1; default the last) delivered message of `type` back on
        the wire: a duplicate that arrives late (the simulator's network delays each copy
        of a message on its own)."""
        delivered = self.delivered.get(td.get("type", ""), [])
        nth = td.get_int("nth", len(delivered))
        if not 1 <= nth <= len(delivered):
            raise ParseError(f"{td.pos}: no {td.get('type')} number {nth} delivered")
        msg = delivered[nth - 1]
        self.out.append(f"again: {self.summarize(msg)}")
        self.c.wire.append(msg)

    def cmd_stabilize(self, td: TestData) -> None:
        self._stabilize(td)

    def cmd_partition(self, td: TestData) -> None:
        groups: list[set[int]] = [set()]
        for word in td.positional():
            if word == "|":
                groups.append(set())
            else:
                groups[-1].add(self._id(td, word))
        self.groups = groups

    def cmd_heal(self, td: TestData) -> None:
        self.groups = []

    def cmd_crash(self, td: TestData) -> None:
        self.c.crash(self._core(td).node_id)

    def cmd_restart(self, td: TestData) -> None:
        i = self._node(td)
        if i not in self.c.down:
            raise ParseError(f"{td.pos}: node {i} is not down")
        self.c.restart(i)
        self.c.process(self.c.cores[i])

    def cmd_answers(self, td: TestData) -> None:
        for name, answers in self.requests.items():
            slots = [
                f"{fmt_value(value)} @{index}" if done else "(waiting)"
                for value, index, done in zip(answers.values, answers.indexes, answers.done)
            ]
            self.out.append(f"{name}: " + " | ".join(slots))

    def cmd_status(self, td: TestData) -> None:
        for i, core in self.c.cores.items():
            host = core.host
            if i in self.c.down:
                self.out.append(f"n{i}: down")
                continue
            values = host.machines["registers"].values
            data = " ".join(f"{k.decode()}={v.decode()}" for k, v in sorted(values.items()))
            line = f"n{i}: {host.role.name} leader={host.leader} {self.term}={host.epoch} applied={host.applied}"
            self.out.append(line + (f" {data}" if data else ""))
