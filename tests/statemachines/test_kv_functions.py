"""FUNCTION / FCALL in the kv machine: the libraries are in the snapshot (and older snapshots still
load), hostile libraries stop at the script budget with Redis' error while the machine keeps serving,
and two machines applying the same entries end with the same snapshot."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from frontends.resp.replies import encode
from statemachines import ReplyError, encode_args
from statemachines.kv import KVMachine
from statemachines.kv.lua_sandbox import MEMORY_MAX
from statemachines.kv.rdb import RDB_VERSION
from statemachines.kv.rdb_codec.crc64 import crc64
from statemachines.kv.rdb_codec.writer import rdb_string

COUNTER = (
    "#!lua name=counter\n"
    "redis.register_function('bump', function(keys, args) return redis.call('incrby', keys[1], args[1] or 1) end)\n"
    "redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end,"
    " flags={'no-writes'}, description='read'}"
)


TIMEOUT = "ERR Error registering functions: ERR FUNCTION LOAD timeout"


def _with_footer(body: bytes) -> bytes:
    head = body + RDB_VERSION.to_bytes(2, "little")
    return head + crc64(head).to_bytes(8, "little")


def _apply(m: KVMachine, index: int, *args: str | bytes):
    return m.apply(index, encode_args([a.encode() if isinstance(a, str) else a for a in args]), 1_000)


def _query(m: KVMachine, *args: str | bytes):
    return m.query(encode_args([a.encode() if isinstance(a, str) else a for a in args]), 1_000)


def test_libraries_are_in_the_snapshot() -> None:
    m = KVMachine()
    empty_chunks = list(m.snapshot())
    assert _apply(m, 1, "function", "load", COUNTER) == b"counter"
    assert _apply(m, 2, "fcall", "bump", "1", "n", "5") == 5
    restored = KVMachine()
    restored.restore(list(m.snapshot()))
    assert b"".join(restored.snapshot()) == b"".join(m.snapshot())
    assert _apply(restored, 3, "fcall", "bump", "1", "n", "2") == 7
    assert _query(restored, "fcall_ro", "peek", "1", "n") == b"7"
    assert _query(restored, "fcall_ro", "bump", "1", "n") == ReplyError(
        "ERR Can not execute a script with write flag using *_ro command."
    )
    [listed] = _apply(restored, 4, "function", "list")
    assert [(fn[b"name"], fn[b"description"], fn[b"flags"]) for fn in listed[b"functions"]] == [
        (b"bump", None, []),
        (b"peek", b"read", ["no-writes"]),
    ]
    assert _apply(restored, 5, "function", "stats")[b"engines"][b"LUA"] == {
        b"libraries_count": 1,
        b"functions_count": 2,
    }
    # a snapshot without libraries is byte-identical to one written before functions, and loads
    assert _apply(restored, 6, "function", "flush") == "OK"
    assert _apply(restored, 7, "del", "n") == 1
    again = KVMachine()
    again.restore(empty_chunks)
    assert _apply(again, 8, "fcall", "bump", "1", "n") == ReplyError("ERR Function not found")
    assert b"".join(again.snapshot()) == b"".join(empty_chunks)


def test_function_names_are_case_insensitive_library_names_are_not() -> None:
    m = KVMachine()
    assert _apply(m, 1, "function", "load", "#!lua name=A\nredis.register_function('Up', function() return 1 end)")
    assert _apply(m, 2, "fcall", "UP", "0") == 1
    assert _apply(m, 3, "function", "load", "#!lua name=a\nredis.register_function('up', function() end)") == (
        ReplyError("ERR Function up already exists")
    )
    assert _apply(m, 4, "function", "delete", "a") == ReplyError("ERR Library not found")
    # a failed REPLACE leaves the old library in place
    assert _apply(m, 5, "function", "load", "REPLACE", "#!lua name=A\nerror()") == ReplyError(
        "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable "
        "'error'"
    )
    assert _apply(m, 6, "fcall", "up", "0") == 1


def test_hostile_libraries_stop_at_the_script_budget_and_the_machine_keeps_serving() -> None:
    m = KVMachine()
    timeout = ReplyError(TIMEOUT)
    memory = ReplyError(f"ERR Error registering functions: ERR script exceeded its memory limit of {MEMORY_MAX} bytes")
    for index, (code, expected) in enumerate(
        [
            ("while true do end", timeout),
            ("local t = {} local i = 0 while true do i = i + 1 t[i] = i end", memory),
            ("local s = 'x' while true do s = s .. s end", memory),
            ("local r = redis.register_function while true do pcall(r) end", None),  # pcall is not offered at load
            ("redis.register_function('f', function() end) while true do end", timeout),
        ],
        start=1,
    ):
        result = _apply(m, index, "function", "load", f"#!lua name=hostile\n{code}")
        assert type(result) is ReplyError, (code, result)
        assert expected is None or result == expected, (code, result)
        assert encode(result, 2)
    assert _apply(m, 20, "function", "list") == []
    assert _apply(m, 21, "function", "load", COUNTER) == b"counter"
    runaway = (
        "#!lua name=runaway\nredis.register_function('spin', function() redis.call('incr', 'n') while true do end end)"
    )
    assert _apply(m, 22, "function", "load", runaway) == b"runaway"
    result = _apply(m, 23, "fcall", "spin", "0")
    assert result == ReplyError("ERR script exceeded its instruction budget of 50000000 instructions")
    assert _apply(m, 24, "get", "n") == b"1"  # written before the stop: kept, as EVAL's
    assert _apply(m, 25, "fcall", "bump", "1", "n") == 2


def test_restore_of_hostile_payloads_never_breaks_apply() -> None:
    """Each error as redis-server 7.0 answers the same payload (checked against it)."""
    m = KVMachine()
    assert _apply(m, 1, "function", "load", COUNTER) == b"counter"
    payload = _apply(m, 2, "function", "dump")
    assert _apply(m, 3, "function", "restore", payload) == ReplyError("ERR Library counter already exists")
    assert _apply(m, 4, "function", "restore", payload, "replace") == "OK"
    for index, (bad, error) in enumerate(
        [
            (payload[:-1], "ERR DUMP payload version or checksum are wrong"),
            (payload[1:], "ERR DUMP payload version or checksum are wrong"),
            (_with_footer(b"\x00"), "ERR given type is not a function"),
            (_with_footer(b"\xf5\xff"), "ERR Failed loading library payload"),
            (_with_footer(b"\xf5\x05abc"), "ERR Missing library metadata"),  # a string may run into the footer
            (_with_footer(b"\xf5\x3fabc"), "ERR Failed loading library payload"),  # not past it
            (_with_footer(b"\xf6\x01x"), "ERR Failed loading engine name"),
            (_with_footer(b"\xf6\x3fx"), "ERR Failed loading library name"),
            (_with_footer(b"\xf5" + rdb_string(b"return 1")), "ERR Missing library metadata"),
            (_with_footer(b"\xf5" + rdb_string(b"#!lua name=x\nwhile true do end") * 1000), TIMEOUT),
        ],
        start=5,
    ):
        assert _apply(m, index, "function", "restore", bad) == ReplyError(error), bad[:20]
    # every library of a payload loads on one budget: each of these alone loads, five do not
    slow = [
        f"#!lua name=slow{i}\nfor i = 1, 12000000 do end redis.register_function('s{i}', function() end)"
        for i in range(5)
    ]
    assert _apply(m, 13, "function", "load", slow[0]) == b"slow0"
    assert (
        _apply(
            m,
            14,
            "function",
            "restore",
            _with_footer(b"".join(b"\xf5" + rdb_string(c.encode()) for c in slow[:4])),
            "replace",
        )
        == "OK"
    )
    many = _with_footer(b"".join(b"\xf5" + rdb_string(c.encode()) for c in slow))
    assert _apply(m, 15, "function", "restore", many, "replace") == ReplyError(TIMEOUT)
    # 7.0-rc's form: name, engine, description flag, body
    old_form = (
        b"\xf6"
        + rdb_string(b"old")
        + rdb_string(b"LUA")
        + b"\x00"
        + rdb_string(b"redis.register_function('o', function() return 'o' end)")
    )
    assert _apply(m, 19, "function", "restore", _with_footer(old_form)) == "OK"
    assert _apply(m, 30, "fcall", "o", "0") == b"o"
    assert _apply(m, 20, "fcall", "bump", "1", "n") == 1


def test_same_entries_same_snapshot() -> None:
    entries = [
        ("function", "load", COUNTER),
        (
            "function",
            "load",
            "#!lua name=r\nredis.register_function('r', function() return redis.call('set', 'r', math.random(1000000)) end)",
        ),
        ("fcall", "r", "0"),
        ("fcall", "bump", "1", "n", "3"),
    ]
    machines = [KVMachine(), KVMachine()]
    for m in machines:
        for index, entry in enumerate(entries, start=1):
            _apply(m, index, *entry)
    a, b = (b"".join(m.snapshot()) for m in machines)
    assert a == b


def test_a_function_run_frees_its_lua_state_at_once() -> None:
    """As a script's (test_kv_scripting): the cmsgpack and struct functions bound into a state hold
    it, and are released when the run ends, so no state waits for a cyclic collection."""
    import gc

    from lupa import lua51

    from statemachines.kv import lua_sandbox

    def alive() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, lua51.LuaRuntime))

    code = b"\nredis.register_function('f', function() return {cmsgpack.unpack(cmsgpack.pack(struct.size('i')))} end)"
    gc.collect()
    before = alive()
    gc.disable()
    try:
        for _ in range(5):
            assert lua_sandbox.run_function(code, b"f", [], [], lambda resp, args: (True, 1), seed=1) == ("ok", [4])
            assert lua_sandbox.load_library(code, seed=1)[0] == "ok"
        assert alive() == before
    finally:
        gc.enable()


def test_hostile_cmsgpack_and_struct_stop_with_an_error() -> None:
    """Work bounded by the data: a table graph that expands exponentially when packed stops at the
    memory or instruction budget; nesting and value counts stop where Redis' Lua C stack does;
    counts and sizes in a struct format are checked against the data before anything is made."""
    m = KVMachine()
    budget = "ERR script exceeded its instruction budget"
    memory = "ERR script exceeded its memory limit"
    overflow = "stack overflow ("
    for index, (script, expected) in enumerate(
        [
            # 16 levels of 1000 references each: 1000^16 values once packed
            (
                "local t = {} for i = 1, 1000 do t[i] = 'xxxxxxxxxxxxxxxx' end "
                "for level = 1, 15 do local u = {} for i = 1, 1000 do u[i] = t end t = u end "
                "return #cmsgpack.pack(t)",
                (budget, memory),
            ),
            ("return cmsgpack.unpack(string.rep('\\145', 1000000))", (overflow,)),
            ("return cmsgpack.unpack(string.rep('\\129\\001', 1000000))", (overflow,)),
            ("return cmsgpack.unpack(string.rep('\\001', 5000000))", (overflow,)),
            ("return cmsgpack.unpack('\\221\\255\\255\\255\\255')", ("Missing bytes in input.",)),
            ("return cmsgpack.unpack('\\219\\255\\255\\255\\255')", ("Missing bytes in input.",)),
            ("return struct.pack('c2147483647', 'x')", ("string too short",)),
            ("return struct.unpack('c2147483647', 'x')", ("data string too short",)),
            ("return struct.unpack('!8' .. string.rep('d', 100000), 'x')", ("data string too short",)),
            ("return struct.size(string.rep('c2147483647', 100000))", None),
            ("return struct.unpack(string.rep('b', 1000000), string.rep('x', 1000000))", ("too many results",)),
            ("while true do pcall(cmsgpack.pack, {{{{{{{{{{{{{{{{{{1}}}}}}}}}}}}}}}}}}) end", (budget,)),
        ],
        start=1,
    ):
        result = _apply(m, index, "eval", script, "0")
        if expected is None:
            assert type(result) is int, (script, result)
            continue
        assert type(result) is ReplyError and any(text in result.message for text in expected), (script, result)
    assert _apply(m, 50, "eval", "return cmsgpack.unpack(cmsgpack.pack('still serving'))", "0") == b"still serving"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=30),
            st.sampled_from([b"\xf5", b"\xf6", b"\x00", b"\xc3", b"\x40", b"\x80\xff\xff\xff\xff", b"\x1f"]),
            st.builds(lambda s: b"\xf5" + rdb_string(s), st.binary(max_size=40)),
            st.just(b"\xf5" + rdb_string(b"#!lua name=fz\nredis.register_function('fz', function() return 1 end)")),
        ),
        max_size=6,
    ),
    st.sampled_from([[], [b"append"], [b"replace"], [b"flush"]]),
)
def test_function_restore_of_any_payload_answers(parts: list[bytes], policy: list[bytes]) -> None:
    """Whatever a payload holds behind a valid footer, FUNCTION RESTORE answers OK or an error, and
    the machine keeps serving."""
    m = KVMachine()
    result = _apply(m, 1, "function", "restore", _with_footer(b"".join(parts)), *policy)
    assert result == "OK" or type(result) is ReplyError, result
    assert encode(result, 2)
    assert _apply(m, 2, "eval", "return 1", "0") == 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.sampled_from([b"", b"\n", b"\nredis.register_function('f', function() end)"]))
def test_function_load_of_any_shebang_answers(head: bytes, rest: bytes) -> None:
    m = KVMachine()
    result = _apply(m, 1, "function", "load", b"#!" + head + rest)
    assert type(result) is bytes or type(result) is ReplyError, result
    assert encode(result, 2)


def test_list_withcode_and_dump_refuse_a_reply_over_the_limit(monkeypatch) -> None:
    from statemachines.kv import functions

    m = KVMachine()
    assert _apply(m, 1, "function", "load", COUNTER) == b"counter"
    monkeypatch.setattr(functions, "REPLY_BYTES_MAX", len(COUNTER) - 1)
    assert _apply(m, 2, "function", "dump") == ReplyError(
        f"ERR FUNCTION DUMP reply would exceed the reply limit of {len(COUNTER) - 1} bytes"
    )
    monkeypatch.setattr(functions, "REPLY_BYTES_MAX", 450)
    assert type(_apply(m, 3, "function", "list", "withcode")) is ReplyError
    assert len(_apply(m, 4, "function", "list")) == 1  # without the code it is small
    monkeypatch.setattr(functions, "REPLY_BYTES_MAX", 200)  # two functions' entries are more
    assert _apply(m, 5, "function", "list") == ReplyError(
        "ERR FUNCTION LIST reply would exceed the reply limit of 200 bytes"
    )


def test_a_library_with_names_differing_by_case_only_loads_and_deletes() -> None:
    """Redis 7.0 loads it (names are case-sensitive within a library, case-insensitive across
    libraries) and crashes on its FUNCTION DELETE; here it loads, runs and deletes."""
    m = KVMachine()
    code = "#!lua name=twins\nredis.register_function('d', function() return 1 end) redis.register_function('D', function() return 2 end)"
    assert _apply(m, 1, "function", "load", code) == b"twins"
    assert _apply(m, 2, "fcall", "D", "0") == 1  # the first registered
    assert _apply(m, 3, "function", "stats")[b"engines"][b"LUA"] == {b"libraries_count": 1, b"functions_count": 2}
    restored = KVMachine()
    restored.restore(list(m.snapshot()))
    for machine in (m, restored):
        assert _apply(machine, 4, "function", "delete", "twins") == "OK"
        assert _apply(machine, 5, "fcall", "d", "0") == ReplyError("ERR Function not found")
        assert _apply(machine, 6, "function", "load", code) == b"twins"


def test_redis_version_is_the_one_hello_reports() -> None:
    from frontends.resp.commands.entry import REDIS_VERSION

    major, minor, patch = map(int, REDIS_VERSION.split("."))
    m = KVMachine()
    code = "#!lua name=v\nlocal v = redis.REDIS_VERSION redis.register_function('v', function() return {v, redis.REDIS_VERSION_NUM} end)"
    assert _apply(m, 1, "function", "load", code) == b"v"
    assert _apply(m, 2, "fcall", "v", "0") == [REDIS_VERSION.encode(), major << 16 | minor << 8 | patch]
    assert _apply(m, 3, "eval", "return redis.REDIS_VERSION", "0") == REDIS_VERSION.encode()


def test_many_libraries_snapshot_in_chunks_of_about_chunk_bytes() -> None:
    from statemachines.kv.snapshot import dump, load

    m = KVMachine()
    for i in range(30):
        code = f"#!lua name=l{i}\n-- {'x' * 200}\nredis.register_function('f{i}', function() return {i} end)"
        assert _apply(m, i + 1, "function", "load", code) == f"l{i}".encode()
    chunks = list(dump(m._databases, chunk_bytes=1000))
    assert sum(1 for c in chunks if b"functions" in c) >= 5
    restored = KVMachine()
    load(restored._databases, chunks)
    assert [_apply(restored, 100 + i, "fcall", f"F{i}", "0") for i in range(30)] == list(range(30))


def test_fcall_writes_report_key_changes_and_keyspace_events() -> None:
    """What a function's redis.call changes is reported like any write (blocking commands and
    keyspace notifications listen there); loading a library changes no key."""
    m = KVMachine()
    changed, events = [], []
    m.key_changed = lambda db, key: changed.append((db, key))
    m.keyspace_event = lambda db, event_class, event, key: events.append((db, event, key))
    assert _apply(m, 1, "function", "load", COUNTER) == b"counter"
    assert changed == [] and events == []
    assert _apply(m, 2, "fcall", "bump", "1", "n", "3") == 3
    assert (0, b"n") in changed and (0, b"incrby", b"n") in events
