"""The StateMachine contract that every replicated machine implements.

A state machine never learns which protocol replicates it, and imports nothing
of the replication core. The rules that keep replicas identical:

- `apply` is deterministic: it may read only its arguments and its own state.
  `ts_ms` is the leader's clock stamped into the entry, so a TTL computed from
  it means the same on every replica. No wall clock, no randomness, no I/O.
- `apply` never raises for bad client input: it returns a ReplyError value,
  so every replica records the same outcome. (A raise is treated as a bug: the
  host turns it into an error reply but the machine's state must be unchanged.)
- `query` serves reads from local state without the log. It may read `now_ms`
  (the serving node's clock) only to hide expired data.
- `snapshot` yields the whole state as chunks; `restore` rebuilds it from the
  same chunks. restore(snapshot()) must give back an equal machine.
  A machine whose snapshot() copies its state when called and encodes it
  lazily (so the chunks can be consumed later, on another thread, while apply
  goes on) sets the class attribute `snapshot_is_point_in_time = True`; the
  node then encodes it off the event loop. Without it, the node consumes the
  chunks at once, on the applying task.
- `housekeeping(now_ms)` (optional) returns commands the leader should propose
  on the machine's behalf, e.g. deleting expired keys or sessions. Decisions
  that depend on time are taken by the leader and go through the log, so every
  replica carries them out at the same position. The driver calls it about
  every HOUSEKEEPING_MS on the leader only; a command it returns must be
  harmless if applied twice or late (apply re-checks against ts_ms).

Results are plain values so they can cross the wire when a follower forwards a
write: bytes (bulk string), str (simple status such as "OK"), int, float,
None (nil), list (array), dict (map), and ReplyError.

Departure from DESIGN.md: `query` takes `now_ms` as well, because expired keys
must be invisible to reads, and a read has no log entry to carry a timestamp.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import msgspec

Result = Any  # bytes | str | int | float | None | list | dict | ReplyError


class _NullArray:
    """The RESP2 null array `*-1` (`_` in RESP3); only a CommandSpec.reply hook returns it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()


class RespSet(tuple):
    """A set-typed reply in a fixed order: RESP3 `~`, an array in RESP2. Only a
    CommandSpec.reply hook returns it (the plain result crossing the wire is a list)."""

    __slots__ = ()


def as_set_reply(args: list[bytes], result: Result, protocol: int) -> Result:
    """CommandSpec.reply for commands whose RESP3 reply is a set (SMEMBERS, SINTER...)."""
    return RespSet(result) if protocol == 3 and type(result) is list else result


class ReplyError:
    """An error reply, with Redis' prefix as its first word: "ERR ...", "WRONGTYPE ...".

    A plain class rather than a dataclass so the wire codec can tag it as an
    extension type (msgspec would otherwise encode it as an ordinary map).
    """

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReplyError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)

    def __repr__(self) -> str:
        return f"ReplyError({self.message!r})"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command a machine serves, in Redis' terms.

    arity: Redis convention, counting the command name: 2 means exactly
    `GET key`; -3 means at least three words.
    flags: "write", "readonly", "admin", "fast", "denyoom", ... (lower case).
    first_key/last_key/key_step: key positions (last_key -1 = through the end).
    syntax: the arguments after the name in Redis' help notation, e.g.
        "key value [NX | XX] [EX seconds | PX milliseconds]"; drives COMMAND DOCS
        (and so redis-cli's hints). Empty: no argument docs.
    check: optional pure validator run by the frontend before proposing, so a
        request with a syntax error never enters the log. It sees the full
        argument list (name first) and returns the ReplyError to send, or None.
        It must not read state or time; apply still validates on its own.
    reply: optional `reply(args, result, protocol) -> value` run by the
        frontend on the machine's plain result before encoding it for a client
        speaking RESP `protocol` (2 or 3). Results stay plain values because
        they cross the wire; only the frontend knows the client's protocol.
        Used for the shapes plain values cannot express: RESP3 pairs
        ([[member, score], ...] for ZRANGE WITHSCORES) and NULL_ARRAY (`*-1`,
        e.g. LPOP key count on a missing key).
    """

    name: str
    arity: int
    flags: frozenset[str]
    first_key: int = 0
    last_key: int = 0
    key_step: int = 0
    summary: str = ""
    group: str = "generic"
    syntax: str = ""
    check: Callable[[list[bytes]], ReplyError | None] | None = field(default=None, compare=False, repr=False)
    reply: Callable[[list[bytes], Any, int], Any] | None = field(default=None, compare=False, repr=False)

    @property
    def is_write(self) -> bool:
        return "write" in self.flags


class StateMachine(Protocol):
    name: ClassVar[str]

    def commands(self) -> Iterable[CommandSpec]: ...

    def apply(self, index: int, command: bytes, ts_ms: int) -> Result: ...

    def query(self, request: bytes, now_ms: int) -> Result: ...

    def snapshot(self) -> Iterator[bytes]: ...

    def restore(self, chunks: Iterable[bytes]) -> None: ...


HOUSEKEEPING_MS = 100


_encoder = msgspec.msgpack.Encoder()
_args_decoder = msgspec.msgpack.Decoder(list[bytes])


def encode_args(args: Iterable[bytes]) -> bytes:
    """A command as sent by a client (a list of byte strings) -> one log payload."""
    return _encoder.encode(list(args))


def decode_args(payload: bytes) -> list[bytes]:
    return _args_decoder.decode(payload)


# --- transactions (optional part of the contract) ------------------------------------------
# A machine that supports MULTI/EXEC/WATCH serves two internal commands that no
# client can send (they are not among its CommandSpecs, so the frontend answers
# "unknown command"):
#   query(VERSIONS key ...) -> [version, live, version, live, ...]: per key, the
#       log index of its last change (a number that changes whenever the key does)
#       and 1 if the key is live (present, not expired) at now_ms, else 0.
#   apply(encode_exec(watches, commands)) -> None if any watched key changed
#       since its version was read (nothing applied), else the list of the
#       commands' results, all applied at this one log position.
# A machine without them answers the frontend's requests with "unknown command".
# Likewise optional, for INFO keyspace:
#   query(KEYSPACE_INFO) -> [keys, keys with a TTL] (Redis' db0:keys=N,expires=M).
VERSIONS = b"__versions__"
EXEC = b"__exec__"
KEYSPACE_INFO = b"__keyspace__"


def encode_exec(watches: Iterable[tuple[bytes, int, bool]], commands: Iterable[list[bytes]]) -> bytes:
    """One log payload for EXEC: the watched (key, version, live) triples and the queued commands."""
    flat: list[bytes] = []
    for key, version, live in watches:
        flat += (key, b"%d" % version, b"1" if live else b"0")
    return _encoder.encode([EXEC, _encoder.encode(flat), *(_encoder.encode(list(cmd)) for cmd in commands)])


def decode_exec(args: list[bytes]) -> tuple[list[tuple[bytes, int, bool]], list[list[bytes]]]:
    """The inverse of encode_exec, from the decoded argument list (args[0] == EXEC)."""
    flat = _args_decoder.decode(args[1])
    watches = [(flat[i], int(flat[i + 1]), flat[i + 2] == b"1") for i in range(0, len(flat), 3)]
    return watches, [_args_decoder.decode(blob) for blob in args[2:]]
