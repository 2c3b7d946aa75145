"""One sandboxed, deterministic Lua run of a Redis script (EVAL's engine; scripting.py owns the commands).

Runtime: lupa's `lupa.lua51` (lupa >= 2.0 bundles Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT). Redis embeds Lua
5.1, so 5.1 gives the same language: integers are doubles, `unpack` and `loadstring` are globals,
`setfenv` exists, error positions read "user_script:1:". LuaJIT is 5.1 too but its JIT-compiled loops
never call a count hook, so it could not stop a runaway script at the same instruction on every replica.

Every run gets a FRESH Lua state (about 0.1 ms): no script can leave anything behind for the next, and
the state at every instruction is a function of (script, KEYS, ARGV, entry index, ts_ms, keyspace) only,
so each replica runs the same instructions, allocates the same bytes and stops at the same point.

Limits, both deterministic (the same on every replica, never a clock):
- INSTRUCTIONS_MAX Lua VM instructions, counted by a debug count hook installed before the sandbox
  takes `debug` away. Past it the hook raises "ERR script exceeded its instruction budget ..." and
  re-raises at every later instruction, so a script's own pcall cannot swallow it. Commands the
  script already ran stay applied (as in Redis, which never rolls back a script); every replica
  stopped at the same instruction, so replicas stay equal.
  Work outside the Lua VM is charged to the same budget: each redis.call CALL_COST instructions plus
  one per byte of its arguments, string.rep one per byte it makes.
- MEMORY_MAX bytes of Lua heap (lupa's max_memory): "ERR script exceeded its memory limit ...".
Coroutines are not offered: a Lua 5.1 hook belongs to one thread, so a coroutine would run unmetered.

Sandbox as Redis 7.0: the script's globals are a read-only proxy ("Attempt to modify a readonly
table"; reading an unknown name is "Script attempted to access nonexistent global variable 'x'");
no os, io, require, load*, dofile, debug, coroutine, print. Libraries: string, table, math (random
and randomseed are Redis' rand48, seeded by the entry index), redis, bit (LuaBitOp's 32-bit
semantics, Python-backed), cjson (encode in Lua as lua-cjson does; decode by Python's json, so
its error texts differ from lua-cjson's), cmsgpack and struct (lua_binary.py: Python, their work
charged to the budget, their errors lua-cmsgpack's and lua_struct's).

Functions (functions.py) run here too: `load_library` runs a library's top level with Redis' load
API (only redis.register_function and redis.log), `run_function` loads it again in a fresh state
and calls one of its functions, both under the same budgets as a script.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

from lupa import lua51

from statemachines import NULL_ARRAY, ReplyError, RespDouble, RespSet
from statemachines.kv import lua_binary

INSTRUCTIONS_MAX = 50_000_000  # about a second of plain Lua
HOOK_EVERY = 10_000  # instructions between two hook calls: the budget is counted in these steps
MEMORY_MAX = 64 << 20
CALL_COST = 1_000  # instructions one redis.call is charged (its Python work is not counted by the hook)
DEPTH_MAX = 200  # nesting of a returned table (Redis: the Lua C stack) and of a reply given to Lua

BUDGET_ERROR = f"ERR script exceeded its instruction budget of {INSTRUCTIONS_MAX} instructions"
MEMORY_ERROR = f"ERR script exceeded its memory limit of {MEMORY_MAX} bytes"
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

# The Lua side: called once per run with the Python callbacks; returns run(body, keys, argv).
_PRELUDE = r"""
local py_redis_call, py_redis_pcall, py_error, py_setresp, py_sha1, py_random, py_seed, py_bit,
      budget_steps, every, budget_error, memory_max, py_spent, py_cjson_encode, py_cjson_decode = ...
local debug, setfenv, loadstring, xpcall, error, type, tostring, rawget, select =
      debug, setfenv, loadstring, xpcall, error, type, tostring, rawget, select
local getinfo = debug.getinfo

-- the instruction budget (before the sandbox removes debug)
local steps = 0
local exceeded = false
local user_chunk = "@user_script"  -- the chunk name of the user's code: "@user_function" for a library
local function over()
  exceeded = true
  debug.sethook(over, "", 1)  -- from now on every instruction of the script fails: its pcall cannot swallow the stop
  local info = getinfo(2, "S")
  if info and info.source == user_chunk then error({err = budget_error}, 2) end
end
local function count()
  steps = steps + 1
  if steps + py_spent() > budget_steps then over() end
end

