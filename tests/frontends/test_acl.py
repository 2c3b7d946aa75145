"""frontends/resp/acl.py's rules and check, and ACL users driven by real clients (redis-py)."""

from __future__ import annotations

import pytest
import redis
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from frontends.resp import acl, key_specs
from frontends.resp.commands.table import build_table
from statemachines.kv import KVMachine

TABLE = build_table(KVMachine().commands())


def _redis(port: int, **options) -> redis.Redis:
    """redis-py without its retries (a refused AUTH is the answer here, not a hiccup)."""
    return redis.Redis(port=port, retry=Retry(NoBackoff(), 0), **options)


COMMANDS = acl.Commands.from_table(TABLE.commands)


def user(*rules: str) -> acl.User:
    one = acl.new_user(b"u")
    for rule in rules:
        one.apply(rule.encode(), COMMANDS)
    return one


def test_password_is_stored_as_its_sha256():
    one = user(">pw")
    assert one.passwords == [b"30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"]
    assert one.check_password(b"pw") and not one.check_password(b"PW")
    one.apply(b"<pw", COMMANDS)
    assert one.passwords == [] and not one.check_password(b"pw")
    assert user("nopass").check_password(b"anything")


def test_a_bad_rule_changes_nothing():
    users = acl.Users(COMMANDS)
    assert users.set_user(b"u", [b"on", b"+get"]) is None
    error = users.set_user(b"u", [b"+set", b"nosuchrule"])
    assert error == "Error in ACL SETUSER modifier 'nosuchrule': Syntax error"
    assert "set" not in users.get(b"u").allowed


@pytest.mark.parametrize(
    ("rules", "described"),
    [
        ("+@read", "-@all +@read"),
        ("+@all -@write", "+@all -@write"),
        ("+@all -@dangerous", "+@all -@dangerous"),
        ("+@read -get", "-@all +@read -get"),
        ("+@all -flushall", "+@all -flushall"),
        ("+select|0", "-@all +select|0"),
    ],
)
def test_rules_are_described_as_redis_does(rules, described):
    assert user(*rules.split()).command_rules(COMMANDS) == described.encode()


def test_check_command_key_channel():
    one = user("+get", "+set", "+publish", "+zunionstore", "~k*", "%R~r*", "&ch")
    get, set_, publish, zunionstore = (TABLE.get(name) for name in (b"get", b"set", b"publish", b"zunionstore"))
    assert acl.check(one, get, [b"get", b"k1"]) is None
    assert acl.check(one, get, [b"get", b"r1"]) is None
    assert acl.check(one, set_, [b"set", b"r1", b"v"]) == (acl.DENIED_KEY, 1)
    assert acl.check(one, TABLE.get(b"del"), [b"del", b"k1"]) == (acl.DENIED_COMMAND, 0)
    assert acl.check(one, publish, [b"publish", b"other", b"m"]) == (acl.DENIED_CHANNEL, 1)
    # keys found as Redis finds them (numkeys): the sources are read, the destination written
    assert acl.check(one, zunionstore, [b"zunionstore", b"k1", b"1", b"secret"]) == (acl.DENIED_KEY, 3)
    assert acl.check(one, zunionstore, [b"zunionstore", b"k1", b"1", b"r1"]) is None
    assert acl.check(one, zunionstore, [b"zunionstore", b"r1", b"1", b"k1"]) == (acl.DENIED_KEY, 1)


def test_plugin_command_keys_by_position():
    """A command Redis does not have: its positions; movable keys need allkeys (not known: refused)."""
    from dataclasses import replace

    get = TABLE.get(b"get")
    plugin = replace(get, name="plugin.get", flags=frozenset({"readonly"}))
    movable = replace(plugin, flags=frozenset({"readonly", "movablekeys"}))
    reader = user("%R~r*")
    reader.allowed.add("plugin.get")
    assert acl.check(reader, plugin, [b"plugin.get", b"r1"]) is None
    assert acl.check(reader, plugin, [b"plugin.get", b"k1"]) == (acl.DENIED_KEY, 1)
    assert acl.check(reader, movable, [b"plugin.get", b"r1"]) == (acl.DENIED_KEY, 1)
    reader.apply(b"allkeys", COMMANDS)
    assert acl.check(reader, movable, [b"plugin.get", b"k1"]) is None


