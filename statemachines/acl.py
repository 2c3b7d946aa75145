"""The node's ACL users as replicated state: what ACL SETUSER and ACL DELUSER changed, in log order.

Redis ACL users must be the same on every node (a user created through one node is refused or
allowed alike by all of them) and survive restarts, so their changes go through the log like any
write and live in snapshots like any machine's state. This machine is the node's own, under the
reserved name ACL: every NodeHost has one (replicator/node.py), no plugin can take its name, and
it serves no RESP command itself (the frontend's ACL command proposes to it).

It keeps, per user, the rule lists of the ACL SETUSER calls that made it, as sent: the meaning of
a rule (+@read: which commands?) belongs to the frontend's command table (frontends/resp/acl.py),
which rebuilds each user from these lists on every node, each list applied whole or not at all as
Redis applies one ACL SETUSER. A list that starts with `reset` makes everything before it moot, so
it replaces the user's history: `ACL SETUSER u reset ...` keeps a user's state small. Past
MAX_SETUSERS calls since its last reset a user's SETUSER is refused (the frontend says how to go on).

Commands (msgpack argument lists): [SETUSER, name, *rules] -> "OK"; [DELUSER, *names] -> how many
existed. `listener(name)` (the frontend's) hears of each change as it is applied: a name, or None
when a snapshot replaced everything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar

import msgspec

from statemachines import CommandSpec, ReplyError, Result, decode_args

log = logging.getLogger(__name__)

ACL = "__acl__"
MAX_SETUSERS = 1024  # ACL SETUSER calls kept per user since its last `reset`

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[tuple[bytes, list[list[bytes]]]])


class AclMachine:
    name: ClassVar[str] = ACL

    def __init__(self) -> None:
        self.users: dict[bytes, list[list[bytes]]] = {}  # name -> the rule lists of its SETUSERs
        self.listener: Callable[[bytes | None], None] | None = None

    def commands(self) -> Iterable[CommandSpec]:
        return ()  # the frontend's ACL command proposes here

    def holds_state(self) -> bool:
        """Whether a snapshot needs this machine (no user was ever set: it is left out)."""
        return bool(self.users)

    def apply(self, index: int, command: bytes, ts_ms: int) -> Result:
        try:
            args = decode_args(command)
        except (msgspec.DecodeError, ValueError):
            return ReplyError("ERR not an ACL command")
        op = args[0].upper() if args else b""
        if op == b"SETUSER" and len(args) >= 2:
            name, rules = args[1], args[2:]
            history = self.users.get(name)
            if history is None or (rules and rules[0].lower() == b"reset"):
                self.users[name] = [rules]
            elif len(history) >= MAX_SETUSERS:
                return ReplyError(
                    f"ERR user has {MAX_SETUSERS} ACL SETUSER changes since its last reset: "
                    "send ACL SETUSER <user> reset <all its rules> to start it again"
                )
            else:
                history.append(rules)
            self._changed(name)
            return "OK"
        if op == b"DELUSER":
            if b"default" in args[1:]:
                return ReplyError("ERR The 'default' user cannot be removed")
            deleted = 0
            for name in dict.fromkeys(args[1:]):
                if self.users.pop(name, None) is not None:
                    deleted += 1
                    self._changed(name)
            return deleted
        return ReplyError("ERR not an ACL command")

    def query(self, request: bytes, now_ms: int) -> Result:
        """Any request: the users' rule lists ([[name, [[rule, ...], ...]], ...], by name)."""
        return [[name, [list(rules) for rules in history]] for name, history in sorted(self.users.items())]

    def snapshot(self) -> Iterator[bytes]:
        yield _encoder.encode(sorted(self.users.items()))

    def restore(self, chunks: Iterable[bytes]) -> None:
        users: dict[bytes, list[list[bytes]]] = {}
        for chunk in chunks:
            users.update((name, [list(rules) for rules in history]) for name, history in _decoder.decode(chunk))
        self.users = users
        self._changed(None)

    def _changed(self, name: bytes | None) -> None:
        if self.listener is not None:
            try:
                self.listener(name)
            except Exception:  # the frontend's bug must not stop the apply loop
                log.exception("an ACL change listener failed")
