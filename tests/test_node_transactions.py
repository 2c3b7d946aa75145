"""NodeHost applying TRANSACTIONS entries: several machines' commands at one log index,
watches checked first, each command's failure its own. The machines implement nothing
for it (the tutorial's counter plugin, znodes and locks have no transaction code)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from replicator.config import ConfigError, from_dict
from replicator.core.node import NodeCore
from replicator.node import NodeHost
from replicator.protocol import EngineConfig
from replicator.protocol.raft import RaftEngine
from replicator.storage.memory_store import MemoryStore
from replicator.transactions import encode_transaction, encode_watch_read
from statemachines import PUBSUB, TRANSACTIONS, ReplyError, encode_args
from statemachines.kv import KVMachine
from statemachines.locks import LocksMachine
from statemachines.registry import load_machine
from statemachines.znodes import ZnodesMachine

T0 = 1_700_000_000_000
EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "counter_plugin"


@pytest.fixture
def counter(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from counter_plugin import CounterMachine

    yield CounterMachine
    sys.modules.pop("counter_plugin", None)


class _Answer:
    """The core's Answers for one write (core/requests.py)."""

    started, deadline = 0.0, float("inf")
    value = None

    def set(self, slot, value, index=0):
        self.value = value


class Fragile(KVMachine):
    """A buggy machine: raises on BOOM, in apply and in query (after changing nothing)."""

    name = "fragile"

    def apply(self, index, command, ts_ms):
        if command == a("BOOM"):
            raise RuntimeError("kaboom")
        return super().apply(index, command, ts_ms)

    def query(self, request, now_ms):
        if request == a("BOOM"):
            raise RuntimeError("kaboom")
        return super().query(request, now_ms)


def a(*args) -> bytes:
    return encode_args(x if isinstance(x, bytes) else str(x).encode() for x in args)


class Host:
    """One single-voter NodeHost over a MemoryStore, driven synchronously."""

    def __init__(self, **machines) -> None:
        store = MemoryStore()
        engine = RaftEngine(EngineConfig(node_id=1, voters=(1,)), store, random.Random(1))
        self.host = NodeHost(1, engine, store, machines, voters=(1,))
        self.now_ms = T0
        self.core = NodeCore.for_host(self.host, wall_ms=lambda: self.now_ms)
        self.settle()

    def settle(self) -> None:
        for _ in range(30):
            self.core.tick()
            self.core.step()
            while self.core.run_ready():
                pass

    def propose(self, machine: str, command: bytes, ts: int = T0):
        """One write through the core, stamped `ts`; its result."""
        answers = _Answer()
        self.now_ms = ts
        self.core.submit_batch([(machine, command)], answers)
        self.settle()
        return answers.value

    def transaction(self, *steps, watches=(), ts: int = T0):
        return self.propose(TRANSACTIONS, encode_transaction(steps, watches), ts)

    def watch(self, machine: str, *keys: bytes, now: int = T0):
        flat = self.host.query(TRANSACTIONS, encode_watch_read(machine, keys), now)
        if isinstance(flat, ReplyError):
            return flat
        return [(machine, key, flat[2 * i], bool(flat[2 * i + 1])) for i, key in enumerate(keys)]

    def read(self, machine: str, *args):
        return self.host.query(machine, a(*args), T0)


def test_one_entry_runs_commands_of_four_machines_in_order(counter):
    h = Host(kv=KVMachine(), znodes=ZnodesMachine(), locks=LocksMachine(), counter=counter())
    before = h.host.applied
    result = h.transaction(
        ("kv", a("SET", "k", "v"), True),
        ("znodes", a("ZK.CREATE", "/app", "x"), True),
        ("counter", a("COUNTER.INCR", "c", 5), True),
        ("counter", a("COUNTER.GET", "c"), False),  # a read sees the write before it
        ("locks", a("LOCK.ACQUIRE", "job", "w", 60000), True),
        ("kv", a("GET", "k"), False),
        ("counter", a("COUNTER.INCR", "c", 2), True),
        ("znodes", a("ZK.EXISTS", "/app"), False),
    )
    index = h.host.applied
    assert index == before + 1  # one log entry
    assert result == ["OK", b"/app", 5, 5, index, b"v", 7, 1]  # the fencing token is the entry's index
    assert h.read("kv", "GET", "k") == b"v" and h.read("counter", "COUNTER.GET", "c") == 7
    assert h.read("znodes", "ZK.STAT", "/app")["czxid"] == index
    assert h.host.machines["kv"].keyspace.version(b"k") == index


def test_a_failing_command_does_not_abort_the_others(counter):
    h = Host(kv=KVMachine(), fragile=Fragile(), counter=counter())
    result = h.transaction(
        ("counter", a("COUNTER.INCR", "c", 1), True),
        ("fragile", a("BOOM"), True),  # the machine raises: a bug, its own error reply
        ("counter", a("COUNTER.INCR", "c", "x"), True),  # the machine rejects it: its ReplyError
        ("fragile", a("BOOM"), False),
        ("nosuch", a("GET", "k"), True),
        ("kv", a("GET", "k", "extra"), False),
        ("kv", a("SET", "k", "v"), True),
        ("counter", a("COUNTER.GET", "c"), False),
    )
    assert result == [
        1,
        ReplyError("ERR state machine error: kaboom"),
        ReplyError("ERR value is not an integer or out of range"),
        ReplyError("ERR state machine error: kaboom"),
        ReplyError("ERR no state machine named 'nosuch' on this node"),
        ReplyError("ERR wrong number of arguments for 'get' command"),
        "OK",
        1,
    ]
    assert h.read("kv", "GET", "k") == b"v"
    assert h.propose(TRANSACTIONS, b"\xc1") == ReplyError("ERR invalid transaction encoding")
    assert h.transaction() == []


