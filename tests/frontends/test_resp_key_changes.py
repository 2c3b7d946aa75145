"""KeyChangeListeners: one node subscription to apply's key changes, fanned out to listeners and
held only while some listener is added (a node where nobody tracks or blocks pays nothing)."""

from __future__ import annotations

from frontends.resp.key_changes import KeyChangeListeners
from statemachines import encode_args
from tests.frontends.fake_node import FakeNode


def _set(node: FakeNode, index: int, key: bytes) -> None:
    node.machines["kv"].apply(index, encode_args([b"SET", key, b"v"]), 1000)


def test_subscribed_only_while_a_listener_is_added_and_every_listener_hears_each_change():
    node = FakeNode()
    machine = node.machines["kv"]
    listeners = KeyChangeListeners(node)
    assert listeners.available and machine.key_changed is None
    first: list = []
    second: list = []
    listeners.add(lambda db, key: first.append((db, key)))

    def hear_second(db, key):
        second.append((db, key))

    listeners.add(hear_second)
    listeners.add(hear_second)  # twice: once
    assert machine.key_changed is not None and len(listeners) == 2
    _set(node, 1, b"k")
    assert (0, b"k") in first and second.count((0, b"k")) == first.count((0, b"k"))
    listeners.remove(hear_second)
    listeners.remove(hear_second)  # unknown now: nothing happens
    assert machine.key_changed is not None
    second.clear()
    _set(node, 2, b"j")
    assert (0, b"j") in first and not second
    for listener in list(listeners._listeners):
        listeners.remove(listener)
    assert machine.key_changed is None and len(listeners) == 0


def test_a_failing_listener_does_not_stop_the_others_nor_apply():
    node = FakeNode()
    listeners = KeyChangeListeners(node)
    heard: list = []

    def broken(db, key):
        raise RuntimeError("boom")

    def removes_itself(db, key):
        heard.append(("once", key))
        listeners.remove(removes_itself)

    listeners.add(broken)
    listeners.add(removes_itself)
    listeners.add(lambda db, key: heard.append((db, key)))
    _set(node, 1, b"a")
    _set(node, 2, b"b")
    assert ("once", b"a") in heard and ("once", b"b") not in heard
    assert (0, b"a") in heard and (0, b"b") in heard


def test_a_node_without_key_changes_is_not_available():
    listeners = KeyChangeListeners(object())
    listeners.add(lambda db, key: None)
    assert not listeners.available and len(listeners) == 1
