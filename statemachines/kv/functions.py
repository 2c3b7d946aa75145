"""Redis 7.0 functions: FUNCTION LOAD / LIST / DELETE / FLUSH / DUMP / RESTORE / STATS / KILL / HELP,
FCALL and FCALL_RO (Redis src/functions.c, src/function_lua.c). The library registry is libraries.py;
the Lua runs in lua_sandbox.py's sandbox, with its instruction and memory budgets.

A library is Lua code whose first line is the shebang `#!lua name=<library>`; its top level runs
once per FUNCTION LOAD with only `redis.register_function` (and redis.log) reachable, registering
functions by name, optionally with a description and flags (no-writes, allow-oom, allow-stale,
no-cluster, allow-cross-slot-keys).

Like EVAL, everything is one log entry applied identically on every replica:
- The registry is replicated state (Databases.functions, shared by all the databases, part of the
  snapshot). Every FUNCTION subcommand goes through the log (a container whose subcommands write is
  not in the machine's readonly table; see scripting.py's SCRIPT), so LIST and DUMP answer the
  state at their place in the log.
- FCALL is a write: its apply runs the function on every replica (with `redis.call` into this
  machine's command table, the entry's index seeding math.random, its ts_ms answering TIME). A
  function flagged no-writes reaches readonly commands only, wherever it is called from.
  FCALL_RO is a read, served by `query` from the local state; it refuses a function without
  no-writes, as Redis does.
- Where Redis keeps one Lua state per server, a run here is a FRESH state (lua_sandbox): FCALL
  runs the library's top level again, then the function. So a function sees no upvalue left by
  an earlier call (Redis keeps them in one process, and loses them on restart); everything a
  function computes is a function of the entry and the state, identically on every replica.
- FUNCTION LOAD's top level is metered by the script budget (lua_sandbox.INSTRUCTIONS_MAX), not
  Redis' 500 ms: a library that exhausts it answers Redis' load timeout error,
  "ERR Error registering functions: ERR FUNCTION LOAD timeout", at the same instruction on every
  replica; one over the memory budget, the sandbox's memory error under the same prefix.
- FUNCTION STATS never shows a running script (none runs while a client can look: a run is inside
  one apply) and FUNCTION KILL answers NOTBUSY, like SCRIPT KILL.
- FUNCTION DUMP is Redis' payload (RDB_OPCODE_FUNCTION2 and the library code per library, then the
  RDB version and CRC-64, as rdb.py's DUMP), so a dump of redis-server 7.0 restores here and ours
  there. Libraries are listed, dumped and snapshotted in name order (Redis: hash order).
"""

from __future__ import annotations

from statemachines import REPLY_BYTES_MAX, ReplyError, RespSet, Result, parse_int
from statemachines.glob import compile_glob
from statemachines.kv import lua_sandbox
from statemachines.kv.keyspace import OK, Keyspace
from statemachines.kv.libraries import FLAGS, NO_WRITES, Libraries, Library
from statemachines.kv.rdb import RDB_VERSION, WRONG_FOOTER, footer_is_valid
from statemachines.kv.rdb_codec.crc64 import crc64
from statemachines.kv.rdb_codec.reader import BadData, Reader
from statemachines.kv.rdb_codec.writer import rdb_string
from statemachines.kv.scripting import (
    DEFAULT_USER,
    NEGATIVE_KEYS,
    NOTBUSY,
    TOO_MANY_KEYS,
    _ScriptCalls,
    run_error,
    script_check,
)
from statemachines.kv.stream_commands import help_reply, subcommand_syntax, text
from statemachines.kv.table import command, subcommand
from statemachines.sdssplit import split_args

RDB_OPCODE_FUNCTION2 = 245  # rdb.h: a library as its code (7.0 GA)
RDB_OPCODE_FUNCTION = 246  # rdb.h: 7.0-rc1/rc2's form: name, engine, description, body
ENGINE = b"LUA"