-- The script's frame an error belongs to: the first one up the stack that is neither C nor ours
-- (Redis' handler skips one C frame: the error raised in its C library is ours here).
local function where()
  local level = 2
  while true do
    local info = getinfo(level, "Sl")
    if info == nil then return nil end
    if info.what ~= "C" and info.what ~= "tail" and info.source ~= "=sandbox" then return info end
    level = level + 1
  end
end

local function caller_error(message)
  local info = where()
  local err = {err = message}
  if info then err.source = info.source; err.line = info.currentline end
  return err
end

-- redis.call and redis.pcall are Python callables: to Lua a C function, so `return redis.call(...)`
-- keeps the script's frame (a Lua wrapper would be tail-called away) and where() finds its line.
-- An error they raise reaches Lua as a userdata (the Python exception): py_error turns it into
-- Redis' {err = "..."} table, in the handler below and in the sandbox's pcall.
local function as_table(err)
  if type(err) == "userdata" then
    local message, plain = py_error(err)
    if plain then return message end  -- a C library's error (lua_binary): the string it raises
    if message then return {err = message} end
  end
  return err
end
local redis = {
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REPL_NONE = 0, REPL_SLAVE = 1, REPL_REPLICA = 1, REPL_AOF = 2, REPL_ALL = 3,
  -- the Redis whose behaviour we follow, as HELLO and INFO report it (frontends' REDIS_VERSION)
  REDIS_VERSION = "7.0.0", REDIS_VERSION_NUM = 458752,  -- 0x070000
}
redis.call = py_redis_call
redis.pcall = py_redis_pcall
function redis.error_reply(msg)
  if type(msg) ~= "string" then error(caller_error("ERR wrong number or type of arguments"), 0) end
  if msg:sub(1, 1) == "-" then msg = msg:sub(2) end
  return {err = msg}
end
function redis.status_reply(msg)
  if type(msg) ~= "string" then error(caller_error("ERR wrong number or type of arguments"), 0) end
  return {ok = msg}
end
function redis.sha1hex(s)
  if select("#", s) == 0 or (type(s) ~= "string" and type(s) ~= "number") then
    error(caller_error("ERR wrong number of arguments"), 0)
  end
  return py_sha1(tostring(s))
end
function redis.log(level, ...)
  if type(level) ~= "number" or select("#", ...) == 0 then
    error(caller_error("ERR redis.log() requires two arguments or more."), 0)
  end
end
function redis.setresp(v)
  if v ~= 2 and v ~= 3 then error(caller_error("ERR RESP version must be 2 or 3."), 0) end
  py_setresp(v)
end
function redis.set_repl(v) end
function redis.replicate_commands() return true end
function redis.breakpoint() return false end
function redis.debug() end

-- string.rep loops in C (uncounted by the hook) once per copy before the memory cap bites: refuse
-- a result over the cap up front (the real string table: ("x"):rep(n) reaches it through strings).
local rep, memory_max = string.rep, memory_max
string.rep = function(s, n)
  if type(n) == "number" and (type(s) == "string" or type(s) == "number") and #tostring(s) * n > memory_max then
    error("not enough memory", 2)
  end
  -- and charge its C work to the instruction budget: one instruction per byte made
  if type(n) == "number" and n > 0 then
    steps = steps + #tostring(s) * n / every
    if steps > budget_steps then exceeded = true; error({err = budget_error}, 2) end
  end
  return rep(s, n)
end

local mathlib = {}
for k, v in pairs(math) do mathlib[k] = v end
mathlib.random = function(...) return py_random(select("#", ...), ...) end
mathlib.randomseed = function(seed) py_seed(seed) end

local bit = {}
for _, name in ipairs({"tobit", "tohex", "bnot", "band", "bor", "bxor", "lshift", "rshift", "arshift",
                       "rol", "ror", "bswap"}) do
  bit[name] = function(...) return py_bit(name, select("#", ...), ...) end
end

-- cjson (lua-cjson 2.1 as Redis bundles it): encode in Lua (metered like the script), decode in Python
local newproxy, format, concat, floor, byte = newproxy, string.format, table.concat, math.floor, string.byte
local cjson = {null = newproxy(false)}
local escapes = {['"'] = '\\"', ["\\"] = "\\\\", ["/"] = "\\/", ["\b"] = "\\b", ["\f"] = "\\f",
                 ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t"}
local function escape(s)
  return '"' .. s:gsub('[%c"\\/]', function(c) return escapes[c] or format("\\u%04x", byte(c)) end) .. '"'
end
local function number(n)
  if n ~= n or n == math.huge or n == -math.huge then error("Cannot serialise number: must not be NaN or Inf", 0) end
  return format("%.14g", n)
end
local encode_value
local function encode_table(t, depth, out)
  if depth > 1000 then error("Cannot serialise, excessive nesting (" .. depth .. ")", 0) end
  local max, items, array = 0, 0, true
  for k in pairs(t) do
    if type(k) == "number" and k >= 1 and floor(k) == k then
      if k > max then max = k end
      items = items + 1
    else
      array = false
      break
    end
  end
  if array and max > 0 then
    if max > items * 2 and max > 10 then error("Cannot serialise table: excessively sparse array", 0) end
    out[#out + 1] = "["
    for i = 1, max do
      if i > 1 then out[#out + 1] = "," end
      encode_value(t[i], depth, out)
    end
    out[#out + 1] = "]"
    return
  end
  out[#out + 1] = "{"
  local first = true
  for k, v in pairs(t) do
    local kind = type(k)
    if kind ~= "string" and kind ~= "number" then
      error("Cannot serialise " .. kind .. ": table key must be a number or string", 0)
    end
    if not first then out[#out + 1] = "," end
    first = false
    out[#out + 1] = kind == "string" and escape(k) or '"' .. number(k) .. '"'
    out[#out + 1] = ":"
    encode_value(v, depth, out)
  end
  out[#out + 1] = "}"
end
encode_value = function(v, depth, out)
  local kind = type(v)
  if kind == "string" then out[#out + 1] = escape(v)
  elseif kind == "number" then out[#out + 1] = number(v)
  elseif kind == "boolean" then out[#out + 1] = tostring(v)
  elseif kind == "nil" or v == cjson.null then out[#out + 1] = "null"
  elseif kind == "table" then encode_table(v, depth + 1, out)
  else error("Cannot serialise " .. kind .. ": type not supported", 0) end
end
-- cjson.encode and cjson.decode are Python callables (C functions to Lua, like redis.call), so
-- `return cjson.encode(x)` keeps the script's frame for the error's "user_script:1:" position.
local function encode(v)
  local out = {}
  local ok, message = pcall(encode_value, v, 0, out)
  if not ok then return false, message end
  return true, concat(out)
end
cjson.encode = py_cjson_encode
cjson.decode = py_cjson_decode

-- cmsgpack and struct (lua_binary.py): Python filled in by the session; c_context is what their
-- errors need, luaL_where and the called name (level 2: their C frame, level 3: its caller)
local cmsgpack = {_NAME = "cmsgpack", _VERSION = "lua-cmsgpack 0.4.0",
                  _COPYRIGHT = "Copyright (C) 2012, Salvatore Sanfilippo",
                  _DESCRIPTION = "MessagePack C implementation for Lua"}
local struct = {}
local function c_context()
  local callee, caller = getinfo(2, "n"), getinfo(3, "Sl")
  local position = ""
  if caller and caller.currentline > 0 then position = caller.short_src .. ":" .. caller.currentline .. ": " end
  return position, callee and callee.name, callee and callee.namewhat or ""
end

-- Redis' luaRedisPcall: an {err = "..."} error is caught as its message. Results pass as varargs
-- (never through a table and unpack, which stops near 8000 values where Redis' C pcall does not).
local function caught(ok, ...)
  if ok then return ok, ... end
  local err = as_table((...))
  if type(err) == "table" and type(rawget(err, "err")) == "string" then err = rawget(err, "err") end
  return false, err
end

local allowed = {
  string = string, table = table, math = mathlib, redis = redis, bit = bit, cjson = cjson,
  cmsgpack = cmsgpack, struct = struct,
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  pcall = function(...) return caught(pcall(...)) end,
  rawequal = rawequal, rawget = rawget, rawset = rawset, select = select, setmetatable = setmetatable,
  getmetatable = getmetatable, tonumber = tonumber, tostring = tostring, type = type, unpack = unpack,
  xpcall = xpcall, gcinfo = gcinfo, _VERSION = _VERSION,
}
local env = setmetatable({}, {
  __index = function(_, name)
    local v = allowed[name]
    if v == nil then error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2) end
    return v
  end,
  __newindex = function() error("Attempt to modify a readonly table", 2) end,
  __metatable = false,
})
allowed._G = env

local function handler(err)  -- Redis' __redis__err__handler: where the error happened
  local i = where()
  err = as_table(err)
  if type(err) ~= "table" then err = {err = "ERR " .. tostring(err)} end
  if i and err.source == nil then err.source = i.source; err.line = i.currentline end
  return err
end

local function run(body, keys, argv)
  local f, message = loadstring(body, "@user_script")
  if not f then return "compile", message end
  allowed.KEYS = keys
  allowed.ARGV = argv
  setfenv(f, env)
  debug.sethook(count, "", every)
  local ok, result = xpcall(f, handler)
  debug.sethook()
  if exceeded or py_spent() > budget_steps then return "error", {err = budget_error} end
  if not ok then return "error", result end
  return "ok", result
end

-- Functions (Redis 7.0's function_lua.c). A library's top level runs with the load API as its
-- globals: only `redis` with register_function, log and the LOG_* levels (reading anything else
-- is the nonexistent-global error, as in Redis' LIBRARY_API); then the globals become the
-- script's (`allowed`, without KEYS and ARGV: a function gets them as its two arguments).
local registering = nil  -- while a top level runs: the functions it registered, in order
local callbacks = {}     -- registered name -> callback
local function strict(t)  -- luaSetErrorMetatable + the read-only protection
  return setmetatable({}, {
    __index = function(_, name)
      local v = t[name]
      if v == nil then error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2) end
      return v
    end,
    __newindex = function() error("Attempt to modify a readonly table", 2) end,
    __metatable = false,
  })
end
local function refuse(message) error({err = "ERR " .. message}, 0) end
local flag_bits = {["no-writes"] = 1, ["allow-oom"] = 2, ["allow-stale"] = 4, ["no-cluster"] = 8,
                   ["allow-cross-slot-keys"] = 32}
local lower, find = string.lower, string.find
local function isstring(v) return type(v) == "string" or type(v) == "number" end
local function read_flags(t)  -- luaRegisterFunctionReadFlags
  local bits, j = 0, 1
  while true do
    local flag = t[j]
    if flag == nil then return bits end
    if not isstring(flag) then return nil end
    local bit = flag_bits[lower(tostring(flag))]
    if bit == nil then return nil end
    if bits % (2 * bit) < bit then bits = bits + bit end
    j = j + 1
  end
end
local function register_function(...)
  if registering == nil then refuse("redis.register_function can only be called on FUNCTION LOAD command") end
  local n = select("#", ...)
  if n < 1 or n > 2 then refuse("wrong number of arguments to redis.register_function") end
  local name, desc, callback, flags = nil, nil, nil, 0
  if n == 1 then
    local named = ...
    if type(named) ~= "table" then
      refuse("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
    end
    for k, v in next, named do
      if not isstring(k) then refuse("named argument key given to redis.register_function is not a string") end
      local key = lower(tostring(k))
      if key == "function_name" then
        if not isstring(v) then refuse("function_name argument given to redis.register_function must be a string") end
        name = tostring(v)
      elseif key == "description" then
        if not isstring(v) then refuse("description argument given to redis.register_function must be a string") end
        desc = tostring(v)
      elseif key == "callback" then
        if type(v) ~= "function" then refuse("callback argument given to redis.register_function must be a function") end
        callback = v
      elseif key == "flags" then
        if type(v) ~= "table" then
          refuse("flags argument to redis.register_function must be a table representing function flags")
        end
        flags = read_flags(v)
        if flags == nil then refuse("unknown flag given") end
      else
        refuse("unknown argument given to redis.register_function")
      end
    end
    if name == nil then refuse("redis.register_function must get a function name argument") end
    if callback == nil then refuse("redis.register_function must get a callback argument") end
  else
    name, callback = ...
    if not isstring(name) then refuse("first argument to redis.register_function must be a string") end
    name = tostring(name)
    if type(callback) ~= "function" then refuse("second argument to redis.register_function must be a function") end
  end
  if name == "" or find(name, "[^%w_]") then
    refuse("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
  end
  if callbacks[name] ~= nil then refuse("Function already exists in the library") end
  callbacks[name] = callback
  registering[#registering + 1] = {name, desc or false, flags}
end
local load_api = {redis = strict({
  register_function = register_function, log = redis.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
})}
local api = load_api
local library_env = setmetatable({}, {
  __index = function(_, name)
    local v = api[name]
    if v == nil then error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2) end
    return v
  end,
  __newindex = function() error("Attempt to modify a readonly table", 2) end,
  __metatable = false,
})

-- FUNCTION LOAD's run of a library's top level (luaEngineCreate): "compile", message |
-- "error", the error as raised (no handler: Redis runs it with a plain lua_pcall) | "ok", registered.
local function load_library(code)
  local f, message = loadstring(code, "@user_function")
  if not f then return "compile", message end
  setfenv(f, library_env)
  user_chunk = "@user_function"
  registering, api = {}, load_api
  debug.sethook(count, "", every)
  local ok, result = pcall(f)
  debug.sethook()
  local registered = registering
  registering, api = nil, allowed
  if exceeded or py_spent() > budget_steps then return "timeout", false end
  if not ok then return "error", result end
  registered.steps = steps  -- what the load spent, for a caller loading several on one budget
  return "ok", registered
end

-- FCALL: the library's top level again (a fresh state every run), then the function, metered as
-- a script is; KEYS and ARGV are its arguments.
local function call_function(code, name, keys, argv)
  local status, result = load_library(code)
  if status ~= "ok" then return status, result end
  local callback = callbacks[name]
  debug.sethook(count, "", every)
  local ok, reply = xpcall(function() return callback(keys, argv) end, handler)
  debug.sethook()
  if exceeded or py_spent() > budget_steps then return "error", {err = budget_error} end
  if not ok then return "error", reply end
  return "ok", reply
end
return run, encode, cjson.null, load_library, call_function, cmsgpack, struct, c_context
"""


def _precompiled(source: str) -> bytes:
    """The prelude as Lua 5.1 bytecode (string.dump): compiling its source took most of a run's
    time; loading trusted bytecode of our own is cheap (scripts may never load bytecode)."""
    runtime = lua51.LuaRuntime(encoding=None, register_eval=False, register_builtins=False)
    return runtime.eval("function(source) return string.dump(assert(loadstring(source, '=sandbox'))) end")(
        source.encode()
    )


_PRELUDE_BYTES = _precompiled(_PRELUDE)


class Rand48:
    """Redis' redisLrand48 (rand.c: the 48-bit linear congruential generator of drand48), which
    its math.random uses; seeded by the entry index instead of a process-wide history."""

    __slots__ = ("x",)

    def __init__(self, seed: int) -> None:
        self.seed(seed)

    def seed(self, seed: int) -> None:
        seed &= 0xFFFFFFFF
        self.x = 0x330E | (seed << 16)

    def next31(self) -> int:
        self.x = (0x5DEECE66D * self.x + 0xB) & 0xFFFFFFFFFFFF
        return self.x >> 17


REDIS_LRAND48_MAX = 2147483647


def _to_bit(value: float) -> int:
    """LuaBitOp's tobit: the number modulo 2^32 as a signed 32-bit integer."""
    if value != value or value in (math.inf, -math.inf):
        return 0
    n = int(math.floor(value + 0.5)) if value != int(value) else int(value)
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n & 0x80000000 else n


def _bit(name: bytes, n: int, *args: Any) -> Any:
    name = name.decode() if type(name) is bytes else name
    values = list(args[:n])
    if not values or any(type(v) not in (int, float) for v in values):
        return None
    ints = [_to_bit(v) for v in values]
    u = ints[0] & 0xFFFFFFFF

    def signed(x: int) -> int:
        x &= 0xFFFFFFFF
        return x - (1 << 32) if x & 0x80000000 else x

    if name == "tobit":
        return ints[0]
    if name == "bnot":
        return signed(~u)
    if name in ("band", "bor", "bxor"):
        acc = ints[0]
        for v in ints[1:]:
            acc = acc & v if name == "band" else acc | v if name == "bor" else acc ^ v
        return signed(acc)
    shift = (ints[1] & 31) if len(ints) > 1 else 0
    if name == "lshift":
        return signed(u << shift)
    if name == "rshift":
        return signed(u >> shift)
    if name == "arshift":
        return signed(ints[0] >> shift)
    if name == "rol":
        return signed((u << shift) | (u >> (32 - shift)))
    if name == "ror":
        return signed((u >> shift) | (u << (32 - shift)))
    if name == "bswap":
        return signed(int.from_bytes(u.to_bytes(4, "little"), "big"))
    if name == "tohex":
        digits = ints[1] if len(ints) > 1 else 8
        upper = digits < 0
        digits = min(abs(digits), 8)
        text = f"{u & ((1 << (4 * digits)) - 1):0{digits}x}" if digits else ""
        return (text.upper() if upper else text).encode()
    return None


# redis.call's reply, converted for Lua (redisProtocolToLuaType in Redis' script_lua.c)
class _ToLua:
    __slots__ = ("table", "table_from")

    def __init__(self, runtime: Any) -> None:
        self.table, self.table_from = runtime.table, runtime.table_from

    def convert(self, value: Any, resp: int, depth: int = 0) -> Any:
        cls = value.__class__
        if cls is bytes:
            return value
        if cls is int:
            return value
        if cls is str:
            return self.table_from({b"ok": value.encode()})
        if value is None or value is NULL_ARRAY:
            return None if resp == 3 else False
        if cls is ReplyError:
            return self.table_from({b"err": value.message.encode()})
        if depth > DEPTH_MAX:
            return False
        if cls is list or cls is tuple or (cls is RespSet and resp == 2):
            return self.table(*[self.convert(v, resp, depth + 1) for v in value])
        if cls is RespSet:
            members = self.table()
            for v in value:
                members[self.convert(v, resp, depth + 1)] = True
            return self.table_from({b"set": members})
        if cls is dict:
            if resp == 2:
                flat = []
                for k, v in value.items():
                    flat += (self.convert(k, resp, depth + 1), self.convert(v, resp, depth + 1))
                return self.table(*flat)
            entries = self.table()
            for k, v in value.items():
                entries[self.convert(k, resp, depth + 1)] = self.convert(v, resp, depth + 1)
            return self.table_from({b"map": entries})
        if cls is bool:
            return value if resp == 3 else int(value)
        if cls is float:
            return self.table_from({b"double": value}) if resp == 3 else b"%.17g" % value
        if cls is RespDouble:
            return self.table_from({b"double": float(value)}) if resp == 3 else bytes(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        return self.table_from({b"err": b"ERR reply of an unknown type"})  # a machine value Lua has no form for


def _lua_number_to_int(value: float) -> int:
    """(long long) of a Lua number as Redis' luaReplyToRedisReply casts it: truncated; x86 turns
    NaN and out-of-range values into INT64_MIN."""
    if type(value) is int:
        return value if INT64_MIN <= value <= INT64_MAX else INT64_MIN
    if value != value or not (-9.3e18 < value < 9.3e18):
        return INT64_MIN
    n = int(value)
    return n if INT64_MIN <= n <= INT64_MAX else INT64_MIN


def _from_lua(value: Any, rawget: Callable, depth: int = 0) -> Any:
    """The script's return value as a reply (luaReplyToRedisReply, Redis 7.0)."""
    cls = value.__class__
    if cls is bytes:
        return value
    if cls is bool:
        return value
    if cls is int or cls is float:
        return _lua_number_to_int(value)
    if value is None:
        return None
    if lua51.lua_type(value) != "table":
        return None  # functions, userdata: nil, as Redis
    if depth > DEPTH_MAX:
        return ReplyError("ERR reached lua stack limit")
    err = rawget(value, b"err")
    if type(err) is bytes:
        return ReplyError(err.decode("utf-8", "replace"))
    ok = rawget(value, b"ok")
    if type(ok) is bytes:
        return ok.decode("utf-8", "replace").replace("\r", " ").replace("\n", " ")
    double = rawget(value, b"double")
    if type(double) in (int, float):
        return float(double)
    for tag in (b"map", b"set"):
        inner = rawget(value, tag)
        if inner is not None and lua51.lua_type(inner) == "table":
            items = list(inner.items())  # lua_next: raw, no metamethods
            if tag == b"set":
                return RespSet(_from_lua(k, rawget, depth + 1) for k, _ in items)
            return {_hashable(_from_lua(k, rawget, depth + 1)): _from_lua(v, rawget, depth + 1) for k, v in items}
    out = []
    j = 1
    while True:
        item = rawget(value, j)
        if item is None:
            return out
        out.append(_from_lua(item, rawget, depth + 1))
        j += 1


def _hashable(value: Any) -> Any:
    """A map key as a dict can hold it: an array key becomes a tuple (still an array on the wire),
    a map key the tuple of its flattened pairs (an array: a map as a map's key has no Python form)."""
    kind = type(value)
    if kind is list or kind is RespSet:
        return tuple(_hashable(v) for v in value)
    if kind is dict:
        return tuple(_hashable(v) for pair in value.items() for v in pair)
    return value


def _bool_resp2(value: Any) -> Any:
    """Lua booleans with the script at RESP2 (Redis' default): true is 1, false is nil."""
    if value is True:
        return 1
    if value is False:
        return None
    if type(value) is list:
        return [_bool_resp2(v) for v in value]
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _json_to_lua(value: Any, null: Any, table_from: Callable, depth: int) -> Any:
    """A decoded JSON value for Lua (cjson.decode): objects and arrays as tables, null as cjson.null."""
    if value is None:
        return null
    if depth > DEPTH_MAX:
        raise ValueError("nested too deep")
    kind = type(value)
    if kind is str:
        return value.encode()
    if kind is list:
        return table_from({i: _json_to_lua(v, null, table_from, depth + 1) for i, v in enumerate(value, start=1)})
    if kind is dict:
        return table_from({k.encode(): _json_to_lua(v, null, table_from, depth + 1) for k, v in value.items()})
    return value  # bool, int, float


class _CallError(Exception):
    """redis.call's error, raised through Lua as the Python exception it is (see the prelude)."""


def _error_text(exc: Any) -> tuple[bytes | None, bool]:
    """(message, whether Lua sees it as a plain string) of an error raised by our Python."""
    if isinstance(exc, _CallError):
        return exc.args[0].encode("utf-8", "surrogateescape"), False
    if isinstance(exc, lua_binary.LibraryError):
        return exc.args[0].encode("utf-8", "surrogateescape"), True
    return None, False


def _bind_binary_libraries(runtime: Any, tables: dict[str, Any], c_context: Any, spent: list[int]) -> Any:
    """Fill the prelude's cmsgpack and struct tables with lua_binary's functions, their work
    charged to the run's budget as redis.call's is."""

    def charge(instructions: int) -> None:
        spent[0] += instructions
        if spent[0] > INSTRUCTIONS_MAX:
            raise _CallError(BUDGET_ERROR)

    ctx = lua_binary.context(runtime.table, charge, c_context, MEMORY_MAX)

    def bind(fn: Callable) -> Callable:
        def call(*args: Any) -> Any:
            charge(lua_binary.CALL_COST)
            try:
                return fn(ctx, args)
            except MemoryError:
                raise _CallError(MEMORY_ERROR) from None

        return call

    for library, functions in lua_binary.FUNCTIONS.items():
        table = tables[library]
        for name, fn in functions.items():
            table[name.encode()] = bind(fn)
    return ctx


Caller = Callable[[int, list[bytes]], tuple[bool, Any]]  # (resp, args) -> (ok, reply or error text)


def run(body: bytes, keys: list[bytes], argv: list[bytes], call: Caller, seed: int) -> tuple[str, Any]:
    """Run `body` with KEYS and ARGV, redis.call going to `call`. Returns ("ok", reply) or
    ("error", err table as a dict with b"err", b"source", b"line") or ("compile", message)."""
    if body[:1] == b"\x1b":
        return "compile", compile_error(body)
    return _session(call, seed, lambda lua, table: lua.run(body, table(*keys), table(*argv)))


def run_function(
    code: bytes, name: bytes, keys: list[bytes], argv: list[bytes], call: Caller, seed: int
) -> tuple[str, Any]:
    """FCALL: load the library `code` (its Lua part, after the shebang line) in a fresh state and
    call its function `name` (as registered) with KEYS and ARGV as its arguments. Returns what
    `run` does (a library that no longer loads, which only a changed sandbox could cause since it
    loaded under FUNCTION LOAD and a run is deterministic, answers its load error)."""
    return _session(call, seed, lambda lua, table: lua.call_function(code, name, table(*keys), table(*argv)))


def _no_calls(resp: int, args: list[bytes]) -> tuple[bool, Any]:
    return False, "ERR Unknown Redis command called from script"  # unreachable: the load API has no redis.call


def load_library(code: bytes, seed: int, instructions: int = INSTRUCTIONS_MAX) -> tuple[str, Any]:
    """FUNCTION LOAD's run of a library's top level (the Lua after the shebang line), metered as a
    script is (`instructions`: its budget, at most a script's). ("ok", ([(name, description or None,
    flag bits), ...] in registration order, instructions spent)) or ("compile", Lua's message) or
    ("load", the error's message as Redis' luaExtractErrorInformation reads it) or ("timeout",
    None): the instruction budget ran out (Redis' load timeout)."""
    if code[:1] == b"\x1b":
        return "compile", compile_error(code)
    invoke = lambda lua, table: lua.load_library(code)  # noqa: E731
    return _session(_no_calls, seed, invoke, loading=True, instructions=min(instructions, INSTRUCTIONS_MAX))


def _loaded(status: bytes, result: Any, rawget: Callable) -> tuple[str, Any]:
    """load_library's answer from the prelude's: the registered functions, or the error's text."""
    if status == b"ok":
        registered = []
        for i in range(1, len(result) + 1):
            entry = rawget(result, i)
            name, desc, flags = rawget(entry, 1), rawget(entry, 2), rawget(entry, 3)
            registered.append((name, desc if type(desc) is bytes else None, int(flags)))
        return "ok", (registered, int(rawget(result, b"steps")) * HOOK_EVERY)
    if type(result) is bytes:  # raised as a string (with its position); Redis prefixes ERR
        if result == b"not enough memory" or result.endswith(b": not enough memory"):
            return "load", MEMORY_ERROR
        return "load", "ERR " + result.decode("utf-8", "replace")
    if lua51.lua_type(result) == "table":
        err = rawget(result, b"err")
        if type(err) in (bytes, int, float):
            return "load", err.decode("utf-8", "replace") if type(err) is bytes else f"{err:.14g}"
    return "load", "(null)"  # Redis formats the missing message with printf's %s of NULL


class _Prelude:
    """The prelude's runners, by name."""

    __slots__ = ("call_function", "load_library", "run")

    def __init__(self, run: Any, load_library: Any, call_function: Any) -> None:
        self.run, self.load_library, self.call_function = run, load_library, call_function


def _session(
    call: Caller,
    seed: int,
    invoke: Callable[[_Prelude, Callable], tuple],
    loading: bool = False,
    instructions: int = INSTRUCTIONS_MAX,
) -> tuple[str, Any]:
    """One fresh Lua state with the sandbox: `invoke` runs a prelude runner in it; its (status,
    result) is converted to Python: as `run` says, or as `load_library` says when `loading`."""
    runtime = lua51.LuaRuntime(
        encoding=None, unpack_returned_tuples=True, register_eval=False, register_builtins=False, max_memory=MEMORY_MAX
    )
    to_lua = _ToLua(runtime)
    rand = Rand48(seed)

    resp = [2]
    spent = [0]  # redis.call's share of the budget, in instructions (CALL_COST each, plus its bytes)

    def py_spent() -> int:
        return spent[0] // HOOK_EVERY

    def redis_call(raise_errors: bool, args: tuple) -> Any:
        if not args:
            return _failed(raise_errors, "ERR Please specify at least one argument for this redis lib call")
        words = []
        for arg in args:
            kind = arg.__class__
            if kind is bytes:
                words.append(arg)
            elif kind is int or kind is float:
                words.append(b"%.14g" % arg)  # Lua's tostring of a number
            else:
                return _failed(raise_errors, "ERR Lua redis lib command arguments must be strings or integers")
        spent[0] += CALL_COST + sum(map(len, words))
        if spent[0] > INSTRUCTIONS_MAX:
            return _failed(True, BUDGET_ERROR)  # and every later call: the run's answer is this error
        ok, reply = call(resp[0], words)
        if not ok:
            return _failed(raise_errors, reply)
        return to_lua.convert(reply, resp[0])

    def py_redis_call(*args: Any) -> Any:
        return redis_call(True, args)

    def py_redis_pcall(*args: Any) -> Any:
        return redis_call(False, args)

    def py_setresp(value: int) -> None:
        resp[0] = value

    def _failed(raise_errors: bool, message: str) -> Any:
        if raise_errors:
            raise _CallError(message)
        return to_lua.convert(ReplyError(message), resp[0])

    def py_random(n: int, *args: Any) -> Any:
        r = (rand.next31() % REDIS_LRAND48_MAX) / REDIS_LRAND48_MAX
        if n == 0:
            return r
        low, high = (1, args[0]) if n == 1 else (args[0], args[1])
        if type(low) not in (int, float) or type(high) not in (int, float) or low > high:
            return None
        return math.floor(r * (high - low + 1)) + low

    def py_seed(value: Any) -> None:
        if type(value) in (int, float):
            rand.seed(int(value))

    lua_helpers: list = []  # the prelude's encode and cjson.null, once it has run
    binary_contexts: list = []  # lua_binary's context, holding the state's functions (released at the end)

    # cjson's errors are lua-cjson's luaL_error / luaL_argerror strings (lua_binary's context:
    # positioned at the caller, the called name), so a script's pcall sees Redis' text
    def py_cjson_encode(*args: Any) -> Any:
        encode, _null = lua_helpers
        ctx = binary_contexts[0]
        if len(args) != 1:
            raise ctx.argerror(1, "expected 1 argument")
        ok, result = encode(args[0])
        if not ok:
            raise ctx.error(result.decode("utf-8", "surrogateescape"))
        return result

    def py_cjson_decode(*args: Any) -> Any:
        _encode, null = lua_helpers
        ctx = binary_contexts[0]
        if len(args) != 1:
            raise ctx.argerror(1, "expected 1 argument")
        text = args[0]
        if type(text) in (int, float):
            text = lua_binary.lua_number_text(text)
        if type(text) is not bytes:
            raise ctx.argerror(1, f"string expected, got {lua_binary.type_name(args, 1)}")
        try:
            value = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            where = getattr(exc, "pos", 0) + 1
            raise ctx.error(f"Expected value but found invalid token at character {where}") from None
        try:
            return _json_to_lua(value, null, to_lua.table_from, 0)
        except ValueError:
            raise ctx.error("Found too many nested data structures") from None

    def py_sha1(text: bytes) -> bytes:
        return hashlib.sha1(text).hexdigest().encode()

    try:
        (
            runner,
            encode,
            null,
            library_loader,
            function_caller,
            cmsgpack,
            struct,
            c_context,
        ) = runtime.globals().loadstring(_PRELUDE_BYTES, b"=sandbox")(
            py_redis_call,
            py_redis_pcall,
            _error_text,
            py_setresp,
            py_sha1,
            py_random,
            py_seed,
            _bit,
            instructions // HOOK_EVERY,
            HOOK_EVERY,
            BUDGET_ERROR.encode(),
            MEMORY_MAX,
            py_spent,
            py_cjson_encode,
            py_cjson_decode,
        )
        lua_helpers[:] = (encode, null)
        binary_contexts.append(
            _bind_binary_libraries(runtime, {"cmsgpack": cmsgpack, "struct": struct}, c_context, spent)
        )
        status, result = invoke(_Prelude(runner, library_loader, function_caller), runtime.table)
        rawget = runtime.eval("rawget")
        if status == b"timeout":
            if loading:
                return "timeout", None
            return "error", {b"err": BUDGET_ERROR.encode(), b"source": None, b"line": None}
        if loading and status != b"compile":
            return _loaded(status, result, rawget)
        if status == b"ok":
            reply = _from_lua(result, rawget)
            return "ok", _bool_resp2(reply) if resp[0] == 2 else reply
        if status == b"compile":
            return "compile", result.decode("utf-8", "replace")
        if lua51.lua_type(result) == "table":
            return "error", {
                b"err": rawget(result, b"err"),
                b"source": rawget(result, b"source"),
                b"line": rawget(result, b"line"),
            }
        if result == b"not enough memory" or (
            type(result) is bytes and result.endswith(b": not enough memory")
        ):  # Lua 5.1 skips the error handler for memory errors
            return "error", {b"err": MEMORY_ERROR.encode(), b"source": None, b"line": None}
        text = result if type(result) is bytes else b"execution failure"
        return "error", {b"err": b"ERR " + text, b"source": None, b"line": None}
    except lua51.LuaMemoryError:  # outside xpcall's reach, e.g. while converting the reply
        return "error", {b"err": MEMORY_ERROR.encode(), b"source": None, b"line": None}
    except lua51.LuaError as exc:  # outside xpcall's reach: the message, never a traceback
        return "error", {b"err": b"ERR " + str(exc).encode()[:256], b"source": None, b"line": None}
    finally:
        # The Lua state holds our callbacks and they held it: break the cycle, so the state (up to
        # MEMORY_MAX) is freed now rather than at some later cyclic garbage collection.
        lua_helpers.clear()
        to_lua.table = to_lua.table_from = None
        for ctx in binary_contexts:
            ctx.release()


def compile_error(body: bytes) -> str | None:
    """Why `body` does not compile as a script (Lua's message), or None. Precompiled Lua bytecode
    is refused: loading it can break out of any sandbox."""
    if body[:1] == b"\x1b":
        return "user_script: bytecode is not allowed"
    runtime = lua51.LuaRuntime(
        encoding=None, unpack_returned_tuples=False, register_eval=False, register_builtins=False, max_memory=MEMORY_MAX
    )
    try:
        ok, message = runtime.eval(
            "function(body) local f, m = loadstring(body, '@user_script') return f ~= nil, m end"
        )(body)
    except lua51.LuaMemoryError:
        return "user_script: not enough memory"
    return None if ok else message.decode("utf-8", "replace")
