"""Redis ACL users: their rules (ACL SETUSER's language), how Redis 7.0 describes them, and the
permission check a command passes before it runs. Pure: no I/O, no clock (ACL LOG's times come in).

A user is Redis' root selector and its own flags: on/off, nopass, passwords kept as the SHA-256 hex
of the password (as Redis stores them: ACL GETUSER shows the hashes, never a password), the commands
it may run (a set of full names, "container|sub" for subcommands, plus Redis' reserved "future
commands" bit that only +@all/allcommands sets), first arguments allowed of a command otherwise
denied (+select|0), key patterns with their R/W permissions, channel patterns. Rules apply as
Redis' ACLSetSelector applies them, on a copy of the user, so one bad rule changes nothing.

The rule set is described back (ACL LIST, GETUSER's "commands") with Redis' own greedy algorithm
(ACLDescribeSelectorCommandRules): start from +@all or -@all, add the category that best fits the
difference, then single commands. It runs over this server's command table, which is Redis' own
for the commands Redis has; where the two tables differ (commands Redis has that we do not serve),
the description may pick another, equivalent, rule set than redis-server would.

Selectors (`(...)` rules) are not supported: they are refused with Redis' syntax error.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from frontends.resp import acl_categories, key_specs
from statemachines.acl import LOADED
from statemachines.glob import compile_glob

READ, WRITE = key_specs.READ, key_specs.WRITE  # a key pattern's permissions (%R~, %W~; ~ is both)
ALL_PERMISSIONS = READ | WRITE
HASH_HEX = frozenset(b"0123456789abcdef")

DENIED_COMMAND, DENIED_KEY, DENIED_CHANNEL, DENIED_AUTH = "command", "key", "channel", "auth"

# ACLSetUserStringError's texts, by Redis' errno
UNKNOWN = "Unknown command or category name in ACL"
SYNTAX = "Syntax error"
AFTER_ALLKEYS = (
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any "
    "effect. Try 'resetkeys' to start with an empty list of patterns"
)
AFTER_ALLCHANNELS = (
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any "
    "effect. Try 'resetchannels' to start with an empty list of channels"
)
NO_SUCH_PASSWORD = "The password you are trying to remove from the user does not exist"
BAD_HASH = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
FIRSTARG_OF_SUB = "Allowing first-arg of a subcommand is not supported"


_matcher = functools.lru_cache(maxsize=4096)(compile_glob)  # patterns are few, checks many


class RuleError(ValueError):
    """A rule ACL SETUSER refuses; str(error) is Redis' reason."""


def hash_password(password: bytes) -> bytes:
    """Redis' ACLHashPassword: the SHA-256 of the password, in lowercase hex."""
    return hashlib.sha256(password).hexdigest().encode()


SPACES = frozenset(b" \t\n\v\f\r\0")  # C's isspace() in Redis' locale, and NUL


def has_spaces(data: bytes) -> bool:
    """ACLStringHasSpaces: a space or a NUL (what a config file line could not hold)."""
    return any(byte in SPACES for byte in data)


@dataclass(frozen=True, slots=True)
class CommandInfo:
    """What the ACL needs of one command of the table."""

    name: str  # "get", "client|kill"
    categories: int
    parent: str = ""  # a subcommand's container
    subcommands: tuple[str, ...] = ()


class Commands:
    """The server's commands, as the rules and their description see them (Redis' orig_commands)."""

    def __init__(self, infos: Iterable[CommandInfo]) -> None:
        self.by_name: dict[str, CommandInfo] = {info.name: info for info in infos}
        self.top = [info for info in self.by_name.values() if not info.parent]
        # category -> the names in it (commands and subcommands), for the description's counts
        self.names_in: dict[str, frozenset[str]] = {
            category: frozenset(n for n, info in self.by_name.items() if info.categories & acl_categories.BIT[category])
            for category in acl_categories.CATEGORIES
        }

    @classmethod
    def from_table(cls, commands) -> Commands:
        """From CommandTable.commands (entries with name, categories, subcommands)."""
        infos = []
        for cmd in commands:
            infos.append(CommandInfo(cmd.name, cmd.categories, "", tuple(cmd.subcommands)))
            infos += (CommandInfo(sub.name, sub.categories, cmd.name) for sub in cmd.subcommands.values())
        return cls(infos)

    def in_category(self, bit: int):
        """Redis' ACLSetSelectorCommandBitsForCategoryLogic order: each command, then its subcommands."""
        for info in self.top:
            if info.categories & bit:
                yield info
            for sub in info.subcommands:
                one = self.by_name[sub]
                if one.categories & bit:
                    yield one