FUNCTION_NOT_FOUND = ReplyError("ERR Function not found")
BAD_NUMKEYS = ReplyError("ERR Bad number of keys provided")
WRITE_FUNCTION_RO = ReplyError("ERR Can not execute a script with write flag using *_ro command.")
BAD_NAME = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"
LOAD_TIMEOUT = "Error registering functions: ERR FUNCTION LOAD timeout"

_FUNCTION_HELP = (
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
)


# --- libraries ------------------------------------------------------------------------------------
def _metadata(code: bytes) -> tuple[bytes, bytes, bytes] | str:
    """functionExtractLibMetaData: (engine, library name, the Lua after the shebang line, starting
    with its newline so line numbers count from the shebang) or the error."""
    if code[:2] != b"#!":
        return "Missing library metadata"
    end = code.find(b"\n")
    nul = code.find(b"\0")
    if end < 0 or 0 <= nul < end:  # C's strchr stops at the first NUL
        return "Invalid library metadata"
    parts = split_args(code[:end])
    if not parts:
        return "Invalid library metadata"
    name = None
    for part in parts[1:]:
        if part[:5].lower() == b"name=":
            if name is not None:
                return "Invalid metadata value, name argument was given multiple times"
            name = part[5:]
            continue
        return f"Invalid metadata value given: {text(part)}"
    if name is None:
        return "Library name was not given"
    return parts[0][2:], name, code[end:]


def _valid_name(name: bytes) -> bool:
    """functionsVerifyName: [a-zA-Z0-9_]+"""
    return bool(name) and name.isascii() and name.replace(b"_", b"a").isalnum()


def create(libraries: Libraries, code: bytes, replace: bool, seed: int, budget: list[int] | None = None) -> bytes | str:
    """functionsCreateWithLibraryCtx: load `code` into `libraries`; its library name, or the error
    (without its ERR code). On error `libraries` is as it was. `budget`: [instructions left] shared
    by several loads (FUNCTION RESTORE's libraries), reduced by what this one spends."""
    meta = _metadata(code)
    if type(meta) is str:
        return meta
    engine, name, body = meta
    if not _valid_name(name):
        return BAD_NAME
    if engine.lower() != b"lua":
        return f"Engine '{text(engine)}' not found"
    old = libraries.libraries.get(name)
    if old is not None and not replace:
        return f"Library '{text(name)}' already exists"
    if budget is None:
        status, value = lua_sandbox.load_library(body, seed)
    else:
        status, value = lua_sandbox.load_library(body, seed, budget[0])
    if status == "compile":
        return f"Error compiling function: {value}"
    if status == "timeout":
        return LOAD_TIMEOUT
    if status == "load":
        return f"Error registering functions: {value}"
    registered, spent = value
    if budget is not None:
        budget[0] -= spent
    if not registered:
        return "No functions registered"
    library = Library(name, code, registered)
    if old is not None:
        libraries.unlink(old)
    clash = libraries.clashing(library)
    if clash is not None:
        if old is not None:
            libraries.link(old)
        return f"Function {text(clash.name)} already exists"
    libraries.link(library)
    return name


def lua_body(library: Library) -> bytes:
    return library.code[library.code.find(b"\n") :]


# --- FCALL / FCALL_RO -----------------------------------------------------------------------------
def _fcall(ks: Keyspace, args: list[bytes], ms: int, readonly_command: bool, user: bytes) -> Result:
    """fcallCommandGeneric: the function first (so an unknown one is "Function not found" whatever
    follows), then numkeys, then the flags against the command."""
    fn = ks.databases.functions.function(args[1])
    if fn is None:
        return FUNCTION_NOT_FOUND
    numkeys = parse_int(args[2])
    if numkeys is None:
        return BAD_NUMKEYS
    if numkeys > len(args) - 3:
        return TOO_MANY_KEYS
    if numkeys < 0:
        return NEGATIVE_KEYS
    no_writes = bool(fn.flags & NO_WRITES)
    if readonly_command and not no_writes:
        return WRITE_FUNCTION_RO
    keys, argv = args[3 : 3 + numkeys], args[3 + numkeys :]
    calls = _ScriptCalls(ks, ms, readonly_command or no_writes, script_check(ks, user))
    status, value = lua_sandbox.run_function(lua_body(fn.library), fn.name, keys, argv, calls, seed=ks.index)
    if status == "ok":
        return value
    if status == "compile":  # it compiled at FUNCTION LOAD: only a changed sandbox gets here
        return ReplyError(f"ERR Error compiling function: {value}")
    return run_error(value, fn.name)