def test_log_groups_similar_denials():
    users = acl.Users(COMMANDS, log_max=2)
    users.add_log("command", "toplevel", b"get", b"u", 1000, b"")
    users.add_log("command", "toplevel", b"get", b"u", 2000, b"")
    assert [(e.count, e.created_ms) for e in users.log] == [(2, 2000)]
    users.add_log("command", "toplevel", b"get", b"u", 2000 + acl.LOG_GROUPING_MS, b"")
    users.add_log("key", "toplevel", b"k", b"u", 1, b"")
    assert len(users.log) == 2  # acllog-max-len


def _client_refused(port: int) -> None:
    admin = _redis(port)
    try:
        admin.acl_setuser("reader", enabled=True, passwords=["+pw"], commands=["+get", "+acl|whoami"], keys=["k*"])
        reader = _redis(port, username="reader", password="pw")
        try:
            assert reader.acl_whoami() == "reader"
            assert reader.get("k1") is None
            with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions to run the 'set'"):
                reader.set("k1", "v")
            with pytest.raises(redis.exceptions.NoPermissionError, match="one of the keys"):
                reader.get("other")
            with pytest.raises(redis.exceptions.NoPermissionError, match="'replicator.member|list'"):
                reader.execute_command("REPLICATOR.MEMBER", "LIST")
        finally:
            reader.close()
        with pytest.raises(redis.exceptions.AuthenticationError):
            _redis(port, username="reader", password="wrong").ping()
        log = admin.acl_log()
        assert [entry["reason"] for entry in log[:4]] == ["auth", "command", "key", "command"]
        assert log[0]["username"] == "reader" and log[1]["object"] == "replicator.member|list"
        stats = admin.info("stats")
        assert stats["acl_access_denied_auth"] == 1 and stats["acl_access_denied_key"] == 1
        assert stats["acl_access_denied_cmd"] >= 2  # (and redis-py's CLIENT SETINFO, refused too)
        assert admin.acl_deluser("reader") == 1
    finally:
        admin.close()


def _log_length(port: int) -> None:
    client = _redis(port)
    try:
        client.acl_setuser("lg", enabled=True, nopass=True, commands=["+ping"])
        client.config_set("acllog-max-len", 2)
        for key in ("a", "b", "c"):
            with pytest.raises(redis.exceptions.AuthenticationError):
                client.auth("bad", username=key)  # three different entries (different users)
        assert len(client.acl_log()) == 2
        assert client.acl_log_reset() and client.acl_log() == []
    finally:
        client.config_set("acllog-max-len", 128)
        client.close()


async def test_acl_log_keeps_acllog_max_len_entries(port):
    await trio.to_thread.run_sync(_log_length, port)


async def test_redis_py_user_is_refused_what_it_may_not_do(port):
    await trio.to_thread.run_sync(_client_refused, port)


def _requirepass_is_the_default_users(port: int) -> None:
    admin = _redis(port)
    try:
        admin.config_set("requirepass", "s3cret")
        with pytest.raises(redis.exceptions.AuthenticationError):
            _redis(port).ping()
        client = _redis(port, username="default", password="s3cret")
        assert client.acl_getuser("default")["passwords"] == [acl.hash_password(b"s3cret").decode()]
        client.config_set("requirepass", "")
        client.close()
        assert _redis(port).ping()
    finally:
        admin.close()


async def test_requirepass_is_the_default_users_password(port):
    await trio.to_thread.run_sync(_requirepass_is_the_default_users, port)


