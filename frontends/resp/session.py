"""Per-connection state: protocol version, name, read consistency, what it has seen.

Everything a command can change about "this client" lives here and nowhere
else; the connection's tasks (server.py) and the command handlers
(commands/) read and write it: protocol, name, read level, the MULTI queue
and the WATCHed keys, whether it has authenticated.

WATCH: `watched` maps key -> (version, live) once the version read is back,
None while it is in flight. UNWATCH/EXEC/DISCARD/RESET replace the dict (never
clear it in place), so a version read still in flight fills the old one only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from replicator.runtime.api import ReadConsistency

NAME_BYTES_OK = frozenset(range(ord("!"), ord("~") + 1))  # Redis: no spaces, newlines or specials


@dataclass(slots=True)
class Session:
    id: int
    addr: str = ""  # "ip:port" of the client
    laddr: str = ""  # "ip:port" it connected to
    protocol: int = 2  # 2 or 3 (HELLO)
    name: bytes | None = None
    lib_name: bytes = b""
    lib_ver: bytes = b""
    db: int = 0
    consistency: ReadConsistency = ReadConsistency.LINEARIZABLE
    # Highest log index whose effect this connection has observed (a write's
    # index, or the applied index a read was served at). Every read asks for
    # at least this much, so SEQUENTIAL never goes back in time on one
    # connection, even after a switch to another replica's state.
    seen_index: int = 0
    created_s: float = 0.0  # trio.current_time() at accept
    last_command_s: float = 0.0
    last_command: str = ""
    commands: int = 0
    multi: list | None = None  # inside MULTI: the queued (Command, args), else None
    multi_error: bool = False  # a queued command was refused: EXEC answers EXECABORT
    multi_bytes: int = 0  # the queue's size as EXEC's entry will carry it (Gate._queue_size_check)
    watched: dict = field(default_factory=dict)  # key -> (version, live) | None (read in flight)
    authenticated: bool = True  # False until AUTH when the server has a requirepass
    user: bytes = b"default"  # the ACL user it runs as (frontends/resp/acl.py)
    kill: object = None  # set by the server: a callable that closes this connection (CLIENT KILL)
    backup: object = None  # REPLICATOR.BACKUP's HeldBackup (commands/backup.py): freed with the connection
    # Pub/Sub: the subscriptions (frontends.resp.pubsub.Subscriptions) while it has any, and the
    # connection's queue for out-of-band messages (server.py sets it).
    pubsub: object = None
    push: object = None
    fd: int = -1  # the socket's descriptor (CLIENT LIST)
    # CLIENT TRACKING's state while on (frontends.resp.tracking.ClientTracking); MONITOR mode
    # (frontends/resp/monitor.py); CLIENT REPLY's OFF / SKIP bits and CLIENT NO-EVICT (commands/client.py).
    tracking: object = None
    monitor: bool = False
    replies: int = 0
    no_evict: bool = False
    # commands/client.py's after_command while a mode needs a step after each command (CLIENT REPLY
    # OFF / SKIP, CLIENT CACHING): the server calls it right after routing; None: nothing to do.
    after_command: object = None
    # Messages it did not ask for may be pushed to it besides pub/sub (tracking invalidations, also
    # as a redirect target; MONITOR): its idle wait is one a push interrupts (server.py). Stays set.
    pushed_to: bool = False

    def observe(self, index: int) -> None:
        if index > self.seen_index:
            self.seen_index = index


def valid_client_name(name: bytes) -> bool:
    return all(byte in NAME_BYTES_OK for byte in name)
