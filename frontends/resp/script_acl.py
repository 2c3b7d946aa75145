"""This node's ACL users, as the replicated ACL machine makes them, and the ACL check of the commands
scripts run (statemachines.hooks.ScriptPermissions).

Why the users live here rather than in the gate: a script's redis.call is checked at apply (only
running the script tells what it calls), inside the kv machine, on every replica, so every node
must take the same decision for the same entry. Two things make that so:

- The users a check reads are those of the log position being applied. The ACL machine
  (statemachines/acl.py) calls `applied` synchronously from its own apply, and the node applies
  entries one at a time on one task, so a user's change is in `users` before the next entry (a
  script) applies, on every node alike. The rules a user is rebuilt with mean the same on every
  node: the command table is a function of the installed machines, which a cluster shares.
- The check is installed before the node applies its first entry: a node applying a script
  entry without it would run calls that the other nodes refused. replicator/process.py makes a
  ScriptAcl and installs it (NodeAPI.set_script_permissions) before the node starts, then hands it
  to the RESP server, whose gate uses these users (ACL SETUSER, AUTH, the command checks) and is
  told of a user deleted (to close its connections) and of a script's denial (ACL LOG). A gate
  made without one (tests, an embedding) makes its own and installs it then.

Only a node-local record comes out of a check: an ACL LOG entry with context "lua", added by
each node as it applies the script (Redis adds it on the server that ran the script). The
client-info of such an entry names the user and the command refused: the calling client is a
connection of one node only, not part of the entry every node applies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from frontends.resp.acl import DENIED_COMMAND, Commands, User, Users
from frontends.resp.acl import check as acl_check
from frontends.resp.commands.entry import CommandTable
from statemachines.acl import AclMachine
from statemachines.hooks import ScriptCheck

log = logging.getLogger(__name__)

# (reason, object, user name, the refused command's full name): a refusal to log
Denied = Callable[[str, bytes, bytes, str], None]


def acl_target(cmd, args: list[bytes]):
    """What the ACL checks of a command: its subcommand's entry for a container (Redis' fullname)."""
    if cmd.subcommands and len(args) > 1:
        return cmd.subcommands.get(f"{cmd.name}|{args[1].decode('utf-8', 'replace').lower()}", cmd)
    return cmd


class ScriptAcl:
    """The node's users (frontends/resp/acl.py's Users, with ACL LOG) following the ACL machine,
    and hooks.ScriptPermissions over them. See the module docstring."""

    def __init__(self, table: CommandTable, acl_machine: AclMachine | None, requirepass: bytes | None = None) -> None:
        self.table = table
        self.users = Users(Commands.from_table(table.commands), requirepass)
        # A node without replicated users (a test's): a machine of our own, changed in place.
        self.local = acl_machine is None
        self.acl_machine = AclMachine() if acl_machine is None else acl_machine
        self.on_deleted: Callable[[bytes], None] | None = None  # the gate closes the user's connections
        self.on_denied: Denied | None = None  # the gate's ACL LOG and stats
        self.acl_machine.listener = self.applied
        self.applied(None)

    def applied(self, name: bytes | None) -> None:
        """An ACL change applied on this node (None: all users, a snapshot): rebuild those users,
        now, before the node applies its next entry."""
        history = self.acl_machine.users
        users = self.users
        names = [name] if name is not None else [*history, *(n for n in users.users if n not in history)]
        for one in names:
            for error in users.load(one, history.get(one)):
                log.warning("ACL: %s", error)
            if one not in users.users and self.on_deleted is not None:
                self.on_deleted(one)

    # --- hooks.ScriptPermissions -----------------------------------------------------------
    def script_check(self, user: bytes) -> ScriptCheck | None:
        found = self.users.get(user)
        if found is not None and unrestricted(found, self.users.commands):
            return None  # default as Redis makes it: the script pays nothing per call
        return lambda args: self._check(found, user, args)

    def _check(self, user: User | None, name: bytes, args: list[bytes]) -> str | None:
        """Redis' scriptVerifyACL for one redis.call: ACLCheckAllPerm, then the denial logged."""
        cmd = self.table.get(args[0])
        if cmd is None:  # (the machine runs only commands this server's table has: defensive)
            reason, obj, full = DENIED_COMMAND, args[0].lower(), args[0].decode("utf-8", "replace").lower()
        else:
            target = acl_target(cmd, args)
            denied = (DENIED_COMMAND, 0) if user is None else acl_check(user, target, args)  # None: deleted
            if denied is None:
                return None
            reason, index = denied
            obj, full = (target.name.encode() if reason == DENIED_COMMAND else args[index]), target.name
        if self.on_denied is not None:
            self.on_denied(reason, obj, name, full)
        return reason


def unrestricted(user: User, commands: Commands) -> bool:
    """May this user run every command on every key and channel (Redis' default user)?"""
    return len(user.allowed) == len(commands.by_name) and user.allkeys and user.allchannels
