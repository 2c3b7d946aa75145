"""A replicated map of counters: the plugin built step by step in docs/plugins.md.

    COUNTER.INCR key n   -> the new value   (a write: goes through the log)
    COUNTER.GET key      -> the value, 0 if never incremented   (a read)
"""

from __future__ import annotations

import msgspec

from statemachines import CommandSpec, ReplyError, decode_args


class CounterMachine:
    name = "counter"

    def __init__(self) -> None:
        self.counts: dict[bytes, int] = {}

    def commands(self) -> list[CommandSpec]:
        return [
            CommandSpec("counter.incr", 3, frozenset({"write", "fast"}), 1, 1, 1,
                        summary="Add n to a counter", group="counter", syntax="key n"),
            CommandSpec("counter.get", 2, frozenset({"readonly", "fast"}), 1, 1, 1,
                        summary="A counter's value", group="counter", syntax="key"),
        ]  # fmt: skip

    def apply(self, index: int, command: bytes, ts_ms: int):
        args = _parse(command, b"COUNTER.INCR", 3)
        if isinstance(args, ReplyError):
            return args  # bad input is a result, never an exception: every replica records it
        try:
            n = int(args[2])
        except ValueError:
            return ReplyError("ERR value is not an integer or out of range")
        value = self.counts[args[1]] = self.counts.get(args[1], 0) + n
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
