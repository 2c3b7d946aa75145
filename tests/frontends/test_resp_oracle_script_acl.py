"""ACL inside scripts and functions against redis-server 7.0: a restricted user's redis.call and
redis.pcall refused by its command, key (%R~ / %W~) rules, with Redis' Lua errors, in EVAL,
EVALSHA, EVAL_RO, FCALL, FCALL_RO and inside MULTI; the ACL LOG entries (context "lua") after them.
Replies compared byte for byte (RESP2 and RESP3).

Not compared: a channel refused to PUBLISH inside a script. Scripts here cannot PUBLISH at all
(the machine has no PUBLISH: "Unknown Redis command called from script", scripting.py), so the
channel check never comes up; the hook checks channels as ACLCheckAllPerm does
(tests/frontends/test_script_acl.py).

Every case deletes the users and libraries it made: the oracle is shared by every test."""

from __future__ import annotations

import hashlib

import hiredis
import pytest
import trio
from resp_helpers import RawClient, assert_same_as_redis, escaped_case_lines

USER = "ACL SETUSER sacl-u on >pw ~sacl:k* %R~sacl:r* %W~sacl:w* &ch +eval +evalsha +eval_ro +evalsha_ro +fcall "
USER += "+fcall_ro +get +set +ping +multi +exec +acl|whoami +script|load"
INCR = "return redis.call('incr', KEYS[1])"
INCR_SHA = hashlib.sha1(INCR.encode()).hexdigest()
LIBRARY = (
    "#!lua name=sacllib\\x0a"
    "redis.register_function('sacl_set', function(keys, args) return redis.call('set', args[1], args[2]) end)\\x0a"
    "redis.register_function{function_name='sacl_get', callback=function(keys, args) return redis.pcall('get', args[1]) end,"
    " flags={'no-writes'}}\\x0a"
    "redis.register_function('sacl_flush', function() return redis.call('flushall') end)"
)

CASES = {
    "script-acl-eval": f"""
        {USER}
        SET sacl:k1 v1
        SET sacl:r1 r1
        AUTH sacl-u pw
        ACL WHOAMI
        EVAL "return redis.call('get', KEYS[1])" 1 sacl:k1
        EVAL "return redis.call('set', 'sacl:k2', 'x')" 0
        EVAL "return redis.call('flushall')" 0
        EVAL "return redis.pcall('flushall')" 0
        EVAL "local r = redis.pcall('del', 'sacl:k1'); return {{type(r), r['err']}}" 0
        EVAL "return redis.call('get', 'sacl:z1')" 0
        EVAL "return redis.call('get', 'sacl:r1')" 0
        EVAL "return redis.call('set', 'sacl:r1', 'x')" 0
        EVAL "return redis.call('set', 'sacl:w1', 'x')" 0
        EVAL "return redis.call('get', 'sacl:w1')" 0
        EVAL "return redis.pcall('get', 'sacl:w1')" 0
        EVAL "return redis.call('mget', 'sacl:k1', 'sacl:w1')" 0
        EVAL "return redis.call('time')" 0
        EVAL "return redis.call('ping')" 0
        EVAL "return redis.call('select', '1')" 0
        EVAL "return redis.call('nosuch')" 0
        EVAL "return redis.call('set', 'sacl:k1')" 0
        EVAL "return redis.call('blpop', 'sacl:k1', 0)" 0
        EVAL "return redis.call('eval', 'return 1', 0)" 0
        EVAL "redis.call('set', 'sacl:k3', 'before'); return redis.call('del', 'sacl:k3')" 0
        EVAL "return redis.call('get', 'sacl:k3')" 0
        EVAL_RO "return redis.call('set', 'sacl:k1', 'v')" 0
        EVAL_RO "return redis.call('del', 'sacl:k1')" 0
        EVAL_RO "return redis.call('get', 'sacl:z1')" 0
        SCRIPT LOAD "{INCR}"
        EVALSHA {INCR_SHA} 1 sacl:k9
        EVALSHA_RO {INCR_SHA} 1 sacl:k9
        AUTH default x
        GET sacl:k1
        GET sacl:k2
        ACL DELUSER sacl-u
    """,
    "script-acl-functions": f"""
        {USER}
        FUNCTION LOAD "{LIBRARY}"
        SET sacl:r1 r1
        AUTH sacl-u pw
        FCALL sacl_set 0 sacl:k5 v
        FCALL sacl_set 0 sacl:z5 v
        FCALL sacl_set 0 sacl:r1 v
        FCALL sacl_set 1 sacl:z5 sacl:k6 v
        FCALL sacl_flush 0
        FCALL_RO sacl_get 0 sacl:r1
        FCALL_RO sacl_get 0 sacl:w1
        FCALL_RO sacl_get 0 sacl:k5
        FCALL sacl_get 0 sacl:z1
        FCALL_RO sacl_set 0 sacl:k5 v
        AUTH default x
        DBSIZE
        FUNCTION DELETE sacllib
        ACL DELUSER sacl-u
    """,
    "script-acl-multi": f"""
        {USER}
        FUNCTION LOAD "{LIBRARY}"
        AUTH sacl-u pw
        MULTI
        EVAL "return redis.call('set', 'sacl:k1', 'v')" 0
        EVAL "return redis.call('del', 'sacl:k1')" 0
        FCALL sacl_set 0 sacl:z1 v
        FCALL sacl_set 0 sacl:k2 v
        EVAL "return redis.pcall('flushall')" 0
        FCALL_RO sacl_get 0 sacl:k1
        FCALL_RO sacl_get 0 sacl:z1
        EVAL_RO "return redis.call('get', 'sacl:z1')" 0
        EXEC
        MULTI
        FCALL sacl_set 1 sacl:z1 v
        EXEC
        AUTH default x
        DBSIZE
        FUNCTION DELETE sacllib
        ACL DELUSER sacl-u
    """,
    "script-acl-default-restricted": """
        ACL SETUSER default -flushall
        EVAL "return redis.pcall('flushall')" 0
        EVAL "return redis.call('set', 'sacl:k1', 'v')" 0
        ACL SETUSER default +flushall
        EVAL "return redis.call('flushall')" 0
    """,
}


