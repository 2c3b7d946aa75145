"""SORT's bounds (statemachines/kv/sort.py): hostile LIMITs, GET patterns multiplied by the
elements, replies past REPLY_BYTES_MAX, STORE's effect on the destination."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from statemachines import ReplyError, encode_args
from statemachines.kv import KVMachine
from statemachines.kv import sort as sort_module


def _apply(kv: KVMachine, *args: bytes):
    _apply.index += 1
    return kv.apply(_apply.index, encode_args(list(args)), 1000)


_apply.index = 0


def test_hostile_limits_are_clamped():
    kv = KVMachine()
    _apply(kv, b"RPUSH", b"l", b"3", b"1", b"2")
    assert _apply(kv, b"SORT", b"l", b"LIMIT", b"-9223372036854775808", b"9223372036854775807") == [b"1", b"2", b"3"]
    assert _apply(kv, b"SORT", b"l", b"LIMIT", b"9223372036854775807", b"9223372036854775807") == []
    assert _apply(kv, b"SORT", b"l", b"BY", b"x", b"DESC", b"LIMIT", b"1", b"-9223372036854775808") == [b"1", b"3"]
    assert _apply(kv, b"SORT", b"l", b"LIMIT", b"1", b"99999999999999999999") == ReplyError(
        "ERR value is not an integer or out of range"
    )


def test_get_patterns_multiplied_by_elements_are_refused(monkeypatch):
    monkeypatch.setattr(sort_module, "LOOKUPS_MAX", 100)
    kv = KVMachine()
    _apply(kv, b"RPUSH", b"l", *(b"%d" % i for i in range(60)))
    assert len(_apply(kv, b"SORT", b"l", b"GET", b"#")) == 60  # one lookup per element is always fine
    refused = _apply(kv, b"SORT", b"l", b"GET", b"#", b"GET", b"#", b"STORE", b"d")
    assert isinstance(refused, ReplyError) and "lookups" in refused.message
    assert _apply(kv, b"EXISTS", b"d") == 0


def test_reply_past_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(sort_module, "REPLY_BYTES_MAX", 1000)
    kv = KVMachine()
    _apply(kv, b"SET", b"big", b"x" * 600)
    _apply(kv, b"RPUSH", b"l", b"", b"", b"")
    refused = _apply(kv, b"SORT", b"l", b"GET", b"big*")
    assert isinstance(refused, ReplyError)
    assert _apply(kv, b"SORT", b"l", b"GET", b"big*", b"STORE", b"d") == 3  # a stored list shares the value


def test_store_replaces_any_type_and_drops_the_ttl_and_empty_deletes():
    kv = KVMachine()
    _apply(kv, b"HSET", b"d", b"f", b"v")
    _apply(kv, b"EXPIRE", b"d", b"100")
    _apply(kv, b"SADD", b"s", b"b", b"a")
    assert _apply(kv, b"SORT", b"s", b"ALPHA", b"STORE", b"d") == 2
    assert _apply(kv, b"LRANGE", b"d", b"0", b"-1") == [b"a", b"b"]
    assert _apply(kv, b"TTL", b"d") == -1
    assert _apply(kv, b"SORT", b"nosuch", b"STORE", b"d") == 0
    assert _apply(kv, b"EXISTS", b"d") == 0


def test_sort_ro_is_a_read_and_refuses_store():
    kv = KVMachine()
    _apply(kv, b"RPUSH", b"l", b"2", b"1")
    assert kv.query(encode_args([b"SORT_RO", b"l"]), 1000) == [b"1", b"2"]
    assert kv.query(encode_args([b"SORT_RO", b"l", b"STORE", b"d"]), 1000) == ReplyError("ERR syntax error")


WORDS = [
    b"BY",
    b"by",
    b"LIMIT",
    b"GET",
    b"STORE",
    b"ASC",
    b"DESC",
    b"ALPHA",
    b"#",
    b"w_*",
    b"h_*->f",
    b"*",
    b"->",
    b"0",
    b"-1",
    b"3",
    b"9223372036854775808",
    b"x",
    b"",
    b"a\0*",
    b"*->\0f",
    b"l",
    b"s",
    b"z",
]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([b"SORT", b"SORT_RO"]),
    st.sampled_from([b"l", b"s", b"z", b"w_a", b"h_a", b"none"]),
    st.lists(st.sampled_from(WORDS), max_size=10),
)
def test_any_sort_answers_without_raising(name, key, words):
    kv = _fuzz_machine()
    args = [name, key, *words]
    result = kv.apply(99, encode_args(args), 1000) if name == b"SORT" else kv.query(encode_args(args), 1000)
    check = sort_module.check_sort(args) if name == b"SORT" else sort_module.check_sort_ro(args)
    assert check is None or result == check  # the frontend refuses exactly what apply would
    assert isinstance(result, (list, int, ReplyError))


def _fuzz_machine() -> KVMachine:
    kv = KVMachine()
    for i, args in enumerate(
        [
            [b"RPUSH", b"l", b"b", b"a", b"a\0*", b"1"],
            [b"SADD", b"s", b"1", b"x"],
            [b"ZADD", b"z", b"1", b"a", b"2", b"b"],
            [b"SET", b"w_a", b"2"],
            [b"HSET", b"h_a", b"f", b"1"],
        ],
        1,
    ):
        kv.apply(i, encode_args(args), 1000)
    return kv


def test_a_hex_float_without_digits_is_not_a_float():
    """Regression: parse_float let float.fromhex's ValueError escape ("0x"), so ZADD z 0x a raised in apply."""
    kv = KVMachine()
    assert _apply(kv, b"ZADD", b"z", b"0x", b"a") == ReplyError("ERR value is not a valid float")
    assert _apply(kv, b"RPUSH", b"l", b"0x", b"1") == 2
    assert _apply(kv, b"SORT", b"l") == ReplyError("ERR One or more scores can't be converted into double")
