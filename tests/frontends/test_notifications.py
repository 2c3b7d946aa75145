"""frontends/resp/notifications.py: the observer is installed only while the flags can publish,
events are filtered by class and published on Redis' channels, and a delivery failure never
reaches the apply that emitted the event."""

from __future__ import annotations

from frontends.resp.notifications import KeyspaceNotifications
from frontends.resp.pubsub import PUBLISH
from statemachines.keyevents import GENERIC, KEY_MISS, KEYEVENT, KEYSPACE, LIST, flags_from_string


class _Node:
    def __init__(self) -> None:
        self.calls: list = []

    def subscribe_keyspace_events(self, callback) -> None:
        self.calls.append(callback)


class _Subscribers:
    def __init__(self, fail: bool = False) -> None:
        self.published: list = []
        self.fail = fail

    def publish(self, kind: bytes, channel: bytes, message: bytes) -> None:
        if self.fail:
            raise RuntimeError("a subscriber's bug")
        self.published.append((kind, channel, message))


def test_the_observer_is_installed_only_while_something_can_be_published():
    node = _Node()
    notifications = KeyspaceNotifications(node, _Subscribers())
    notifications.configure(KEYSPACE | KEYEVENT)  # no class: nothing to publish
    notifications.configure(LIST)  # a class, but no channel
    assert node.calls == []
    notifications.configure(flags_from_string(b"KEA"))
    notifications.configure(flags_from_string(b"Kl"))  # still on: not installed again
    assert node.calls == [notifications.event]
    notifications.configure(0)
    assert node.calls == [notifications.event, None]
    KeyspaceNotifications(object(), _Subscribers()).configure(KEYSPACE | LIST)  # a node without the hook


def test_events_are_filtered_by_class_and_published_on_both_channels():
    subscribers = _Subscribers()
    notifications = KeyspaceNotifications(_Node(), subscribers)
    notifications.configure(flags_from_string(b"KEl"))
    notifications.event(3, LIST, b"lpush", b"q")
    notifications.event(3, GENERIC, b"del", b"q")  # g is off
    notifications.event(0, KEY_MISS, b"keymiss", b"q")  # m is not in A either
    assert subscribers.published == [
        (PUBLISH, b"__keyspace@3__:q", b"lpush"),
        (PUBLISH, b"__keyevent@3__:lpush", b"q"),
    ]
    notifications.configure(flags_from_string(b"Eg"))
    notifications.event(1, GENERIC, b"del", b"k")
    assert subscribers.published[-1:] == [(PUBLISH, b"__keyevent@1__:del", b"k")]


def test_a_failing_delivery_does_not_reach_the_apply(caplog):
    notifications = KeyspaceNotifications(_Node(), _Subscribers(fail=True))
    notifications.configure(flags_from_string(b"KEA"))
    notifications.event(0, LIST, b"lpush", b"q")  # must not raise
    assert "keyspace notification" in caplog.text
