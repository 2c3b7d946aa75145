"""The kv command table: one explicit registration per command, no reflection.

Each type module (strings.py, generic.py; later hashes.py, lists.py, ...)
decorates its handlers with `@command(...)`, which appends a `KVCommand` to
TABLE at import time. A handler is `handler(keyspace, args, ms) -> Result`:
args[0] is the command name as the client sent it; `ms` is the entry's `ts_ms`
inside apply, or the serving node's `now_ms` for a query. Readonly handlers
never mutate the keyspace, so the same function serves both paths.
"""

from __future__ import annotations

import dataclasses
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
    """Register the decorated handler as command `name` (Redis arity, space-separated flags).
    A container (XGROUP, XINFO) lists its `subcommands` (made with `subcommand`) and has
    empty flags; the handler gets every call of it, whichever subcommand."""

    def register(handler: Handler) -> Handler:
        spec = subcommand(
            name, arity, flags, keys, group=group, summary=summary, syntax=syntax, check=check, reply=reply
        )
        spec = dataclasses.replace(spec, subcommands=subcommands)
        for one in subcommands or (spec,):
            assert ("write" in one.flags) != ("readonly" in one.flags), f"{one.name}: exactly one of write/readonly"
        TABLE.append(KVCommand(spec, handler))
        return handler

    return register


def refusal(parse: Callable[[list[bytes]], object]) -> Check:
    """A CommandSpec.check made of a parser that returns a ReplyError or what it parsed."""

    def check(args: list[bytes]) -> ReplyError | None:
        parsed = parse(args)
        return parsed if type(parsed) is ReplyError else None

    return check


def subcommand(
    name: str,
    arity: int,
    flags: str,
    keys: tuple[int, int, int] = (2, 2, 1),
    *,
    group: str,
    summary: str,
    syntax: str = "",
    check: Check | None = None,
    reply: Callable[[list[bytes], Result, int], Result] | None = None,
) -> CommandSpec:
    """One subcommand of a container, "container|sub" (see `command`'s subcommands); also how
    `command` builds its spec."""
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
        check=check,
        reply=reply,
    )


def pairs(flat: list) -> list:
    """[a, b, c, d] -> [[a, b], [c, d]] (RESP3 shape of WITHSCORES / WITHVALUES replies)."""
    return [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]
