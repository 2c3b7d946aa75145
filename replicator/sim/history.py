"""Client histories and their linearizability check (Wing & Gong, with Lowe's cache).

A history is a list of `Op`s, each with an invocation stamp and, if the client
learned its outcome, a response stamp and result. Stamps are one global counter
of history events, so "a responded before b was invoked" is exact even when
both happen at the same virtual millisecond.

An op whose outcome is unknown (leadership lost, node crashed, timed out) has
no response: it may have taken effect at any point after its invocation, or
never. Following Porcupine/Knossos, it simply never has to be linearized: the
search ends as soon as every *completed* op is placed, and an unknown op left
out is one that "never happened" (or happened after everything else, which no
one can tell apart). Reads whose outcome is unknown are dropped from the history.

The register model is local (Herlihy & Wing): a history is linearizable iff
each key's sub-history is, so keys are checked one at a time.

Model (registers.py): every completed write reports the value it found.
- read      -> value;              legal iff state == value
- put v     -> previous;           legal iff state == previous; state := v
- cas e n   -> (swapped, previous); legal iff state == previous and
                                    swapped == (state == e); state := n if swapped
Unknown put/cas results are unconstrained (cas still only swaps if state == e).
"""

from __future__ import annotations

from dataclasses import dataclass, field

READ, PUT, CAS = "get", "put", "cas"


@dataclass(slots=True)
class Op:
    id: int  # unique within a history
    client: int
    kind: str  # READ | PUT | CAS
    key: bytes
    arg: bytes | None = None  # PUT value; CAS new value
    expected: bytes | None = None  # CAS expected value
    invoke: int = 0  # stamp
    response: int | None = None  # stamp; None = outcome unknown
    result: object = None  # READ: value; PUT: previous; CAS: (swapped, previous)
    node: int = -1  # node the op was served by (for messages)
    index: int = 0  # log index of a write, when known
    note: str = ""
    invoke_ms: int = 0  # virtual time of invoke / response, for reports and scenario tests
    response_ms: int | None = None

    @property
    def known(self) -> bool:
        return self.response is not None

    def describe(self) -> str:
        if self.kind == READ:
            what = f"get {self.key.decode()}"
        elif self.kind == PUT:
            what = f"put {self.key.decode()}={_show(self.arg)}"
        else:
            what = f"cas {self.key.decode()} {_show(self.expected)}->{_show(self.arg)}"
        res = _show_result(self.result) if self.known else "?"
        span = f"[{self.invoke},{self.response if self.known else 'inf'}]"
        where = f" n{self.node}" + (f" @{self.index}" if self.index else "") + f" t={self.invoke_ms}ms"
        return f"op{self.id} c{self.client} {what} -> {res} {span}{where}{(' ' + self.note) if self.note else ''}"


def _show(v: object) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return repr(v)


def _show_result(r: object) -> str:
    if isinstance(r, tuple):
        return "(" + ", ".join(_show(x) for x in r) + ")"
    return _show(r)


def _step(state: bytes | None, op: Op) -> tuple[bool, bytes | None]:
    """Apply op to the register model: (legal, new state)."""
    if op.kind == READ:
        return state == op.result, state
    if op.kind == PUT:
        if op.known and op.result != state:
            return False, state
        return True, op.arg
    # CAS
    swap = state == op.expected
    if op.known:
        swapped, prev = op.result  # type: ignore[misc]
        if prev != state or bool(swapped) != swap:
            return False, state
    return True, (op.arg if swap else state)


@dataclass(slots=True)
class _Node:
    op: Op | None
    is_call: bool
    prev: _Node | None = None
    next: _Node | None = None
    match: _Node | None = None  # call -> its return entry (None for unknown ops)


@dataclass(slots=True)
class CheckResult:
    ok: bool
    key: bytes = b""
    ops: list[Op] = field(default_factory=list)  # the failing key's history
    explored: int = 0
    stuck: Op | None = None  # a completed op no linearization could place in time
    placed: int = 0  # completed ops placed in the deepest partial linearization
    gave_up: bool = False

    def explain(self, window: int = 14) -> str:
        if self.ok:
            return "linearizable"
        ops = sorted(self.ops, key=lambda o: o.invoke)
        head = f"history of key {self.key.decode()} is not linearizable ({len(ops)} ops"
        if self.gave_up:
            return head + f"; search gave up after {self.explored} steps)"
        if self.stuck is None:
            lines = [head + "):"] + ["  " + op.describe() for op in ops]
            return "\n".join(lines)
        st = self.stuck
        lines = [
            head + f"); the deepest partial linearization places {self.placed} completed ops, "
            f"then cannot place op{st.id} before its response:",
            "  >> " + st.describe(),
            "  the ops just before it and those overlapping it (stamps are a global order):",
        ]
        before = [o for o in ops if o.known and o.response < st.invoke][-window:]  # type: ignore[operator]
        overlap = [o for o in ops if o is not st and o.invoke < st.response and (not o.known or o.response > st.invoke)]  # type: ignore[operator]
        shown = {id(o): o for o in before + overlap}
        for o in sorted(shown.values(), key=lambda o: o.invoke):
            lines.append("     " + o.describe())
        return "\n".join(lines)


