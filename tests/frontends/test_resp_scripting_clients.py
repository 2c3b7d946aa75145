"""Lua scripts through real clients against the RESP server (FakeNode): redis-py's
register_script (EVALSHA, falling back to EVAL on NOSCRIPT), pipelines and transactions of
scripts, EVAL_RO, and `redis-cli --eval`."""

from __future__ import annotations

import shutil

import pytest
import redis
import trio

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RATE_LIMIT = """
local current = redis.call('incr', KEYS[1])
if current == 1 then redis.call('pexpire', KEYS[1], ARGV[2]) end
if current > tonumber(ARGV[1]) then return redis.error_reply('LIMITED too many requests') end
return current
"""


def client(port: int, **kw) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, **kw)


async def in_thread(fn, *args):
    with trio.fail_after(30):
        return await trio.to_thread.run_sync(fn, *args)


@pytest.mark.parametrize("protocol", [2, 3])
async def test_register_script_with_redis_py(port, protocol):
    def scenario():
        r = client(port, protocol=protocol)
        r.script_flush()
        limiter = r.register_script(RATE_LIMIT)
        assert [limiter(keys=["rate"], args=[3, 60_000]) for _ in range(3)] == [1, 2, 3]
        with pytest.raises(redis.ResponseError, match="LIMITED too many requests"):
            limiter(keys=["rate"], args=[3, 60_000])
        assert 0 < r.pttl("rate") <= 60_000
        assert r.script_exists(limiter.sha) == [True]
        r.script_flush()
        assert r.script_exists(limiter.sha) == [False]
        assert limiter(keys=["other"], args=[3, 60_000]) == 1  # NOSCRIPT, then EVAL: cached again
        with r.pipeline(transaction=True) as pipe:
            limiter(keys=["p"], args=[9, 1000], client=pipe)
            limiter(keys=["p"], args=[9, 1000], client=pipe)
            assert pipe.execute() == [1, 2]
        assert r.eval_ro("return redis.call('get', KEYS[1])", 1, "p") == b"2"
        with pytest.raises(redis.ResponseError, match="Write commands are not allowed from read-only scripts"):
            r.eval_ro("return redis.call('set', 'p', 1)", 0)
        with pytest.raises(redis.ResponseError, match="script exceeded its instruction budget"):
            r.eval("while true do end", 0)
        assert r.eval("return 'still serving'", 0) == b"still serving"

    await in_thread(scenario)


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
async def test_redis_cli_eval(port, tmp_path):
    script = tmp_path / "push.lua"
    script.write_text("redis.call('rpush', KEYS[1], ARGV[1], ARGV[2]) return redis.call('lrange', KEYS[1], 0, -1)\n")
    with trio.fail_after(30):
        done = await trio.run_process(
            ["redis-cli", "-p", str(port), "--eval", str(script), "mylist", ",", "a", "b"],
            capture_stdout=True,
            capture_stderr=True,
        )
    assert done.stdout.decode() == "a\nb\n"  # not a tty: raw replies, one a line