@command(
    "fcall",
    -3,
    "write noscript stale skip_monitor no_mandatory_keys movablekeys",
    (0, 0, 0),
    group="scripting",
    syntax="function numkeys [key [key ...]] [arg [arg ...]]",
    summary="Invoke a function (one log entry, applied identically on every replica)",
)
def cmd_fcall(ks: Keyspace, args: list[bytes], ts: int, user: bytes = DEFAULT_USER) -> Result:
    return _fcall(ks, args, ts, False, user)


@command(
    "fcall_ro",
    -3,
    "readonly noscript stale skip_monitor no_mandatory_keys movablekeys",
    (0, 0, 0),
    group="scripting",
    syntax="function numkeys [key [key ...]] [arg [arg ...]]",
    summary="Invoke a read-only function (a read: served by the local node)",
)
def cmd_fcall_ro(ks: Keyspace, args: list[bytes], now: int, user: bytes = DEFAULT_USER) -> Result:
    return _fcall(ks, args, now, True, user)


# --- FUNCTION -------------------------------------------------------------------------------------
def _load(libraries: Libraries, args: list[bytes], seed: int) -> Result:
    replace = False
    pos = 2
    while pos < len(args) - 1:
        option = args[pos]
        pos += 1
        if option.lower() == b"replace":
            replace = True
            continue
        return ReplyError(f"ERR Unknown option given: {text(option)}")
    loaded = create(libraries, args[pos], replace, seed)
    return ReplyError(f"ERR {loaded}") if type(loaded) is str else loaded


def _list(libraries: Libraries, args: list[bytes]) -> Result:
    with_code = False
    pattern = None
    i, n = 2, len(args)
    while i < n:
        arg = args[i].lower()
        if not with_code and arg == b"withcode":
            with_code = True
        elif pattern is None and arg == b"libraryname":
            if i >= n - 1:
                return ReplyError("ERR library name argument was not given")
            i += 1
            pattern = args[i]
        else:
            return ReplyError(f"ERR Unknown argument {text(args[i])}")
        i += 1
    matches = compile_glob(pattern, nocase=True) if pattern is not None else None
    chosen = [lib for lib in libraries.in_order() if matches is None or matches(lib.name)]
    if sum(_listed_bytes(lib, with_code) for lib in chosen) > REPLY_BYTES_MAX:
        return _too_large("LIST")
    out = []
    for lib in chosen:
        entry = {
            b"library_name": lib.name,
            b"engine": ENGINE,
            b"functions": [
                {
                    b"name": fn.name,
                    b"description": fn.description,
                    b"flags": [flag for flag, bit in FLAGS if fn.flags & bit],
                }
                for fn in lib.functions
            ],
        }
        if with_code:
            entry[b"library_code"] = lib.code
        out.append(entry)
    return out


def _listed_bytes(library: Library, with_code: bool) -> int:
    """About the bytes FUNCTION LIST sends for a library (its field names and framing included)."""
    functions = sum(len(fn.name) + len(fn.description or b"") + 96 for fn in library.functions)
    return len(library.name) + 96 + functions + (len(library.code) + 32 if with_code else 0)


def _reply_list(args: list[bytes], result: Result, resp: int) -> Result:
    """Each function's flags are a set (RESP3 `~`) of status strings."""
    if type(result) is not list:
        return result
    for library in result:
        for fn in library[b"functions"]:
            fn[b"flags"] = RespSet(fn[b"flags"])
    return result


