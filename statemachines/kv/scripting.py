"""Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (lua_sandbox.py runs the Lua).

A script is one log entry: EVAL is a write whose apply runs the script on every replica against the
keyspace of the caller's database, with `redis.call` dispatching straight into this machine's
command table. Everything the script sees is a function of the entry (KEYS, ARGV, the entry's
index and ts_ms) and the state, so every replica computes the same writes and the same reply:
math.random is Redis' rand48 seeded by the entry's index, `redis.call('TIME')` answers the entry's
ts_ms, and a runaway script stops at the same instruction everywhere (lua_sandbox: instruction and
memory budgets; what it wrote before the stop stays written, as in Redis, identically on every
replica).

EVAL_RO and EVALSHA_RO are reads: served from the local state by `query` (a follower answers them
under the connection's read level), their redis.call reaching readonly commands only ("ERR Write
commands are not allowed from read-only scripts."). Being reads, they do not add their script to
the cache (EVAL does, as in Redis).

The script cache (sha1 hex -> body) is replicated state: `Databases.scripts`, shared by all the
databases, filled by EVAL and SCRIPT LOAD, emptied by SCRIPT FLUSH (all writes through the log),
and part of the snapshot (snapshot.py). SCRIPT EXISTS, HELP and KILL go through the log as well:
a container command whose subcommands write is not in the machine's readonly table, so all of
SCRIPT is applied (a readonly subcommand only reads there). SCRIPT KILL always answers NOTBUSY:
a script runs inside one apply, so no client ever observes one running. SCRIPT DEBUG is not offered (HELP
lists it as Redis' does; calling it is an unknown subcommand).

ACL: each redis.call / redis.pcall is checked against the ACL rules of the user running the script
(Redis' scriptVerifyACL, after the command's lookup, arity and noscript checks, before the read-only
script's write check): the user is `default` unless the entry says otherwise (statemachines.AS_USER),
and the check is the node's hooks.ScriptPermissions, asked at apply. The check must be made here, not
by the frontend before proposing: what a script calls is only known as it runs. It is deterministic
because the permission hook answers from the replicated ACL users as of this entry (see hooks.py).
A refusal is Redis' Lua error ("ERR The user executing the script can't ..."): redis.call raises it,
redis.pcall returns it as an error table. Without a hook (the simulator, the machine's own tests)
nothing is checked.

Inside a script, SELECT switches the database of the script's later calls only (Redis 7.0);
commands that are not the machine's (CLIENT, CONFIG, PUBLISH...) are "Unknown Redis command
called from script", and scripting commands "This Redis command is not allowed from script".
"""

from __future__ import annotations

import hashlib
from typing import Any

from statemachines import ReplyError, Result, parse_int
from statemachines.hooks import ScriptCheck
from statemachines.kv import lua_sandbox
from statemachines.kv.keyspace import Keyspace
from statemachines.kv.stream_commands import help_reply, subcommand_syntax
from statemachines.kv.table import TABLE, command, subcommand

NOSCRIPT = ReplyError("NOSCRIPT No matching script. Please use EVAL.")
NOT_AN_INTEGER = ReplyError("ERR value is not an integer or out of range")
TOO_MANY_KEYS = ReplyError("ERR Number of keys can't be greater than number of args")
NEGATIVE_KEYS = ReplyError("ERR Number of keys can't be negative")
NOTBUSY = ReplyError("NOTBUSY No scripts in execution right now.")

DEFAULT_USER = b"default"  # who runs a script the machine receives unwrapped (statemachines.AS_USER)

NOT_FROM_SCRIPT = {b"eval", b"evalsha", b"eval_ro", b"evalsha_ro", b"script", b"fcall", b"fcall_ro", b"function"}

_SCRIPT_HELP = (
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
)


def sha1hex(body: bytes) -> bytes:
    return hashlib.sha1(body).hexdigest().encode()