class _Hooks:
    """What the metrics see (frontends.metrics.RespMetrics' hook calls)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry

        from frontends.metrics import RespMetrics

        self.registry = CollectorRegistry()
        self.metrics = RespMetrics(self.registry, {"node": "1"})

    def __getattr__(self, name):
        return getattr(self.metrics, name)


def _auth_and_noperm(port: int) -> None:
    from resp_helpers import RawClient

    with RawClient(port) as client:
        assert client.command("ACL", "SETUSER", "m", "on", ">pw", "+auth").startswith(b"+OK")
        assert client.command("AUTH", "m", "bad").startswith(b"-WRONGPASS")
        assert client.command("AUTH", "m", "pw") == b"+OK\r\n"
        assert client.command("GET", "k").startswith(b"-NOPERM")


async def test_failed_auth_and_refusals_are_in_the_metrics(nursery):
    from functools import partial

    from fake_node import FakeNode

    from frontends.resp.server import serve_resp

    hooks = _Hooks()
    node = FakeNode(batched=True)
    await nursery.start(node.run)
    port = await nursery.start(partial(serve_resp, node, "127.0.0.1", 0, hooks=hooks))
    await trio.to_thread.run_sync(_auth_and_noperm, port)
    sample = hooks.registry.get_sample_value
    assert sample("replicator_commands_total", {"node": "1", "command": "auth", "result": "WRONGPASS"}) == 1
    assert sample("replicator_commands_total", {"node": "1", "command": "get", "result": "NOPERM"}) == 1


RULE_PIECES = st.sampled_from(
    [b"+", b"-", b"@", b"~", b"%", b"&", b"R", b"W", b"|", b"*", b">", b"<", b"#", b"!", b"(", b")", b"get", b"all"]
)
RULES = st.lists(st.one_of(st.binary(max_size=12), st.lists(RULE_PIECES, max_size=5).map(b"".join)), max_size=6)


@settings(max_examples=300, deadline=None)
@given(RULES)
def test_any_rule_list_is_applied_whole_or_refused(rules):
    users = acl.Users(COMMANDS)
    error = users.set_user(b"u", rules)
    if error is None:
        users.get(b"u").describe(COMMANDS)  # and it can be described
    else:
        assert error.startswith(("Error in ACL SETUSER modifier", "Usernames")) and users.get(b"u") is None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(key_specs.SPECS) + sorted(key_specs.PROCS)), st.lists(st.binary(max_size=6), max_size=8))
def test_key_positions_stay_inside_the_arguments(name, args):
    found = key_specs.keys(name, [name.encode(), *args])
    assert found is not None and all(0 < i <= len(args) and permissions in (0, 1, 2, 3) for i, permissions in found)


def _hello_auth(port: int) -> None:
    admin = _redis(port)
    try:
        admin.acl_setuser("h3", enabled=True, passwords=["+pw"], commands=["+@all"], keys=["*"])
        client = _redis(port, username="h3", password="pw", protocol=3)  # HELLO 3 AUTH h3 pw
        try:
            assert client.acl_whoami() in ("h3", b"h3")  # (redis-py decodes it under RESP2 only)
            assert client.execute_command("HELLO")[b"proto"] == 3
        finally:
            client.close()
        with pytest.raises(redis.exceptions.AuthenticationError):
            _redis(port, username="h3", password="bad", protocol=3).ping()
        assert admin.acl_deluser("h3") == 1
    finally:
        admin.close()


async def test_hello_auth_as_a_user(port):
    await trio.to_thread.run_sync(_hello_auth, port)


def _deleted_user_is_disconnected(port: int) -> None:
    admin = _redis(port)
    try:
        admin.acl_setuser("gone", enabled=True, passwords=["+pw"], commands=["+@all"], keys=["*"])
        client = _redis(port, username="gone", password="pw")
        client.ping()
        assert admin.acl_deluser("gone") == 1
        with pytest.raises((redis.exceptions.ConnectionError, redis.exceptions.AuthenticationError)):
            client.execute_command("PING")  # its connection was closed; a new one cannot authenticate
        client.close()
    finally:
        admin.close()


async def test_a_deleted_users_connections_are_closed(port):
    await trio.to_thread.run_sync(_deleted_user_is_disconnected, port)


def _setuser_then_multi(port: int) -> None:
    from resp_helpers import RawClient

    with RawClient(port) as client:
        assert client.command("ACL", "SETUSER", "w1", "on") == b"+OK\r\n"
        client.command("MULTI")
        client.command("ACL", "SETUSER", "w2", "on")
        assert client.command("EXEC") == b"*1\r\n+OK\r\n"


async def test_acl_changes_answer_once_applied_on_this_node(node, port):
    """A follower hears the leader's OK before it applies the change itself: the reply waits for
    a local read of the ACL machine at the change's index, so the next command obeys it here."""
    await trio.to_thread.run_sync(_setuser_then_multi, port)
    waits = [(args, level, index) for args, level, index in node.reads if args == [b"APPLIED"]]
    assert len(waits) == 2 and all(level.value == "sequential" and index >= 1 for _, level, index in waits)
    assert waits[1][2] > waits[0][2]
