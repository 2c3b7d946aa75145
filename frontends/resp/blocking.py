"""Blocking commands on one node: clients parked on keys, and when they try again.

BLPOP and its kin go through the log like any write, and the machine applies them without waiting
(statemachines/kv/blocking.py): a pop, or nil when every key is empty. XREAD BLOCK is a read served
the same way. The waiting is here. When the first attempt of a client that may block (not inside
MULTI or a script: those never reach this module) answers nil, the connection parks the client on
its keys (`BlockedClients.wait`) and the client's later input waits behind it, as in Redis. Every
key an applied entry changes on this node is reported (frontends/resp/key_changes.py, subscribed
only while someone waits); a change to a key wakes the client that has waited longest on it (FIFO,
as Redis serves one key's clients), or, for XREAD, which takes nothing, every reader. The woken
client reads the key's type locally and, when a pop could succeed, sends its command through the
log again. The pop that is applied first wins; a client that finds the key emptied by someone
else's pop (another node's client, or a LPOP) keeps waiting, still at the head of the line. A
client that leaves the line wakes the next one, so several elements pushed at once reach several
clients, one pop after another.

So a pop is one entry applied identically on every replica: two clients on two nodes never pop
the same element. What a waiting client costs: nothing at apply but one dict lookup per changed
key while anyone waits on this node, and one local read plus, when the key holds something, one
log entry per wake-up.

Timeouts follow Redis: seconds as a float (0: forever) for the pops, milliseconds for XREAD and
XREADGROUP BLOCK; on expiry the client gets the command's nil. CLIENT UNBLOCK ends a wait with
that nil (TIMEOUT) or "-UNBLOCKED" (ERROR).

An element popped for a client that has gone (its connection closed, or CLIENT KILL) while its
pop was in flight is not dropped: the pop's reply cannot reach anyone, so the element is pushed
back where it was taken from (LPUSH for BLPOP's, ZADD NX for BZPOPMIN's...), through the log, and
counted in INFO stats `blocked_pops_returned`. Redis loses such an element. What this cannot save
is a pop whose outcome is unknown (the leader died with the entry in flight): the client gets
"TRYAGAIN outcome unknown" and the element may be gone. A queue that must lose nothing moves jobs
with BLMOVE into a per-consumer processing list and removes them when done, Redis' reliable-queue
pattern (docs/operations.md).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from frontends.resp.key_changes import KeyChangeListeners
from frontends.resp.session import Session
from replicator.runtime.api import NoLeader, ReadConsistency, RequestError
from statemachines import KEY_TYPES, ReplyError, Result, parse_int
from statemachines.kv.blocking import parse_timeout_ms

log = logging.getLogger(__name__)

UNBLOCKED = ReplyError("UNBLOCKED client unblocked via CLIENT UNBLOCK")
NO_LEADER_RETRY_S = 0.1  # a waiting client whose pop found no leader tries again this much later


@dataclass(frozen=True, slots=True)
class BlockingCommand:
    """How one blocking command waits: its keys, its timeout, what makes trying worthwhile."""

    keys: Callable[[list[bytes]], list[bytes]]
    timeout_ms: Callable[[list[bytes]], int | None]  # None: this call does not block (XREAD without BLOCK)
    ready_type: str | None  # a key of this type can serve it (an empty list or zset is deleted); None: just try
    consumes: bool  # takes what it finds (a pop), so one change serves one waiter; XREAD reads and shares
    give_back: Callable[[list[bytes], Result], list[bytes] | None] | None = None  # undo a pop nobody received


def _seconds(position: int) -> Callable[[list[bytes]], int]:
    def timeout(args: list[bytes]) -> int:
        return parse_timeout_ms(args[position])  # valid: the command's check ran before it was sent

    return timeout


def _mpop_keys(args: list[bytes]) -> list[bytes]:
    return args[3 : 3 + parse_int(args[2])]


def _stream_options(args: list[bytes]) -> tuple[int | None, int]:
    """XREAD / XREADGROUP: (BLOCK milliseconds or None, index of the first key)."""
    block, i, n = None, 1, len(args)
    while i < n:
        word = args[i].lower()
        if word == b"streams":
            return block, i + 1
        if word == b"block":
            block = parse_int(args[i + 1])
            i += 2
        elif word == b"count":
            i += 2
        elif word == b"group":
            i += 3
        else:  # NOACK
            i += 1
    return block, n


def _stream_keys(args: list[bytes]) -> list[bytes]:
    _, at = _stream_options(args)
    return args[at : at + (len(args) - at) // 2]


def _stream_block(args: list[bytes]) -> int | None:
    return _stream_options(args)[0]


def _push_back(left: bool) -> Callable[[list[bytes], Result], list[bytes]]:
    def give_back(args: list[bytes], result: Result) -> list[bytes]:
        key, element = result
        return [b"LPUSH" if left else b"RPUSH", key, element]

    return give_back


def _mpop_back(args: list[bytes], result: Result) -> list[bytes]:
    key, elements = result
    if args[3 + parse_int(args[2])].lower() == b"left":
        return [b"LPUSH", key, *reversed(elements)]  # LPUSH a b c makes c b a: the original order back
    return [b"RPUSH", key, *elements]


def _zpop_back(args: list[bytes], result: Result) -> list[bytes]:
    key, member, score = result
    return [b"ZADD", key, b"NX", _score(score), member]


def _zmpop_back(args: list[bytes], result: Result) -> list[bytes]:
    key, pairs = result
    out = [b"ZADD", key, b"NX"]
    for member, score in pairs:
        out += (_score(score), member)
    return out


def _score(score: object) -> bytes:
    """A popped score as ZADD reads it back exactly (repr is the shortest round-tripping form)."""
    if isinstance(score, bytes):
        return score
    value = float(score)
    if math.isinf(value):
        return b"+inf" if value > 0 else b"-inf"
    return repr(value).encode()


BLOCKING: dict[str, BlockingCommand] = {
    "blpop": BlockingCommand(lambda a: a[1:-1], _seconds(-1), "list", True, _push_back(True)),
    "brpop": BlockingCommand(lambda a: a[1:-1], _seconds(-1), "list", True, _push_back(False)),
    "blmove": BlockingCommand(lambda a: a[1:2], _seconds(5), "list", True),  # the element is in the destination
    "brpoplpush": BlockingCommand(lambda a: a[1:2], _seconds(3), "list", True),
    "blmpop": BlockingCommand(_mpop_keys, _seconds(1), "list", True, _mpop_back),
    "bzpopmin": BlockingCommand(lambda a: a[1:-1], _seconds(-1), "zset", True, _zpop_back),
    "bzpopmax": BlockingCommand(lambda a: a[1:-1], _seconds(-1), "zset", True, _zpop_back),
    "bzmpop": BlockingCommand(_mpop_keys, _seconds(1), "zset", True, _zmpop_back),
    "xread": BlockingCommand(_stream_keys, _stream_block, None, False),  # the attempt is a read: no need to look first
    # XREADGROUP's delivered entries wait in the group's pending list (XPENDING, XCLAIM): never lost
    "xreadgroup": BlockingCommand(_stream_keys, _stream_block, None, True),
}


@dataclass(slots=True)
class Blocked:
    """A blocking command's first attempt found nothing and its client may wait: the connection
    awaits `BlockedClients.wait(this, ...)` in the reply's place (server.py)."""

    name: str
    args: list[bytes]
    db: int
    machine: str
    write: bool
    reply: Callable[[list[bytes], Result, int], Result] | None  # the CommandSpec.reply for the final result


