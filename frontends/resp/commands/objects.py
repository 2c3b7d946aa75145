"""OBJECT ENCODING / FREQ / IDLETIME / REFCOUNT / HELP: the value is the machine's, the
thresholds and the eviction policy are this node's CONFIG, so each subcommand is a read
of the kv machine's `object` command carrying them (statemachines/kv/objects.py says how
the encoding is computed, and why it is computed when asked).

Inside MULTI a frontend command does not reach the node (commands/transactions.py
run_queued), so OBJECT there answers an error rather than a wrong "no such key".
"""

from __future__ import annotations

from frontends.resp.commands.entry import READ, ServerView, Submit, container, frontend_command, help_handler
from frontends.resp.session import Session
from statemachines import Result, encode_args

THRESHOLDS = (
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "set-max-intset-entries",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
)


def _unwrap(args: list[bytes], result: Result, protocol: int) -> Result:
    """The machine answers [value] when given the node's settings (None: no key)."""
    if isinstance(result, list) and len(result) == 1:
        return result[0]
    return result  # an error of the request (TRYAGAIN, ...)


def _settings(gate: ServerView, sub: bytes) -> list[bytes]:
    values = gate.config.values
    policy = values["maxmemory-policy"]
    if sub == b"encoding":
        return [values[name] for name in THRESHOLDS]
    if sub == b"refcount":  # createStringObjectFromLongLong: no shared integers when the policy needs per-key LRU/LFU
        per_key = values["maxmemory"] != b"0" and (b"lru" in policy or b"lfu" in policy)
        return [b"0" if per_key else b"1"]
    return [b"1" if b"lfu" in policy else b"0"]


def _read(sub: bytes):
    def handler(gate: ServerView, session: Session, args: list[bytes]) -> Result:
        payload = encode_args([b"object", sub, args[2], *_settings(gate, sub)])
        return Submit(READ, payload, _unwrap, machine=None)  # None: the default machine, in the session's database

    return handler


def _sub(name: str, summary: str, since: str) -> object:
    return frontend_command(
        f"object|{name}",
        3,
        "readonly",
        _read(name.encode()),
        group="generic",
        summary=summary,
        since=since,
        syntax="key",
        acl="keyspace read slow",
        keys=(2, 2, 1),
    )


_OBJECT_SUBS = [
    _sub("encoding", "Inspect the internal encoding of a Redis object", "2.2.3"),
    _sub("freq", "Get the logarithmic access frequency counter of a Redis object", "4.0.0"),
    _sub("idletime", "Get the time since a Redis object was last accessed", "2.2.3"),
    _sub("refcount", "Get the number of references to the value of the key", "2.2.3"),
    frontend_command(
        "object|help",
        2,
        "loading stale",
        help_handler(
            "OBJECT",
            [
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
                "HELP",
                "    Prints this help.",
            ],
        ),
        group="generic",
        summary="Show helpful text about the different subcommands",
        since="6.2.0",
        acl="keyspace slow",
    ),
]

COMMANDS = [
    frontend_command(
        "object",
        -2,
        "",
        container(_OBJECT_SUBS),
        group="generic",
        summary="A container for object introspection commands",
        since="2.2.3",
        complexity="Depends on subcommand.",
        acl="slow",
        subcommands=_OBJECT_SUBS,
        node_read=True,
    ),
]
