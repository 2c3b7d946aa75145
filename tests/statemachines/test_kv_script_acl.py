"""The kv machine's side of ACL inside scripts: AS_USER entries and the ScriptPermissions hook
(statemachines/hooks.py, statemachines/kv/scripting.py). The frontend's side, and Redis' own
answers, are tests/frontends/test_resp_oracle_script_acl.py."""

from __future__ import annotations

from statemachines import AS_USER, BAD_ENCODING, IN_DB, ReplyError, encode_args
from statemachines.hooks import ScriptPermissions, ScriptUsers, set_script_permissions
from statemachines.kv import KVMachine
from statemachines.kv.table import TABLE

DENY_SET = "ERR The user executing the script can't run this command or subcommand"
DENY_KEY = "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"


class Rules:
    """User `u` may not SET, TIME, SELECT, nor touch key `secret`; `default` may do anything."""

    def __init__(self) -> None:
        self.asked: list[bytes] = []  # script_check's users, one per script run
        self.checked: list[list[bytes]] = []  # every redis.call checked

    def script_check(self, user: bytes):
        self.asked.append(user)
        if user == b"default":
            return None

        def check(args: list[bytes]) -> str | None:
            self.checked.append(args)
            if args[0].lower() in (b"set", b"time", b"select"):
                return "command"
            return "key" if b"secret" in args[1:] else None

        return check


def machine() -> tuple[KVMachine, Rules]:
    kv, rules = KVMachine(), Rules()
    set_script_permissions([kv], rules)
    return kv, rules


def apply(kv: KVMachine, *args: bytes):
    return kv.apply(7, encode_args(list(args)), 1000)


def test_the_hook_is_a_typed_protocol():
    kv, rules = machine()
    assert isinstance(kv, ScriptUsers) and isinstance(rules, ScriptPermissions)
    assert kv.script_permissions is rules
    set_script_permissions([kv], None)
    assert kv.script_permissions is None


def test_a_user_is_refused_what_its_rules_forbid_with_redis_lua_errors():
    kv, rules = machine()
    reply = apply(kv, AS_USER, b"u", b"EVAL", b"return redis.call('set','x','1')", b"0")
    assert isinstance(reply, ReplyError) and reply.message.startswith(DENY_SET + " script: ")
    assert apply(kv, AS_USER, b"u", b"eval", b"return redis.pcall('set','x','1')['err']", b"0") == DENY_SET.encode()
    reply = apply(kv, AS_USER, b"u", b"eval", b"return redis.call('get', KEYS[1])", b"1", b"secret")
    assert reply.message.startswith(DENY_KEY)
    assert kv.query(encode_args([b"exists", b"x"]), 1000) == 0  # nothing was written
    assert apply(kv, AS_USER, b"u", b"eval", b"return redis.call('get','x')", b"0") is None  # allowed
    for call in (b"redis.call('time')", b"redis.call('select','1')"):  # answered by the script runner itself
        assert apply(kv, AS_USER, b"u", b"eval", b"return " + call, b"0").message.startswith(DENY_SET)
    assert rules.asked == [b"u"] * 6


def test_default_runs_unchecked_and_unwrapped_means_default():
    kv, rules = machine()
    assert apply(kv, b"eval", b"return redis.call('set','x','1')", b"0") == "OK"
    assert rules.asked == [b"default"] and rules.checked == []


