"""The node core transcripts: tests/core/testdata/<protocol>/*.txt, each a script of client
requests, ticks and deliveries (tests/core/transcript.py) and what the cores must print.
After a deliberate change to the core, regenerate with `REWRITE=1` (or `pytest --rewrite`)
and read the diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.transcript import CoreTranscript
from tests.datadriven import run_file

TESTDATA = Path(__file__).parent / "testdata"
TRANSCRIPTS = sorted(TESTDATA.glob("*/*.txt"))


def test_every_raft_transcript_has_a_zab_twin():
    """The same stories for both protocols; a protocol may have stories of its own."""
    names = {protocol: {p.name for p in TRANSCRIPTS if p.parent.name == protocol} for protocol in ("raft", "zab")}
    assert names["raft"] and names["raft"] <= names["zab"]


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_transcript(path):
    run_file(path, CoreTranscript(path.parent.name))
