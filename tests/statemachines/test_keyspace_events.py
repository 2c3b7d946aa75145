"""The kv machine's keyspace events (hooks.KeyEvents.keyspace_event): what apply emits, with its class.

The frontend's oracle test (tests/frontends/test_resp_oracle_notifications.py) compares the
messages with redis-server's; this checks the machine side a frontend cannot see: the class bits,
expiry by every path (active expiry, the leader's purge entry, a write meeting the key), the
observer surviving a snapshot restore, replicas emitting the same events, and nothing called
without an observer."""

from __future__ import annotations

from statemachines import IN_DB, encode_args
from statemachines.hooks import set_keyspace_events
from statemachines.keyevents import EXPIRED, GENERIC, KEY_MISS, LIST, NEW, SET, STRING
from statemachines.kv import PURGE, KVMachine


def _apply(machine: KVMachine, index: int, *args: bytes, db: int = 0, ts: int = 1000) -> object:
    command = list(args) if db == 0 else [IN_DB, b"%d" % db, *args]
    return machine.apply(index, encode_args(command), ts)


def _observed(machine: KVMachine) -> list:
    seen: list = []
    set_keyspace_events([machine], lambda db, cls, event, key: seen.append((db, cls, event, key)))
    return seen


def test_events_carry_their_class_and_database():
    machine = KVMachine()
    seen = _observed(machine)
    _apply(machine, 1, b"SET", b"s", b"1", b"EX", b"10", db=2)
    _apply(machine, 2, b"RPUSH", b"l", b"a")
    _apply(machine, 3, b"LPOP", b"l")
    assert seen == [
        (2, NEW, b"new", b"s"),
        (2, STRING, b"set", b"s"),
        (2, GENERIC, b"expire", b"s"),
        (0, NEW, b"new", b"l"),
        (0, LIST, b"rpush", b"l"),
        (0, LIST, b"lpop", b"l"),
        (0, GENERIC, b"del", b"l"),
    ]


def test_expiry_is_reported_by_every_path_that_deletes():
    machine = KVMachine()
    for index, key in enumerate((b"a", b"b", b"c"), start=1):
        _apply(machine, index, b"SET", key, b"v", b"PX", b"10", ts=1000)
    seen = _observed(machine)
    # active expiry at the start of any apply, before the command's own events
    _apply(machine, 10, b"SET", b"d", b"v", ts=2000)
    assert seen == [
        (0, EXPIRED, b"expired", b"a"),
        (0, EXPIRED, b"expired", b"b"),
        (0, EXPIRED, b"expired", b"c"),
        (0, NEW, b"new", b"d"),
        (0, STRING, b"set", b"d"),
    ]
    # the leader's purge entry (housekeeping), for a key active expiry has not met
    _apply(machine, 11, b"SET", b"e", b"v", b"PX", b"10", ts=2000)
    machine.keyspace._heap.clear()
    seen.clear()
    machine.apply(12, encode_args([PURGE, b"e", b"d"]), 3000)
    assert seen == [(0, EXPIRED, b"expired", b"e")]
    # a read never deletes, so it never says "expired"; a miss is a keymiss
    _apply(machine, 12, b"SET", b"e", b"v", b"PX", b"10", ts=3000)
    seen.clear()
    machine.query(encode_args([b"GET", b"e"]), 5000)
    assert seen == [(0, KEY_MISS, b"keymiss", b"e")]


def test_a_write_meeting_an_expired_key_reports_it_first():
    machine = KVMachine()
    seen = _observed(machine)
    ks = machine.keyspace
    _apply(machine, 1, b"SET", b"k", b"v", b"PX", b"10", ts=1000)
    ks._heap.clear()  # no active expiry: only the write's lookup can find it
    seen.clear()
    _apply(machine, 2, b"LPUSH", b"k", b"x", ts=5000)
    assert seen == [(0, EXPIRED, b"expired", b"k"), (0, NEW, b"new", b"k"), (0, LIST, b"lpush", b"k")]


