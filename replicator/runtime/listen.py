"""Opening a listening port, with an error an operator can act on.

A node listens on up to four ports (clients, clients over TLS, peers, metrics). When
one is taken or not ours to bind, the operator needs to know which address, for
what, and why, in one line; not a traceback (cli.main prints CannotListen as is).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import trio

from replicator.config import format_address


class CannotListen(Exception):
    """A port could not be bound: the text names what for, the address and the reason."""


async def serve_tcp(
    nursery: trio.Nursery, handler: Callable[[trio.SocketStream], Awaitable[None]], host: str, port: int, what: str
) -> list[trio.SocketListener]:
    """trio.serve_tcp started in `nursery`: its listeners, or CannotListen."""
    try:
        return await nursery.start(partial(trio.serve_tcp, handler, port, host=host))
    except OSError as err:
        raise CannotListen(
            f"cannot listen for {what} on {format_address((host, port))}: {err.strerror or err}"
        ) from None
