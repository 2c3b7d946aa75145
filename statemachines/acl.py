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
it replaces the user's history (the frontend checked the list before proposing it, and after
`reset` nothing in it depends on what came before): `ACL SETUSER u reset ...` keeps a user small. Past
MAX_SETUSERS calls since its last reset a user's SETUSER is refused (the frontend says how to go on).

Commands (msgpack argument lists): [SETUSER, name, *rules] -> "OK"; [DELUSER, *names] -> how many
existed; [LOAD, *users] (ACL LOAD, an aclfile's bootstrap; each user an encoded [name, *rules])
replaces every user, each made fresh (the list starts with LOADED) then given its rules -> "OK";
[BOOTSTRAP, *users] (an aclfile at start) is a LOAD if no ACL change was ever applied, else nothing
(None): each node may propose its file, the first one applied seeds the cluster.
`listener(name)` (the frontend's) hears of each change as it is applied: a name, or None when
everything changed (LOAD, a snapshot). `changed` says whether any change was ever applied: an
aclfile bootstraps only a cluster whose users were never set.
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
# The first rule of a user's list made by LOAD: a fresh user (Redis' ACLCreateUser), not `reset`
# (which also sets sanitize-payload). No client can send it: ACL SETUSER refuses it as a syntax error.
LOADED = b"\x00loaded"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(tuple[bool, list[tuple[bytes, list[list[bytes]]]]])


class AclMachine:
    name: ClassVar[str] = ACL

    def __init__(self) -> None:
        self.users: dict[bytes, list[list[bytes]]] = {}  # name -> the rule lists of its SETUSERs
        self.changed = False  # whether any ACL change was ever applied
        self.listener: Callable[[bytes | None], None] | None = None

    def commands(self) -> Iterable[CommandSpec]:
        return ()  # the frontend's ACL command proposes here

    def holds_state(self) -> bool:
        """Whether a snapshot needs this machine (no ACL change was ever applied: it is left out)."""
        return self.changed

    def apply(self, index: int, command: bytes, ts_ms: int) -> Result:
        try:
            args = decode_args(command)
        except (msgspec.DecodeError, ValueError):
            return ReplyError("ERR not an ACL command")
        op = args[0].upper() if args else b""
        if op == b"BOOTSTRAP" and self.changed:
            return None  # an aclfile seeds only users never set: the first node's file won
        if op in (b"LOAD", b"BOOTSTRAP"):
            users = {}
            for encoded in args[1:]:
                try:
                    name, *rules = decode_args(encoded)
                except (msgspec.DecodeError, ValueError):
                    return ReplyError("ERR not an ACL user")
                users[name] = [[LOADED, *rules]]
            self.users, self.changed = users, True
            self._changed(None)
            return "OK"
        if op == b"SETUSER" and len(args) >= 2:
            name, rules = args[1], args[2:]
            history = self.users.get(name)
            self.changed = True
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
            self.changed = True
            for name in dict.fromkeys(args[1:]):
                if self.users.pop(name, None) is not None:
                    deleted += 1
                    self._changed(name)
            return deleted
        return ReplyError("ERR not an ACL command")

    def query(self, request: bytes, now_ms: int) -> Result:
        """Any request: how many users were set. What a read of this machine is for: waiting until
        the node applied a given index (the frontend reads its users from `users` itself)."""
        return len(self.users)

    def snapshot(self) -> Iterator[bytes]:
        yield _encoder.encode((self.changed, sorted(self.users.items())))

    def restore(self, chunks: Iterable[bytes]) -> None:
        users: dict[bytes, list[list[bytes]]] = {}
        changed = False
        for chunk in chunks:
            changed, saved = _decoder.decode(chunk)
            users.update((name, [list(rules) for rules in history]) for name, history in saved)
        self.users, self.changed = users, changed
        self._changed(None)

    def _changed(self, name: bytes | None) -> None:
        if self.listener is not None:
            try:
                self.listener(name)
            except Exception:  # the frontend's bug must not stop the apply loop
                log.exception("an ACL change listener failed")