def _commands() -> dict[bytes, tuple]:
    """Lower-case name -> (handler, arity, spec): what redis.call may reach."""
    return {cmd.spec.name.encode(): (cmd.handler, cmd.spec.arity, cmd.spec) for cmd in TABLE}


_TABLE: dict[bytes, tuple] | None = None  # built on first use: every type module has registered by then


def _numkeys(args: list[bytes]) -> int | ReplyError:
    numkeys = parse_int(args[2])
    if numkeys is None:
        return NOT_AN_INTEGER
    if numkeys > len(args) - 3:
        return TOO_MANY_KEYS
    if numkeys < 0:
        return NEGATIVE_KEYS
    return numkeys


def _check_eval(args: list[bytes]) -> ReplyError | None:
    numkeys = _numkeys(args)
    return numkeys if type(numkeys) is ReplyError else None


# Redis' script.c scriptVerifyACL: "The user executing the script " + getAclErrorMessage(reason)
ACL_DENIED = {
    "command": "ERR The user executing the script can't run this command or subcommand",
    "key": "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
    "channel": "ERR The user executing the script can't publish to the channel mentioned in the command",
}
ACL_DENIED_OTHER = "ERR The user executing the script lacking the permissions for the command"
WRONG_ARGS = "ERR Wrong number of args calling Redis command from script"
_ANSWERED_HERE = frozenset({b"select", b"ping", b"echo", b"time"})


def script_check(ks: Keyspace, user: bytes) -> ScriptCheck | None:
    """The ACL check of `user`'s redis.calls (hooks.ScriptPermissions, asked once per run: the
    users cannot change while one entry applies), or None: no permission hook on this node, or a
    user who may run anything."""
    permissions = ks.databases.script_permissions
    return None if permissions is None else permissions.script_check(user)


