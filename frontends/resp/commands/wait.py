"""WAIT numreplicas timeout: how many replicas hold this connection's last write.

In Redis a write is acknowledged before any replica has it, and WAIT blocks until enough
replicas report its offset. Here a write is acknowledged only once committed, so a
majority of the voters already hold it when the client could send WAIT: the answer is
never below quorum - 1 (the leader is not a replica), and WAIT answers at once, never
blocking (Redis blocks only when fewer replicas than asked hold the write; here more
cannot be awaited yet: blocking commands come with issue 14's machinery).

- On the leader: the members (voters and learners) whose match index has reached the
  connection's last seen index (Session.seen_index: its last write's index, or the
  state a read was served at).
- On a follower, which does not see the others' progress: quorum - 1, what the commit
  of that index guarantees.

Unlike Redis, WAIT works on a follower too: a follower forwards writes, it is not a
read-only replica.
"""

from __future__ import annotations

from frontends.resp.commands.entry import ServerView, frontend_command
from frontends.resp.commands.errors import NOT_INTEGER
from frontends.resp.protocol import string2ll
from frontends.resp.session import Session
from replicator.types import Role
from statemachines import ReplyError, Result

TIMEOUT_NOT_INTEGER = ReplyError("ERR timeout is not an integer or out of range")
TIMEOUT_NEGATIVE = ReplyError("ERR timeout is negative")


def cmd_wait(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    if string2ll(args[1]) is None:
        return NOT_INTEGER
    timeout = string2ll(args[2])
    if timeout is None:
        return TIMEOUT_NOT_INTEGER
    if timeout < 0:
        return TIMEOUT_NEGATIVE
    return replicas_holding(gate, session.seen_index)


def replicas_holding(gate: ServerView, index: int) -> int:
    """Members other than the leader known to hold log index `index` (module docstring)."""
    try:
        status = gate.node.status()
        voters = len(gate.node.membership().voters)
    except Exception:  # starting: no engine yet
        return 0
    if status.role is Role.LEADER:
        return sum(1 for progress in status.progress.values() if progress.match >= index)
    if status.commit < index or voters <= 1:
        return 0
    return voters // 2  # a quorum (voters // 2 + 1) holds every committed index, the leader among them


COMMANDS = [
    frontend_command(
        "wait",
        3,
        "noscript",
        cmd_wait,
        group="generic",
        summary="Wait for the synchronous replication of all the write commands sent in the context of the "
        "current connection",
        since="3.0.0",
        complexity="O(1)",
        syntax="numreplicas timeout",
        acl="slow connection",
    ),
]
