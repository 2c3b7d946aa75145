"""MONITOR on one node: every command this node's clients send, as Redis prints it, to the monitors.

Redis' replicationFeedMonitors: `+<unix seconds>.<microseconds> [<db> <client ip:port>] "arg" ...`
(each argument quoted as sdscatrepr quotes it), a status line pushed to every MONITOR connection of
this node. A command is fed once it is accepted for execution (the gate: after arity, AUTH and
subscriber-mode checks, as Redis feeds what call() ran): commands queued in MULTI are fed when EXEC
runs them, then EXEC; admin commands are not fed (Redis finds them too dangerous to show) and AUTH's
and HELLO AUTH's secrets show as "(redacted)". Commands other nodes' clients send are those nodes'
to show: each node monitors its own clients (the log's order is what every node applies, its
clients' commands are what it is sent). Scripts run at apply, so their inner calls (`[0 lua]`) are
not shown. A monitor that does not read is closed by the `pubsub` class of
client-output-buffer-limit, as a subscriber is (server.py's push).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from frontends.resp.replies import RawReply
from frontends.resp.session import Session

REDACTED = b"(redacted)"

# bytes -> their sdscatrepr form, built once: printable ASCII as is, the C escapes, others \xNN
_REPR = [b"\\x%02x" % byte for byte in range(256)]
for _byte in range(0x20, 0x7F):
    _REPR[_byte] = bytes((_byte,))
for _byte, _escaped in ((0x5C, b"\\\\"), (0x22, b'\\"'), (0x0A, b"\\n"), (0x0D, b"\\r"), (0x09, b"\\t")):
    _REPR[_byte] = _escaped
_REPR[0x07], _REPR[0x08] = b"\\a", b"\\b"


def sds_repr(raw: bytes) -> bytes:
    """Redis' sdscatrepr: the bytes in double quotes, escaped as C would print them."""
    return b'"' + b"".join(_REPR[byte] for byte in raw) + b'"'


def redacted(name: str, args: list[bytes]) -> list[bytes]:
    """The arguments as MONITOR may show them: AUTH's and HELLO AUTH's credentials hidden."""
    if name == "auth":
        return [args[0], *(REDACTED for _ in args[1:])]
    if name == "hello":
        shown = list(args)
        for i in range(2, len(args) - 2):
            if args[i].lower() == b"auth":
                shown[i + 1] = shown[i + 2] = REDACTED
                break
        return shown
    return args


class Monitors:
    """The sessions in MONITOR mode on this node."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.sessions: dict[int, Session] = {}  # by id (a Session compares by value: no dict key)
        self.clock = clock  # wall time: MONITOR prints when the command was seen

    def add(self, session: Session) -> None:
        session.monitor = True
        session.pushed_to = True
        self.sessions[session.id] = session

    def remove(self, session: Session) -> None:
        session.monitor = False
        self.sessions.pop(session.id, None)

    def feed(self, session: Session, commands: list[tuple[str, list[bytes]]]) -> None:
        """Show `commands` (each: its command table name, its arguments), sent by `session`, to
        every monitor."""
        now = self.clock()
        seconds = int(now)
        head = b"+%d.%06d [%d %s] " % (
            seconds,
            min(int((now - seconds) * 1_000_000), 999_999),
            session.db,
            session.addr.encode(),
        )
        for name, args in commands:
            # a status line in RESP2 and RESP3 alike, as Redis sends it
            message = RawReply(head + b" ".join(map(sds_repr, redacted(name, args))) + b"\r\n")
            for monitor in list(self.sessions.values()):
                push = monitor.push
                if push is not None:
                    push(message)
