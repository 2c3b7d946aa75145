"""Client-side caching on one node (CLIENT TRACKING): who may cache which key, and the invalidations.

Redis' tracking.c, in this node's frontend. A tracking session (Session.tracking, a ClientTracking)
that reads keys is remembered in `Tracking.table` (key -> sessions); when the node APPLIES a change
to such a key (statemachines.hooks.KeyEvents, through frontends/resp/key_changes.py), the key leaves
the table and each of those sessions is told: a RESP3 push `>2 invalidate [key]`, or with REDIRECT
the same push to the redirect target (RESP3), or a `__redis__:invalidate` pub/sub message to a RESP2
target in subscriber mode. Every node applies every entry, so a write sent to any node of the
cluster invalidates the readers of every node. A flushed database (FLUSHDB, FLUSHALL, SWAPDB, a
snapshot installed) is a null invalidation to every tracking session. As in Redis the table is one
for every database (a key is a key whatever its database).

BCAST sessions are not in the table: they are told about every changed key that starts with one of
their prefixes (PrefixTable), gathered while the node applies and sent once that apply is over (Redis
sends them before its event loop sleeps: here, soon after, and before the next command is routed),
one message per prefix with the keys in byte order.

When a key is remembered: at ROUTE time, before the read is served (gate.py calls `remember` for a
read command of a tracking session; a read queued in MULTI is remembered when queued). A change
applied after that is pushed to the connection's queue after the read's reply (the reply's place is
taken when the command is routed), so a client never keeps a value older than its last invalidation:
remembering earlier than Redis only adds invalidations, never loses one.

NOLOOP: a session's own writes are marked at route (`own_write`, per key, oldest first) and the
first change of a marked key is taken as that write's: it does not invalidate the session, which stays
in the table for the key (a read pipelined after its write caches the value written). Redis runs one
command at a time and knows which client changed a key. Here a change from elsewhere that lands
BEFORE the session's own write applies is taken for its own. That is right when the own write then
changes the key (its value is the last), but not when it leaves the key unchanged (SET NX on an
existing key): the one case where a NOLOOP session misses an invalidation it would get from Redis.
Writes inside MULTI are not marked (their changes invalidate, as without NOLOOP).

Delivery: a session that tracks, or that is named as a REDIRECT target, is woken by a push while it
waits for input (Session.pushed_to); a RESP3 redirect target that is neither subscribed nor tracking
and already idle when it is named hears its first invalidation with its next request.

The node's key changes are listened to while some session tracks or the table still holds keys (a
node where nobody tracks pays nothing once the keys read while someone did have changed or been
flushed). Bounds: the table holds at most max_keys keys (Redis' tracking-table-max-keys default, 1M): past it
the longest-tracked key is invalidated and forgotten. A closed session leaves the table lazily
(skipped and dropped at the key's next change), as in Redis.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import trio

from frontends.resp.key_changes import KeyChangeListeners
from frontends.resp.protocol import string2ll
from frontends.resp.replies import Push, RawReply, encode
from frontends.resp.session import Session

INVALIDATE_CHANNEL = b"__redis__:invalidate"
TRACKING_TABLE_MAX_KEYS = 1_000_000  # Redis' tracking-table-max-keys default

# Read commands whose keys move with their arguments (first_key 0 in the table): where their keys are.
_NUMKEYS_AT_1 = frozenset({"zunion", "zinter", "zdiff", "sintercard", "zintercard"})
# Scripts and functions: numkeys, then the keys they declare (what they read runs at apply).
SCRIPT_CALLS = frozenset({"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"})


@dataclass(slots=True, eq=False)
class ClientTracking:
    """One session's CLIENT TRACKING state (Session.tracking while tracking is on)."""

    session: Session
    redirect: int = 0  # the client id invalidations go to (0: this connection)
    redirect_to: Session | None = None
    bcast: bool = False
    optin: bool = False
    optout: bool = False
    noloop: bool = False
    caching: bool = False  # CLIENT CACHING yes|no given for the next command (or transaction)
    broken_redirect: bool = False  # the redirect target went away
    prefixes: dict[bytes, None] = field(default_factory=dict)  # BCAST's (b"" without PREFIX)
    # NOLOOP: key -> its own writes in flight not yet seen changing it (oldest first: log order)
    own_writes: dict[bytes, deque] = field(default_factory=dict)

    def consume_own_write(self, key: bytes) -> bool:
        """A change of `key` at apply: is it the session's own write's? (NOLOOP) The oldest own
        write of the key in flight takes it: one change per write, so a change from elsewhere that
        lands after it reaches the session."""
        line = self.own_writes.get(key)
        if not line:
            return False
        line.popleft()
        if not line:
            del self.own_writes[key]
        return True

    def remembers_reads(self) -> bool:
        """Redis' trackingRememberKeys: not in BCAST, and OPTIN/OPTOUT as CLIENT CACHING says."""
        if self.bcast:
            return False
        if self.optin:
            return self.caching
        if self.optout:
            return not self.caching
        return True


