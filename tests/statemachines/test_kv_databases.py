"""The kv machine's databases: commands wrapped in IN_DB, snapshots holding every database,
active expiry in each, WATCH per database, and the numbers a hostile payload may name."""

from __future__ import annotations

import msgspec
import pytest

from statemachines import IN_DB, ReplyError, decode_args, encode_args
from statemachines.kv import PURGE, KVMachine
from statemachines.kv.snapshot import FORMAT_VERSION, MAGIC

T0 = 1_700_000_000_000


def cmd(*args) -> bytes:
    return encode_args([a if isinstance(a, bytes) else str(a).encode() for a in args])


def in_db(db: int, *args) -> bytes:
    return cmd(IN_DB, db, *args)


def test_each_database_is_its_own_keyspace():
    m = KVMachine()
    assert m.apply(1, cmd("SET", "k", "zero"), T0) == "OK"
    assert m.apply(2, in_db(3, "SET", "k", "three"), T0) == "OK"
    assert m.query(cmd("GET", "k"), T0) == b"zero"
    assert m.query(in_db(3, "GET", "k"), T0) == b"three"
    assert m.query(in_db(4, "GET", "k"), T0) is None
    assert m.query(in_db(3, "DBSIZE"), T0) == 1


@pytest.mark.parametrize("number", [b"16", b"-1", b"x", b"99999999999999999999", b""])
def test_a_database_number_out_of_range_is_refused_identically(number):
    m = KVMachine()
    reply = m.apply(1, cmd(IN_DB, number, "SET", "k", "v"), T0)
    assert isinstance(reply, ReplyError)
    assert m.query(cmd(IN_DB, number, "GET", "k"), T0) == reply
    assert [ks.db for ks in m._databases.in_use()] == [0]  # nothing was made for it


def test_a_short_wrapper_is_a_bad_encoding():
    m = KVMachine()
    assert isinstance(m.apply(1, cmd(IN_DB, 1), T0), ReplyError)
    assert isinstance(m.query(cmd(IN_DB), T0), ReplyError)


def test_the_databases_setting_bounds_the_numbers():
    m = KVMachine()
    m.databases = 2
    assert m.apply(1, in_db(1, "SET", "k", "v"), T0) == "OK"
    assert m.apply(2, in_db(2, "SET", "k", "v"), T0) == ReplyError("ERR DB index is out of range")
    assert m.apply(3, cmd("MOVE", "k", "2"), T0) == ReplyError("ERR DB index is out of range")


def test_snapshot_holds_every_database_and_restores_equal():
    m = KVMachine()
    m.apply(1, cmd("SET", "a", "0"), T0)
    m.apply(2, in_db(1, "HSET", "h", "f", "v"), T0)
    m.apply(3, in_db(15, "SET", "t", "v", "PX", "5000"), T0)
    m.apply(4, in_db(2, "SET", "gone", "v"), T0)
    m.apply(5, in_db(2, "DEL", "gone"), T0)  # a database holding only a tombstone
    chunks = list(m.snapshot())
    header = msgspec.msgpack.decode(chunks[0])
    assert header[:2] == [MAGIC, FORMAT_VERSION] and header[3] == 4
    other = KVMachine()
    other.restore(chunks)
    assert list(other.snapshot()) == chunks
    assert other.query(in_db(1, "HGET", "h", "f"), T0) == b"v"
    assert other.query(in_db(15, "PTTL", "t"), T0) == 5000
    assert other.watch_versions([b"gone"], T0, db=2) == m.watch_versions([b"gone"], T0, db=2) == [(5, False)]


def test_a_format_2_snapshot_loads_into_database_0():
    old = [
        msgspec.msgpack.encode([MAGIC, 2, 1, 0, 0]),
        msgspec.msgpack.encode([b"k", 0, b"v", None, 7]),
    ]
    m = KVMachine()
    m.restore(old)
    assert m.query(cmd("GET", "k"), T0) == b"v"
    assert m.watch_versions([b"k"], T0) == [(7, True)]


def test_a_snapshot_missing_a_database_is_refused():
    m = KVMachine()
    m.apply(1, in_db(5, "SET", "k", "v"), T0)
    chunks = list(m.snapshot())
    other = KVMachine()
    other.apply(1, cmd("SET", "keep", "me"), T0)
    with pytest.raises(ValueError):
        other.restore(chunks[:-2])  # database 5's header and records gone
    assert other.query(cmd("GET", "keep"), T0) == b"me"


def test_housekeeping_expires_keys_in_every_database():
    m = KVMachine()
    m.apply(1, cmd("SET", "a", "v", "PX", "10"), T0)
    m.apply(2, in_db(9, "SET", "b", "v", "PX", "10"), T0)
    commands = m.housekeeping(T0 + 100)
    assert [decode_args(c) for c in commands] == [[PURGE, b"a"], [IN_DB, b"9", PURGE, b"b"]]
    for i, command in enumerate(commands):
        m.apply(3 + i, command, T0 + 100)
    assert m.query(in_db(9, "DBSIZE"), T0 + 100) == 0 and m.query(cmd("DBSIZE"), T0 + 100) == 0


def test_swapdb_changes_every_watched_key_of_both_databases():
    m = KVMachine()
    m.apply(5, cmd("SET", "k", "a"), T0)
    m.apply(5, in_db(1, "SET", "k", "b"), T0)  # one pipeline entry: the same version in both
    watched_0 = [(b"k", *m.watch_versions([b"k"], T0)[0])]
    watched_absent = [(b"none", *m.watch_versions([b"none"], T0, db=1)[0])]
    assert m.apply(6, cmd("SWAPDB", "0", "1"), T0) == "OK"
    assert m.query(cmd("GET", "k"), T0) == b"b"
    assert not m.watched_unchanged(watched_0, T0)
    assert not m.watched_unchanged(watched_absent, T0, db=1)  # a spurious abort, never a wrong commit
    assert m.watched_unchanged([(b"k", *m.watch_versions([b"k"], T0)[0])], T0)


def test_flushall_empties_every_database():
    m = KVMachine()
    for db in range(4):
        m.apply(1 + db, in_db(db, "SET", "k", "v") if db else cmd("SET", "k", "v"), T0)
    assert m.apply(9, in_db(2, "FLUSHALL"), T0) == "OK"
    assert all(not ks.data for ks in m._databases.in_use())


def test_watch_on_a_database_out_of_range_never_holds():
    m = KVMachine()
    assert m.watch_versions([b"k"], T0, db=99) == [(-1, False)]
    assert not m.watched_unchanged([(b"k", 0, False)], T0, db=99)
