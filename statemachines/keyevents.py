"""Keyspace notification classes (Redis 7.0's NOTIFY_* bits of server.h) and the text form
`notify-keyspace-events` uses (notify.c's keyspaceEventsStringToFlags / FlagsToString).

A kv handler tags each event it emits with one class (`ks.notify(LIST, b"lpush", key)`); the
frontend keeps the configured flags and publishes an event only when its class is on and K
(`__keyspace@<db>__:<key>`, message = event) or E (`__keyevent@<db>__:<event>`, message = key)
is on too. The bits are Redis' so a flags value reads the same in both.
"""

from __future__ import annotations

KEYSPACE = 1 << 0  # K: publish on __keyspace@<db>__:<key>
KEYEVENT = 1 << 1  # E: publish on __keyevent@<db>__:<event>
GENERIC = 1 << 2  # g: del, expire, rename_from, ... (type-independent commands)
STRING = 1 << 3  # $
LIST = 1 << 4  # l
SET = 1 << 5  # s
HASH = 1 << 6  # h
ZSET = 1 << 7  # z
EXPIRED = 1 << 8  # x: a key removed because its TTL passed
EVICTED = 1 << 9  # e: never emitted here (no maxmemory eviction)
STREAM = 1 << 10  # t
KEY_MISS = 1 << 11  # m: a read found no key (not part of A, as in Redis)
LOADED = 1 << 12  # module-only in Redis: no letter
MODULE = 1 << 13  # d: never emitted here (no modules)
NEW = 1 << 14  # n: a key that did not exist was added (not part of A)
ALL = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE  # A

INVALID_CLASS = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."

_LETTERS = {
    ord("A"): ALL,
    ord("g"): GENERIC,
    ord("$"): STRING,
    ord("l"): LIST,
    ord("s"): SET,
    ord("h"): HASH,
    ord("z"): ZSET,
    ord("x"): EXPIRED,
    ord("e"): EVICTED,
    ord("K"): KEYSPACE,
    ord("E"): KEYEVENT,
    ord("t"): STREAM,
    ord("m"): KEY_MISS,
    ord("d"): MODULE,
    ord("n"): NEW,
}

# keyspaceEventsFlagsToString's order: the type classes (or A for all of them), then K, E, m.
_TYPE_LETTERS = (
    (GENERIC, "g"),
    (STRING, "$"),
    (LIST, "l"),
    (SET, "s"),
    (HASH, "h"),
    (ZSET, "z"),
    (EXPIRED, "x"),
    (EVICTED, "e"),
    (STREAM, "t"),
    (MODULE, "d"),
    (NEW, "n"),
)


def flags_from_string(classes: bytes) -> int | None:
    """Redis' keyspaceEventsStringToFlags: the OR of each letter's class; None for any other
    character (C stops at the first NUL, so does this: the config value is a C string there)."""
    flags = 0
    for c in classes.split(b"\0", 1)[0]:
        bit = _LETTERS.get(c)
        if bit is None:
            return None
        flags |= bit
    return flags


def flags_to_string(flags: int) -> str:
    """Redis' keyspaceEventsFlagsToString: "A" when every class of A is on (then only n is
    lost to it, as in Redis), else one letter per class; then K, E and m."""
    if flags & ALL == ALL:
        out = ["A"]
    else:
        out = [letter for bit, letter in _TYPE_LETTERS if flags & bit]
    if flags & KEYSPACE:
        out.append("K")
    if flags & KEYEVENT:
        out.append("E")
    if flags & KEY_MISS:
        out.append("m")
    return "".join(out)
