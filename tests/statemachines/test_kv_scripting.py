"""EVAL in the kv machine: hostile scripts give errors and the machine keeps serving; two machines
running the same scripts end with the same snapshot."""

from __future__ import annotations

from frontends.resp.replies import encode
from statemachines import ReplyError, encode_args
from statemachines.kv import KVMachine


def _apply(m: KVMachine, index: int, *args: str | bytes):
    return m.apply(index, encode_args([a.encode() if isinstance(a, str) else a for a in args]), 1_000)


def test_eval_reaches_the_keyspace_and_caches_the_script() -> None:
    m = KVMachine()
    assert _apply(m, 1, "eval", "return redis.call('set', KEYS[1], ARGV[1])", "1", "k", "v") == "OK"
    assert _apply(m, 2, "get", "k") == b"v"
    sha = _apply(m, 3, "script", "load", "return redis.call('get', KEYS[1])")
    assert _apply(m, 4, "evalsha", sha, "1", "k") == b"v"
    assert _apply(m, 5, "script", "exists", sha, "0" * 40) == [1, 0]
    assert _apply(m, 6, "evalsha", "0" * 40, "0") == ReplyError("NOSCRIPT No matching script. Please use EVAL.")


def test_hostile_scripts_give_errors_and_the_machine_keeps_serving() -> None:
    m = KVMachine()
    budget = "ERR script exceeded its instruction budget"
    for index, script in enumerate(
        [
            "while true do end",
            "while true do pcall(function() while true do end end) end",
            "local t = {} while true do t[#t+1] = string.rep('x', 1000000) end",
            "return string.rep('x', 1e9)",
            "return os.time()",
            "return io.open('/etc/passwd')",
            "return require('os')",
            "x = 1",
            "redis.call('set', 'half', 'done') error('midway')",
        ],
        start=1,
    ):
        result = _apply(m, index, "eval", script, "0")
        assert type(result) is ReplyError, (script, result)
        assert budget in result.message or result.message.startswith("ERR"), result
    assert _apply(m, 100, "get", "half") == b"done"  # written before the error: kept, as in Redis
    assert _apply(m, 101, "eval", "return 1", "0") == 1


def test_same_scripts_same_snapshot() -> None:
    scripts = [
        "return redis.call('set', 'r', math.random(1000000))",
        "for i = 1, 100 do redis.call('rpush', 'l', i * math.random()) end",
        "while true do redis.call('incr', 'n') end",
    ]
    machines = [KVMachine(), KVMachine()]
    for m in machines:
        for index, script in enumerate(scripts, start=1):
            _apply(m, index, "eval", script, "0")
    a, b = (b"".join(m.snapshot()) for m in machines)
    assert a == b


def test_the_script_cache_is_in_the_snapshot() -> None:
    m = KVMachine()
    empty_chunks = list(m.snapshot())
    empty = b"".join(empty_chunks)
    sha = _apply(m, 1, "script", "load", "return 42")
    _apply(m, 2, "eval", "return 7", "0")
    restored = KVMachine()
    restored.restore(list(m.snapshot()))
    assert _apply(restored, 3, "evalsha", sha, "0") == 42
    assert _apply(restored, 4, "script", "exists", sha, "0" * 40) == [1, 0]
    assert b"".join(restored.snapshot()) == b"".join(m.snapshot())
    # a snapshot without scripts is byte-identical to one written before scripting, and loads
    assert _apply(restored, 5, "script", "flush") == "OK"
    assert b"".join(restored.snapshot()) == empty
    again = KVMachine()
    again.restore(empty_chunks)
    assert _apply(again, 6, "evalsha", sha, "0") == ReplyError("NOSCRIPT No matching script. Please use EVAL.")


def test_odd_return_values_never_break_apply() -> None:
    m = KVMachine()
    for index, script in enumerate(
        [
            "local t = {} t[1] = t return t",  # cyclic: cut at the depth limit
            "return {map={[{map={a=1}}]=1, [{1,2}]=2}}",  # tables as map keys
            "redis.setresp(3) return {set={[{1}]=true}}",
            "return {1, {double=0/0}, {double=1/0}, 1/0, -1/0, 0/0}",
            "local t = {} for i = 1, 100000 do t[i] = i end return t",
            "return redis.call('get', string.rep('k', 100000))",
            "return cjson.decode(string.rep('[', 5000) .. string.rep(']', 5000))",
            "return cjson.decode(string.rep('[', 500) .. string.rep(']', 500))",
            "return cjson.encode(setmetatable({}, {__index = function() while true do end end}))",
            "local t = {} t[1] = t return cjson.encode(t)",
        ],
        start=1,
    ):
        result = _apply(m, index, "eval", script, "0")
        assert result is not None or "get" in script, script
        assert encode(result, 2) and encode(result, 3)  # the frontend can send it
    assert _apply(m, 50, "eval", "return 1", "0") == 1


def test_a_run_frees_its_lua_state_at_once() -> None:
    """Each run's Lua state (up to 64 MiB) is freed when the run ends, not at some later cyclic
    collection: 100 runs of 30 MB scripts once held over a gigabyte."""
    import gc

    from lupa import lua51

    from statemachines.kv import lua_sandbox

    def alive() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, lua51.LuaRuntime))

    gc.collect()
    before = alive()
    gc.disable()
    try:
        for _ in range(5):
            lua_sandbox.run(b"return cjson.decode('[1]')[1]", [], [], lambda resp, args: (True, 1), seed=1)
        assert alive() == before
    finally:
        gc.enable()