def test_replicas_emit_the_same_events_and_a_restore_keeps_the_observer():
    commands = [
        (b"SET", b"a", b"1"),
        (b"SADD", b"s", b"x", b"y"),
        (b"SPOP", b"s"),
        (b"RENAME", b"a", b"b"),
        (b"ZADD", b"z", b"1", b"m"),
        (b"EVAL", b"redis.call('incr', KEYS[1]); return redis.call('del', KEYS[1])", b"1", b"n"),
    ]
    machines = [KVMachine(), KVMachine()]
    seen = [_observed(m) for m in machines]
    for machine in machines:
        for index, command in enumerate(commands, start=1):
            _apply(machine, index, *command)
    assert seen[0] == seen[1] and len(seen[0]) == 13
    chunks = list(machines[0].snapshot())
    machines[0].restore(chunks)
    seen[0].clear()
    _apply(machines[0], 20, b"SET", b"after", b"1", db=4)
    assert seen[0] == [(4, NEW, b"new", b"after"), (4, STRING, b"set", b"after")]


def test_without_an_observer_nothing_is_called():
    machine = KVMachine()
    seen = _observed(machine)
    set_keyspace_events([machine], None)
    _apply(machine, 1, b"SET", b"k", b"v", b"PX", b"10")
    _apply(machine, 2, b"GET", b"nope", ts=5000)
    machine.query(encode_args([b"GET", b"nope"]), 5000)
    assert seen == []


def test_a_list_moved_onto_itself_keeps_its_ttl():
    """LMOVE of a one-element list onto itself: Redis never deletes the key (it keeps its TTL and
    is not "new"); the old code deleted and re-created it, dropping the TTL."""
    machine = KVMachine()
    _apply(machine, 1, b"RPUSH", b"l", b"a")
    _apply(machine, 2, b"PEXPIRE", b"l", b"100000")
    seen = _observed(machine)
    assert _apply(machine, 3, b"LMOVE", b"l", b"l", b"LEFT", b"RIGHT") == b"a"
    assert machine.keyspace.deadline(b"l") == 101000
    assert seen == [(0, LIST, b"rpush", b"l"), (0, LIST, b"lpop", b"l")]


def test_watch_and_introspection_lookups_are_not_reads_that_miss():
    """WATCH, OBJECT, MEMORY USAGE and RANDOMKEY look keys up without Redis' keymiss event."""
    machine = KVMachine()
    _apply(machine, 1, b"SET", b"gone", b"v", b"PX", b"10")
    seen = _observed(machine)
    machine.watch_versions([b"nope", b"gone"], 5000)
    for command in ([b"OBJECT", b"ENCODING", b"nope"], [b"MEMORY", b"USAGE", b"nope"], [b"RANDOMKEY"]):
        machine.query(encode_args(command), 5000)
    assert seen == []


def test_writes_that_replace_an_expired_key_report_its_expiry_first():
    """Redis' setKey looks the key up for write: an expired key is deleted ("expired") and the
    new value is "new". Here active expiry usually reaps it first; without it (the heap's
    budget spent elsewhere) the write's own lookup must."""
    commands = [
        ([b"SET", b"k", b"v"], [(STRING, b"set")]),
        ([b"MSET", b"k", b"v"], [(STRING, b"set")]),
        ([b"SETEX", b"k", b"100", b"v"], [(STRING, b"set"), (GENERIC, b"expire")]),
        ([b"SUNIONSTORE", b"k", b"src"], [(SET, b"sunionstore")]),
        ([b"BITOP", b"OR", b"k", b"bits"], [(STRING, b"set")]),
    ]
    for command, events in commands:
        machine = KVMachine()
        _apply(machine, 1, b"SADD", b"src", b"m")
        _apply(machine, 2, b"SET", b"bits", b"\x01")
        _apply(machine, 3, b"SET", b"k", b"old", b"PX", b"10")
        machine.keyspace._heap.clear()  # no active expiry
        seen = _observed(machine)
        _apply(machine, 4, *command, ts=5000)
        assert seen == [
            (0, EXPIRED, b"expired", b"k"),
            (0, NEW, b"new", b"k"),
            *((0, cls, event, b"k") for cls, event in events),
        ], command