def _too_large(subcommand: str) -> ReplyError:
    return ReplyError(f"ERR FUNCTION {subcommand} reply would exceed the reply limit of {REPLY_BYTES_MAX} bytes")


def dump_libraries(libraries: Libraries) -> bytes:
    """FUNCTION DUMP's payload (functionDumpCommand, rdbSaveFunctions)."""
    head = b"".join(bytes((RDB_OPCODE_FUNCTION2,)) + rdb_string(lib.code) for lib in libraries.in_order())
    head += RDB_VERSION.to_bytes(2, "little")
    return head + crc64(head).to_bytes(8, "little")


def _restored(payload: bytes, seed: int) -> Libraries | str:
    """functionRestoreCommand's read of a payload (its footer already checked) into new libraries.
    All its libraries load on one script budget: a payload of many slow libraries stops as one slow
    library does (Redis gives each 500 ms)."""
    libraries = Libraries()
    budget = [lua_sandbox.INSTRUCTIONS_MAX]
    reader = Reader(payload)
    while len(payload) - reader.pos > 10:
        try:
            kind = reader.u8()
        except BadData:
            return "can not read data type"
        if kind != RDB_OPCODE_FUNCTION and kind != RDB_OPCODE_FUNCTION2:
            return "given type is not a function"
        code = _library_code(reader, kind)
        if type(code) is str:
            return code
        loaded = create(libraries, code, False, seed, budget)
        if type(loaded) is str:
            return loaded
    return libraries


def _library_code(reader: Reader, kind: int) -> bytes | str:
    """rdbFunctionLoad's read of one library: its code, or the error."""
    if kind == RDB_OPCODE_FUNCTION2:
        try:
            return reader.string()
        except BadData:
            return "Failed loading library payload"
    fields = (
        ("name", "Failed loading library name"),
        ("engine", "Failed loading engine name"),
        ("has_desc", "Failed loading library description indicator"),
        ("desc", "Failed loading library description"),
        ("blob", "Failed loading library blob"),
    )
    values: dict[str, bytes | int] = {}
    for field, error in fields:
        try:
            if field == "has_desc":
                values[field] = reader.length()
            elif field != "desc" or values["has_desc"]:
                values[field] = reader.string()
        except BadData:
            return error
    return b"#!%s name=%s\n%s" % (values["engine"], values["name"], values["blob"])


_RESTORE_POLICIES = (b"append", b"replace", b"flush")


def _restore(databases_libraries: Libraries, args: list[bytes], seed: int) -> tuple[Result, Libraries | None]:
    """(reply, the registry to keep: None for the same one) of FUNCTION RESTORE."""
    if len(args) > 4:
        return subcommand_syntax(args), None
    policy = args[3].lower() if len(args) == 4 else b"append"
    if policy not in _RESTORE_POLICIES:
        return ReplyError("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."), None
    if not footer_is_valid(args[2]):
        return WRONG_FOOTER, None
    restored = _restored(args[2], seed)
    if type(restored) is str:
        return ReplyError(f"ERR {restored}"), None
    if policy == b"flush":
        return OK, restored
    joined = _join(databases_libraries, restored, replace=policy == b"replace")
    return (OK, None) if joined is None else (ReplyError(f"ERR {joined}"), None)


def _join(into: Libraries, new: Libraries, replace: bool) -> str | None:
    """libraryJoin: add every library of `new` to `into`, or none (the error)."""
    replaced = []
    for lib in new.in_order():
        old = into.libraries.get(lib.name)
        if old is not None:
            if not replace:
                for back in replaced:
                    into.link(back)
                return f"Library {text(lib.name)} already exists"
            into.unlink(old)
            replaced.append(old)
    for lib in new.in_order():
        clash = into.clashing(lib)
        if clash is not None:
            for back in replaced:
                into.link(back)
            return f"Function {text(clash.name)} already exists"
    for lib in new.in_order():
        into.link(lib)
    return None


def _stats(libraries: Libraries) -> Result:
    return {
        b"running_script": None,
        b"engines": {ENGINE: {b"libraries_count": len(libraries), b"functions_count": libraries.function_count()}},
    }


