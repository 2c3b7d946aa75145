"""frontends/resp/script_acl.py (the node's users and the check of scripts' redis.calls) and the
gate's wrapping of script calls in AS_USER, driven through the ACL machine and real clients."""

from __future__ import annotations

from functools import partial

import trio
from fake_node import FakeNode
from resp_helpers import RawClient

from frontends.resp.script_acl import ScriptAcl
from frontends.resp.server import RespServer, install_script_acl, serve_resp, served_table
from replicator.transactions import Transaction
from statemachines import AS_USER, IN_DB, encode_args
from statemachines.acl import AclMachine

TABLE = served_table("kv")


def setuser(machine: AclMachine, name: bytes, *rules: bytes) -> None:
    assert machine.apply(1, encode_args([b"SETUSER", name, *rules]), 0) == "OK"


def make() -> tuple[ScriptAcl, AclMachine, list]:
    machine = AclMachine()
    script_acl = ScriptAcl(TABLE, machine)
    denied: list = []
    script_acl.on_denied = lambda *entry: denied.append(entry)
    return script_acl, machine, denied


def test_default_as_redis_makes_it_costs_nothing_a_restricted_user_is_checked():
    script_acl, machine, denied = make()
    assert script_acl.script_check(b"default") is None
    setuser(machine, b"default", b"-flushall")
    check = script_acl.script_check(b"default")
    assert check([b"FLUSHALL"]) == "command" and check([b"get", b"k"]) is None
    assert denied == [("command", b"flushall", b"default", "flushall")]


def test_each_acl_change_is_seen_by_the_next_check_synchronously():
    """The ACL machine's apply rebuilds the users before it returns: what makes every node take
    the same decision for the script entry that follows the change in the log."""
    script_acl, machine, denied = make()
    setuser(machine, b"u", b"on", b"+set", b"~k*", b"&ch")
    assert script_acl.script_check(b"u")([b"set", b"k1", b"v"]) is None
    setuser(machine, b"u", b"-set")
    assert script_acl.script_check(b"u")([b"set", b"k1", b"v"]) == "command"
    assert machine.apply(2, encode_args([b"DELUSER", b"u"]), 0) == 1
    assert script_acl.script_check(b"u")([b"ping"]) == "command"  # deleted: refused everything
    assert script_acl.script_check(b"never-existed")([b"get", b"k"]) == "command"
    machine.restore(AclMachine().snapshot())  # a snapshot installed: every user rebuilt
    assert script_acl.script_check(b"default") is None


def test_keys_channels_and_subcommands_are_checked_as_at_the_top_level():
    script_acl, machine, denied = make()
    setuser(machine, b"u", b"on", b"+get", b"+set", b"+publish", b"+object|encoding", b"%R~r*", b"%W~w*", b"&ch")
    check = script_acl.script_check(b"u")
    assert check([b"get", b"r1"]) is None and check([b"set", b"w1", b"v"]) is None
    assert check([b"get", b"w1"]) == "key" and check([b"set", b"r1", b"v"]) == "key"
    assert check([b"publish", b"ch", b"m"]) is None and check([b"PUBLISH", b"other", b"m"]) == "channel"
    assert check([b"object", b"encoding", b"r1"]) is None and check([b"object", b"freq", b"r1"]) == "command"
    assert denied == [
        ("key", b"w1", b"u", "get"),
        ("key", b"r1", b"u", "set"),
        ("channel", b"other", b"u", "publish"),
        ("command", b"object|freq", b"u", "object|freq"),
    ]


async def test_the_users_come_first_and_the_server_adopts_them():
    """install_script_acl: the check is on the node's machines before the node runs; the RESP
    server made later uses those very users (one ACL state, one ACL LOG)."""
    node = FakeNode()
    script_acl = install_script_acl(node, "kv")
    assert node.machines["kv"].script_permissions is script_acl
    server = RespServer(node, script_acl=script_acl)
    assert server.gate.acl is script_acl.users and server.table is script_acl.table
    assert server.gate.acl_machine is node.acl


async def _serve(nursery, node) -> int:
    return await nursery.start(partial(serve_resp, node, "127.0.0.1", 0))


async def test_only_a_restricted_users_script_calls_are_wrapped(nursery):
    node = FakeNode()
    await nursery.start(node.run)
    port = await _serve(nursery, node)
    assert node.machines["kv"].script_permissions is not None  # the gate installed its own

    def session() -> list[bytes]:
        with RawClient(port) as client:
            out = [client.command("EVAL", "return 1", "0")]  # default: as sent, the hot path
            out.append(client.command("ACL", "SETUSER", "u", "on", "nopass", "+@all", "~*", "&*"))
            out.append(client.command("AUTH", "u", "x"))
            out.append(client.command("EVAL", "return 2", "0"))
            out.append(client.command("SELECT", "2"))
            out.append(client.command("FCALL", "nosuch", "0"))
            out += [client.command("MULTI"), client.command("EVAL", "return 3", "0"), client.command("EXEC")]
            out.append(client.command("SET", "k", "v"))  # not a script: as sent
            for forged in ([AS_USER, b"default", b"eval", b"return 1", b"0"], [AS_USER.upper(), b"u"], [IN_DB, b"0"]):
                out.append(client.command(*forged))
            client.command("AUTH", "default", "x")
            client.command("ACL", "DELUSER", "u")
            return out

    out = await trio.to_thread.run_sync(session)
    assert out[:4] == [b":1\r\n", b"+OK\r\n", b"+OK\r\n", b":2\r\n"]
    assert out[5] == b"-ERR Function not found\r\n"
    assert out[-3].startswith(b"-ERR unknown command '__as_user__'")  # no client can send the wrapper
    assert out[-2].startswith(b"-ERR unknown command '__AS_USER__'")
    assert [b"EVAL", b"return 1", b"0"] in node.submitted
    assert [AS_USER, b"u", b"EVAL", b"return 2", b"0"] in node.submitted
    assert [AS_USER, b"u", IN_DB, b"2", b"FCALL", b"nosuch", b"0"] in node.submitted
    (transaction,) = [entry for entry in node.submitted if isinstance(entry, Transaction)]
    assert [step.command for step in transaction.steps] == [
        encode_args([AS_USER, b"u", IN_DB, b"2", b"EVAL", b"return 3", b"0"])
    ]
    assert [IN_DB, b"2", b"SET", b"k", b"v"] in node.submitted


async def test_a_denial_in_a_read_served_off_the_event_loop_is_logged(nursery):
    """EVAL_RO is a slow read: its check may run in a worker thread; the ACL LOG entry is made
    on the event loop all the same."""
    node = FakeNode()
    await nursery.start(node.run)
    server = RespServer(node)
    gate = server.gate
    setuser(node.acl, b"u", b"on", b"+get", b"~k*")
    check = gate.script_acl.script_check(b"u")
    assert await trio.to_thread.run_sync(check, [b"get", b"z"]) == "key"
    assert check([b"set", b"k", b"v"]) == "command"
    assert [(e.count, e.reason, e.context, e.object, e.username) for e in gate.acl.log] == [
        (1, "command", "lua", b"set", b"u"),
        (1, "key", "lua", b"z", b"u"),
    ]
    assert gate.acl.log[0].client_info.startswith(b"user=u cmd=set")
    assert gate.stats["acl_access_denied_key"] == 1 and gate.stats["acl_access_denied_cmd"] == 1