def command_keys(cmd, args: list[bytes]) -> list[bytes]:
    """The keys of a command as the table's key positions say (and the numkeys reads' keys)."""
    first = cmd.first_key
    if first <= 0:
        name = cmd.name
        at = 1 if name in _NUMKEYS_AT_1 else 2 if name in SCRIPT_CALLS else 0
        if at and len(args) > at:
            count = string2ll(args[at])
            return args[at + 1 : at + 1 + count] if count is not None and count > 0 else []
        if name == "xread" or name == "xreadgroup":
            upper = [arg.upper() for arg in args]
            if b"STREAMS" in upper:
                rest = args[upper.index(b"STREAMS") + 1 :]
                return rest[: len(rest) // 2]
        return []
    last = cmd.last_key
    if last < 0:
        last += len(args)
    return args[first : last + 1 : cmd.key_step or 1]


class Tracking:
    """This node's tracking table, BCAST prefixes and the sessions that track."""

    def __init__(self, key_changes: KeyChangeListeners, max_keys: int = TRACKING_TABLE_MAX_KEYS) -> None:
        self.key_changes = key_changes
        self.max_keys = max_keys
        # Sessions by id (a Session compares by value, so it is no dict key)
        self.clients: dict[int, Session] = {}  # every tracking session (flush: a null to each)
        self.table: dict[bytes, dict[int, Session]] = {}  # key -> sessions that may cache it
        self.prefixes: dict[bytes, dict[int, Session]] = {}  # BCAST prefix -> its sessions
        # BCAST: prefix -> key -> the id of the NOLOOP session that changed it last (0: someone
        # else), gathered while the node applies, sent by broadcast
        self.bcast_keys: dict[bytes, dict[bytes, int]] = {}
        self.broadcast_due = False

    # --- CLIENT TRACKING on / off ----------------------------------------------------------------
    def enable(self, tracking: ClientTracking, new_prefixes: list[bytes]) -> None:
        """Redis' enableTracking: `tracking` (already updated with its options) starts or goes on."""
        session = tracking.session
        self.key_changes.add(self.changed)  # (again: nothing happens if it listens already)
        self.clients[session.id] = session
        session.tracking = tracking
        session.pushed_to = True
        if tracking.redirect_to is not None:
            tracking.redirect_to.pushed_to = True
        if tracking.bcast:
            for prefix in new_prefixes or [b""]:
                if prefix not in tracking.prefixes:
                    tracking.prefixes[prefix] = None
                    self.prefixes.setdefault(prefix, {})[session.id] = session

    def disable(self, session: Session) -> None:
        """Redis' disableTracking (CLIENT TRACKING off, RESET, the connection closed)."""
        tracking = session.tracking
        if tracking is None:
            return
        session.tracking = None
        for prefix in tracking.prefixes:
            members = self.prefixes.get(prefix)
            if members is not None:
                members.pop(session.id, None)
                if not members:
                    del self.prefixes[prefix]
                    self.bcast_keys.pop(prefix, None)
        self.clients.pop(session.id, None)
        self._quiet_when_idle()

    def _quiet_when_idle(self) -> None:
        """Stop listening to the node once nobody tracks and the table is empty. While keys are
        left, the table follows their changes as Redis' does: a session that turns tracking off,
        then on again, still hears about the keys it read before, unless they changed meanwhile."""
        if not self.clients and not self.table:
            self.key_changes.remove(self.changed)

    # --- what a tracking session's commands do ---------------------------------------------------
    def remember(self, session: Session, keys: list[bytes]) -> None:
        """A read of `keys` by a tracking session is about to be served: invalidate them for it later.
        Past max_keys, the longest-tracked keys are invalidated now and forgotten (Redis'
        trackingLimitUsedSlots, which picks them at random): the table stays bounded whatever the
        clients read."""
        table = self.table
        for key in keys:
            members = table.get(key)
            if members is None:
                table[key] = {session.id: session}
                if len(table) > self.max_keys:
                    self._invalidate(next(iter(table)), None)
            else:
                members[session.id] = session

    def own_write(self, tracking: ClientTracking, keys: list[bytes]):
        """A NOLOOP session's write of `keys` is routed: the first change of each of them is its own
        (ClientTracking.consume_own_write), until `done()` (called when the write is answered) forgets
        the keys it did not change."""
        own = tracking.own_writes
        write = object()  # this write, in each of its keys' lines
        distinct = list(dict.fromkeys(keys))
        for key in distinct:
            own.setdefault(key, deque()).append(write)

        def done() -> None:
            for key in distinct:
                line = own.get(key)
                if line is not None and write in line:  # a write that left the key unchanged
                    line.remove(write)
                    if not line:
                        del own[key]

        return done

    # --- what the node's apply tells us ----------------------------------------------------------
    def changed(self, db: int | None, key: bytes | None) -> None:
        """A KeyChangeListeners listener: `key` changed at apply (None: a whole database or all)."""
        if key is None:
            self._flushed()
            return
        if self.prefixes:
            self._gather(key)
        self._invalidate(key, key)

    def _invalidate(self, key: bytes, changed: bytes | None) -> None:
        """Redis' trackingInvalidateKey: `key` leaves the table, its sessions are told (`changed`:
        the key a write changed). A NOLOOP session is not told of its own write's change, and stays
        in the table for the key: a read it pipelined after that write (remembered when routed,
        before the write applied) caches the value it wrote, which later changes must still reach."""
        members = self.table.pop(key, None)
        if members is None:
            return
        kept = None
        for session_id, session in members.items():
            tracking = session.tracking
            if tracking is None or tracking.bcast:  # stopped, or switched to BCAST since the read
                continue
            if tracking.noloop and changed is not None and tracking.consume_own_write(changed):
                kept = kept or {}
                kept[session_id] = session
                continue
            self._send(tracking, [key])
        if kept:
            self.table[key] = kept
        elif not self.table:
            self._quiet_when_idle()

    def _flushed(self) -> None:
        """Redis' trackingInvalidateKeysOnFlush: a null to every tracking session, the table emptied."""
        for session in list(self.clients.values()):
            if session.tracking is not None:
                self._send(session.tracking, None)
        self.table.clear()
        self._quiet_when_idle()

    def _gather(self, key: bytes) -> None:
        """Redis' trackingRememberKeyToBroadcast: `key` goes to every prefix it starts with, with the
        NOLOOP session whose own write changed it (the last writer, as Redis records it)."""
        matching = [(prefix, members) for prefix, members in self.prefixes.items() if key.startswith(prefix)]
        writer = 0
        for _prefix, members in matching:
            for session in members.values():
                tracking = session.tracking
                if tracking is not None and tracking.noloop and tracking.consume_own_write(key):
                    writer = session.id
                    break
            if writer:
                break
        for prefix, _members in matching:
            self.bcast_keys.setdefault(prefix, {})[key] = writer
        if not self.broadcast_due and self.bcast_keys:
            self.broadcast_due = True
            try:
                trio.lowlevel.current_trio_token().run_sync_soon(self.broadcast)
            except RuntimeError:  # not under trio (a machine driven directly): at once
                self.broadcast()

    def broadcast(self) -> None:
        """Redis' trackingBroadcastInvalidationMessages: one message per prefix with its keys. Run
        soon after the apply that gathered them, and before the gate routes any next command (so a
        connection's next reply never overtakes the invalidation its own write caused)."""
        if not self.broadcast_due:
            return
        self.broadcast_due = False
        gathered, self.bcast_keys = self.bcast_keys, {}
        for prefix, keys in sorted(gathered.items()):  # Redis walks its prefixes in byte order
            ordered = sorted(keys)
            for session in list(self.prefixes.get(prefix, {}).values()):
                tracking = session.tracking
                if tracking is None:
                    continue
                if tracking.noloop:
                    mine = [key for key in ordered if keys[key] != session.id]
                    if mine:
                        self._send(tracking, mine)
                else:
                    self._send(tracking, ordered)

    def _send(self, tracking: ClientTracking, keys: list[bytes] | None) -> None:
        """Redis' sendTrackingMessage: the invalidation of `keys` (None: all) for one session."""
        source = target = tracking.session
        redirected = False
        if tracking.redirect:
            target = tracking.redirect_to
            if target is None or target.push is None:  # the redirect target is gone
                tracking.broken_redirect = True
                if source.protocol == 3:
                    _push(source, RawReply(encode(Push([b"tracking-redir-broken", tracking.redirect]), 3)))
                return
            redirected = True
        if target.protocol == 3:
            message = encode(Push([b"invalidate", keys]), 3)
        elif redirected and target.pubsub is not None:
            message = encode(Push([b"message", INVALIDATE_CHANNEL, keys]), 2)
        else:  # RESP2 without a subscribed redirect target: nowhere to send it (as in Redis)
            return
        _push(target, RawReply(message))


def _push(session: Session, message: RawReply) -> None:
    push = session.push
    if push is not None:
        push(message)
