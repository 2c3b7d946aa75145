"""Options and fixtures for the whole suite."""

from __future__ import annotations

import pytest
from trio.testing import MockClock

from tests import datadriven


def pytest_addoption(parser):
    parser.addoption(
        "--rewrite",
        action="store_true",
        help="rewrite the expected output of data-driven transcripts (tests/datadriven.py) instead of checking it",
    )


def pytest_configure(config):
    if config.getoption("--rewrite"):
        datadriven.rewrite = True


@pytest.fixture
def loopback_clock():
    """Virtual time for a test about timing (a timeout, a backoff, a deadline) whose tasks talk
    over loopback sockets in this trio run: sleeps and deadlines pass at once, so the test is
    fast and its timing exact. pytest-trio runs the test on any Clock fixture it asks for.

    The clock jumps to the next deadline once every task has waited 20 ms of real time, not at
    once (pytest-trio's autojump_clock): bytes still in the kernel's loopback path arrive first
    on a busy machine. Even so, a deadline can fire while TCP's own timers hold a bulk transfer
    (a full receive window), so such tests bound their waits by counting polls, not with
    deadlines. Not for tests with worker threads (an LMDB node's persist thread, blocking
    clients): the clock jumps while a thread works, and timeouts fire that real time never
    reached."""
    return MockClock(autojump_threshold=0.02)
