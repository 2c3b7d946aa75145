"""SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE, SUNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB.

Subscriptions are the connection's (Session.pubsub) and this node's (gate.pubsub, a
frontends.resp.pubsub.Subscribers); the (un)subscribe replies are Redis 7.0's: one
[kind, name, count] per name, a RESP3 push. PUBLISH and SPUBLISH are writes to the node's
reserved PUBSUB target: every node delivers the message to its own subscribers when it
applies the entry (frontends/resp/pubsub.py), so subscribers on every node see every
message, in the log's order. Their reply counts the subscriptions reached on THIS node
(Redis counts its own clients; counting the whole cluster's would need a round trip to
every node), taken when the reply is made.

A RESP2 client with a subscription is in subscriber mode: the gate lets only the commands
of SUBSCRIBER_COMMANDS through and answers the others with Redis' error (gate.py).
"""

from __future__ import annotations

from frontends.resp.commands.entry import WRITE, Command, ServerView, Submit, container, frontend_command, help_handler
from frontends.resp.commands.errors import text
from frontends.resp.pubsub import PUBLISH, SPUBLISH, Subscriptions, published_payload
from frontends.resp.replies import Push, Replies
from frontends.resp.session import Session
from statemachines import PUBSUB, ReplyError, Result
from statemachines.glob import compile_glob

# What a RESP2 client may send while subscribed (Redis 7.0's processCommand).
SUBSCRIBER_COMMANDS = frozenset(
    {"subscribe", "ssubscribe", "psubscribe", "unsubscribe", "sunsubscribe", "punsubscribe", "ping", "quit", "reset"}
)


# Frontend commands that write through the log: inside MULTI, EXEC makes each a step of its entry.
PUBLISHING = frozenset({"publish", "spublish"})


def subscriber_mode_error(name: str) -> ReplyError:
    return ReplyError(
        f"ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
        "are allowed in this context"
    )


def _subscriptions(session: Session) -> Subscriptions:
    subs = session.pubsub
    if subs is None:
        subs = session.pubsub = Subscriptions(session, session.push)
    return subs


def _left(session: Session) -> None:
    """No subscription left: the session leaves subscriber mode."""
    if session.pubsub is not None and not session.pubsub.total():
        session.pubsub = None