def test_a_changed_watch_applies_nothing(counter):
    h = Host(kv=KVMachine(), counter=counter())
    h.propose("kv", a("SET", "balance", 10))
    watches = h.watch("kv", b"balance", b"absent")
    assert [live for *_, live in watches] == [True, False]
    step = ("counter", a("COUNTER.INCR", "c", 1), True)
    assert h.transaction(step, ("kv", a("SET", "balance", 7), True), watches=watches) == [1, "OK"]
    assert h.transaction(step, watches=watches) is None  # the EXEC above changed balance
    assert h.read("counter", "COUNTER.GET", "c") == 1
    watches = h.watch("kv", b"balance")
    h.propose("kv", a("DEL", "other"))  # another key's change does not matter
    assert h.transaction(step, watches=watches) == [2]


def test_watch_needs_the_machines_hooks(counter):
    h = Host(kv=KVMachine(), counter=counter())
    assert h.watch("counter", b"c") == ReplyError("ERR WATCH is not supported by state machine 'counter'")
    assert h.watch("nosuch", b"c") == ReplyError("ERR no state machine named 'nosuch' on this node")
    step = ("kv", a("SET", "k", 1), True)
    assert h.transaction(step, watches=[("counter", b"c", -1, False)]) is None  # never read: never holds
    assert h.transaction(step, watches=[("nosuch", b"c", -1, False)]) is None
    assert h.read("kv", "EXISTS", "k") == 0


def test_half_of_the_watch_hooks_is_no_watch():
    """statemachines.hooks.Watchable is both methods: a machine with watch_versions only would
    answer WATCH and then abort every EXEC, so it is told WATCH is unsupported instead."""

    class VersionsOnly:
        name = "half"

        def __init__(self) -> None:
            self.kv = KVMachine()

        def __getattr__(self, attr):  # the StateMachine methods, delegated
            if attr == "watched_unchanged":
                raise AttributeError(attr)
            return getattr(self.kv, attr)

        def watch_versions(self, keys, now_ms):
            return self.kv.watch_versions(keys, now_ms)

    h = Host(half=VersionsOnly())
    assert h.watch("half", b"k") == ReplyError("ERR WATCH is not supported by state machine 'half'")
    assert h.transaction(("half", a("SET", "k", 1), True), watches=[("half", b"k", 0, False)]) is None
    assert h.read("half", "EXISTS", "k") == 0


def test_a_raising_watch_check_refuses_the_whole_transaction():
    class BrokenWatch(KVMachine):
        def watched_unchanged(self, watches, ts_ms):
            raise RuntimeError("bad hook")

    h = Host(kv=BrokenWatch())
    result = h.transaction(("kv", a("SET", "k", 1), True), watches=[("kv", b"k", 0, False)])
    assert result == ReplyError("ERR state machine error: bad hook")
    assert h.read("kv", "EXISTS", "k") == 0


def test_the_transactions_name_is_reserved(tmp_path):
    assert TRANSACTIONS.startswith("__")
    with pytest.raises(LookupError, match="reserved for the node"):
        load_machine(TRANSACTIONS)
    raw = {
        "node_id": 1,
        "members": [{"id": 1, "peer": "127.0.0.1:1", "resp": "127.0.0.1:2"}],
        "data_dir": str(tmp_path),
        "resp": "127.0.0.1:2",
        "peer": "127.0.0.1:1",
    }
    with pytest.raises(ConfigError, match="'__transactions__' is reserved for the node"):
        from_dict({**raw, "machines": ["kv", TRANSACTIONS]})
    assert from_dict({**raw, "machines": ["kv", "locks"]}).machines == ("kv", "locks")
    with pytest.raises(ValueError, match="reserved for the node"):
        Host(kv=KVMachine(), __transactions__=KVMachine())
    h = Host(kv=KVMachine())
    assert h.host.serves(TRANSACTIONS) and h.host.serves("kv") and not h.host.serves("nosuch")
    with pytest.raises(KeyError):
        h.host.propose("nosuch", a("GET", "k"), T0)


def test_published_messages_reach_the_subscriber_in_log_order():
    """PUBSUB entries (PUBLISH) and PUBSUB steps of a transaction (PUBLISH in MULTI) are handed to
    on_published as applied, in log order; they change no machine and answer None; a raising
    subscriber does not stop the apply loop; a read of PUBSUB is refused, not a crash."""
    h = Host(kv=KVMachine())
    got: list[bytes] = []
    h.host.on_published = got.append
    assert h.propose(PUBSUB, b"one") is None
    assert h.transaction(("kv", a("SET", "k", "v"), True), (PUBSUB, b"two", True), ("kv", a("GET", "k"), False)) == [
        "OK",
        None,
        b"v",
    ]
    assert h.propose("kv", a("SET", "k", "w")) == "OK"  # an ordinary write: nothing published
    assert got == [b"one", b"two"]

    def broken(payload: bytes) -> None:
        raise RuntimeError("subscriber bug")

    h.host.on_published = broken
    assert h.propose(PUBSUB, b"three") is None
    assert h.read("kv", "GET", "k") == b"w"
    assert isinstance(h.host.query(PUBSUB, b"x", T0), ReplyError)
