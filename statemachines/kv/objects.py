"""OBJECT's machine side: a value's encoding as Redis 7.0 would name it, its refcount, and
whether it exists for FREQ / IDLETIME (Redis object.c; the client command is the frontend's,
frontends/resp/commands/objects.py, which adds the node's CONFIG to the request).

Redis converts a value's encoding once, when it grows past a threshold of the server's
CONFIG, and never back. Here the value is replicated state and the thresholds are one
node's CONFIG, so the encoding is computed when asked, from the value's current size and
the thresholds the request carries:

    OBJECT ENCODING key [hash-entries hash-value set-intset-entries zset-entries zset-value]
    OBJECT REFCOUNT key [shared-integers 0|1]
    OBJECT FREQ key [lfu 0|1]        OBJECT IDLETIME key [lfu 0|1]

(without them, Redis 7.0's defaults: 512 64 512 128 64, shared integers, no LFU policy; with
them, the answer comes as a one-element array, so the frontend can tell "no such key" from
no answer at all).
So a value that shrank reports the small encoding Redis would no longer report; a string
is int, embstr or raw by its bytes (Redis reports raw for any string APPEND or SETRANGE
made, however short, and embstr for an integral INCRBYFLOAT result such as "3"); a list is
always a quicklist (listpacks for small lists came with 7.2).

Access is not tracked (reads do not go through the log, so a follower cannot know a key's
last access): IDLETIME answers 0, FREQ the counter a new key starts with (LFU_INIT_VAL).
The work is bounded by the value: the largest-element scans stop at the first element
over a threshold and are skipped when the count is already over one.
"""

from __future__ import annotations

from statemachines import ReplyError, Result, parse_int
from statemachines.kv.keyspace import TYPE_NAMES, Keyspace
from statemachines.kv.table import command

DEFAULT_THRESHOLDS = (512, 64, 512, 128, 64)  # hash entries/value, set intset entries, zset entries/value
EMBSTR_SIZE_LIMIT = 44  # OBJ_ENCODING_EMBSTR_SIZE_LIMIT
SHARED_INTEGERS = 10000  # OBJ_SHARED_INTEGERS: 0..9999 are one shared object
SHARED_REFCOUNT = 2147483647  # OBJ_SHARED_REFCOUNT (INT_MAX)
LFU_INIT_VAL = 5
NO_LFU = ReplyError(
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when "
    "switching between policies at runtime LRU and LFU data will take some time to adjust."
)
LFU_SELECTED = ReplyError(
    "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching "
    "between policies at runtime LRU and LFU data will take some time to adjust."
)
_SUBCOMMANDS = {b"encoding": 5, b"refcount": 1, b"freq": 1, b"idletime": 1}  # -> how many settings follow


def _parse(args: list[bytes]) -> tuple[bytes, list[int]] | ReplyError:
    sub = args[1].lower()
    settings = _SUBCOMMANDS.get(sub)
    if settings is None or len(args) not in (3, 3 + settings):
        return ReplyError(
            f"ERR unknown subcommand or wrong number of arguments for '{args[1].decode('utf-8', 'replace')}'"
        )
    numbers = [parse_int(arg) for arg in args[3:]]
    if any(n is None or n < 0 for n in numbers):
        return ReplyError("ERR value is not an integer or out of range")
    return sub, numbers


def check_object(args: list[bytes]) -> ReplyError | None:
    parsed = _parse(args)
    return parsed if isinstance(parsed, ReplyError) else None


@command(
    "object",
    -3,
    "readonly",
    (2, 2, 1),
    group="generic",
    syntax="ENCODING|REFCOUNT|FREQ|IDLETIME key [node settings]",
    summary="Inspect a value: its Redis encoding for the node's thresholds, refcount, access counters",
    check=check_object,
)
def cmd_object(ks: Keyspace, args: list[bytes], now: int) -> Result:
    parsed = _parse(args)
    if isinstance(parsed, ReplyError):
        return parsed
    sub, settings = parsed
    answer = _answer(ks.peek(args[2], now), sub, settings)
    return [answer] if settings else answer


def _answer(value: object, sub: bytes, settings: list[int]) -> Result:
    if value is None:
        return None
    if sub == b"encoding":
        return encoding(value, settings or DEFAULT_THRESHOLDS).encode()  # a bulk string, as Redis answers
    if sub == b"refcount":
        shared = not settings or settings[0]
        return SHARED_REFCOUNT if shared and _shared_integer(value) else 1
    lfu = bool(settings and settings[0])
    if sub == b"freq":
        return LFU_INIT_VAL if lfu else NO_LFU
    return LFU_SELECTED if lfu else 0


def _shared_integer(value: object) -> bool:
    if type(value) is not bytes:
        return False
    number = parse_int(value)
    return number is not None and 0 <= number < SHARED_INTEGERS


def encoding(value: object, thresholds: list[int] | tuple[int, ...]) -> str:
    """The encoding Redis 7.0 gives a value of this size under these thresholds."""
    hash_entries, hash_value, set_entries, zset_entries, zset_value = thresholds
    kind = TYPE_NAMES[type(value)]
    if kind == "string":
        if len(value) <= 20 and parse_int(value) is not None:
            return "int"
        return "embstr" if len(value) <= EMBSTR_SIZE_LIMIT else "raw"
    if kind == "list":
        return "quicklist"
    if kind == "hash":
        small = len(value) <= hash_entries and not any(
            len(field) > hash_value or len(item) > hash_value for field, item in value.items()
        )
        return "listpack" if small else "hashtable"
    if kind == "set":
        small = len(value) <= set_entries and all(parse_int(member) is not None for member in value)
        return "intset" if small else "hashtable"
    if kind == "zset":
        small = len(value) <= zset_entries and not any(len(member) > zset_value for member in value.scores)
        return "listpack" if small else "skiplist"
    return kind  # stream: "stream"
