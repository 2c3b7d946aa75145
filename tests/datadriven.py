"""Data-driven transcripts, in the manner of cockroachdb/datadriven (etcd raft's testdata/*.txt).

A transcript is a script of commands, each followed by the output it must print:

    # a comment (kept verbatim on rewrite)
    propose 1 a b
    ----
    index 3
    index 4

    status
    ----
    ----
    output holding a blank line is fenced by doubled separators

    like this
    ----
    ----

A command line is a name and arguments: `key`, `key=value` or `key=(v1, v2)`;
positional words are arguments without a value. Lines between the command and
`----` are its input (`TestData.input`). A handler takes each TestData and returns
the text it printed; `run_file` compares it with the expected block.

The whole file is run before comparing, and a mismatch fails with a unified diff
of the file as written against the file as it would be rewritten, so a protocol
change reads as a diff of the transcript. `REWRITE=1` in the environment (or
`pytest --rewrite`, see tests/conftest.py) writes the new output into the file
instead: review the change with `git diff`.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SEPARATOR = "----"
rewrite = False  # set by `pytest --rewrite` (tests/conftest.py); REWRITE=1 does the same


def rewriting() -> bool:
    return rewrite or os.environ.get("REWRITE", "") not in ("", "0")


class ParseError(Exception):
    pass


@dataclass(frozen=True)
class Arg:
    key: str
    values: tuple[str, ...] = ()  # () for a bare `key`, one for key=v, several for key=(a, b)


@dataclass
class TestData:
    """One command of a transcript: where it is, what it says, what it must print."""

    __test__ = False  # not a pytest test class

    path: str
    line: int  # 1-based line of the command
    cmd: str
    args: list[Arg] = field(default_factory=list)
    input: str = ""
    expected: str = ""

    @property
    def pos(self) -> str:
        return f"{self.path}:{self.line}"

    def has(self, key: str) -> bool:
        return any(a.key == key for a in self.args)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The single value of `key=value`, or `default` when absent."""
        for a in self.args:
            if a.key == key:
                if len(a.values) != 1:
                    raise ParseError(f"{self.pos}: {key} wants one value, has {a.values}")
                return a.values[0]
        return default

    def get_int(self, key: str, default: int | None = None) -> int:
        value = self.get(key)
        if value is None:
            if default is None:
                raise ParseError(f"{self.pos}: {self.cmd} needs {key}=")
            return default
        return int(value)

    def ints(self, key: str) -> tuple[int, ...] | None:
        """The values of `key=(1, 2)` or `key=1` as ints, None when absent."""
        for a in self.args:
            if a.key == key:
                return tuple(int(v) for v in a.values)
        return None

    def positional(self) -> list[str]:
        """The bare words (arguments without a value), in order."""
        return [a.key for a in self.args if not a.values]


_TOKEN = re.compile(r"\s*([^\s=()]+)(?:=(\([^)]*\)|[^\s()]*))?")


def parse_args(text: str, where: str = "") -> list[Arg]:
    args, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ParseError(f"{where}: cannot parse arguments at {text[pos:]!r}")
        key, value = m.group(1), m.group(2)
        if value is None:
            args.append(Arg(key))
        elif value.startswith("("):
            inner = value[1:-1].strip()
            args.append(Arg(key, tuple(v.strip() for v in inner.split(",")) if inner else ()))
        else:
            args.append(Arg(key, (value,)))
        pos = m.end()
    return args


