"""docs/commands.md is generated from the command table and must be current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from frontends.resp.commands.markdown import markdown
from frontends.resp.commands.table import build_table
from statemachines.kv import KVMachine

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "commands.md"
REGENERATE = "python -m frontends.resp.commands --markdown > docs/commands.md"


def test_checked_in_reference_is_current():
    current = markdown(build_table(KVMachine().commands()))
    assert DOCS.read_text() == current, f"docs/commands.md is out of date: run `{REGENERATE}`"


def test_the_module_prints_it():
    out = subprocess.run(
        [sys.executable, "-m", "frontends.resp.commands", "--markdown"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout == DOCS.read_text()
    for name in ("`MULTI`", "`WATCH key [key ...]`", "`CLIENT KILL", "`SET key value", "`ZADD key"):
        assert name in out.stdout
