"""The StateMachine contract that every replicated machine implements.

A state machine never learns which protocol replicates it, and imports nothing
of the replication core. The rules that keep replicas identical:

- `apply` is deterministic: it may read only its arguments and its own state.
  `ts_ms` is the leader's clock stamped into the entry, so a TTL computed from
  it means the same on every replica. No wall clock, no randomness, no I/O.
- `apply` never raises for bad client input: it returns a ReplyError value,
  so every replica records the same outcome. (A raise is treated as a bug: the
  host turns it into an error reply but the machine's state must be unchanged.)
- `apply` and `query` do bounded work: proportional to the command's bytes and
  the data it touches, never to a number the client chose (counts, ranges,
  offsets: clamped or refused; a reply whose size is such a number is refused
  above REPLY_BYTES_MAX), with integers read by `parse_int`. Nothing can stop a
  runaway apply (every replica runs the entry, and a timeout that fired on one
  replica only would split them), so this is the machine's duty; a
  CommandSpec.check refuses malformed commands before they are proposed, and
  apply validates again. docs/plugins.md ("Hostile input") has the whole rule.
- `query` serves reads from local state without the log. It never changes
  state and depends only on its arguments and the state: `now_ms` (the
  serving node's clock) only to hide expired data; a read random by
  definition (kv's RANDOMKEY, SRANDMEMBER) may use a local generator. Inside
  a transaction the node calls it at apply time with the entry's ts_ms:
  changing nothing, it cannot make replicas diverge, and seeing only the
  state at that log position and ts_ms, it gives the reply every replica
  would give (random reads aside, as in Redis).
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

Transactions (MULTI/EXEC, EmbeddedNode.transaction) need nothing from a
machine: the node applies a transaction as one log entry whose commands, of
any machines, run in order at that one index, writes through `apply(index,
command, ts_ms)` and reads through `query(request, ts_ms)`; each command's
result (or error) is its own, as in Redis. WATCH is optional, two methods a
machine may add (kv does):
- `watch_versions(keys, now_ms) -> [(version, live), ...]`: per key, a number
  that changes whenever the key does (kv: the log index of its last change),
  and whether the key is live (present, not expired) at now_ms. Read-only.
- `watched_unchanged(watches, ts_ms) -> bool`: given [(key, version, live),
  ...] as read by watch_versions, whether the transaction may run at ts_ms
  (False: nothing is applied and EXEC answers nil). Read-only, deterministic.
A machine without them answers WATCH with "ERR WATCH is not supported by
state machine '<name>'".

So several commands can be applied at one index. A machine for which that is
always harmless - its `index` only orders changes, it never names something
that must be unique, like a session id or a fencing token - may set the class
attribute `pipeline_entries = True` (kv does). The node then proposes the
writes of one client's pipeline burst for it as one entry (a transaction
without watches: each command keeps its own result): one proposal, one
stored entry and one apply step per burst instead of one per command, which
is most of a write's cost on the followers. The burst's fast reads of that
machine, between its writes, become steps of the same entry (queried at apply,
in order), so a mixed burst costs one round trip too.

The optional parts (housekeeping, snapshot_is_point_in_time, WATCH's two methods,
pipeline_entries) are declared as typed protocols in statemachines/hooks.py; the
node finds them with isinstance against those, never by name.

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


class RespDouble(bytes):
    """A double its command formatted itself (GEOPOS' coordinates: Redis' addReplyHumanLongDouble,
    "%.17Lf" without trailing zeros): a bulk string in RESP2, RESP3 `,<text>`. Only a
    CommandSpec.reply hook returns it (the plain result crossing the wire is the bytes)."""

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


# Replies every machine needs, in Redis' words.
BAD_ENCODING = ReplyError("ERR invalid command encoding")  # a payload that is not encode_args output
NOT_AN_INTEGER = ReplyError("ERR value is not an integer or out of range")

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


def parse_int(raw: bytes) -> int | None:
    """Redis' string2ll: optional '-', no '+', no spaces, no leading zeros, fits in int64.
    The one way machines read a client's integer: never int(), which accepts " +1_0 " and
    spends time quadratic in the digits a client chose before refusing them."""
    size = len(raw)
    if size == 0 or size > 20:
        return None
    if raw.isdigit():
        if raw[0] == 48 and size > 1:  # leading zero
            return None
    elif not (raw[0] == 45 and size > 1 and raw[1] != 48 and raw[1:].isdigit()):  # "-0" is rejected too
        return None
    value = int(raw)
    if value > INT64_MAX or value < INT64_MIN:
        return None
    return value


# Bounded work (docs/plugins.md): a command's work and reply are bounded by the data it touches
# and the bytes the client sent, never by a number the client chose. Where a reply's size is such
# a number (SRANDMEMBER key -count repeats members), it is refused above REPLY_BYTES_MAX, checked
# before anything is built: estimated from the largest element, so the check is O(data) too.
REPLY_BYTES_MAX = 64 << 20
REPLY_ITEM_OVERHEAD = 16  # RESP framing of one bulk string: "$<length>\r\n...\r\n"


def reply_bytes(result: Result) -> int:
    """About the size of a Result on the wire (RESP framing included, never much below it), in
    time linear in the result, at C speed for the usual flat list of strings."""
    kind = result.__class__
    if kind is bytes or kind is str:
        return len(result) + REPLY_ITEM_OVERHEAD
    if kind is list or kind is tuple:
        try:
            return sum(map(len, result)) + REPLY_ITEM_OVERHEAD * (len(result) + 1)
        except TypeError:  # not all strings: numbers, nils, nested arrays
            return sum(map(reply_bytes, result)) + REPLY_ITEM_OVERHEAD
    if kind is dict:
        return reply_bytes(list(result)) + reply_bytes(list(result.values()))
    if kind is ReplyError:
        return len(result.message) + REPLY_ITEM_OVERHEAD
    return 2 * REPLY_ITEM_OVERHEAD  # a number, nil, or a machine's own reply value


def reply_too_large(count: int, item_bytes: int) -> ReplyError | None:
    """The error for a reply of `count` items of up to `item_bytes` each, if over REPLY_BYTES_MAX."""
    if count * (item_bytes + REPLY_ITEM_OVERHEAD) <= REPLY_BYTES_MAX:
        return None
    return ReplyError(
        f"ERR value is out of range: a reply of {count} elements would exceed the reply limit "
        f"of {REPLY_BYTES_MAX} bytes"
    )


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
    subcommands: a container command (XGROUP, XINFO): one CommandSpec per
        subcommand, named "container|sub", with its own arity (counting the
        container's name), flags, keys, check and reply. The container itself
        has neither "write" nor "readonly": the frontend routes each call by its
        subcommand's flags (an unknown subcommand is answered there). The
        machine still receives the whole argument list, container name first.
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
    subcommands: tuple[CommandSpec, ...] = field(default=(), compare=False, repr=False)

    @property
    def is_write(self) -> bool:
        """Whether a call may change state (a container: whether any of its subcommands may)."""
        return "write" in self.flags or any(sub.is_write for sub in self.subcommands)


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


# --- names ------------------------------------------------------------------------------------
# A name beginning with "__" belongs to the node itself: TRANSACTIONS addresses
# its transaction executor (replicator/transactions.py), which runs other
# machines' commands. The registry, the config and NodeHost refuse such a name
# for a machine, so no plugin can shadow it.
TRANSACTIONS = "__transactions__"
# PUBSUB addresses the node's published messages (PUBLISH, SPUBLISH): applying such an entry
# changes no machine; the node hands its payload to whoever subscribed (NodeHost.on_published).
PUBSUB = "__pubsub__"


def reserved_name(name: str) -> bool:
    return name.startswith("__")


# --- optional: internal queries a frontend may send ----------------------------------------
# Not among a machine's CommandSpecs, so no client can send them; a machine
# without one answers "unknown command" and the frontend shows nothing for it.
#   query(KEYSPACE_INFO) -> [[db, keys, keys with a TTL], ...] for every database holding keys
#   (INFO keyspace's dbN:keys=K,expires=E lines).
KEYSPACE_INFO = b"__keyspace__"
#   query(KEY_TYPES, key, ...) -> per key its TYPE name ("none": absent), read without side effects
#   (no keyspace event): whether a blocked client's key can serve it now (frontends/resp/blocking.py).
KEY_TYPES = b"__types__"

# --- optional: databases (Redis' SELECT) ------------------------------------------------------
# A machine with numbered databases (hooks.Databases, kv has them) receives a command the
# client sent in database N > 0 wrapped as encode_args([IN_DB, b"N", *args]); database 0's
# commands arrive unwrapped, so a machine without databases never sees IN_DB unless a
# client SELECTs one, which the frontend allows only when the machine has databases.
IN_DB = b"__db__"

# --- optional: the user a script runs as (Redis ACL inside scripts) ---------------------------
# A script or function call (EVAL*, EVALSHA*, FCALL, FCALL_RO) sent by a client authenticated as
# a user other than `default` reaches the machine wrapped as encode_args([AS_USER, user, *args])
# (outside IN_DB: [AS_USER, user, IN_DB, b"N", *args]); an unwrapped one runs as `default`. A
# machine with hooks.ScriptUsers checks each redis.call of the script against that user's ACL
# rules, at apply, through its node-local hooks.ScriptPermissions. Not among a machine's
# CommandSpecs, so no client can send it (the frontend refuses an unknown command).
AS_USER = b"__as_user__"
