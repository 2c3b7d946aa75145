"""ACL and its subcommands (Redis 7.0): CAT, SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI,
GENPASS, LOG, DRYRUN, SAVE, LOAD, HELP. The users and the rules are frontends/resp/acl.py's;
the gate (gate.py) enforces them. SETUSER and DELUSER go through the log to the node's ACL machine
(statemachines/acl.py), from which every node rebuilds its users (script_acl.ScriptAcl.applied)."""

from __future__ import annotations

import secrets

from frontends.resp import acl, acl_categories, aclfile
from frontends.resp.commands.client import _client_line
from frontends.resp.commands.entry import OK, ServerView, container, frontend_command
from frontends.resp.commands.errors import arity_error, c_text, text
from frontends.resp.protocol import string2ll
from frontends.resp.replies import RespSet
from frontends.resp.session import Session
from statemachines import ReplyError, Result, encode_args

STAT_OF_REASON = {
    acl.DENIED_AUTH: "acl_access_denied_auth",
    acl.DENIED_COMMAND: "acl_access_denied_cmd",
    acl.DENIED_KEY: "acl_access_denied_key",
    acl.DENIED_CHANNEL: "acl_access_denied_channel",
}
NOT_INTEGER = ReplyError("ERR value is not an integer or out of range")
GENPASS_MAX_BITS = 4096
NO_ACLFILE = ReplyError(
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the "
    "ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) "
    "in order to store users in the Redis configuration."
)


def _syntax_error(args: list[bytes]) -> ReplyError:
    """addReplySubcommandSyntaxError: a subcommand called with more arguments than it takes."""
    return ReplyError(
        f"ERR unknown subcommand or wrong number of arguments for '{c_text(args[1], 128)}'. "
        f"Try {c_text(args[0].upper(), 128)} HELP."
    )


