"""A tiny deterministic state machine for the simulator: a handful of registers.

Commands (msgpack lists, see `encode_*`):

- ``put key value``          -> the value the register held before (None if unset)
- ``cas key expected new``   -> ``[swapped, previous]``: swapped is 1 iff previous == expected
- ``get key`` (query only)   -> the value (None if unset)

Every write answers with the state it found, so each completed operation of the
client history reveals the register's value just before it took effect. That
makes the linearizability check (history.py) sharp: an acknowledged write that
was lost, or applied twice, or out of order, shows up as a state no ordering
can explain.

The machine also keeps a running digest of every command it applied (index
and bytes), so two replicas at the same applied index can compare their
snapshot bytes and catch a divergence the register values alone would hide.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import ClassVar

import msgspec

from statemachines import CommandSpec, ReplyError, Result

_enc = msgspec.msgpack.Encoder()
_cmd_dec = msgspec.msgpack.Decoder(list[bytes | None])
_head_dec = msgspec.msgpack.Decoder(tuple[int, bytes, int])
_item_dec = msgspec.msgpack.Decoder(tuple[bytes, bytes])


def encode_put(key: bytes, value: bytes) -> bytes:
    return _enc.encode([b"put", key, value])


def encode_cas(key: bytes, expected: bytes | None, new: bytes) -> bytes:
    return _enc.encode([b"cas", key, expected, new])


def encode_get(key: bytes) -> bytes:
    return _enc.encode([b"get", key])


class Registers:
    """put / cas / get over a small key space; deterministic; snapshot = sorted items."""

    name: ClassVar[str] = "registers"

    def __init__(self) -> None:
        self.values: dict[bytes, bytes] = {}
        self.applied = 0  # last index this machine applied (or restored to)
        self.digest = b"\0" * 16  # chain hash over (index, command) of everything applied

    def commands(self) -> Iterable[CommandSpec]:
        return (
            CommandSpec("put", 3, frozenset({"write"}), 1, 1, 1),
            CommandSpec("cas", 4, frozenset({"write"}), 1, 1, 1),
            CommandSpec("get", 2, frozenset({"readonly"}), 1, 1, 1),
        )

    def apply(self, index: int, command: bytes, ts_ms: int) -> Result:
        self.applied = index  # the host applies each index once, in order (the sim checks it)
        self.digest = hashlib.blake2b(self.digest + index.to_bytes(8, "big") + command, digest_size=16).digest()
        try:
            args = _cmd_dec.decode(command)
        except msgspec.DecodeError:
            return ReplyError("ERR malformed command")
        op = args[0] if args else None
        if op == b"put" and len(args) == 3 and args[1] is not None and args[2] is not None:
            prev = self.values.get(args[1])
            self.values[args[1]] = args[2]
            return prev
        if op == b"cas" and len(args) == 4 and args[1] is not None and args[3] is not None:
            prev = self.values.get(args[1])
            if prev == args[2]:
                self.values[args[1]] = args[3]
                return [1, prev]
            return [0, prev]
        return ReplyError("ERR unknown command")

    def query(self, request: bytes, now_ms: int) -> Result:
        args = _cmd_dec.decode(request)
        if len(args) == 2 and args[0] == b"get" and args[1] is not None:
            return self.values.get(args[1])
        return ReplyError("ERR unknown query")

    def snapshot(self) -> Iterator[bytes]:
        # One chunk per register (after a header), so snapshots travel in several
        # InstallSnapshot chunks and the chunked path gets exercised.
        yield _enc.encode((self.applied, self.digest, len(self.values)))
        for item in sorted(self.values.items()):
            yield _enc.encode(item)

    def restore(self, chunks: Iterable[bytes]) -> None:
        it = iter(chunks)
        head = next(it, None)
        if head is None:
            self.values, self.applied, self.digest = {}, 0, b"\0" * 16
            return
        applied, digest, count = _head_dec.decode(head)
        self.values = dict(_item_dec.decode(next(it)) for _ in range(count))
        self.applied = applied
        self.digest = digest

    def state_bytes(self) -> bytes:
        """The snapshot as one bytes object (what replicas compare)."""
        return b"".join(self.snapshot())