def parse(text: str, path: str = "") -> list[str | TestData]:
    """The file as a list of verbatim text (comments, blank lines) and commands."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: list[str | TestData] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            out.append(line)
            i += 1
            continue
        start = i
        command = line
        while command.endswith("\\") and i + 1 < len(lines):  # continued command line
            i += 1
            command = command[:-1] + " " + lines[i].strip()
        i += 1
        inputs = []
        while i < len(lines) and lines[i] != SEPARATOR:
            inputs.append(lines[i])
            i += 1
        if i == len(lines):
            raise ParseError(f"{path}:{start + 1}: {command!r} has no {SEPARATOR} line")
        i += 1
        expected = []
        if i < len(lines) and lines[i] == SEPARATOR:  # fenced output: it may hold blank lines
            i += 1
            while i < len(lines) and not (lines[i] == SEPARATOR and i + 1 < len(lines) and lines[i + 1] == SEPARATOR):
                expected.append(lines[i])
                i += 1
            if i == len(lines):
                raise ParseError(f"{path}:{start + 1}: fenced output is not closed by {SEPARATOR} {SEPARATOR}")
            i += 2
        else:
            while i < len(lines) and lines[i].strip():
                expected.append(lines[i])
                i += 1
        name, _, rest = command.strip().partition(" ")
        where = f"{path}:{start + 1}"
        out.append(
            TestData(
                path=path,
                line=start + 1,
                cmd=name,
                args=parse_args(rest, where),
                input="\n".join(inputs),
                expected="\n".join(expected) + ("\n" if expected else ""),
            )
        )
    return out


def _command_line(td: TestData) -> str:
    parts = [td.cmd]
    for a in td.args:
        if not a.values:
            parts.append(a.key)
        elif len(a.values) == 1:
            parts.append(f"{a.key}={a.values[0]}")
        else:
            parts.append(f"{a.key}=({', '.join(a.values)})")
    return " ".join(parts)


def render(items: list[str | TestData], outputs: dict[int, str], originals: dict[int, str]) -> str:
    """The file text with each command's output in place (`outputs` by id of TestData)."""
    lines: list[str] = []
    for item in items:
        if isinstance(item, str):
            lines.append(item)
            continue
        lines.append(originals[id(item)])
        if item.input:
            lines.append(item.input)
        lines.append(SEPARATOR)
        out = outputs[id(item)]
        body = out[:-1] if out.endswith("\n") else out
        if body and any(not ln.strip() for ln in body.split("\n")):
            lines += [SEPARATOR, body, SEPARATOR, SEPARATOR]
        elif body:
            lines.append(body)
    return "\n".join(lines) + "\n"


class ClusterTranscript:
    """What the engine and node-core transcripts share: a cluster made by `new`, a method
    `cmd_<name>` per command, and the lines a command printed (`out`; `quiet` drops the
    verbose ones: the command said so, or it is an election without `verbose`)."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.term = "term" if protocol == "raft" else "epoch"
        self.c = None  # the cluster, made by `new`
        self.out: list[str] = []
        self.quiet = False

    def __call__(self, td: TestData) -> str:
        self.out = []
        self.quiet = td.has("quiet") or (td.cmd == "elect" and not td.has("verbose"))
        handler = getattr(self, "cmd_" + td.cmd.replace("-", "_"), None)
        if handler is None:
            raise ParseError(f"{td.pos}: unknown command {td.cmd!r}")
        if td.cmd != "new" and self.c is None:
            raise ParseError(f"{td.pos}: `new` first")
        handler(td)
        return "\n".join(self.out) + ("\n" if self.out else "")


def run_file(path: str | Path, handler: Callable[[TestData], str]) -> None:
    """Run every command of the transcript at `path` through `handler` and check (or,
    when rewriting, update) the expected output. Raises AssertionError with the diff."""
    path = Path(path)
    text = path.read_text()
    items = parse(text, str(path))
    originals: dict[int, str] = {}
    outputs: dict[int, str] = {}
    raw_lines = text.split("\n")
    for item in items:
        if isinstance(item, TestData):
            # Keep the command line(s) as written (continuations, spacing).
            end = item.line
            while raw_lines[end - 1].endswith("\\"):
                end += 1
            originals[id(item)] = "\n".join(raw_lines[item.line - 1 : end])
            try:
                out = handler(item)
            except Exception as exc:
                raise AssertionError(f"{item.pos}: {_command_line(item)}: {type(exc).__name__}: {exc}") from exc
            if out and not out.endswith("\n"):
                out += "\n"
            outputs[id(item)] = out
    new = render(items, outputs, originals)
    if new == text:
        return
    if rewriting():
        path.write_text(new)
        return
    diff = "".join(difflib.unified_diff(text.splitlines(True), new.splitlines(True), str(path), "actual"))
    raise AssertionError(f"{path} differs from what its commands print (REWRITE=1 or --rewrite to update):\n{diff}")
