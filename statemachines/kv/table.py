"""The kv command table: one explicit registration per command, no reflection.

Each type module (strings.py, generic.py; later hashes.py, lists.py, ...)
decorates its handlers with `@command(...)`, which appends a `KVCommand` to
TABLE at import time. A handler is `handler(keyspace, args, ms) -> Result`:
args[0] is the command name as the client sent it; `ms` is the entry's `ts_ms`
inside apply, or the serving node's `now_ms` for a query. Readonly handlers
never mutate the keyspace, so the same function serves both paths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from statemachines import CommandSpec, ReplyError, Result

Handler = Callable[..., Result]  # (Keyspace, list[bytes], int) -> Result
Check = Callable[[list[bytes]], ReplyError | None]


@dataclass(frozen=True, slots=True)
class KVCommand:
    spec: CommandSpec
    handler: Handler


TABLE: list[KVCommand] = []


def command(
    name: str,
    arity: int,
    flags: str,
    keys: tuple[int, int, int] = (1, 1, 1),
    *,
    group: str,
    summary: str,
    syntax: str = "",
    check: Check | None = None,
    reply: Callable[[list[bytes], Result, int], Result] | None = None,
    subcommands: tuple[CommandSpec, ...] = (),
) -> Callable[[Handler], Handler]:
    """Register the decorated handler as command `name` (Redis arity, space-separated flags)."""

    def register(handler: Handler) -> Handler:
        first, last, step = keys
        spec = CommandSpec(
            name=name,
            arity=arity,
            flags=frozenset(flags.split()),
            first_key=first,
            last_key=last,
            key_step=step,
            summary=summary,
            group=group,
            syntax=syntax,
            check=check,
            reply=reply,
            subcommands=subcommands,
        )
        assert spec.is_write != ("readonly" in spec.flags), f"{name}: exactly one of write/readonly"
        TABLE.append(KVCommand(spec, handler))
        return handler

    return register


def subcommand(
    name: str,
    arity: int,
    flags: str,
    keys: tuple[int, int, int] = (2, 2, 1),
    *,
    group: str,
    summary: str,
    syntax: str = "",
) -> CommandSpec:
    """A container's subcommand ("xgroup|create"), for command(..., subcommands=...): listed by
    COMMAND and checked (name, arity) when MULTI queues it; the container's handler runs it."""
    first, last, step = keys
    return CommandSpec(
        name=name,
        arity=arity,
        flags=frozenset(flags.split()),
        first_key=first,
        last_key=last,
        key_step=step,
        summary=summary,
        group=group,
        syntax=syntax,
    )


def pairs(flat: list) -> list:
    """[a, b, c, d] -> [[a, b], [c, d]] (RESP3 shape of WITHSCORES / WITHVALUES replies)."""
    return [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]
