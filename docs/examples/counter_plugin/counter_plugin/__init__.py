"""A replicated map of counters: the plugin built step by step in docs/plugins.md.

COUNTER.INCR key n   -> the new value   (a write: goes through the log)
COUNTER.GET key      -> the value, 0 if never incremented   (a read)
"""

from __future__ import annotations

import msgspec

from statemachines import INT64_MAX, INT64_MIN, NOT_AN_INTEGER, CommandSpec, ReplyError, decode_args, parse_int

OVERFLOW = ReplyError("ERR increment or decrement would overflow")


class CounterMachine:
    name = "counter"

    def __init__(self) -> None:
        self.counts: dict[bytes, int] = {}

    def commands(self) -> list[CommandSpec]:
        return [
            CommandSpec(
                "counter.incr",
                3,
                frozenset({"write", "fast"}),
                1,
                1,
                1,
                summary="Add n to a counter",
                group="counter",
                syntax="key n",
                check=check_incr,
            ),
            CommandSpec(
                "counter.get",
                2,
                frozenset({"readonly", "fast"}),
                1,
                1,
                1,
                summary="A counter's value",
                group="counter",
                syntax="key",
            ),
        ]

    def apply(self, index: int, command: bytes, ts_ms: int):
        args = _parse(command, b"COUNTER.INCR", 3)
        if isinstance(args, ReplyError):
            return args  # bad input is a result, never an exception: every replica records it
        error = check_incr(args)  # again: an entry may hold what no frontend checked (MULTI, embedding)
        if error is not None:
            return error
        value = self.counts.get(args[1], 0) + parse_int(args[2])
        if not INT64_MIN <= value <= INT64_MAX:
            return OVERFLOW  # bounded state: no ever-growing integer, and the snapshot encodes int64
        self.counts[args[1]] = value
        return value

    def query(self, request: bytes, now_ms: int):
        args = _parse(request, b"COUNTER.GET", 2)
        return args if isinstance(args, ReplyError) else self.counts.get(args[1], 0)

    def snapshot(self):
        yield msgspec.msgpack.encode(sorted(self.counts.items()))  # sorted: equal state, equal bytes

    def restore(self, chunks) -> None:
        counts: dict[bytes, int] = {}
        for chunk in chunks:
            counts.update(msgspec.msgpack.decode(chunk, type=list[tuple[bytes, int]]))
        self.counts = counts


def check_incr(args: list[bytes]) -> ReplyError | None:
    """COUNTER.INCR's CommandSpec.check: the frontend runs it before proposing, so a bad n never
    enters the log. parse_int is Redis' string2ll: int64 only, at most 20 bytes read."""
    return NOT_AN_INTEGER if parse_int(args[2]) is None else None


def _parse(payload: bytes, name: bytes, arity: int) -> list[bytes] | ReplyError:
    try:
        args = decode_args(payload)
    except msgspec.DecodeError:
        return ReplyError("ERR invalid command encoding")
    if not args or args[0].upper() != name:
        return ReplyError(f"ERR unknown command '{args[0].decode(errors='replace') if args else ''}'")
    if len(args) != arity:
        return ReplyError(f"ERR wrong number of arguments for '{name.decode().lower()}' command")
    return args