@dataclass(slots=True)
class User:
    name: bytes
    enabled: bool = False
    nopass: bool = False
    sanitize: str = ""  # "" | "sanitize-payload" | "skip-sanitize-payload" (flags only shown)
    passwords: list[bytes] = field(default_factory=list)  # SHA-256 hex
    allowed: set[str] = field(default_factory=set)
    future: bool = False  # +@all's reserved bit (only -@all clears it): commands added later are allowed too
    firstargs: dict[str, list[bytes]] = field(default_factory=dict)
    allkeys: bool = False
    keys: list[list] = field(default_factory=list)  # [permissions, pattern]
    allchannels: bool = False
    channels: list[bytes] = field(default_factory=list)
    rules_text: bytes | None = None  # command_rules' answer, kept until a rule changes the user (Redis' acl_string)

    def copy(self) -> User:
        return User(
            self.name,
            self.enabled,
            self.nopass,
            self.sanitize,
            list(self.passwords),
            set(self.allowed),
            self.future,
            {k: list(v) for k, v in self.firstargs.items()},
            self.allkeys,
            [list(k) for k in self.keys],
            self.allchannels,
            list(self.channels),
        )

    # --- rules (ACLSetUser / ACLSetSelector) -----------------------------------------------
    def apply(self, op: bytes, commands: Commands) -> None:
        """One rule; raises RuleError with Redis' reason."""
        self.rules_text = None
        if not op:
            return
        low = op.lower()
        if low == b"on":
            self.enabled = True
        elif low == b"off":
            self.enabled = False
        elif low == b"skip-sanitize-payload":
            self.sanitize = "skip-sanitize-payload"
        elif low == b"sanitize-payload":
            self.sanitize = "sanitize-payload"
        elif low == b"nopass":
            self.nopass = True
            self.passwords.clear()
        elif low == b"resetpass":
            self.nopass = False
            self.passwords.clear()
        elif op[:1] in (b">", b"#"):
            digest = hash_password(op[1:]) if op[:1] == b">" else _checked_hash(op[1:])
            if digest not in self.passwords:
                self.passwords.append(digest)
            self.nopass = False
        elif op[:1] in (b"<", b"!"):
            digest = hash_password(op[1:]) if op[:1] == b"<" else _checked_hash(op[1:])
            if digest not in self.passwords:
                raise RuleError(NO_SUCH_PASSWORD)
            self.passwords.remove(digest)
        elif op[:1] == b"(" and op[-1:] == b")":
            raise RuleError(SYNTAX)  # selectors: not supported here
        elif low == b"clearselectors":
            pass
        elif low == b"reset":
            for rule in (b"resetpass", b"resetkeys", b"resetchannels", b"off", b"sanitize-payload", b"-@all"):
                self.apply(rule, commands)
        else:
            self._selector(op, low, commands)

    def _selector(self, op: bytes, low: bytes, commands: Commands) -> None:
        if low in (b"allkeys", b"~*"):
            self.allkeys = True
            self.keys.clear()
        elif low == b"resetkeys":
            self.allkeys = False
            self.keys.clear()
        elif low in (b"allchannels", b"&*"):
            self.allchannels = True
            self.channels.clear()
        elif low == b"resetchannels":
            self.allchannels = False
            self.channels.clear()
        elif low in (b"allcommands", b"+@all"):
            self.allowed = set(commands.by_name)
            self.future = True
            self.firstargs.clear()
        elif low in (b"nocommands", b"-@all"):
            self.allowed = set()
            self.future = False
            self.firstargs.clear()
        elif op[:1] in (b"~", b"%"):
            self._key_pattern(op)
        elif op[:1] == b"&":
            if self.allchannels:
                raise RuleError(AFTER_ALLCHANNELS)
            if has_spaces(op[1:]):
                raise RuleError(SYNTAX)
            if op[1:] not in self.channels:
                self.channels.append(op[1:])
        elif op[:1] == b"+" and op[1:2] != b"@":
            self._allow(op[1:], commands)
        elif op[:1] == b"-" and op[1:2] != b"@":
            info = _lookup(op[1:], commands)
            if info is None:
                raise RuleError(UNKNOWN)
            self._change(info, False, commands)
        elif op[:1] in (b"+", b"-") and op[1:2] == b"@":
            bit = acl_categories.BIT.get(low[2:].decode("latin-1"))
            if bit is None:
                raise RuleError(UNKNOWN)
            for info in commands.in_category(bit):
                self._change(info, op[:1] == b"+", commands)
        else:
            raise RuleError(SYNTAX)

    def _key_pattern(self, op: bytes) -> None:
        if self.allkeys:
            raise RuleError(AFTER_ALLKEYS)
        permissions, offset = 0, 1
        if op[:1] == b"%":
            while offset < len(op):
                char = op[offset : offset + 1].upper()
                if char == b"R" and not permissions & READ:
                    permissions |= READ
                elif char == b"W" and not permissions & WRITE:
                    permissions |= WRITE
                elif char == b"~":
                    offset += 1
                    break
                else:
                    raise RuleError(SYNTAX)
                offset += 1
        else:
            permissions = ALL_PERMISSIONS
        pattern = op[offset:]
        if has_spaces(pattern):
            raise RuleError(SYNTAX)
        for one in self.keys:
            if one[1] == pattern:
                one[0] |= permissions
                break
        else:
            self.keys.append([permissions, pattern])

    def _allow(self, name: bytes, commands: Commands) -> None:
        if b"|" not in name:
            info = _lookup(name, commands)
            if info is None:
                raise RuleError(UNKNOWN)
            self._change(info, True, commands)
            return
        container, _, sub = name.rpartition(b"|")
        info = _lookup(container, commands)
        if info is None:
            raise RuleError(UNKNOWN)
        if info.parent:
            raise RuleError(FIRSTARG_OF_SUB)
        if not sub:
            raise RuleError(SYNTAX)
        if info.subcommands:
            one = _lookup(name, commands)
            if one is None:
                raise RuleError(UNKNOWN)
            self._change(one, True, commands)
        else:  # Redis' deprecated first-arg rule (+select|0)
            allowed = self.firstargs.setdefault(info.name, [])
            if sub.lower() not in (arg.lower() for arg in allowed):
                allowed.append(sub)

    def _change(self, info: CommandInfo, allow: bool, commands: Commands) -> None:
        """ACLChangeSelectorPerm: the command and its subcommands; its first-args are forgotten."""
        for name in (info.name, *info.subcommands):
            if allow:
                self.allowed.add(name)
            else:
                self.allowed.discard(name)
        self.firstargs.pop(info.name, None)

    # --- description (ACLDescribeUser, ACL GETUSER) ----------------------------------------
    def flags(self) -> list[bytes]:
        out = [b"on" if self.enabled else b"off"]
        if self.nopass:
            out.append(b"nopass")
        if self.sanitize == "skip-sanitize-payload":
            out.append(b"skip-sanitize-payload")
        elif self.sanitize:
            out.append(b"sanitize-payload")
        return out

    def key_rules(self) -> list[bytes]:
        if self.allkeys:
            return [b"~*"]
        return [_pattern_string(permissions, pattern) for permissions, pattern in self.keys]

    def channel_rules(self) -> list[bytes]:
        return [b"&*"] if self.allchannels else [b"&" + channel for channel in self.channels]

    def describe(self, commands: Commands) -> bytes:
        """ACL LIST's line after "user <name> " (Redis' ACLDescribeUser)."""
        parts = self.flags() + [b"#" + digest for digest in self.passwords] + self.key_rules()
        if not self.allchannels:
            parts.append(b"resetchannels")
        parts += self.channel_rules()
        parts.append(self.command_rules(commands))
        return b" ".join(parts)

    def command_rules(self, commands: Commands) -> bytes:
        """Redis' ACLDescribeSelectorCommandRules: +@all/-@all, best-fitting categories, then commands."""
        if self.rules_text is None:
            self.rules_text = self._command_rules(commands)
        return self.rules_text

    def _command_rules(self, commands: Commands) -> bytes:
        additive = not self.future
        rules = [b"-@all" if additive else b"+@all"]
        fake = User(b"", allowed=set() if additive else set(commands.by_name), future=not additive)
        temp = set(self.allowed)
        applied: set[str] = set()
        while True:
            best, mindiff, maxsame = None, None, 0
            for category in acl_categories.CATEGORIES:
                if category in applied:
                    continue
                names = commands.names_in[category]
                on = len(names & temp)
                off = len(names) - on
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (mindiff is None or diff < mindiff or (diff == mindiff and same > maxsame)):
                    best, mindiff, maxsame = category, diff, same
            if best is None:
                break
            sign = b"+@" if additive else b"-@"
            fake.apply(sign + best.encode(), commands)
            scratch = User(b"", allowed=temp)
            scratch.apply((b"-@" if additive else b"+@") + best.encode(), commands)
            temp = scratch.allowed
            rules.append(sign + best.encode())
            applied.add(best)
        for info in commands.top:
            rules += self._single(info, fake, commands)
        return b" ".join(rules)

    def _single(self, info: CommandInfo, fake: User, commands: Commands) -> list[bytes]:
        out = []
        mine, theirs = info.name in self.allowed, info.name in fake.allowed
        if mine != theirs:
            out.append((b"+" if mine else b"-") + info.name.encode())
            fake._change(info, mine, commands)
        for sub in info.subcommands:
            out += self._single(commands.by_name[sub], fake, commands)
        if not mine:
            out += [b"+" + info.name.encode() + b"|" + arg for arg in self.firstargs.get(info.name, ())]
        return out

    # --- the check (ACLSelectorCheckCmd) ---------------------------------------------------
    def check_command(self, name: str, args: list[bytes], no_auth: bool) -> bool:
        """May this user run the command `name` ("container|sub" for a subcommand)?"""
        if no_auth or name in self.allowed:
            return True
        allowed = self.firstargs.get(name)
        if allowed is None or len(args) < 2:
            return False
        first = args[1].lower()
        return any(arg.lower() == first for arg in allowed)

    def check_key(self, key: bytes, permissions: int) -> bool:
        if self.allkeys:
            return True
        for flags, pattern in self.keys:
            if flags & permissions == permissions and _matcher(pattern)(key):
                return True
        return False

    def check_channel(self, channel: bytes, is_pattern: bool) -> bool:
        if self.allchannels:
            return True
        for pattern in self.channels:
            if (pattern == channel) if is_pattern else _matcher(pattern)(channel):
                return True
        return False

    def check_password(self, password: bytes) -> bool:
        return self.nopass or hash_password(password) in self.passwords


