"""Options for the whole suite."""

from __future__ import annotations

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
