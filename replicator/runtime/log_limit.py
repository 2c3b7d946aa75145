"""One log line per key per window, for events a stranger or a broken peer can repeat at will.

A refused connection or a lost link is worth one line to an operator, not a
thousand: a session once logged 1,087 WARNING lines for rejected peer
connections, and a peer that accepts and closes made ~800 "link lost" lines a
second. The first event of a key in a window is logged; the others are only
counted, and the next line that gets through says how many were held back.
Counts for metrics are kept elsewhere: this is only about the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

WINDOW_S = 60.0
MAX_KEYS = 1024  # keys are remote hosts: a stranger with many addresses may not grow this without bound
_OTHERS = "<others>"


class RateLimitedLog:
    def __init__(
        self,
        logger: logging.Logger,
        window_s: float = WINDOW_S,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.window_s = window_s
        self.max_keys = max_keys
        self.clock = clock
        self._seen: dict[Hashable, list] = {}  # key -> [time of the last line logged, events held back since]

    def log(self, level: int, key: Hashable, msg: str, *args) -> bool:
        """Log `msg % args` unless `key` already had its line in this window. True if it was logged."""
        now = self.clock()
        if key not in self._seen and len(self._seen) >= self.max_keys:
            self._forget_before(now - self.window_s)
            if len(self._seen) >= self.max_keys:
                key = _OTHERS
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self.window_s:
            entry[1] += 1
            return False
        held_back = entry[1] if entry is not None else 0
        self._seen[key] = [now, 0]
        if held_back:
            msg += " (and %d more like it in the last %.0fs, not logged)"
            args = (*args, held_back, self.window_s)
        self.logger.log(level, msg, *args)
        return True

    def warning(self, key: Hashable, msg: str, *args) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def info(self, key: Hashable, msg: str, *args) -> bool:
        return self.log(logging.INFO, key, msg, *args)

    def _forget_before(self, cutoff: float) -> None:
        for key in [k for k, (at, _) in self._seen.items() if at < cutoff]:
            del self._seen[key]
