"""Transactions: commands of any machines applied as one log entry (MULTI/EXEC).

A NORMAL entry names the machine that applies it; the reserved name
TRANSACTIONS (statemachines.TRANSACTIONS) names the node itself, and its
command is an encoded `Transaction`: the WATCHed keys with the versions read
at WATCH time, then the steps, each (machine, command, write). NodeHost hands
such entries to `Transactions.apply`, which

1. asks each watched machine's `watched_unchanged(watches, ts_ms)`; if one
   says no (or cannot say: no such machine, no WATCH support), the result is
   None (EXEC's nil) and nothing is applied;
2. runs the steps in order at this one index: a write through
   `apply(index, command, ts_ms)`, a read through `query(command, ts_ms)`.
   A read sees the writes before it, and with the entry's ts_ms it is
   deterministic (the contract in statemachines/__init__.py: query changes
   nothing and depends only on the state and its arguments), so every replica
   computes the same results;
3. returns the list of the steps' results. As in Redis, a failing command
   does not abort the others: a ReplyError result, or a machine that raises
   (a bug; logged) gives that step its own error reply, and the next step runs.
   Unlike Redis, reads stop running once the results exceed REPLY_BYTES_MAX
   (see _run_steps): a transaction's work is bounded on every replica.

Nothing here is machine-specific, so a plugin gets MULTI/EXEC for free, across
machines too. Reads of WATCH versions go through `Transactions.query` (a
`WatchRead`), which calls the machine's optional `watch_versions`.

The transaction travels as the command bytes of an ordinary proposal to the
machine named TRANSACTIONS, so forwarding from a follower, waiting, loss
reporting and the result's wire encoding are those of any write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

import msgspec

from statemachines import PUBSUB, REPLY_BYTES_MAX, ReplyError, Result, StateMachine, reply_bytes
from statemachines.hooks import Databases, Watchable

log = logging.getLogger(__name__)

# Also the answer of a pipeline entry's reads past the limit (driver.submit_pipeline).
EXEC_REPLY_TOO_LARGE = ReplyError(
    f"ERR not run: the earlier replies of its transaction or pipeline entry exceed "
    f"the reply limit of {REPLY_BYTES_MAX} bytes"
)


class Step(msgspec.Struct, array_like=True, frozen=True):
    """One queued command: applied (write) or queried (read) on `machine`."""

    machine: str
    command: bytes
    write: bool


class Watch(msgspec.Struct, array_like=True, frozen=True):
    """A WATCHed key of `machine`, with what its watch_versions said at WATCH time."""

    machine: str
    key: bytes
    version: int
    live: bool
    db: int = 0  # the key's database, on a machine with databases (hooks.Databases)


class Transaction(msgspec.Struct, array_like=True, frozen=True):
    watches: tuple[Watch, ...]
    steps: tuple[Step, ...]


class WatchRead(msgspec.Struct, array_like=True, frozen=True):
    """WATCH's read: the keys' versions on `machine` (Transactions.query)."""

    machine: str
    keys: tuple[bytes, ...]
    db: int = 0  # their database, on a machine with databases (hooks.Databases)


_encoder = msgspec.msgpack.Encoder()
_transaction_decoder = msgspec.msgpack.Decoder(Transaction)
_watch_read_decoder = msgspec.msgpack.Decoder(WatchRead)


def encode_transaction(
    steps: Iterable[tuple[str, bytes, bool]], watches: Iterable[tuple[str, bytes, int, bool]] = ()
) -> bytes:
    """The command of a TRANSACTIONS proposal: steps (machine, command, write) and
    watches (machine, key, version, live[, db]). Plain tuples encode exactly as the
    array-like Structs decode_transaction reads, and skip building a Struct per
    step (a pipeline entry holds a whole burst)."""
    return _encoder.encode((tuple(map(tuple, watches)), tuple(map(tuple, steps))))


def decode_transaction(data: bytes) -> Transaction:
    return _transaction_decoder.decode(data)


def encode_watch_read(machine: str, keys: Iterable[bytes], db: int = 0) -> bytes:
    return _encoder.encode(WatchRead(machine, tuple(keys), db))


def decode_watch_read(data: bytes) -> WatchRead:
    return _watch_read_decoder.decode(data)


class _Published:
    """The node's PUBSUB target as a step of a transaction (PUBLISH inside MULTI): applying it
    hands the message to `deliver` (NodeHost.on_published's caller), as a PUBSUB entry does."""

    def __init__(self, deliver: Callable[[bytes], None]) -> None:
        self.deliver = deliver

    def apply(self, index: int, command: bytes, ts_ms: int) -> Result:
        self.deliver(command)
        return None

    def query(self, command: bytes, ts_ms: int) -> Result:
        return ReplyError("ERR published messages cannot be read")


class Transactions:
    """The node's transaction executor over its machines (the same dict NodeHost applies to);
    with `published`, steps may also publish (statemachines.PUBSUB, PUBLISH inside MULTI)."""

    def __init__(self, machines: Mapping[str, StateMachine], published: Callable[[bytes], None] | None = None) -> None:
        self.machines = machines if published is None else {**machines, PUBSUB: _Published(published)}

    def apply(self, index: int, command: bytes, ts_ms: int) -> Result:
        """None if a watch no longer holds (nothing applied), else every step's result."""
        try:
            txn = decode_transaction(command)
        except msgspec.DecodeError:
            return ReplyError("ERR invalid transaction encoding")
        if txn.watches:
            try:
                if not self._watches_hold(txn.watches, ts_ms):
                    return None
            except Exception as exc:  # a machine bug: refuse the whole transaction, apply nothing
                log.exception("state machine raised checking watches at index %d", index)
                return ReplyError(f"ERR state machine error: {exc}")
        return self._run_steps(txn.steps, index, ts_ms)

    def _run_steps(self, steps: tuple[Step, ...], index: int, ts_ms: int) -> list[Result]:
        """Every step, in order; reads only while the results so far stay within REPLY_BYTES_MAX.

        Every replica runs a transaction's reads, at apply time, and a restart replays
        them: an EXEC of thousands of reads (KEYS *, SRANDMEMBER key -count), each
        bounded alone, would hold every replica for their sum, again after each restart.
        So once the results pass the reply limit, the remaining reads are not run and
        answer an error (writes always run: the replicas' states depend on them). Where
        that point falls may differ between replicas (random reads differ), which changes
        only replies that replica does not send: reads change no state."""
        machines, results, budget = self.machines, [], REPLY_BYTES_MAX
        for step in steps:
            if step.write:
                results.append(run_command(machines, step.machine, step.command, True, index, ts_ms))
            elif budget < 0:
                results.append(EXEC_REPLY_TOO_LARGE)
            else:
                result = run_command(machines, step.machine, step.command, False, index, ts_ms)
                budget -= reply_bytes(result)
                results.append(result)
        return results

    def query(self, request: bytes, now_ms: int) -> Result:
        """WATCH's read: [version, live, version, live, ...] for the keys, live 1 or 0."""
        try:
            read = decode_watch_read(request)
        except msgspec.DecodeError:
            return ReplyError("ERR invalid WATCH encoding")
        machine = self.machines.get(read.machine)
        if machine is None:
            return ReplyError(f"ERR no state machine named '{read.machine}' on this node")
        if not isinstance(machine, Watchable):
            return ReplyError(f"ERR WATCH is not supported by state machine '{read.machine}'")
        if read.db and not isinstance(machine, Databases):
            return ReplyError(f"ERR state machine '{read.machine}' has no databases")
        versions = (
            machine.watch_versions(list(read.keys), now_ms, db=read.db)
            if read.db
            else machine.watch_versions(list(read.keys), now_ms)
        )
        out: list[int] = []
        for version, live in versions:
            out += (version, 1 if live else 0)
        return out

    def _watches_hold(self, watches: tuple[Watch, ...], ts_ms: int) -> bool:
        by_machine: dict[tuple[str, int], list[tuple[bytes, int, bool]]] = {}
        for w in watches:
            by_machine.setdefault((w.machine, w.db), []).append((w.key, w.version, w.live))
        for (name, db), keys in by_machine.items():
            machine = self.machines.get(name)
            if not isinstance(machine, Watchable):
                return False  # a machine without WATCH, or a watch that was never read: never holds
            if db:
                if not isinstance(machine, Databases) or not machine.watched_unchanged(keys, ts_ms, db=db):
                    return False
            elif not machine.watched_unchanged(keys, ts_ms):
                return False
        return True


def run_command(
    machines: Mapping[str, StateMachine], name: str, command: bytes, write: bool, index: int, ts_ms: int
) -> Result:
    """One command on one machine at a log position: its result, or its own error reply."""
    machine = machines.get(name)
    if machine is None:
        return ReplyError(f"ERR no state machine named '{name}' on this node")
    try:
        return machine.apply(index, command, ts_ms) if write else machine.query(command, ts_ms)
    except Exception as exc:  # a machine bug must not take the node down
        log.exception("state machine %s raised at index %d", name, index)
        return ReplyError(f"ERR state machine error: {exc}")