_FUNCTION_SUBCOMMANDS = (
    subcommand(
        "function|load",
        -3,
        "write denyoom noscript",
        (0, 0, 0),
        group="scripting",
        syntax="[REPLACE] function-code",
        summary="Create a library and its functions (REPLACE: in place of the one of that name)",
    ),
    subcommand(
        "function|delete",
        3,
        "write noscript",
        (0, 0, 0),
        group="scripting",
        syntax="library-name",
        summary="Delete a library and all its functions",
    ),
    subcommand(
        "function|list",
        -2,
        "write noscript",
        (0, 0, 0),
        group="scripting",
        syntax="[LIBRARYNAME library-name-pattern] [WITHCODE]",
        summary="List the libraries, their functions and flags, optionally their code",
        reply=_reply_list,
    ),
    subcommand(
        "function|flush",
        -2,
        "write noscript",
        (0, 0, 0),
        group="scripting",
        syntax="[ASYNC | SYNC]",
        summary="Delete all the libraries",
    ),
    subcommand(
        "function|dump",
        2,
        "write noscript",
        (0, 0, 0),
        group="scripting",
        summary="Serialize all the libraries (the payload redis-server 7.0 makes and reads)",
    ),
    subcommand(
        "function|restore",
        -3,
        "write denyoom noscript",
        (0, 0, 0),
        group="scripting",
        syntax="serialized-value [FLUSH | APPEND | REPLACE]",
        summary="Restore the libraries of a FUNCTION DUMP payload (ours or redis-server's)",
    ),
    subcommand(
        "function|stats",
        2,
        "write noscript allow_busy",
        (0, 0, 0),
        group="scripting",
        summary="Return information about the function currently running (never one here)",
    ),
    subcommand(
        "function|kill",
        2,
        "write noscript allow_busy",
        (0, 0, 0),
        group="scripting",
        summary="Kill the function currently in execution (never one here: a function runs inside one apply)",
    ),
    subcommand(
        "function|help",
        2,
        "write loading stale",
        (0, 0, 0),
        group="scripting",
        summary="Show helpful text about the different subcommands",
    ),
)
_FUNCTION_ARITIES = {spec.name.split("|")[1].encode(): spec.arity for spec in _FUNCTION_SUBCOMMANDS}


@command(
    "function",
    -2,
    "",  # a container: each subcommand says how it is routed (all write: see the module docstring)
    (0, 0, 0),
    group="scripting",
    summary="A container for Lua function library commands",
    subcommands=_FUNCTION_SUBCOMMANDS,
)
def cmd_function(ks: Keyspace, args: list[bytes], ts: int) -> Result:
    sub = args[1].lower()
    arity = _FUNCTION_ARITIES.get(sub)
    n = len(args)
    if arity is None or (n != arity and (arity > 0 or n < -arity)):
        return subcommand_syntax(args)
    databases = ks.databases
    libraries = databases.functions
    if sub == b"load":
        return _load(libraries, args, ks.index)
    if sub == b"list":
        return _list(libraries, args)
    if sub == b"delete":
        library = libraries.libraries.get(args[2])
        if library is None:
            return ReplyError("ERR Library not found")
        libraries.unlink(library)
        return OK
    if sub == b"flush":
        if n > 3:
            return subcommand_syntax(args)
        if n == 3 and args[2].lower() not in (b"sync", b"async"):
            return ReplyError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
        libraries.clear()
        return OK
    if sub == b"dump":
        if sum(len(lib.code) for lib in libraries.libraries.values()) > REPLY_BYTES_MAX:
            return _too_large("DUMP")
        return dump_libraries(libraries)
    if sub == b"restore":
        reply, replacement = _restore(libraries, args, ks.index)
        if replacement is not None:
            databases.functions = replacement
        return reply
    if sub == b"stats":
        return _stats(libraries)
    if sub == b"kill":
        return NOTBUSY
    return help_reply(args, _FUNCTION_HELP)