class _ScriptCalls:
    """redis.call's side of one run: the database the script is in, the clock and index of its entry,
    whether it may write, and the ACL check of the user running it (None: none)."""

    __slots__ = ("ks", "ms", "readonly", "check")

    def __init__(self, ks: Keyspace, ms: int, readonly: bool, check: ScriptCheck | None = None) -> None:
        self.ks, self.ms, self.readonly, self.check = ks, ms, readonly, check

    def _denied(self, args: list[bytes]) -> tuple[bool, Any] | None:
        """Redis' scriptVerifyACL: after the command's lookup, arity and noscript checks, before
        the read-only script's write check (script.c scriptCall's order)."""
        reason = self.check(args)
        return None if reason is None else (False, ACL_DENIED.get(reason, ACL_DENIED_OTHER))

    def __call__(self, resp: int, args: list[bytes]) -> tuple[bool, Any]:
        global _TABLE
        if _TABLE is None:
            _TABLE = _commands()
        name = args[0].lower()
        if name in NOT_FROM_SCRIPT:
            return False, "ERR This Redis command is not allowed from script"
        check = self.check
        if name in _ANSWERED_HERE:  # connection commands and TIME: the frontend's, answered here
            n = len(args)
            if n != 2 if name == b"select" or name == b"echo" else n > (2 if name == b"ping" else 1):
                return False, WRONG_ARGS
            denied = None if check is None else self._denied(args)
            if denied is not None:
                return denied
            if name == b"select":
                return self._select(args)
            if name == b"time":
                return True, [b"%d" % (self.ms // 1000), b"%d" % (self.ms % 1000 * 1000)]
            return True, args[1] if n == 2 else "PONG"
        entry = _TABLE.get(name)
        if entry is None:
            return False, "ERR Unknown Redis command called from script"
        handler, arity, spec = entry
        n = len(args)
        if n != arity and (arity > 0 or n < -arity):
            return False, WRONG_ARGS
        if "noscript" in spec.flags:  # BLPOP, BLMOVE...: Redis refuses them in scripts
            return False, "ERR This Redis command is not allowed from script"
        if check is not None:
            denied = self._denied(args)
            if denied is not None:
                return denied
        if spec.is_write and self.readonly:
            return False, "ERR Write commands are not allowed from read-only scripts."
        ks = self.ks
        if not self.readonly and ks.has_due(self.ms):
            ks.expire_due(self.ms)
        result = handler(ks, args, self.ms)
        if spec.reply is not None:
            result = spec.reply(args, result, resp)
        if type(result) is ReplyError:
            return False, result.message
        return True, result

    def _select(self, args: list[bytes]) -> tuple[bool, Any]:
        target = self.ks.databases.lookup(args[1])
        if type(target) is ReplyError:
            return False, target.message
        target.index = self.ks.index
        self.ks = target
        return True, "OK"


_NOT_COMPILED = ReplyError("ERR Error compiling script")  # _run's answer for a body that does not compile


def _run(ks: Keyspace, body: bytes, sha: bytes, args: list[bytes], ms: int, readonly: bool, user: bytes) -> Result:
    numkeys = _numkeys(args)
    if type(numkeys) is ReplyError:
        return numkeys
    keys, argv = args[3 : 3 + numkeys], args[3 + numkeys :]
    calls = _ScriptCalls(ks, ms, readonly, script_check(ks, user))
    status, value = lua_sandbox.run(body, keys, argv, calls, seed=ks.index)
    if status == "ok":
        return value
    if status == "compile":
        return _NOT_COMPILED
    return run_error(value, sha)


def run_error(value: dict, name: bytes) -> ReplyError:
    """A failed run's reply (luaCallFunction): the error, and where in the script or function
    `name` (EVAL's sha, FCALL's function) it was raised."""
    message = (value[b"err"] or b"ERR execution failure").decode("utf-8", "replace")
    source, line = value[b"source"], value[b"line"]
    if source is not None and line is not None:
        message += f" script: {name.decode('utf-8', 'replace')}, on {source.decode('utf-8', 'replace')}:{int(line)}."
    return ReplyError(message)


def _cached(ks: Keyspace, raw_sha: bytes) -> tuple[bytes, bytes] | ReplyError:
    sha = raw_sha.lower()
    body = ks.databases.scripts.get(sha) if len(sha) == 40 else None
    return NOSCRIPT if body is None else (sha, body)


@command(
    "eval",
    -3,
    "write noscript stale skip_monitor no_mandatory_keys movablekeys",
    (0, 0, 0),
    group="scripting",
    syntax="script numkeys [key [key ...]] [arg [arg ...]]",
    summary="Execute a Lua script server side (one log entry, applied identically on every replica)",
    check=_check_eval,
)
def cmd_eval(ks: Keyspace, args: list[bytes], ts: int, user: bytes = DEFAULT_USER) -> Result:
    body = args[1]
    sha = sha1hex(body)
    result = _run(ks, body, sha, args, ts, False, user)
    if result is not _NOT_COMPILED:
        ks.databases.scripts[sha] = body  # cached once it compiles, as Redis does
        return result
    return ReplyError(f"ERR Error compiling script (new function): {lua_sandbox.compile_error(body)}")


@command(
    "evalsha",
    -3,
    "write noscript stale skip_monitor no_mandatory_keys movablekeys",
    (0, 0, 0),
    group="scripting",
    syntax="sha1 numkeys [key [key ...]] [arg [arg ...]]",
    summary="Execute a Lua script server side, by the SHA1 digest of a cached script",
    check=_check_eval,
)
def cmd_evalsha(ks: Keyspace, args: list[bytes], ts: int, user: bytes = DEFAULT_USER) -> Result:
    return _evalsha(ks, args, ts, False, user)


def _evalsha(ks: Keyspace, args: list[bytes], ms: int, readonly: bool, user: bytes) -> Result:
    """EVALSHA and EVALSHA_RO: the cached script of that digest (NOSCRIPT if none), run."""
    numkeys = _numkeys(args)
    if type(numkeys) is ReplyError:
        return numkeys
    found = _cached(ks, args[1])
    if type(found) is ReplyError:
        return found
    sha, body = found
    return _run(ks, body, sha, args, ms, readonly, user)


@command(
    "eval_ro",
    -3,
    "readonly noscript stale skip_monitor no_mandatory_keys movablekeys",
    (0, 0, 0),
    group="scripting",
    syntax="script numkeys [key [key ...]] [arg [arg ...]]",
    summary="Execute a read-only Lua script server side (a read: served by the local node)",
    check=_check_eval,
)
def cmd_eval_ro(ks: Keyspace, args: list[bytes], now: int, user: bytes = DEFAULT_USER) -> Result:
    result = _run(ks, args[1], sha1hex(args[1]), args, now, True, user)
    if result is _NOT_COMPILED:
        return ReplyError(f"ERR Error compiling script (new function): {lua_sandbox.compile_error(args[1])}")
    return result


@command(
    "evalsha_ro",
    -3,
    "readonly noscript stale skip_monitor no_mandatory_keys movablekeys",
    (0, 0, 0),
    group="scripting",
    syntax="sha1 numkeys [key [key ...]] [arg [arg ...]]",
    summary="Execute a read-only Lua script server side, by the SHA1 digest of a cached script",
    check=_check_eval,
)
def cmd_evalsha_ro(ks: Keyspace, args: list[bytes], now: int, user: bytes = DEFAULT_USER) -> Result:
    return _evalsha(ks, args, now, True, user)


def _check_script(args: list[bytes]) -> ReplyError | None:
    sub = args[1].lower()
    if sub == b"flush" and not (len(args) == 2 or (len(args) == 3 and args[2].lower() in (b"sync", b"async"))):
        return ReplyError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    return None


_SCRIPT_SUBCOMMANDS = (
    subcommand(
        "script|load",
        3,
        "write noscript stale",
        (0, 0, 0),
        group="scripting",
        syntax="script",
        summary="Load the specified Lua script into the script cache",
    ),
    subcommand(
        "script|exists",
        -3,
        "write noscript",
        (0, 0, 0),
        group="scripting",
        syntax="sha1 [sha1 ...]",
        summary="Check existence of scripts in the script cache",
    ),
    subcommand(
        "script|flush",
        -2,
        "write noscript",
        (0, 0, 0),
        group="scripting",
        syntax="[ASYNC | SYNC]",
        summary="Remove all the scripts from the script cache",
        check=_check_script,
    ),
    subcommand(
        "script|kill",
        2,
        "write noscript allow_busy",
        (0, 0, 0),
        group="scripting",
        summary="Kill the script currently in execution (never one here: a script runs inside one apply)",
    ),
    subcommand(
        "script|help",
        2,
        "write loading stale",
        (0, 0, 0),
        group="scripting",
        summary="Show helpful text about the different subcommands",
    ),
)
_SCRIPT_ARITIES = {spec.name.split("|")[1].encode(): spec.arity for spec in _SCRIPT_SUBCOMMANDS}


@command(
    "script",
    -2,
    "",  # a container: each subcommand says how it is routed (all write: see the module docstring)
    (0, 0, 0),
    group="scripting",
    summary="A container for Lua scripts management commands",
    check=_check_script,
    subcommands=_SCRIPT_SUBCOMMANDS,
)
def cmd_script(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    sub = args[1].lower()
    arity = _SCRIPT_ARITIES.get(sub)
    n = len(args)
    if arity is None or (n != arity and (arity > 0 or n < -arity)):
        return subcommand_syntax(args)
    scripts = ks.databases.scripts
    if sub == b"load":
        body = args[2]
        compile_error = lua_sandbox.compile_error(body)
        if compile_error is not None:
            return ReplyError(f"ERR Error compiling script (new function): {compile_error}")
        sha = sha1hex(body)
        scripts[sha] = body
        return sha
    if sub == b"exists":
        return [1 if sha.lower() in scripts else 0 for sha in args[2:]]
    if sub == b"flush":
        error = _check_script(args)
        if error is not None:
            return error
        scripts.clear()
        return "OK"
    if sub == b"kill":
        return NOTBUSY
    return help_reply(args, _SCRIPT_HELP)