def _checked_hash(digest: bytes) -> bytes:
    if len(digest) != 64 or not all(byte in HASH_HEX for byte in digest):
        raise RuleError(BAD_HASH)
    return digest


def _lookup(name: bytes, commands: Commands) -> CommandInfo | None:
    return commands.by_name.get(name.lower().decode("latin-1"))


def _pattern_string(permissions: int, pattern: bytes) -> bytes:
    if permissions == ALL_PERMISSIONS:
        return b"~" + pattern
    return (b"%R~" if permissions == READ else b"%W~") + pattern


def new_user(name: bytes) -> User:
    """ACLCreateUser: off, no password, no commands, no keys, no channels (acl-pubsub-default)."""
    return User(name)


def default_user(commands: Commands, requirepass: bytes | None) -> User:
    """ACLCreateDefaultUser, then requirepass as ACLUpdateDefaultUserPassword applies it."""
    user = User(b"default", enabled=True, nopass=True, allkeys=True, allchannels=True)
    user.apply(b"+@all", commands)
    set_requirepass(user, requirepass)
    return user


def set_requirepass(user: User, requirepass: bytes | None) -> None:
    """requirepass is the default user's one password (empty: nopass), as in Redis."""
    user.passwords.clear()
    user.nopass = not requirepass
    if requirepass:
        user.passwords.append(hash_password(requirepass))


