"""Pub/Sub on one node: who is subscribed to what here, and delivery of applied messages to them.

PUBLISH and SPUBLISH go through the log (commands/pubsub.py proposes them to the node's reserved
PUBSUB target); every node, when it applies such an entry, hands its payload to `Subscribers.deliver`
(registered with NodeAPI.subscribe_published), which pushes the message to the subscribers of THIS
node. So every subscriber in the cluster sees the messages published through the log in one order,
the log's, whichever node they were published on; a subscriber that is disconnected (or connects
late) misses what was applied meanwhile, as in Redis: nothing is stored for it.

A session's subscriptions live on the session (`Subscriptions`); the maps here index them by
channel and pattern for delivery. Patterns match with statemachines.glob (Redis' stringmatchlen,
bounded by len(channel) * len(pattern)); each message is encoded once per protocol and shared by
every receiver. A receiver's `push` (set by its connection, server.py) queues the bytes within the
client-output-buffer-limit `pubsub` class: a subscriber that does not read is closed, never a
memory leak.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from frontends.resp.replies import Push, RawReply, encode
from frontends.resp.session import Session
from statemachines import encode_args
from statemachines.glob import compile_glob

PUBLISH, SPUBLISH = b"p", b"s"  # the kind of a published message, first in its payload

_payload = msgspec.msgpack.Decoder(list[bytes])


def published_payload(kind: bytes, channel: bytes, message: bytes) -> bytes:
    """What PUBLISH / SPUBLISH propose to the node's PUBSUB target (and deliver decodes)."""
    return encode_args((kind, channel, message))


@dataclass(slots=True, eq=False)
class Subscriptions:
    """One session's subscriptions (Session.pubsub while it has any)."""

    session: Session  # its protocol decides how a message is encoded for it
    push: Callable[[RawReply], None]  # the connection's queue for out-of-band messages
    channels: set[bytes] = field(default_factory=set)
    patterns: set[bytes] = field(default_factory=set)
    shard_channels: set[bytes] = field(default_factory=set)

    def count(self) -> int:
        """Redis' clientSubscriptionsCount: channels and patterns (SUBSCRIBE's reply)."""
        return len(self.channels) + len(self.patterns)

    def total(self) -> int:
        return len(self.channels) + len(self.patterns) + len(self.shard_channels)


class Subscribers:
    """The node's subscribers, by channel, pattern and shard channel."""

    def __init__(self) -> None:
        self.channels: dict[bytes, dict[Subscriptions, None]] = {}  # insertion-ordered sets
        self.patterns: dict[bytes, dict[Subscriptions, None]] = {}
        self.shard_channels: dict[bytes, dict[Subscriptions, None]] = {}
        # Each pattern's matcher, compiled once while someone holds it (compile_glob's cache is
        # small: thousands of patterns would be compiled again for every message).
        self.matchers: dict[bytes, Callable[[bytes], bool]] = {}

    # --- subscribing ---------------------------------------------------------------------------
    @staticmethod
    def _add(index: dict, own: set, name: bytes, subs: Subscriptions) -> None:
        if name not in own:
            own.add(name)
            index.setdefault(name, {})[subs] = None

    @staticmethod
    def _remove(index: dict, own: set, name: bytes, subs: Subscriptions) -> bool:
        if name not in own:
            return False
        own.discard(name)
        members = index.get(name)
        if members is not None:
            members.pop(subs, None)
            if not members:
                del index[name]
        return True

    def subscribe(self, subs: Subscriptions, channel: bytes) -> None:
        self._add(self.channels, subs.channels, channel, subs)

    def psubscribe(self, subs: Subscriptions, pattern: bytes) -> None:
        self._add(self.patterns, subs.patterns, pattern, subs)
        if pattern not in self.matchers:
            self.matchers[pattern] = compile_glob(pattern)

    def ssubscribe(self, subs: Subscriptions, channel: bytes) -> None:
        self._add(self.shard_channels, subs.shard_channels, channel, subs)

    def unsubscribe(self, subs: Subscriptions, channel: bytes) -> None:
        self._remove(self.channels, subs.channels, channel, subs)

    def punsubscribe(self, subs: Subscriptions, pattern: bytes) -> None:
        self._remove(self.patterns, subs.patterns, pattern, subs)
        if pattern not in self.patterns:
            self.matchers.pop(pattern, None)

    def sunsubscribe(self, subs: Subscriptions, channel: bytes) -> None:
        self._remove(self.shard_channels, subs.shard_channels, channel, subs)

    def drop(self, subs: Subscriptions) -> None:
        """Forget every subscription of a session (closed, RESET)."""
        for channel in list(subs.channels):
            self.unsubscribe(subs, channel)
        for pattern in list(subs.patterns):
            self.punsubscribe(subs, pattern)
        for channel in list(subs.shard_channels):
            self.sunsubscribe(subs, channel)

    # --- what PUBLISH answers and PUBSUB shows ---------------------------------------------------
    def receivers(self, kind: bytes, channel: bytes) -> int:
        """How many local subscriptions a message on `channel` reaches (PUBLISH's reply): every
        subscriber of the channel, plus one per matching pattern of each session, as Redis counts."""
        if kind == SPUBLISH:
            return len(self.shard_channels.get(channel, ()))
        count = len(self.channels.get(channel, ()))
        matchers = self.matchers
        for pattern, members in self.patterns.items():
            if matchers[pattern](channel):
                count += len(members)
        return count

    # --- delivery ---------------------------------------------------------------------------------
    def deliver(self, payload: bytes) -> None:
        """A PUBLISH / SPUBLISH entry applied on this node: push it to the local subscribers."""
        try:
            kind, channel, message = _payload.decode(payload)
        except (msgspec.DecodeError, ValueError):
            return  # not ours (a forged entry): nobody to tell
        self.publish(kind, channel, message)

    def publish(self, kind: bytes, channel: bytes, message: bytes) -> None:
        """Push a message to this node's subscribers of `channel` (PUBLISH) or shard channel
        (SPUBLISH): what an applied entry does, and what a node-local source of messages (such
        as keyspace notifications emitted at apply) may call directly."""
        encoded: dict = {}  # (protocol, pattern) -> bytes, each built once
        if kind == SPUBLISH:
            for subs in self.shard_channels.get(channel, ()):
                subs.push(_message(encoded, subs, b"smessage", None, channel, message))
            return
        for subs in self.channels.get(channel, ()):
            subs.push(_message(encoded, subs, b"message", None, channel, message))
        matchers = self.matchers
        for pattern, members in self.patterns.items():
            if matchers[pattern](channel):
                for subs in members:
                    subs.push(_message(encoded, subs, b"pmessage", pattern, channel, message))


def _message(
    encoded: dict, subs: Subscriptions, kind: bytes, pattern: bytes | None, channel: bytes, message: bytes
) -> RawReply:
    protocol = subs.session.protocol
    raw = encoded.get((protocol, pattern))
    if raw is None:
        body = [kind, channel, message] if pattern is None else [kind, pattern, channel, message]
        raw = encoded[protocol, pattern] = RawReply(encode(Push(body), protocol))
    return raw
