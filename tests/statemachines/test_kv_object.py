"""The kv machine's `object` read (statemachines/kv/objects.py), as a plugin user calls it."""

from __future__ import annotations

from statemachines import ReplyError, encode_args
from statemachines.kv import KVMachine


def _kv(*commands: list[bytes]) -> KVMachine:
    kv = KVMachine()
    for i, args in enumerate(commands, 1):
        kv.apply(i, encode_args(args), 1000)
    return kv


def test_bare_form_uses_redis_defaults_and_settings_wrap_the_answer():
    kv = _kv([b"HSET", b"h", b"f", b"v"], [b"SET", b"n", b"7"])
    assert kv.query(encode_args([b"object", b"encoding", b"h"]), 1000) == b"listpack"
    assert kv.query(encode_args([b"OBJECT", b"ENCODING", b"h", b"0", b"64", b"512", b"128", b"64"]), 1000) == [
        b"hashtable"
    ]
    assert kv.query(encode_args([b"object", b"encoding", b"nosuch", b"1", b"1", b"1", b"1", b"1"]), 1000) == [None]
    assert kv.query(encode_args([b"object", b"refcount", b"n"]), 1000) == 2147483647
    assert kv.query(encode_args([b"object", b"refcount", b"n", b"0"]), 1000) == [1]
    assert kv.query(encode_args([b"object", b"idletime", b"n"]), 1000) == 0
    assert isinstance(kv.query(encode_args([b"object", b"freq", b"n"]), 1000), ReplyError)


def test_hostile_settings_are_refused():
    kv = _kv([b"SET", b"k", b"v"])
    for args in (
        [b"object", b"encoding", b"k", b"1"],
        [b"object", b"encoding", b"k", b"-1", b"1", b"1", b"1", b"1"],
        [b"object", b"encoding", b"k", b"9" * 30, b"1", b"1", b"1", b"1"],
        [b"object", b"nosuch", b"k"],
        [b"object", b"refcount", b"k", b"x"],
    ):
        assert isinstance(kv.query(encode_args(args), 1000), ReplyError), args