@dataclass(slots=True)
class LogEntry:
    """One ACL LOG entry (Redis' ACLLogEntry); similar denials within 60 s add to `count`."""

    count: int
    reason: str
    context: str
    object: bytes
    username: bytes
    created_ms: int
    client_info: bytes


LOG_GROUPING_MS = 60000  # ACL_LOG_GROUPING_MAX_TIME_DELTA


class Users:
    """This server's users and its ACL LOG. `default` always exists (ACL DELUSER refuses it)."""

    def __init__(self, commands: Commands, requirepass: bytes | None = None, log_max: int = 128) -> None:
        self.commands = commands
        self.requirepass = requirepass
        self.users: dict[bytes, User] = {b"default": default_user(commands, requirepass)}
        self.log: list[LogEntry] = []  # newest first
        self.log_max = log_max

    def get(self, name: bytes) -> User | None:
        return self.users.get(name)

    def default_nopass(self) -> bool:
        """Whether a new connection starts authenticated (as `default`): Redis' nopass and on."""
        default = self.users[b"default"]
        return default.nopass and default.enabled

    def set_requirepass(self, requirepass: bytes | None) -> None:
        self.requirepass = requirepass
        set_requirepass(self.users[b"default"], requirepass)

    def load(self, name: bytes, history: list[list[bytes]] | None) -> list[str]:
        """Rebuild user `name` from the rule lists of its ACL SETUSERs (statemachines/acl.py), in
        order, each whole or not at all; None: the user was deleted (`default` is then Redis'
        default again). Returns the errors of the lists skipped (a rule valid where it was checked
        may not be where it is applied: `<pw` after another client removed pw)."""
        default = name == b"default"
        user = default_user(self.commands, self.requirepass) if default else new_user(name)
        if history and history[0][:1] == [LOADED]:  # ACL LOAD's: a fresh user, the default one too
            user = new_user(name)
            history = [history[0][1:], *history[1:]]
        if history is None:
            if default:
                self.users[name] = user
            else:
                self.users.pop(name, None)
            return []
        errors = []
        for rules in history:
            staged = user.copy()
            try:
                for rule in rules:
                    staged.apply(rule, self.commands)
            except RuleError as error:
                errors.append(f"{error} (ACL SETUSER {name!r} skipped)")
                continue
            user = staged
        self.users[name] = user
        return errors

    def set_user(self, name: bytes, rules: list[bytes], commit: bool = True) -> str | None:
        """ACL SETUSER: every rule applies, or none (Redis' ACLStringSetUser); the error text else.
        commit=False only checks (the change then goes through the log: load)."""
        if has_spaces(name):
            return "Usernames can't contain spaces or null characters"
        user = self.users.get(name)
        staged = user.copy() if user is not None else new_user(name)
        for rule in rules:
            try:
                staged.apply(rule, self.commands)
            except RuleError as error:
                return f"Error in ACL SETUSER modifier '{rule.decode('utf-8', 'replace')}': {error}"
        if commit:
            self.users[name] = staged
        return None

    def authenticate(self, name: bytes, password: bytes) -> User | None:
        """The user if it exists, is on and the password is one of its own (or it is nopass)."""
        user = self.users.get(name)
        if user is None or not user.enabled or not user.check_password(password):
            return None
        return user

    def add_log(self, reason: str, context: str, obj: bytes, username: bytes, now_ms: int, info: bytes) -> None:
        """addACLLogEntry: an entry like a recent one (same reason, context, object, user) counts there."""
        for i, entry in enumerate(self.log):
            if (entry.reason, entry.context, entry.object, entry.username) == (reason, context, obj, username) and (
                now_ms - entry.created_ms < LOG_GROUPING_MS
            ):
                entry.count += 1
                entry.created_ms = now_ms
                entry.client_info = info
                self.log.insert(0, self.log.pop(i))
                return
        self.log.insert(0, LogEntry(1, reason, context, obj, username, now_ms, info))
        del self.log[self.log_max :]


