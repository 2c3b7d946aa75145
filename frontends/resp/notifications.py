"""Keyspace notifications on one node: Redis' notifyKeyspaceEvent, fed by the node's apply.

The kv machine emits every keyspace event at apply (statemachines/kv: `ks.notify`, through the
node's NodeAPI.subscribe_keyspace_events observer), on every node, in log order. This node's
`notify-keyspace-events` (CONFIG SET, node-local as in Redis) decides which of them its own
subscribers see: an event whose class is on is published, through Subscribers.publish (node-local
delivery, as an applied PUBLISH), on `__keyspace@<db>__:<key>` (message: the event) when K is on
and on `__keyevent@<db>__:<event>` (message: the key) when E is on, in that order, as notify.c.

So a subscriber on any node sees the events of every write of the cluster, in the log's order,
if its node has notifications on. While the flags are empty the observer is not installed at all
(subscribe_keyspace_events(None)): the machine then pays one attribute test per event.

Key-miss events (m) come from reads, which run where they are served: a read served locally (the
usual case) emits its keymiss on the serving node only; a read that goes through the log (inside
MULTI/EXEC or a script) emits it on every node, like a write. A read never deletes an expired key
here, so it never emits "expired" (Redis' lazy expiry does); expiry events come from the deletion
at apply (active expiry, or a write that meets the key). "evicted" never happens (no maxmemory
eviction), "d" (modules) neither.
"""

from __future__ import annotations

import logging

from frontends.resp.pubsub import PUBLISH, Subscribers
from statemachines.keyevents import KEYEVENT, KEYSPACE

log = logging.getLogger(__name__)

_CHANNELS = KEYSPACE | KEYEVENT


def _publishes(flags: int) -> bool:
    return bool(flags & _CHANNELS) and bool(flags & ~_CHANNELS)


class KeyspaceNotifications:
    """The node's notify-keyspace-events flags and the observer that publishes events by them."""

    def __init__(self, node: object, subscribers: Subscribers) -> None:
        self.flags = 0
        self._subscribe = getattr(node, "subscribe_keyspace_events", None)  # optional in NodeAPI
        self._subscribers = subscribers

    def configure(self, flags: int) -> None:
        """New flags (CONFIG SET): the observer is installed while they can publish something (a
        class, and K or E), removed otherwise."""
        was, self.flags = _publishes(self.flags), flags
        if self._subscribe is not None and _publishes(flags) != was:
            self._subscribe(self.event if _publishes(flags) else None)

    def event(self, db: int, event_class: int, event: bytes, key: bytes) -> None:
        """One keyspace event emitted by this node's apply (or by a read it served)."""
        flags = self.flags
        if not flags & event_class:
            return
        publish = self._subscribers.publish
        try:  # called in the middle of an apply: a delivery bug must not leave it half done
            if flags & KEYSPACE:
                publish(PUBLISH, b"__keyspace@%d__:%s" % (db, key), event)
            if flags & KEYEVENT:
                publish(PUBLISH, b"__keyevent@%d__:%s" % (db, event), key)
        except Exception:
            log.exception("publishing a keyspace notification failed")