def cmd_acl_cat(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if len(args) > 3:
        return _syntax_error(args)
    if len(args) == 2:
        return [name.encode() for name in acl_categories.CATEGORIES]
    bit = acl_categories.BIT.get(args[2].lower().decode("latin-1"))
    if bit is None:
        return ReplyError(f"ERR Unknown category '{c_text(args[2], 128)}'")
    return [info.name.encode() for info in gate.acl.commands.in_category(bit)]


def cmd_acl_setuser(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """Checked here against this node's users (Redis' errors), then through the log to every node
    (statemachines/acl.py), whose gates rebuild the user as they apply it."""
    error = gate.acl.set_user(args[2], args[3:], commit=False)
    if error is not None:
        return ReplyError(f"ERR {error}")
    return gate.acl_change(session, encode_args([b"SETUSER", *args[2:]]))


def cmd_acl_deluser(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """Through the log too: every node forgets the users and closes their connections."""
    if b"default" in args[2:]:
        return ReplyError("ERR The 'default' user cannot be removed")
    return gate.acl_change(session, encode_args([b"DELUSER", *args[2:]]))


def cmd_acl_getuser(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    user = gate.acl.get(args[2])
    if user is None:
        return None
    return {
        b"flags": RespSet(user.flags()),
        b"passwords": list(user.passwords),
        b"commands": user.command_rules(gate.acl.commands),
        b"keys": b" ".join(user.key_rules()),
        b"channels": b" ".join(user.channel_rules()),
        b"selectors": [],
    }


def cmd_acl_list(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return [
        b"user " + name + b" " + gate.acl.users[name].describe(gate.acl.commands) for name in sorted(gate.acl.users)
    ]


def cmd_acl_users(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return sorted(gate.acl.users)


def cmd_acl_whoami(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return session.user


def cmd_acl_genpass(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    bits = 256
    if len(args) > 3:
        return _syntax_error(args)
    if len(args) == 3:
        bits = string2ll(args[2])
        if bits is None:
            return NOT_INTEGER
    if bits <= 0 or bits > GENPASS_MAX_BITS:
        return ReplyError(
            "ERR ACL GENPASS argument must be the number of bits for the output password, "
            f"a positive number up to {GENPASS_MAX_BITS}"
        )
    return secrets.token_hex((bits + 7) // 8)[: (bits + 3) // 4].encode()


def cmd_acl_log(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    count = 10
    if len(args) > 3:
        return _syntax_error(args)
    if len(args) == 3:
        if args[2].lower() == b"reset":
            gate.acl.log.clear()
            return OK
        count = string2ll(args[2])
        if count is None:
            return NOT_INTEGER
    now_ms = int(gate.now_s() * 1000)
    return [
        {
            b"count": entry.count,
            b"reason": entry.reason.encode(),
            b"context": entry.context.encode(),
            b"object": entry.object,
            b"username": entry.username,
            b"age-seconds": (now_ms - entry.created_ms) / 1000,
            b"client-info": entry.client_info,
        }
        for entry in gate.acl.log[: max(count, 0)]
    ]


def cmd_acl_dryrun(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    user = gate.acl.get(args[2])
    if user is None:
        return ReplyError(f"ERR User '{text(args[2])}' not found")
    call = args[3:]
    cmd = gate.table.get(call[0])
    if cmd is not None and cmd.subcommands and len(call) > 1:
        cmd = cmd.subcommands.get(f"{cmd.name}|{text(call[1]).lower()}")
    if cmd is None:
        return ReplyError(f"ERR Command '{text(call[0])}' not found")
    if (cmd.arity > 0 and cmd.arity != len(call)) or len(call) < -cmd.arity:
        return arity_error(cmd.name)
    denied = acl.check(user, cmd, call)
    if denied is None:
        return OK
    reason, index = denied
    if reason == acl.DENIED_COMMAND:
        return f"This user has no permissions to run the '{cmd.name}' command".encode()
    return b"This user has no permissions to access the '%s' %s" % (call[index], reason.encode())


def cmd_acl_load(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """The whole file checked here, then its users through the log to every node (aclfile.py)."""
    if gate.aclfile is None:
        return NO_ACLFILE
    command = aclfile.load_command(gate.aclfile, gate.acl.commands)
    if type(command) is ReplyError:
        return command
    return gate.acl_change(session, command)


def cmd_acl_save(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if gate.aclfile is None:
        return NO_ACLFILE
    if not aclfile.save(gate.aclfile, gate.acl):
        return ReplyError(
            "ERR There was an error trying to save the ACLs. Please check the server logs for more information"
        )
    return OK


ACL_HELP = [
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
]


def cmd_acl_help(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return ACL_HELP


def _sub(name: str, arity: int, flags: str, handler, summary: str, syntax: str = "", since: str = "6.0.0"):
    return frontend_command(
        f"acl|{name}",
        arity,
        flags,
        handler,
        group="server",
        summary=summary,
        since=since,
        syntax=syntax,
        complexity="O(1)",
        acl="",
    )


ADMIN = "admin noscript loading stale"
_SUBS = [
    _sub("cat", -2, "noscript loading stale", cmd_acl_cat, "List the ACL categories", "[categoryname]"),
    _sub("deluser", -3, ADMIN, cmd_acl_deluser, "Remove the specified ACL users", "username [username ...]"),
    _sub("dryrun", -4, ADMIN, cmd_acl_dryrun, "Check a command against a user", "username command [arg ...]", "7.0.0"),
    _sub("genpass", -2, "noscript loading stale", cmd_acl_genpass, "Generate a secure password", "[bits]"),
    _sub("getuser", 3, ADMIN, cmd_acl_getuser, "Get the rules for a specific ACL user", "username"),
    _sub("list", 2, ADMIN, cmd_acl_list, "List the current ACL rules in ACL config file format"),
    _sub("load", 2, ADMIN, cmd_acl_load, "Reload the ACLs from the configured ACL file"),
    _sub("log", -2, ADMIN, cmd_acl_log, "List latest events denied because of ACLs in place", "[count | RESET]"),
    _sub("save", 2, ADMIN, cmd_acl_save, "Save the current ACL rules in the configured ACL file"),
    _sub("setuser", -3, ADMIN, cmd_acl_setuser, "Modify or create the rules for a specific ACL user", "username"),
    _sub("users", 2, ADMIN, cmd_acl_users, "List the username of all the configured ACL rules"),
    _sub("whoami", 2, "noscript loading stale", cmd_acl_whoami, "Return the name of the current user"),
    _sub("help", 2, "loading stale", cmd_acl_help, "Show helpful text about the different subcommands"),
]

COMMANDS = [
    frontend_command(
        "acl",
        -2,
        "",
        container(_SUBS),
        group="server",
        summary="A container for Access List Control commands",
        since="6.0.0",
        complexity="Depends on subcommand.",
        acl="",
        subcommands=_SUBS,
    ),
]


def deny_log(gate: ServerView, session: Session, reason: str, context: str, obj: bytes, username: bytes) -> None:
    """An ACL LOG entry for a refusal here (gate.py), with the client's CLIENT INFO line."""
    info = _client_line(gate, session).encode("utf-8", "surrogateescape")
    gate.acl.log_max = gate.config.threshold("acllog-max-len")  # CONFIG SET acllog-max-len: from the next entry
    gate.acl.add_log(reason, context, obj, username, int(gate.now_s() * 1000), info)
    gate.stats[STAT_OF_REASON[reason]] += 1