PUBLISHING = frozenset({"publish", "spublish"})
SUBSCRIBING = frozenset({"subscribe", "ssubscribe", "psubscribe"})


def check(user: User, cmd, args: list[bytes]) -> tuple[str, int] | None:
    """Redis' ACLSelectorCheckCmd for a table entry `cmd` (its full name, flags, key positions):
    None if allowed, else (reason, index of the argument refused; 0 for the command).

    Keys: where Redis 7.0 finds them and what each needs (%R~ to read, %W~ to write), from its key
    specs (key_specs.py). A command Redis does not have (a plugin's): its key positions, each
    needing %R~ for a readonly command, %W~ for any other; if its keys cannot be found from
    positions (movablekeys), it needs a user with allkeys: refusing is the safe side of not
    knowing them."""
    if not user.check_command(cmd.name, args, "no_auth" in cmd.flags):
        return DENIED_COMMAND, 0
    found = None if user.allkeys else key_specs.keys(cmd.name, args)
    if found is not None:
        for i, permissions in found:
            if not user.check_key(args[i], permissions):
                return DENIED_KEY, i
    elif not user.allkeys and cmd.first_key > 0:
        if "movablekeys" in cmd.flags:
            return DENIED_KEY, min(cmd.first_key, len(args) - 1)
        permissions = READ if "readonly" in cmd.flags else WRITE
        last = cmd.last_key if cmd.last_key >= 0 else len(args) + cmd.last_key
        for i in range(cmd.first_key, min(last, len(args) - 1) + 1, max(cmd.key_step, 1)):
            if not user.check_key(args[i], permissions):
                return DENIED_KEY, i
    if not user.allchannels:
        if cmd.name in PUBLISHING and len(args) > 1 and not user.check_channel(args[1], False):
            return DENIED_CHANNEL, 1
        if cmd.name in SUBSCRIBING:
            for i in range(1, len(args)):
                if not user.check_channel(args[i], cmd.name == "psubscribe"):
                    return DENIED_CHANNEL, i
    return None
