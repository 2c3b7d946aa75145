"""statemachines/acl.py: ACL SETUSER / DELUSER as replicated state, snapshots, hostile commands."""

from __future__ import annotations

from statemachines import ReplyError, encode_args
from statemachines.acl import LOADED, MAX_SETUSERS, AclMachine


def setuser(machine: AclMachine, *args: bytes):
    return machine.apply(1, encode_args([b"SETUSER", *args]), 0)


def test_setuser_history_reset_and_deluser():
    machine = AclMachine()
    heard = []
    machine.listener = heard.append
    assert setuser(machine, b"u", b"on", b">pw") == "OK"
    assert setuser(machine, b"u", b"+get") == "OK"
    assert machine.users[b"u"] == [[b"on", b">pw"], [b"+get"]]
    assert setuser(machine, b"u", b"RESET", b"on") == "OK"
    assert machine.users[b"u"] == [[b"RESET", b"on"]]
    assert machine.apply(2, encode_args([b"DELUSER", b"u", b"u", b"nosuch"]), 0) == 1
    assert isinstance(machine.apply(3, encode_args([b"DELUSER", b"default"]), 0), ReplyError)
    assert heard == [b"u", b"u", b"u", b"u"]


def test_snapshot_round_trip_and_empty():
    machine = AclMachine()
    assert not machine.holds_state()
    setuser(machine, b"u", b"on", b"~k*")
    setuser(machine, b"default", b">x")
    other = AclMachine()
    heard = []
    other.listener = heard.append
    other.restore(machine.snapshot())
    assert other.users == machine.users and heard == [None]
    other.restore(())
    assert other.users == {}


def test_load_replaces_everyone_and_bootstrap_seeds_only_once():
    machine = AclMachine()
    boot = encode_args([b"BOOTSTRAP", encode_args([b"alice", b"on"])])
    assert machine.apply(1, boot, 0) == "OK" and machine.users == {b"alice": [[LOADED, b"on"]]}
    assert machine.apply(2, encode_args([b"BOOTSTRAP", encode_args([b"bob"])]), 0) is None  # seeded already
    assert machine.apply(3, encode_args([b"LOAD", encode_args([b"bob", b"+get"])]), 0) == "OK"
    assert machine.users == {b"bob": [[LOADED, b"+get"]]}
    assert isinstance(machine.apply(4, encode_args([b"LOAD", b"\xc1"]), 0), ReplyError)
    fresh = AclMachine()
    fresh.apply(1, encode_args([b"DELUSER", b"nosuch"]), 0)  # a change, though nothing changed
    assert fresh.holds_state() and fresh.apply(2, boot, 0) is None
    restored = AclMachine()
    restored.restore(fresh.snapshot())
    assert restored.changed


def test_hostile_commands_are_refused():
    machine = AclMachine()
    for command in (b"", b"\xc1", encode_args([]), encode_args([b"SETUSER"]), encode_args([b"NOSUCH", b"x"])):
        assert isinstance(machine.apply(1, command, 0), ReplyError)
    for _ in range(MAX_SETUSERS):
        assert setuser(machine, b"u", b"on") == "OK"
    assert isinstance(setuser(machine, b"u", b"off"), ReplyError)  # bounded: reset to go on
    assert setuser(machine, b"u", b"reset") == "OK" and len(machine.users[b"u"]) == 1
