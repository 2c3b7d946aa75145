"""The kv machine tells a node-local observer which keys its apply changed (hooks.KeyEvents).

Blocking commands and client tracking depend on it: a change that is not reported is a client
that never wakes, or a cache that is never invalidated."""

from __future__ import annotations

from statemachines import IN_DB, encode_args
from statemachines.hooks import KeyEvents, set_key_changed
from statemachines.kv import KVMachine


def _apply(machine: KVMachine, index: int, *args: bytes, db: int = 0, ts: int = 1000) -> object:
    command = list(args) if db == 0 else [IN_DB, b"%d" % db, *args]
    return machine.apply(index, encode_args(command), ts)


def test_every_kind_of_change_is_reported_with_its_database():
    machine = KVMachine()
    assert isinstance(machine, KeyEvents)
    seen: list = []
    set_key_changed([machine], lambda db, key: seen.append((db, key)))
    steps = [
        ((b"SET", b"s", b"1"), 0, [(0, b"s")]),
        ((b"RPUSH", b"l", b"a"), 0, [(0, b"l")]),
        ((b"RPUSH", b"l", b"b"), 0, [(0, b"l")]),  # in place
        ((b"LPOP", b"l"), 0, [(0, b"l")]),
        ((b"ZADD", b"z", b"1", b"m"), 2, [(2, b"z")]),
        ((b"PEXPIRE", b"s", b"10"), 0, [(0, b"s")]),
        ((b"DEL", b"l"), 0, [(0, b"l")]),
        ((b"FLUSHDB",), 2, [(2, None)]),
        ((b"SWAPDB", b"0", b"3"), 0, [(0, None), (3, None)]),
    ]
    for index, (command, db, expected) in enumerate(steps, start=1):
        seen.clear()
        _apply(machine, index, *command, db=db)
        assert list(dict.fromkeys(seen)) == expected, command  # a key may be reported more than once
    # expiry: an apply that meets expired keys deletes them first, and says so
    _apply(machine, 20, b"SET", b"t", b"1", b"PX", b"5", db=3)
    seen.clear()
    _apply(machine, 21, b"GET", b"t", db=3, ts=5000)
    assert set(seen) == {(3, b"t"), (3, b"s")}  # s (swapped into 3 with its TTL) by expiry at apply
    # a snapshot installed: everything may differ
    chunks = list(machine.snapshot())
    seen.clear()
    machine.restore(chunks)
    assert seen == [(None, None)]
    _apply(machine, 30, b"SET", b"after", b"1", db=5)
    assert seen[-1] == (5, b"after")  # the observer carried over to the restored databases


def test_without_an_observer_nothing_is_called_and_reads_report_nothing():
    machine = KVMachine()
    seen: list = []
    set_key_changed([machine], lambda db, key: seen.append((db, key)))
    machine.query(encode_args([b"GET", b"x"]), 0)
    assert seen == []
    set_key_changed([machine], None)
    _apply(machine, 1, b"SET", b"x", b"1")
    assert seen == []