case_lines = escaped_case_lines  # the follower runner (test_oracle_follower.py) takes it from here


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("protocol", [2, 3])
async def test_same_replies_as_redis(name, protocol, port, oracle_port):
    await assert_same_as_redis(port, oracle_port, CASES[name], protocol, parse=case_lines)


LOGGED = (
    "count",
    "reason",
    "context",
    "object",
    "username",
)  # ACL LOG's fields that do not depend on time or the client


def _acl_log_after_scripts(port: int) -> list[list]:
    """Denials in scripts and functions, then ACL LOG's deterministic fields."""
    lines = case_lines(CASES["script-acl-eval"])[:-3] + [[b"AUTH", b"default", b"x"]]
    with RawClient(port) as client:
        client.command("FLUSHALL")
        client.command("ACL", "LOG", "RESET")
        for args in lines:
            client.command(*args)
        client.command("AUTH", "sacl-u", "pw")
        client.command("EVAL", "return redis.pcall('flushall')", "0")  # counted with the first flushall
        client.command("AUTH", "default", "x")
        reader = hiredis.Reader()
        reader.feed(client.command("ACL", "LOG"))
        entries = reader.gets()
        client.command("ACL", "DELUSER", "sacl-u")
        client.command("ACL", "LOG", "RESET")
    out = []
    for entry in entries:
        fields = dict(zip(entry[::2], entry[1::2]))
        out.append([fields[name.encode()] for name in LOGGED])
        assert fields[b"age-seconds"] is not None and fields[b"client-info"]
    return out


async def test_acl_log_entries_as_redis(port, oracle_port):
    theirs = await trio.to_thread.run_sync(_acl_log_after_scripts, oracle_port)
    ours = await trio.to_thread.run_sync(_acl_log_after_scripts, port)
    assert [entry[2] for entry in theirs] == [b"lua"] * len(theirs) and len(theirs) > 5
    assert ours == theirs
