"""Options of the fuzzers: how long to run, and which seed to replay.

    pytest tests/fuzz                              # the bounded CI run, a fresh seed
    pytest tests/fuzz --frames 1000000             # a long run
    pytest tests/fuzz --fuzz-seed 1234             # replay (or RESP_FUZZ_SEED=1234)

pytest reads these options only from a conftest it loads at start-up: name
tests/fuzz (or a file in it) on the command line to pass them.
"""

from __future__ import annotations


def pytest_addoption(parser):
    group = parser.getgroup("fuzz")
    group.addoption("--frames", type=int, default=None, help="RESP fuzzer: frames to send (default: a CI-sized run)")
    group.addoption("--fuzz-seed", type=int, default=None, help="RESP fuzzer: the seed to replay (or RESP_FUZZ_SEED)")