def test_checks_come_after_lookup_arity_and_noscript_before_the_readonly_check():
    kv, rules = machine()
    run = lambda call: apply(kv, AS_USER, b"u", b"eval", b"return redis.pcall(" + call + b")['err']", b"0")  # noqa: E731
    assert run(b"'nosuch'") == b"ERR Unknown Redis command called from script"
    assert run(b"'set','x'") == b"ERR Wrong number of args calling Redis command from script"
    assert run(b"'time','x'") == b"ERR Wrong number of args calling Redis command from script"
    assert run(b"'blpop','x','0'") == b"ERR This Redis command is not allowed from script"
    assert run(b"'eval','return 1','0'") == b"ERR This Redis command is not allowed from script"
    assert rules.checked == []
    # a read-only script: ACL first, as Redis
    reply = kv.query(encode_args([AS_USER, b"u", b"eval_ro", b"return redis.pcall('set','x','1')['err']", b"0"]), 1)
    assert reply == DENY_SET.encode()
    reply = kv.query(encode_args([AS_USER, b"u", b"eval_ro", b"return redis.pcall('del','x')['err']", b"0"]), 1)
    assert reply == b"ERR Write commands are not allowed from read-only scripts."


def test_functions_and_databases_carry_the_user():
    kv, rules = machine()
    library = (
        b"#!lua name=lib\nredis.register_function('f', function(keys, args) return redis.call('set', keys[1], 'v') end)"
    )
    assert apply(kv, b"function", b"load", library) == b"lib"
    assert apply(kv, AS_USER, b"u", IN_DB, b"3", b"fcall", b"f", b"1", b"k").message.startswith(DENY_SET)
    assert apply(kv, IN_DB, b"3", b"fcall", b"f", b"1", b"k") == "OK"
    assert rules.asked == [b"u", b"default"]
    ro = b"#!lua name=ro\nredis.register_function{function_name='g', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}"
    assert apply(kv, b"function", b"load", ro) == b"ro"
    reply = kv.query(encode_args([AS_USER, b"u", b"fcall_ro", b"g", b"1", b"secret"]), 1)
    assert reply.message.startswith(DENY_KEY)
    assert kv.query(encode_args([AS_USER, b"u", b"fcall_ro", b"g", b"1", b"other"]), 1) is None


def test_hostile_as_user_entries_are_refused_without_running_anything():
    kv, rules = machine()
    for bad in (
        [AS_USER],
        [AS_USER, b"u"],
        [AS_USER, b"u", AS_USER, b"v", b"eval", b"return 1", b"0"],  # nested
        [AS_USER, b"u", b"set", b"x", b"1"],  # not a script: nothing a frontend sends
        [AS_USER, b"u", IN_DB],
    ):
        assert apply(kv, *bad) == BAD_ENCODING, bad
        assert kv.query(encode_args(bad), 1) in (
            BAD_ENCODING,
            ReplyError("ERR 'set' is a write: it goes through the log"),
        )
    assert apply(kv, AS_USER, b"u", b"eval").message == "ERR wrong number of arguments for 'eval' command"
    assert apply(kv, AS_USER, b"u", IN_DB, b"99", b"eval", b"return 1", b"0").message == "ERR DB index is out of range"
    assert apply(kv, AS_USER, b"u", b"nosuch").message.startswith("ERR unknown command 'nosuch'")
    assert kv.query(encode_args([AS_USER, b"u", b"eval", b"return 1", b"0"]), 1).message.endswith("through the log")
    assert kv.apply(1, b"\x93\x01\x02\x03", 1) == BAD_ENCODING  # not a list of byte strings
    assert kv.apply(1, encode_args([AS_USER, b"\xff" * 3, b"eval", b"return 1", b"0"]), 1) == 1  # any bytes name
    assert rules.checked == [] and kv.query(encode_args([b"exists", b"x"]), 1) == 0


def test_the_wrapper_is_no_command_a_client_could_name():
    names = {cmd.spec.name.encode() for cmd in TABLE}
    assert AS_USER not in names and AS_USER.lower() not in names


def test_no_hook_no_check_and_the_hook_survives_a_snapshot_restore():
    kv = KVMachine()
    assert apply(kv, AS_USER, b"u", b"eval", b"return redis.call('set','x','1')", b"0") == "OK"
    kv, rules = machine()
    kv.restore(KVMachine().snapshot())
    assert apply(kv, AS_USER, b"u", b"eval", b"return redis.call('set','x','1')", b"0").message.startswith(DENY_SET)