def cmd_subscribe(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    subs, replies = _subscriptions(session), Replies()
    for channel in args[1:]:
        gate.pubsub.subscribe(subs, channel)
        replies.append(Push([b"subscribe", channel, subs.count()]))
    return replies


def cmd_psubscribe(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    subs, replies = _subscriptions(session), Replies()
    for pattern in args[1:]:
        gate.pubsub.psubscribe(subs, pattern)
        replies.append(Push([b"psubscribe", pattern, subs.count()]))
    return replies


def cmd_ssubscribe(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    subs, replies = _subscriptions(session), Replies()
    for channel in args[1:]:
        gate.pubsub.ssubscribe(subs, channel)
        replies.append(Push([b"ssubscribe", channel, len(subs.shard_channels)]))
    return replies


def _unsubscribe(gate: ServerView, session: Session, args: list[bytes], kind: str) -> Result:
    """UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE [name ...]: without names, every one held."""
    subs = session.pubsub
    reply = kind.encode()
    if subs is None:
        subs = Subscriptions(session, session.push)  # nothing held: counts are 0
    own = {"unsubscribe": subs.channels, "punsubscribe": subs.patterns, "sunsubscribe": subs.shard_channels}[kind]
    remove = {
        "unsubscribe": gate.pubsub.unsubscribe,
        "punsubscribe": gate.pubsub.punsubscribe,
        "sunsubscribe": gate.pubsub.sunsubscribe,
    }[kind]
    names = args[1:] or list(own)
    if not names:
        count = len(own) if kind == "sunsubscribe" else subs.count()
        return Push([reply, None, count])
    replies = Replies()
    for name in names:
        remove(subs, name)
        count = len(subs.shard_channels) if kind == "sunsubscribe" else subs.count()
        replies.append(Push([reply, name, count]))
    _left(session)
    return replies


def cmd_unsubscribe(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return _unsubscribe(gate, session, args, "unsubscribe")


def cmd_punsubscribe(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return _unsubscribe(gate, session, args, "punsubscribe")


def cmd_sunsubscribe(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return _unsubscribe(gate, session, args, "sunsubscribe")


def leave_all(gate: ServerView, session: Session) -> None:
    """The connection closed or RESET: every subscription goes."""
    if session.pubsub is not None:
        gate.pubsub.drop(session.pubsub)
        session.pubsub = None


def _publish(kind: bytes):
    def cmd_publish(gate: ServerView, session: Session, args: list[bytes]) -> Result:
        channel = args[1]

        def reply(_args: list[bytes], result: Result, protocol: int) -> Result:
            if isinstance(result, ReplyError):
                return result  # not published (TRYAGAIN, CLUSTERDOWN, ...)
            return gate.pubsub.receivers(kind, channel)

        return Submit(WRITE, published_payload(kind, channel, args[2]), reply, machine=PUBSUB)

    return cmd_publish


# --- PUBSUB ----------------------------------------------------------------------------------------
def _matching(names, args: list[bytes]) -> Result:
    if len(args) > 3:  # Redis' addReplySubcommandSyntaxError
        return ReplyError(
            f"ERR unknown subcommand or wrong number of arguments for '{text(args[1])}'. Try PUBSUB HELP."
        )
    if len(args) == 2:
        return list(names)
    match = compile_glob(args[2])
    return [name for name in names if match(name)]


def cmd_pubsub_channels(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return _matching(gate.pubsub.channels, args)


def cmd_pubsub_shardchannels(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return _matching(gate.pubsub.shard_channels, args)


def cmd_pubsub_numsub(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    out: list = []
    for channel in args[2:]:
        out += (channel, len(gate.pubsub.channels.get(channel, ())))
    return out


def cmd_pubsub_shardnumsub(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    out: list = []
    for channel in args[2:]:
        out += (channel, len(gate.pubsub.shard_channels.get(channel, ())))
    return out


def cmd_pubsub_numpat(gate: ServerView, session: Session, args: list[bytes]) -> Result:
    return len(gate.pubsub.patterns)


_FLAGS = "pubsub noscript loading stale"
_PUBSUB_SUBS = [
    frontend_command(
        "pubsub|channels",
        -2,
        _FLAGS,
        cmd_pubsub_channels,
        group="pubsub",
        summary="List active channels",
        since="2.8.0",
        complexity="O(N) where N is the number of active channels",
        syntax="[pattern]",
        acl="pubsub slow",
    ),
    frontend_command(
        "pubsub|numpat",
        2,
        _FLAGS,
        cmd_pubsub_numpat,
        group="pubsub",
        summary="Get the count of unique patterns pattern subscriptions",
        since="2.8.0",
        acl="pubsub slow",
    ),
    frontend_command(
        "pubsub|numsub",
        -2,
        _FLAGS,
        cmd_pubsub_numsub,
        group="pubsub",
        summary="Get the count of subscribers for channels",
        since="2.8.0",
        complexity="O(N) for the NUMSUB subcommand, where N is the number of requested channels",
        syntax="[channel [channel ...]]",
        acl="pubsub slow",
    ),
    frontend_command(
        "pubsub|shardchannels",
        -2,
        _FLAGS,
        cmd_pubsub_shardchannels,
        group="pubsub",
        summary="List active shard channels",
        since="7.0.0",
        complexity="O(N) where N is the number of active shard channels",
        syntax="[pattern]",
        acl="pubsub slow",
    ),
    frontend_command(
        "pubsub|shardnumsub",
        -2,
        _FLAGS,
        cmd_pubsub_shardnumsub,
        group="pubsub",
        summary="Get the count of subscribers for shard channels",
        since="7.0.0",
        complexity="O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
        syntax="[shardchannel [shardchannel ...]]",
        acl="pubsub slow",
    ),
    frontend_command(
        "pubsub|help",
        2,
        "loading stale",
        help_handler(
            "PUBSUB",
            [
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Prints this help.",
            ],
        ),
        group="pubsub",
        summary="Show helpful text about the different subcommands",
        since="6.2.0",
        acl="slow",
    ),
]

_SUB_FLAGS = "pubsub noscript loading stale"


def _subscriber(name: str, handler, summary: str, syntax: str, arity: int = -2, since: str = "2.0.0") -> Command:
    return frontend_command(
        name,
        arity,
        _SUB_FLAGS,
        handler,
        group="pubsub",
        summary=summary,
        since=since,
        complexity="O(N) where N is the number of channels or patterns",
        syntax=syntax,
        acl="pubsub slow",
    )


COMMANDS = [
    _subscriber(
        "subscribe", cmd_subscribe, "Listen for messages published to the given channels", "channel [channel ...]"
    ),
    _subscriber(
        "psubscribe",
        cmd_psubscribe,
        "Listen for messages published to channels matching the given patterns",
        "pattern [pattern ...]",
    ),
    _subscriber(
        "ssubscribe",
        cmd_ssubscribe,
        "Listen for messages published to the given shard channels",
        "shardchannel [shardchannel ...]",
        since="7.0.0",
    ),
    _subscriber(
        "unsubscribe",
        cmd_unsubscribe,
        "Stop listening for messages posted to the given channels",
        "[channel [channel ...]]",
        arity=-1,
    ),
    _subscriber(
        "punsubscribe",
        cmd_punsubscribe,
        "Stop listening for messages posted to channels matching the given patterns",
        "[pattern [pattern ...]]",
        arity=-1,
    ),
    _subscriber(
        "sunsubscribe",
        cmd_sunsubscribe,
        "Stop listening for messages posted to the given shard channels",
        "[shardchannel [shardchannel ...]]",
        arity=-1,
        since="7.0.0",
    ),
    frontend_command(
        "publish",
        3,
        "pubsub loading stale fast may_replicate",
        _publish(PUBLISH),
        group="pubsub",
        summary="Post a message to a channel",
        since="2.0.0",
        complexity="O(N+M) where N is the number of clients subscribed to the receiving channel and M is the "
        "total number of subscribed patterns (by any client).",
        syntax="channel message",
        acl="pubsub fast",
    ),
    frontend_command(
        "spublish",
        3,
        "pubsub loading stale fast may_replicate",
        _publish(SPUBLISH),
        group="pubsub",
        summary="Post a message to a shard channel",
        since="7.0.0",
        complexity="O(N) where N is the number of clients subscribed to the receiving shard channel.",
        syntax="shardchannel message",
        acl="pubsub fast",
        keys=(1, 1, 1),
    ),
    frontend_command(
        "pubsub",
        -2,
        "",
        container(_PUBSUB_SUBS),
        group="pubsub",
        summary="A container for Pub/Sub commands",
        since="2.8.0",
        complexity="Depends on subcommand.",
        acl="slow",
        subcommands=_PUBSUB_SUBS,
    ),
]
