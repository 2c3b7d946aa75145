"""docs/plugins.md, run: the example plugin's code is the code the page shows, it stays
identical under the simulator's faults, and it embeds in a three-node cluster. (Installing
it with pip and listing it with `replicator plugins` is in test_plugins_cli.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "docs" / "examples" / "counter_plugin"


@pytest.fixture
def on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield
    sys.modules.pop("counter_plugin", None)


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_page_shows_the_code_that_runs():
    python = blocks("python")
    assert (EXAMPLE / "counter_plugin" / "__init__.py").read_text() in python
    assert blocks("toml")[0] in (EXAMPLE / "pyproject.toml").read_text()
    demo = (EXAMPLE / "demo.py").read_text()
    for line in python[2].strip().splitlines():  # the embedding excerpt is taken from demo.py
        assert line.strip() in demo, line


def test_step_2_check_machine_block_runs(on_path):
    exec(compile(blocks("python")[1], str(DOC), "exec"), {})


def test_apply_never_raises(on_path):
    from counter_plugin import CounterMachine

    from statemachines import ReplyError, encode_args

    m = CounterMachine()
    assert m.apply(1, encode_args([b"COUNTER.INCR", b"k", b"x"]), 0) == ReplyError(
        "ERR value is not an integer or out of range"
    )
    assert isinstance(m.apply(2, b"\xc1", 0), ReplyError)
    assert isinstance(m.apply(3, encode_args([b"COUNTER.INCR", b"k"]), 0), ReplyError)
    assert isinstance(m.query(encode_args([b"COUNTER.INCR", b"k", b"1"]), 0), ReplyError)
    assert m.counts == {}
    assert m.apply(4, encode_args([b"counter.incr", b"k", b"5"]), 0) == 5
    other = CounterMachine()
    other.restore(m.snapshot())
    assert other.counts == {b"k": 5} and list(other.snapshot()) == list(m.snapshot())


def test_step_4_demo_runs_a_three_node_cluster():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(EXAMPLE), str(ROOT)]))
    out = subprocess.run(
        [sys.executable, str(EXAMPLE / "demo.py")], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [l.split(" -> ")[1] for l in lines[:3]] == ["10", "20", "30"]
    assert all(l.split(" -> ")[1].startswith("30 (") for l in lines[3:6])
    assert sum("(leader)" in l for l in lines) == 1
