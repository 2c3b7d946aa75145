"""One node subscription to the keys apply changes, shared by every frontend feature that needs it.

NodeAPI.subscribe_key_changes takes ONE callback; client tracking (invalidations) and blocking
commands (a key that may now be ready) both want it. KeyChangeListeners fans that one callback
out to its listeners and holds the node's subscription only while it has any, so a node where no
client tracks or blocks pays nothing at apply (statemachines.hooks.KeyEvents: one attribute test
per change).

A listener is called as listener(db, key) on the node's applying task, in apply order: (db, key)
one key, (db, None) every key of database db (FLUSHDB, SWAPDB), (None, None) every key (FLUSHALL,
a snapshot installed). It must only record what happened (queue a push, wake a waiter): it runs
inside apply and must not raise (a listener that does is logged and skipped; the others and the
node go on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

KeyListener = Callable[[int | None, bytes | None], None]


class KeyChangeListeners:
    """Fans the node's key changes out to listeners; subscribed only while one is added."""

    def __init__(self, node: object) -> None:
        # Optional in NodeAPI: a node without it never reports changes (and `available` says so).
        self._subscribe = getattr(node, "subscribe_key_changes", None)
        self._listeners: dict[KeyListener, None] = {}  # insertion-ordered: called in the order added

    @property
    def available(self) -> bool:
        """Whether this node reports key changes at all."""
        return self._subscribe is not None

    def add(self, listener: KeyListener) -> None:
        """Call `listener` for every key change from now on (adding it twice adds it once)."""
        first = not self._listeners
        self._listeners[listener] = None
        if first and self._subscribe is not None:
            self._subscribe(self._changed)

    def remove(self, listener: KeyListener) -> None:
        """Stop calling `listener` (unknown: nothing happens); the last one gone ends the subscription."""
        if self._listeners.pop(listener, 0) is None and not self._listeners and self._subscribe is not None:
            self._subscribe(None)

    def __len__(self) -> int:
        return len(self._listeners)

    def _changed(self, db: int | None, key: bytes | None) -> None:
        for listener in list(self._listeners):  # a listener may remove itself (or another) as it runs
            try:
                listener(db, key)
            except Exception:
                log.exception("a key-change listener failed; the others still run")
