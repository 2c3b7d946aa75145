"""The built-in `locks` state machine: leases and locks with fencing tokens.

    LOCK.ACQUIRE name owner ttl_ms       -> fencing token, or nil if another owner holds it
    LOCK.RENEW name owner token ttl_ms   -> 1 if the lease was extended, 0 if it is lost
    LOCK.RELEASE name owner token        -> 1 if released, 0 if (owner, token) did not hold it
    LOCK.HOLDER name                     -> [owner, token, pttl_ms], or nil

The fencing token is the log index of the grant (Kleppmann, "How to do
distributed locking"): it increases with every grant of every lock, equals the
same number on every replica, and a resource that remembers the highest token
it has seen rejects a paused ex-holder's late writes.

A lease is measured on the entries' ts_ms (the leader's clock stamped into the
log), never on a replica's clock. Once ts_ms reaches the deadline the lease is
gone, whether or not the expiry has been reaped yet: ACQUIRE grants to the next
owner, RENEW and RELEASE by the old holder fail.

ACQUIRE by the owner that already holds the live lock returns the same token
and extends the lease: a client whose first ACQUIRE ended in "outcome unknown"
may simply send it again.

Expiry goes through the log: `housekeeping(now_ms)` on the leader returns one
internal LOCK.EXPIRE command naming the locks past their deadline; apply
deletes only those still past their deadline at the entry's ts_ms, so a late or
duplicated one is harmless. It is not among the declared commands, so the RESP
frontend never lets a client send it. Reads (LOCK.HOLDER) hide leases that are
past their deadline at the serving node's now_ms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar

import msgspec

from statemachines import (
    BAD_ENCODING,
    INT64_MAX,
    NOT_AN_INTEGER,
    CommandSpec,
    ReplyError,
    Result,
    decode_args,
    encode_args,
    parse_int,
)

__all__ = ["LocksMachine"]

MAGIC = "replicator-locks"
FORMAT_VERSION = 1
CHUNK_RECORDS = 4096
HOUSEKEEPING_LOCKS_MAX = 64
EXPIRE = b"LOCK.EXPIRE"  # internal: proposed by housekeeping only

TTL_MS_MAX = INT64_MAX // 2  # so that ts_ms + ttl stays an int64 (for any ts_ms before the year 146 million)
BAD_TTL = ReplyError(f"ERR invalid ttl: expected 1 to {TTL_MS_MAX} milliseconds")

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


class Lease:
    __slots__ = ("owner", "token", "deadline_ms")

    def __init__(self, owner: bytes, token: int, deadline_ms: int) -> None:
        self.owner = owner
        self.token = token
        self.deadline_ms = deadline_ms


Table = dict[bytes, Lease]


def _live(locks: Table, name: bytes, ms: int) -> Lease | None:
    lease = locks.get(name)
    return lease if lease is not None and lease.deadline_ms > ms else None


# --- handlers: (locks, args, index, ms) -> Result ---------------------------------------------
def acquire(locks: Table, args: list[bytes], index: int, ts: int) -> Result:
    name, owner, ttl = args[1], args[2], parse_int(args[3])
    if ttl is None or not 0 < ttl <= TTL_MS_MAX:
        return BAD_TTL
    lease = _live(locks, name, ts)
    if lease is None:
        locks[name] = Lease(owner, index, ts + ttl)
        return index
    if lease.owner == owner:  # a retry by the holder: same token, lease extended
        lease.deadline_ms = ts + ttl
        return lease.token
    return None


def renew(locks: Table, args: list[bytes], index: int, ts: int) -> Result:
    name, owner, token, ttl = args[1], args[2], parse_int(args[3]), parse_int(args[4])
    if token is None:
        return NOT_AN_INTEGER
    if ttl is None or not 0 < ttl <= TTL_MS_MAX:
        return BAD_TTL
    lease = _live(locks, name, ts)
    if lease is None or lease.owner != owner or lease.token != token:
        return 0
    lease.deadline_ms = ts + ttl
    return 1


def release(locks: Table, args: list[bytes], index: int, ts: int) -> Result:
    name, owner, token = args[1], args[2], parse_int(args[3])
    if token is None:
        return NOT_AN_INTEGER
    lease = _live(locks, name, ts)
    if lease is None or lease.owner != owner or lease.token != token:
        return 0
    del locks[name]
    return 1


def holder(locks: Table, args: list[bytes], index: int, ms: int) -> Result:
    lease = _live(locks, args[1], ms)
    return None if lease is None else [lease.owner, lease.token, lease.deadline_ms - ms]


def expire(locks: Table, args: list[bytes], index: int, ts: int) -> Result:
    """Internal: delete those of the named locks whose lease has run out at ts."""
    removed = 0
    for name in args[1:]:
        lease = locks.get(name)
        if lease is not None and lease.deadline_ms <= ts:
            del locks[name]
            removed += 1
    return removed


Handler = Callable[[Table, list[bytes], int, int], Result]


# Checks: pure validators the RESP frontend runs before proposing (CommandSpec.check), so
# a request with a syntax error never enters the log. apply validates again on its own.
def _check(token_at: int | None, ttl_at: int | None) -> Callable[[list[bytes]], ReplyError | None]:
    def check(args: list[bytes]) -> ReplyError | None:
        if token_at is not None and parse_int(args[token_at]) is None:
            return NOT_AN_INTEGER
        if ttl_at is not None:
            ttl = parse_int(args[ttl_at])
            if ttl is None or not 0 < ttl <= TTL_MS_MAX:
                return BAD_TTL
        return None

    return check


def _spec(
    name: str,
    arity: int,
    flags: str,
    summary: str,
    syntax: str,
    check: Callable[[list[bytes]], ReplyError | None] | None = None,
) -> CommandSpec:
    return CommandSpec(
        name=name,
        arity=arity,
        flags=frozenset(flags.split()),
        first_key=1,
        last_key=1,
        key_step=1,
        summary=summary,
        group="locks",
        syntax=syntax,
        check=check,
    )


COMMANDS: list[tuple[CommandSpec, Handler]] = [
    (
        _spec(
            "lock.acquire",
            4,
            "write fast",
            "Take a lease; returns its fencing token, or nil if held",
            "name owner ttl_ms",
            _check(None, 3),
        ),
        acquire,
    ),
    (
        _spec(
            "lock.renew",
            5,
            "write fast",
            "Extend a held lease; 1 if extended, 0 if lost",
            "name owner token ttl_ms",
            _check(3, 4),
        ),
        renew,
    ),
    (
        _spec(
            "lock.release",
            4,
            "write fast",
            "Give a lease back; 1 if released, 0 if not held",
            "name owner token",
            _check(3, None),
        ),
        release,
    ),
    (_spec("lock.holder", 2, "readonly fast", "[owner, token, pttl_ms] of a live lease, or nil", "name"), holder),
]

_WRITES: dict[bytes, tuple[Handler, int, str]] = {}
_READS: dict[bytes, tuple[Handler, int, str]] = {}
for _spec_, _handler in COMMANDS:
    _entry = (_handler, _spec_.arity, _spec_.name)
    for _key in (_spec_.name.encode(), _spec_.name.upper().encode()):  # the usual spellings need no .upper()
        _WRITES[_key] = _entry
        if not _spec_.is_write:
            _READS[_key] = _entry
_WRITES[EXPIRE] = (expire, -1, EXPIRE.decode().lower())


def _run(table: dict, locks: Table, payload: bytes, index: int, ms: int) -> Result:
    try:
        args = decode_args(payload)
    except msgspec.DecodeError:
        return BAD_ENCODING
    if not args:
        return BAD_ENCODING
    entry = table.get(args[0]) or table.get(args[0].upper())
    if entry is None:
        if table is _READS and args[0].upper() in _WRITES:
            return ReplyError(f"ERR '{args[0].decode('utf-8', 'replace').lower()}' is a write: it goes through the log")
        return ReplyError(f"ERR unknown command '{args[0][:128].decode('utf-8', 'replace')}'")
    handler, arity, name = entry
    n = len(args)
    if n != arity and (arity > 0 or n < -arity):
        return ReplyError(f"ERR wrong number of arguments for '{name}' command")
    return handler(locks, args, index, ms)


class LocksMachine:
    """Leases with fencing tokens. See the module docstring."""

    name: ClassVar[str] = "locks"

    def __init__(self) -> None:
        self._locks: Table = {}

    def commands(self) -> Iterable[CommandSpec]:
        return [spec for spec, _ in COMMANDS]

    def apply(self, index: int, command: bytes, ts_ms: int) -> Result:
        return _run(_WRITES, self._locks, command, index, ts_ms)

    def query(self, request: bytes, now_ms: int) -> Result:
        return _run(_READS, self._locks, request, 0, now_ms)

    def housekeeping(self, now_ms: int) -> list[bytes]:
        """One LOCK.EXPIRE naming locks whose lease ran out by the leader's now_ms."""
        due = sorted(name for name, lease in self._locks.items() if lease.deadline_ms <= now_ms)
        return [encode_args([EXPIRE, *due[:HOUSEKEEPING_LOCKS_MAX]])] if due else []

    # Snapshot: chunk 0 is [MAGIC, FORMAT_VERSION, lock count]; then flat arrays of
    # (name, owner, token, deadline_ms) records, names sorted, CHUNK_RECORDS a chunk.
    def snapshot(self) -> Iterator[bytes]:
        records = [(name, lock.owner, lock.token, lock.deadline_ms) for name, lock in sorted(self._locks.items())]
        return _chunks(records)

    def restore(self, chunks: Iterable[bytes]) -> None:
        it = iter(chunks)
        try:
            header = _decode(next(it))
        except StopIteration:
            self._locks = {}  # a node snapshot taken before this machine ran
            return
        if not (isinstance(header, list) and len(header) == 3 and header[0] == MAGIC):
            raise ValueError("not a locks snapshot")
        if header[1] != FORMAT_VERSION:
            raise ValueError(f"locks snapshot format {header[1]} is not supported (this build reads {FORMAT_VERSION})")
        locks: Table = {}
        for chunk in it:
            flat = _decode(chunk)
            for i in range(0, len(flat), 4):
                name, owner, token, deadline = flat[i : i + 4]
                locks[name] = Lease(owner, token, deadline)
        if len(locks) != header[2]:
            raise ValueError(f"locks snapshot is truncated: {len(locks)} of {header[2]} locks")
        self._locks = locks


def _chunks(records: list) -> Iterator[bytes]:
    yield _encode([MAGIC, FORMAT_VERSION, len(records)])
    for i in range(0, len(records), CHUNK_RECORDS):
        flat: list = []
        for record in records[i : i + CHUNK_RECORDS]:
            flat += record
        yield _encode(flat)
