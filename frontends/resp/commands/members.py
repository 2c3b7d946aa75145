"""REPLICATOR.MEMBER ADD / REMOVE / PROMOTE / LIST: membership changes from any client.

A change is a write of the reserved machine MEMBERSHIP (replicator/members.py):
forwarded to the leader from a follower, answered once the new configuration is
applied (the members after it), refused with the leader's reason otherwise.
LIST answers from the node it is sent to: the configuration in force there and,
on the leader, each member's match index; last contact is this node's.
Like every command, these need AUTH when a password is set.
"""

from __future__ import annotations

from frontends.resp.commands.entry import WRITE, ServerView, Submit, container, frontend_command, help_handler
from frontends.resp.commands.errors import text
from frontends.resp.commands.info import node_status
from frontends.resp.protocol import string2ll
from frontends.resp.session import Session
from replicator.members import ADD, MAX_NODE_ID, PROMOTE, REMOVE, MemberChange, valid_address
from replicator.types import MEMBERSHIP, MemberRole
from statemachines import ReplyError, Result

_NO_MULTI = ReplyError("ERR REPLICATOR.MEMBER is not allowed inside MULTI")


def _node_id(raw: bytes) -> int | ReplyError:
    value = string2ll(raw)
    if value is None or not 1 <= value <= MAX_NODE_ID:
        return ReplyError(f"ERR node id must be an integer in 1..{MAX_NODE_ID}")
    return value


def _members_reply(_args: list[bytes], result: Result, _protocol: int) -> Result:
    if result is None:  # queued inside MULTI: EXEC runs frontend commands without the node
        return _NO_MULTI
    if isinstance(result, ReplyError):
        return result
    return [[b"id", m[0], b"role", m[1].encode(), b"peer", m[2].encode(), b"resp", m[3].encode()] for m in result]


def _submit(change: MemberChange) -> Submit:
    return Submit(WRITE, change.encode(), _members_reply, machine=MEMBERSHIP)


def cmd_member_add(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """REPLICATOR.MEMBER ADD id peer-host:port resp-host:port [LEARNER|OBSERVER]"""
    node = _node_id(args[2])
    if isinstance(node, ReplyError):
        return node
    role = text(args[5]).lower() if len(args) == 6 else MemberRole.LEARNER
    if role not in (MemberRole.LEARNER, MemberRole.OBSERVER):
        return ReplyError("ERR a new member is a LEARNER (promoted to voter once caught up) or an OBSERVER")
    for what, raw in (("peer", args[3]), ("resp", args[4])):
        # refused here, not only by the leader: an address that is not ASCII cannot even be encoded
        if not (raw.isascii() and valid_address(raw.decode())):
            return ReplyError(f"ERR the {what} address must be host:port, not {text(raw)[:300]!r}")
    return _submit(MemberChange(ADD, node, role, args[3].decode(), args[4].decode()))


def cmd_member_remove(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """REPLICATOR.MEMBER REMOVE id"""
    node = _node_id(args[2])
    return node if isinstance(node, ReplyError) else _submit(MemberChange(REMOVE, node))


def cmd_member_promote(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """REPLICATOR.MEMBER PROMOTE id: make a caught-up learner a voter now (the leader also
    does it by itself)."""
    node = _node_id(args[2])
    return node if isinstance(node, ReplyError) else _submit(MemberChange(PROMOTE, node))


def cmd_member_list(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    """REPLICATOR.MEMBER LIST: id, role, addresses; match and last contact (ms) where known."""
    status = node_status(gate)
    progress = status.progress if status is not None else {}
    rows = []
    for m in gate.node.membership().members:
        pr = progress.get(m.id)
        if m.id == gate.node.node_id:
            match = status.last_index if status is not None else None
            contact = 0
        else:
            match = pr.match if pr is not None else None
            seconds = gate.node.last_contact_s(m.id)
            contact = None if seconds is None else int(seconds * 1000)
        rows.append(
            [
                b"id",
                m.id,
                b"role",
                m.role.encode(),
                b"peer",
                m.peer.encode(),
                b"resp",
                m.resp.encode(),
                b"leader",
                int(status is not None and status.leader == m.id),
                b"match",
                match,
                b"last_contact_ms",
                contact,
            ]
        )
    return rows


_SUBS = [
    frontend_command(
        "replicator.member|add",
        -5,
        "admin write",
        cmd_member_add,
        group="server",
        summary="Add a member to the cluster as a learner (or an observer)",
        syntax="id peer resp [LEARNER|OBSERVER]",
        acl="admin slow dangerous",
    ),
    frontend_command(
        "replicator.member|remove",
        3,
        "admin write",
        cmd_member_remove,
        group="server",
        summary="Remove a member (the leader hands leadership over first when it is the one removed)",
        syntax="id",
        acl="admin slow dangerous",
    ),
    frontend_command(
        "replicator.member|promote",
        3,
        "admin write",
        cmd_member_promote,
        group="server",
        summary="Promote a learner that has caught up to voter",
        syntax="id",
        acl="admin slow dangerous",
    ),
    frontend_command(
        "replicator.member|list",
        2,
        "admin loading stale",
        cmd_member_list,
        group="server",
        summary="List the members: id, role, addresses, leader, match index and last contact",
        acl="admin slow",
    ),
    frontend_command(
        "replicator.member|help",
        2,
        "loading stale",
        help_handler(
            "REPLICATOR.MEMBER",
            [
                "ADD <id> <peer host:port> <resp host:port> [LEARNER|OBSERVER]",
                "REMOVE <id>",
                "PROMOTE <id>",
                "LIST",
                "HELP",
            ],
        ),
        group="server",
        summary="Show helpful text about the different subcommands",
        acl="slow",
    ),
]

COMMANDS = [
    frontend_command(
        "replicator.member",
        -2,
        "",
        container(_SUBS),
        group="server",
        summary="A container for cluster membership commands",
        complexity="Depends on subcommand.",
        acl="slow",
        subcommands=_SUBS,
    ),
]