@dataclass(slots=True, eq=False)
class _Waiter:
    session: Session
    db: int
    keys: list[bytes]
    consumes: bool
    wake: trio.Event = field(default_factory=trio.Event)
    unblocked: ReplyError | None = None  # CLIENT UNBLOCK's answer: the command's nil (None in `result`) or UNBLOCKED
    unblock_requested: bool = False


class BlockedClients:
    """This node's waiting clients, by key (FIFO) and by client id."""

    def __init__(self, node, key_changes: KeyChangeListeners, payload: Callable[[str, int, list[bytes]], bytes]):
        self.node = node
        self.key_changes = key_changes
        self.payload = payload  # Gate.payload: a command for a machine, in a database
        self._lines: dict[tuple[int, bytes], deque[_Waiter]] = {}
        self._by_client: dict[int, _Waiter] = {}
        self.returned = 0  # elements pushed back because their client had gone (INFO stats)

    @property
    def available(self) -> bool:
        """Whether clients can wait here: the node reports key changes."""
        return self.key_changes.available

    def __len__(self) -> int:
        return len(self._by_client)

    def is_blocked(self, client_id: int) -> bool:
        return client_id in self._by_client

    # --- the lines -------------------------------------------------------------------------------
    def _join(self, waiter: _Waiter) -> None:
        if not self._by_client:
            self.key_changes.add(self._changed)
        self._by_client[waiter.session.id] = waiter
        for key in dict.fromkeys(waiter.keys):
            self._lines.setdefault((waiter.db, key), deque()).append(waiter)

    def _leave(self, waiter: _Waiter) -> None:
        if self._by_client.pop(waiter.session.id, None) is None:
            return
        for key in dict.fromkeys(waiter.keys):
            line = self._lines.get((waiter.db, key))
            if line is None:
                continue
            try:
                line.remove(waiter)
            except ValueError:
                pass
            if line:
                _wake_front(line)  # what this client did not take may serve the next one
            else:
                del self._lines[waiter.db, key]
        if not self._by_client:
            self.key_changes.remove(self._changed)

    def _changed(self, db: int | None, key: bytes | None) -> None:
        """A key changed at apply (KeyChangeListeners): wake whom it may serve."""
        if key is not None:
            line = self._lines.get((db, key))
            if line:
                _wake_front(line)
            return
        for (line_db, _), line in self._lines.items():  # a whole database (or all) changed
            if db is None or line_db == db:
                _wake_front(line)

    def unblock(self, client_id: int, error: bool) -> bool:
        """CLIENT UNBLOCK: end a client's wait with its nil (error False) or UNBLOCKED."""
        waiter = self._by_client.get(client_id)
        if waiter is None:
            return False
        waiter.unblock_requested = True
        waiter.unblocked = UNBLOCKED if error else None
        waiter.wake.set()
        return True

    # --- one client's wait -----------------------------------------------------------------------------
    async def wait(
        self,
        blocked: Blocked,
        session: Session,
        level: ReadConsistency,
        hung_up: Callable[[], Awaitable[None]],
        gone: Callable[[], bool],
    ) -> Result:
        """Wait until the command succeeds, times out or is unblocked; the raw result (None: nil).
        `hung_up` returns once the client has closed its connection (then the wait ends); `gone`
        says whether it has, without waiting. A result for a client that has gone is never
        answered (BrokenResourceError ends its connection): what it popped goes back."""
        spec = BLOCKING[blocked.name]
        timeout_ms = spec.timeout_ms(blocked.args)
        deadline = math.inf if not timeout_ms else trio.current_time() + timeout_ms / 1000
        args = blocked.args
        if blocked.name == "xread":
            args = await self._resolve_dollars(blocked, session, level)
            if type(args) is not list:
                return args  # the read failed: its error
        waiter = _Waiter(session, blocked.db, spec.keys(args), spec.consumes)
        self._join(waiter)
        try:
            while True:
                waiter.wake = trio.Event()  # before looking: a change from now on is not missed
                if spec.ready_type is None or await self._may_serve(blocked, waiter, spec.ready_type):
                    result = await self._attempt(blocked, args, session, level)
                    if result is not None and type(result) is not NoLeader:
                        if gone():
                            if spec.give_back is not None and type(result) is list:
                                self._give_back(blocked, spec, result)
                            raise trio.BrokenResourceError("the client left while its command was served")
                        return result
                    if type(result) is NoLeader:  # nothing was proposed: try again a little later
                        deadline_retry = min(deadline, trio.current_time() + NO_LEADER_RETRY_S)
                        with trio.move_on_at(deadline_retry):
                            await waiter.wake.wait()
                        waiter.wake.set()
                if waiter.unblock_requested:
                    return waiter.unblocked
                if not await _wait_for_wake(waiter.wake, deadline, hung_up):
                    return None  # timed out, or the client left (nobody reads this nil)
                if waiter.unblock_requested:
                    return waiter.unblocked
        finally:
            self._leave(waiter)

    async def _may_serve(self, blocked: Blocked, waiter: _Waiter, ready_type: str) -> bool:
        """Whether one of the keys holds a value of the type that serves this command, in this
        node's state (local: the change that woke us was applied here)."""
        read = [(blocked.machine, self.payload(blocked.machine, blocked.db, [KEY_TYPES, *waiter.keys]))]
        (types,) = await self.node.read_batch(read, ReadConsistency.STALE).wait()
        return type(types) is list and ready_type in types

    async def _attempt(self, blocked: Blocked, args: list[bytes], session: Session, level: ReadConsistency) -> Result:
        """The command again, without waiting: a write through the log, XREAD as a read. Shielded:
        a pop in flight is seen through even if the client is killed meanwhile (its element must be
        given back, not dropped)."""
        request = [(blocked.machine, self.payload(blocked.machine, blocked.db, args))]
        with trio.CancelScope(shield=True):
            if blocked.write:
                waiter = self.node.submit_batch(request)
            else:
                waiter = self.node.read_batch(request, level, session.seen_index)
            (result,) = await waiter.wait()
            session.observe(waiter.index)
        if isinstance(result, RequestError) and type(result) is not NoLeader:
            return ReplyError(str(result))
        return result

    def _give_back(self, blocked: Blocked, spec: BlockingCommand, result: Result) -> None:
        """Push back an element popped for a client that has gone (module docstring)."""
        command = spec.give_back(blocked.args, result)
        if command is None:
            return
        self.returned += 1
        log.info("a blocked client left with its pop in flight: its element goes back (%s)", blocked.name)
        self.node.submit_batch([(blocked.machine, self.payload(blocked.machine, blocked.db, command))])

    async def _resolve_dollars(self, blocked: Blocked, session: Session, level: ReadConsistency) -> list | Result:
        """XREAD BLOCK ... $: `$` means the stream's last ID when the wait begins. The first attempt
        returned nothing, so the wait begins now: read each such stream's last ID and wait for
        entries after it."""
        args = list(blocked.args)
        _, at = _stream_options(args)
        count = (len(args) - at) // 2
        dollars = [i for i in range(count) if args[at + count + i] == b"$"]
        if not dollars:
            return args
        reads = [
            (blocked.machine, self.payload(blocked.machine, blocked.db, [b"XINFO", b"STREAM", args[at + i]]))
            for i in dollars
        ]
        waiter = self.node.read_batch(reads, level, session.seen_index)
        results = await waiter.wait()
        for i, info in zip(dollars, results):
            if isinstance(info, RequestError):
                return ReplyError(str(info))
            args[at + count + i] = _last_id(info)
        return args


def _last_id(info: Result) -> bytes:
    """XINFO STREAM's last-generated-id; a missing stream (an error reply) counts as 0-0."""
    if type(info) is dict:
        return info.get(b"last-generated-id", b"0-0")
    return b"0-0"


def _wake_front(line: deque[_Waiter]) -> None:
    """Wake the waiters a change may serve: readers up to and including the first consumer."""
    for waiter in line:
        waiter.wake.set()
        if waiter.consumes:
            return


async def _wait_for_wake(wake: trio.Event, deadline: float, hung_up: Callable[[], Awaitable[None]]) -> bool:
    """Wait for `wake`; False if the deadline passed or the client hung up first."""
    woken = False
    with trio.move_on_at(deadline):
        async with trio.open_nursery() as nursery:

            async def watch_hangup() -> None:
                await hung_up()
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_hangup)
            await wake.wait()
            woken = True
            nursery.cancel_scope.cancel()
    return woken


def blocked_reply(blocked: Blocked, result: Result, protocol: int) -> Result:
    """The final result as the client sees it (the command's reply shape; None is its nil)."""
    if blocked.reply is None or type(result) is ReplyError:
        return result
    return blocked.reply(blocked.args, result, protocol)
