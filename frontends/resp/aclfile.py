"""The aclfile (Redis' `aclfile`): ACL LOAD reads it, ACL SAVE writes it, and it bootstraps the
users of a cluster whose ACL state was never set.

Users are replicated state (statemachines/acl.py), so the file is not where they live: it is an
import and export format, Redis' own ("user <name> <rules>" per line, what ACL LIST shows). ACL
LOAD checks the whole file as Redis does (every error reported, nothing changed if any) and then
proposes the users through the log: every node gets the file's users, whichever node read it.
ACL SAVE writes this node's users to this node's file (0600: it holds password hashes). At start,
each node proposes its file, applied only if no ACL change ever was (`bootstrap`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import trio

from frontends.resp.acl import Commands, RuleError, Users, has_spaces, new_user
from frontends.resp.commands.entry import Submit
from frontends.resp.session import Session
from replicator.runtime.api import RequestError
from statemachines import ReplyError, encode_args

log = logging.getLogger(__name__)

BOOTSTRAP_POLL_S = 0.5
ACLFILE_BYTES_MAX = 64 << 20  # a file beyond it is refused: its users would not fit one entry anyway


def parse(data: bytes, filename: str, commands: Commands) -> list[tuple[bytes, list[bytes]]] | str:
    """The file's users as (name, rules), or Redis' error text (ACLLoadFromFile's)."""
    errors, users, seen = [], [], set()
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = raw.strip(b" \t\r\n")
        if not line:
            continue
        words = [word for word in line.split(b" ") if word]
        if not words:
            continue
        if words[0] != b"user" or len(words) < 2:
            errors.append(f"{filename}:{number} should start with user keyword followed by the username. ")
            continue
        name = words[1]
        if has_spaces(name):
            errors.append(
                f"'{filename}:{number}: username '{name.decode('utf-8', 'replace')}' contains invalid characters. "
            )
            continue
        if name in seen:
            errors.append(f"WARNING: Duplicate user '{name.decode('utf-8', 'replace')}' found on line {number}. ")
            continue
        seen.add(name)
        rules = [word.strip(b"\t\r\n") for word in words[2:]]
        user, syntax_error = new_user(name), False
        for rule in rules:
            try:
                user.apply(rule, commands)
            except RuleError as error:
                if str(error).startswith("Unknown command"):
                    text = rule.decode("utf-8", "replace")
                    errors.append(f"{filename}:{number}: Error in applying operation '{text}': {error}. ")
                elif not syntax_error:
                    errors.append(f"{filename}:{number}: {error}. ")
                    syntax_error = True
        users.append((name, rules))
    if errors:
        return (
            "".join(errors) + "WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
        )
    return users


def load_command(path: Path, commands: Commands, op: bytes = b"LOAD") -> bytes | ReplyError:
    """The ACL machine's LOAD (or BOOTSTRAP) of the file's users, or the error to answer ACL LOAD with."""
    try:
        with open(path, "rb") as file:
            data = file.read(ACLFILE_BYTES_MAX + 1)
    except OSError as error:
        return ReplyError(f"ERR Error loading ACLs, opening file '{path}': {error.strerror}")
    if len(data) > ACLFILE_BYTES_MAX:
        return ReplyError(f"ERR Error loading ACLs, file '{path}' is larger than {ACLFILE_BYTES_MAX} bytes")
    users = parse(data, str(path), commands)
    if isinstance(users, str):
        return ReplyError(f"ERR {users}")
    return encode_args([op, *(encode_args([name, *rules]) for name, rules in users)])


def save(path: Path, users: Users) -> bool:
    """ACL SAVE: this node's users, as ACL LIST shows them, written whole (temp file, fsync,
    rename), readable by its owner only."""
    lines = b"".join(
        b"user " + name + b" " + users.users[name].describe(users.commands) + b"\n" for name in sorted(users.users)
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, lines)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError:
        log.exception("ACL SAVE: writing %s failed", path)
        try:
            os.unlink(temp)
        except OSError:
            pass
        return False
    return True


async def bootstrap(gate, path: Path) -> None:
    """At start: propose the file's users as a BOOTSTRAP, which the ACL machine applies only if no
    ACL change ever was (statemachines/acl.py): every node may propose its own file, the first one
    applied seeds the cluster, the others change nothing. Tried again while the cluster cannot
    take it (no leader yet); a file that cannot be loaded is logged and left."""
    machine = gate.acl_machine
    command = load_command(path, gate.acl.commands, b"BOOTSTRAP")
    if isinstance(command, ReplyError):
        log.error("aclfile %s not loaded: %s", path, command)
        return
    change = gate.acl_change(Session(0), command)
    if change.__class__ is not Submit:  # a server keeping its own users: applied already
        return
    while not machine.changed:
        result = (await gate.node.submit_batch([(change.machine, change.payload)]).wait())[0]
        if result == "OK":
            log.info("aclfile %s: its users were loaded", path)
        elif isinstance(result, RequestError | ReplyError):
            log.info("aclfile %s: proposing its users failed (%s), trying again", path, result)
        await trio.sleep(BOOTSTRAP_POLL_S)  # (this node applies what its proposal's leader did, later)
