"""The command table and the docs it generates (COMMAND DOCS drives redis-cli's help)."""

from __future__ import annotations

import time

from frontends.resp.commands.entry import ServerView
from frontends.resp.commands.errors import unknown_command
from frontends.resp.commands.syntax import syntax_arguments
from frontends.resp.commands.table import build_table
from frontends.resp.gate import Gate
from frontends.resp.replies import RespSet
from statemachines import CommandSpec, ReplyError
from statemachines.kv import KVMachine
from tests.frontends.fake_node import FakeNode


def test_frontend_commands_win_a_name_clash_and_lookup_ignores_case():
    clash = CommandSpec(name="ping", arity=1, flags=frozenset({"write"}))
    table = build_table([clash, *KVMachine().commands()])
    assert table.get(b"PING").handler is not None
    assert table.get(b"pInG") is table.get(b"ping")
    assert table.get(b"set").handler is None and table.get(b"SET").is_write
    assert table.get(b"nosuch") is None
    assert len({cmd.name for cmd in table.commands}) == len(table)


def test_syntax_to_arguments():
    assert syntax_arguments("") == []
    assert syntax_arguments("key") == [{b"name": b"key", b"type": b"key"}]
    assert syntax_arguments("key [key ...]") == [{b"name": b"key", b"type": b"key", b"flags": RespSet(["multiple"])}]
    (block,) = syntax_arguments("key value [key value ...]")
    assert block[b"type"] == b"block" and block[b"flags"] == ("multiple",)
    assert [a[b"name"] for a in block[b"arguments"]] == [b"key", b"value"]
    key, value, cond, get, expiry = syntax_arguments(
        "key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | KEEPTTL]"
    )
    assert cond[b"type"] == b"oneof" and cond[b"flags"] == ("optional",)
    assert [a[b"token"] for a in cond[b"arguments"]] == [b"NX", b"XX"]
    assert get == {b"name": b"get", b"type": b"pure-token", b"token": b"GET", b"flags": RespSet(["optional"])}
    assert expiry[b"arguments"][0] == {b"name": b"seconds", b"type": b"integer", b"token": b"EX"}
    assert expiry[b"arguments"][2][b"type"] == b"unix-time"
    (section,) = syntax_arguments("[section [section ...]]")
    assert section[b"flags"] == ("optional", "multiple")


def test_every_argument_has_a_name_and_a_type():
    """redis-cli dereferences both without checking (cliAddArgument)."""

    def walk(args):
        for arg in args:
            assert arg[b"name"] and arg[b"type"]
            walk(arg.get(b"arguments", []))

    for cmd in build_table(KVMachine().commands()).commands:
        walk(syntax_arguments(cmd.syntax))
        for sub in cmd.subcommands.values():
            assert "|" in sub.name  # redis-cli splits subcommand names at '|'
            walk(syntax_arguments(sub.syntax))


def test_unknown_command_text():
    assert unknown_command([b"foo"]) == ReplyError("ERR unknown command 'foo', with args beginning with: ")
    assert unknown_command([b"foo", b"a", b"b"]) == ReplyError(
        "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
    )


def test_the_gate_is_all_that_handlers_may_see():
    """Handlers are typed against commands.entry.ServerView (so they never import the gate):
    the Gate must have every member of it."""
    gate = Gate(FakeNode(), build_table(KVMachine().commands()), machine="kv", clock=time.monotonic)
    members = set(ServerView.__annotations__) | {
        name for name, value in vars(ServerView).items() if callable(value) and not name.startswith("_")
    }
    assert {"node", "table", "sessions", "is_leader"} <= members
    assert {name for name in members if not hasattr(gate, name)} == set()
