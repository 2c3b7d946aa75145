"""Protected mode, as Redis 7.0's clientAcceptHandler (src/networking.c): safe until configured.

A node with `protected-mode` on (the default; TOML `protected_mode`, CONFIG SET protected-mode),
no password for the default user (no requirepass: Redis' `nopass`), and listening on an address
other hosts can reach answers a client from another host with Redis' DENIED text and closes the
connection, before reading anything from it. Clients on this host are served as always, so the
fix (a password, or CONFIG SET protected-mode no) can be made from here.

Two choices where Redis 7.0 is narrower or wider:
- Loopback clients are every loopback address (127.0.0.0/8, ::1, and an IPv4 loopback client
  seen through a dual-stack listener as ::ffff:127.x.y.z); Redis compares the text with
  "127.0.0.1" and "::1" only, which refuses a client of this very host at 127.0.0.2.
- A node listening on loopback only is not protected (only this host can reach it anyway),
  as the issue asks ("bound to a non-loopback address"); Redis 7.0 no longer looks at bind.
"""

from __future__ import annotations

import ipaddress

# networking.c (7.0), byte for byte, sent as the connection's only reply
DENIED = (
    b"-DENIED Redis is running in protected mode because protected "
    b"mode is enabled and no password is set for the default user. "
    b"In this mode connections are only accepted from the loopback interface. "
    b"If you want to connect from external computers to Redis you "
    b"may adopt one of the following solutions: "
    b"1) Just disable protected mode sending the command "
    b"'CONFIG SET protected-mode no' from the loopback interface "
    b"by connecting to Redis from the same host the server is "
    b"running, however MAKE SURE Redis is not publicly accessible "
    b"from internet if you do so. Use CONFIG REWRITE to make this "
    b"change permanent. "
    b"2) Alternatively you can just disable the protected mode by "
    b"editing the Redis configuration file, and setting the protected "
    b"mode option to 'no', and then restarting the server. "
    b"3) If you started the server manually just for testing, restart "
    b"it with the '--protected-mode no' option. "
    b"4) Setup a an authentication password for the default user. "
    b"NOTE: You only need to do one of the above things in order for "
    b"the server to start accepting connections from the outside.\r\n"
)


def is_loopback(host: str | None) -> bool:
    """An address of this host only: 127.0.0.0/8, ::1, or an IPv4-mapped loopback address.
    None stands for a Unix socket (local, as Redis' CLIENT_UNIX_SOCKET); a name or anything
    unparsable is not loopback (the safe answer)."""
    if host is None:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) aside
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def refuses(*, protected_mode: bool, password_set: bool, bound_host: str, client_host: str | None) -> bool:
    """Whether a new connection from `client_host` (None: a Unix socket) to a server listening on
    `bound_host` is answered DENIED and closed."""
    if not protected_mode or password_set:
        return False
    return not is_loopback(bound_host) and not is_loopback(client_host)
