"""CLIENT PAUSE on one node: the commands Redis holds while clients are paused wait here.

Redis' pauseClients / processCommand: while paused, a command of the paused kind is not run until
the pause ends (its timeout, or CLIENT UNPAUSE); the connection's later commands wait behind it, and
its earlier replies go out first. WRITE holds the commands that may change data or reach replicas
(write and may_replicate commands: PUBLISH, SPUBLISH, EVAL, EVALSHA, FCALL, PFCOUNT; EXEC of a
transaction holding one); reads go on. ALL holds every command, CLIENT UNPAUSE included (as in
Redis: an ALL pause ends at its timeout, or by an UNPAUSE from a connection that is not held).

The pause is this node's: other nodes go on, and the log goes on (entries from other nodes' clients
are applied here, keys expire at apply). What it gives is what clients use it for: this node's
clients stop writing (a client-driven failover, a consistent look at this node's data).
"""

from __future__ import annotations

import math

import trio

# Redis' CMD_MAY_REPLICATE commands whose flags here do not say "write".
_MAY_REPLICATE = frozenset({"publish", "spublish", "pfcount", "eval", "evalsha", "fcall"})


def may_replicate(cmd) -> bool:
    return "write" in cmd.flags or "may_replicate" in cmd.flags or cmd.name in _MAY_REPLICATE


class ClientPause:
    """One pause in force (Gate.pause while it lasts)."""

    def __init__(self, until_s: float, write_only: bool) -> None:
        self.until_s = until_s  # trio.current_time() at which it ends
        self.write_only = write_only
        self.ended = trio.Event()

    def extend(self, until_s: float, write_only: bool) -> None:
        """Redis merges pauses: the later end and the stricter kind."""
        self.until_s = max(self.until_s, until_s)
        self.write_only = self.write_only and write_only

    def holds(self, cmd, multi: list | None) -> bool:
        """Whether the command (a Command of the table) must wait for the end of the pause."""
        if not self.write_only:
            return True
        if cmd.name == "exec" and multi:
            return any(may_replicate(queued) for queued, _args in multi)
        return may_replicate(cmd)

    async def wait(self) -> None:
        """Until the pause ends (its deadline, which a later CLIENT PAUSE may push back, or UNPAUSE)."""
        while not self.ended.is_set():
            with trio.move_on_at(self.until_s if math.isfinite(self.until_s) else math.inf):
                await self.ended.wait()
            if trio.current_time() >= self.until_s:
                self.ended.set()
