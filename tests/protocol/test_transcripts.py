"""The engine transcripts: tests/protocol/testdata/<protocol>/*.txt, each a script of
commands (tests/protocol/transcript.py) and what they must print. After a deliberate
protocol change, regenerate with `REWRITE=1` (or `pytest --rewrite`) and read the diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datadriven import run_file
from tests.protocol.transcript import EngineTranscript

TESTDATA = Path(__file__).parent / "testdata"
TRANSCRIPTS = sorted(TESTDATA.glob("*/*.txt"))


def test_every_protocol_has_transcripts():
    assert {p.parent.name for p in TRANSCRIPTS} == {"raft", "zab"}


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_transcript(path):
    run_file(path, EngineTranscript(path.parent.name))
