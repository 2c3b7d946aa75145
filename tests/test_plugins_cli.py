"""`replicator plugins`, run as a real process: the installed machines, their entry points
and the commands they declare; a plugin installed next to them shows up; a broken one is
reported without hiding the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "counter_plugin"


def run_plugins(*args: str, extra_path: list[Path] = ()) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, extra_path), str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "replicator", "plugins", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )


def fake_install(site: Path, name: str, entry_points: str) -> None:
    """What `pip install` leaves for importlib.metadata: a .dist-info with entry_points.txt."""
    info = site / f"{name}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[replicator.statemachines]\n{entry_points}\n")


def test_lists_the_builtin_machines_and_their_commands():
    out = run_plugins()
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("kv ") and "statemachines.kv:KVMachine" in line for line in lines)
    assert any(line.startswith("znodes ") and "statemachines.znodes:ZnodesMachine" in line for line in lines)
    assert any(line.startswith("locks ") and "(4 commands)" in line for line in lines)
    assert "lock.acquire lock.renew lock.release lock.holder" in out.stdout
    assert "zk.session.open" in out.stdout

    detailed = run_plugins("--commands")
    assert detailed.returncode == 0, detailed.stderr
    assert any(l.split()[:4] == ["zk.create", "-3", "write", "path"] for l in detailed.stdout.splitlines())
    assert any(l.split()[:3] == ["lock.holder", "2", "read"] for l in detailed.stdout.splitlines())


def test_json_output():
    out = run_plugins("--json")
    assert out.returncode == 0, out.stderr
    machines = {m["name"]: m for m in json.loads(out.stdout)}
    assert {"kv", "znodes", "locks"} <= set(machines)
    acquire = next(c for c in machines["locks"]["commands"] if c["name"] == "lock.acquire")
    assert acquire == {
        "name": "lock.acquire",
        "arity": 4,
        "flags": ["fast", "write"],
        "syntax": "name owner ttl_ms",
        "summary": acquire["summary"],
    }


def test_an_installed_plugin_shows_up_and_a_broken_one_is_reported(tmp_path):
    fake_install(tmp_path, "counter_plugin", "counter = counter_plugin:CounterMachine")
    fake_install(tmp_path, "broken_plugin", "broken = no_such_module_here:Machine")
    out = run_plugins(extra_path=[tmp_path, EXAMPLE])
    assert out.returncode == 1  # something failed to load
    lines = out.stdout.splitlines()
    assert any(l.startswith("counter ") and "counter_plugin:CounterMachine  (2 commands)" in l for l in lines)
    assert "counter.incr counter.get" in out.stdout
    assert any(l.startswith("broken ") and "FAILED TO LOAD: ModuleNotFoundError" in l for l in lines)
    assert any(l.startswith("kv ") for l in lines)


def test_pip_installing_the_tutorial_plugin_registers_it(tmp_path):
    """The real thing: `pip install` of docs/examples/counter_plugin (a copy, so the build
    leaves nothing in the repository) into a target directory, then `replicator plugins`."""
    import shutil

    import pytest

    source = tmp_path / "src"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    target = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if pip.returncode != 0:  # no package index reachable for the build backend: an environment matter
        pytest.skip(f"pip could not build the example: {pip.stderr.strip().splitlines()[-1:]}")
    out = run_plugins(extra_path=[target])
    assert out.returncode == 0, out.stderr
    assert any(l.startswith("counter ") and "counter_plugin:CounterMachine" in l for l in out.stdout.splitlines())