def prune(ops: list[Op]) -> list[Op]:
    """Drop unknown writes whose value nobody ever observed (values are unique).

    If such a write took effect, the next op in any linearization would reveal
    its value (every completed op reports the state it found), unless only
    unknown ops follow it: either way dropping it leaves a linearization.
    Unknown reads say nothing and are dropped too. A write whose value some cas
    expects is kept: an unknown cas may have swapped on it, and what that cas wrote
    may be what the next op reveals (found when clients began taking their cas
    expectations from sequential reads, which the history does not hold).
    """
    observed: set[bytes | None] = {op.expected for op in ops if op.kind == CAS}
    for op in ops:
        if not op.known:
            continue
        if op.kind == READ or op.kind == PUT:
            observed.add(op.result)  # type: ignore[arg-type]
        else:
            observed.add(op.result[1])  # type: ignore[index]
    out = []
    for op in ops:
        if op.known:
            out.append(op)
        elif op.kind != READ and op.arg in observed:
            out.append(op)
    return out


def check_key(ops: list[Op], init: bytes | None = None, max_explored: int = 2_000_000) -> CheckResult:
    """Wing-Gong search with memoisation on (linearized set, state)."""
    ops = prune(ops)
    if not ops:
        return CheckResult(True)
    events: list[tuple[int, int, _Node]] = []
    for op in ops:
        call = _Node(op, True)
        events.append((op.invoke, 1, call))
        if op.known:
            ret = _Node(op, False)
            call.match = ret
            assert op.response is not None and op.response > op.invoke, op
            events.append((op.response, 0, ret))
    events.sort(key=lambda e: (e[0], e[1]))
    head = _Node(None, False)
    prev = head
    for _, _, node in events:
        prev.next = node
        node.prev = prev
        prev = node
    bit = {id(op): 1 << i for i, op in enumerate(ops)}
    remaining = sum(1 for op in ops if op.known)

    def lift(n: _Node) -> None:
        n.prev.next = n.next  # type: ignore[union-attr]
        if n.next is not None:
            n.next.prev = n.prev
        m = n.match
        if m is not None:
            m.prev.next = m.next  # type: ignore[union-attr]
            if m.next is not None:
                m.next.prev = m.prev

    def unlift(n: _Node) -> None:
        m = n.match
        if m is not None:
            m.prev.next = m  # type: ignore[union-attr]
            if m.next is not None:
                m.next.prev = m
        n.prev.next = n  # type: ignore[union-attr]
        if n.next is not None:
            n.next.prev = n

    state = init
    linearized = 0
    cache: set[tuple[int, bytes | None]] = set()
    stack: list[tuple[_Node, bytes | None]] = []
    entry = head.next
    explored = 0
    known_total = remaining
    best, stuck = -1, None
    while remaining:
        explored += 1
        if explored > max_explored:
            # Give up rather than hang; report as a failure so the seed is looked at.
            return CheckResult(False, ops[0].key, ops, explored, gave_up=True)
        if entry is None:
            # Only unknown calls were left to try and none fits: backtrack.
            if not stack:
                return CheckResult(False, ops[0].key, ops, explored)
            entry, state = stack.pop()
            linearized &= ~bit[id(entry.op)]
            if entry.op.known:  # type: ignore[union-attr]
                remaining += 1
            unlift(entry)
            entry = entry.next
            continue
        op = entry.op
        assert op is not None
        if entry.is_call:
            legal, new_state = _step(state, op)
            if legal:
                bits = linearized | bit[id(op)]
                if (bits, new_state) not in cache:
                    cache.add((bits, new_state))
                    stack.append((entry, state))
                    state, linearized = new_state, bits
                    if op.known:
                        remaining -= 1
                    lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            # A return reached before its call was linearized: undo the last choice.
            placed = known_total - remaining
            if placed > best:
                best, stuck = placed, op
            if not stack:
                return CheckResult(False, op.key, ops, explored, stuck, best)
            entry, state = stack.pop()
            linearized &= ~bit[id(entry.op)]
            if entry.op.known:  # type: ignore[union-attr]
                remaining += 1
            unlift(entry)
            entry = entry.next
    return CheckResult(True, explored=explored)


def check_history(ops: list[Op]) -> CheckResult:
    """Check every key's sub-history; the first non-linearizable key is reported."""
    by_key: dict[bytes, list[Op]] = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    explored = 0
    for key in sorted(by_key):
        res = check_key(by_key[key])
        explored += res.explored
        if not res.ok:
            return res
    return CheckResult(True, explored=explored)
