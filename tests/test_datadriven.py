"""tests/datadriven.py: parsing, comparing, fencing and rewriting transcripts."""

from __future__ import annotations

import pytest

from tests import datadriven
from tests.datadriven import Arg, ParseError, parse, parse_args, run_file

SCRIPT = """\
# a comment, kept
echo a b=1 c=(2, 3)
input line
----
a
b=1
c=2,3
input=input line

upper x
----
X
"""


def echo(td):
    if td.cmd == "upper":
        return td.positional()[0].upper()
    if td.cmd == "blank":
        return "one\n\ntwo\n"
    if td.cmd == "fail":
        raise RuntimeError("boom")
    lines = [f"{a.key}={','.join(a.values)}" if a.values else a.key for a in td.args]
    return "\n".join(lines) + f"\ninput={td.input}\n"


def test_args():
    assert parse_args("n=3 quiet nodes=(1, 2) to=x") == [
        Arg("n", ("3",)),
        Arg("quiet"),
        Arg("nodes", ("1", "2")),
        Arg("to", ("x",)),
    ]
    assert parse_args("empty=()") == [Arg("empty", ())]
    with pytest.raises(ParseError):
        parse_args("a=(1, 2")


def test_parse_positions_and_getters():
    items = parse(SCRIPT, "t.txt")
    (first, second) = [i for i in items if not isinstance(i, str)]
    assert (first.cmd, first.line, first.input, first.expected) == (
        "echo",
        2,
        "input line",
        "a\nb=1\nc=2,3\ninput=input line\n",
    )
    assert first.get_int("b") == 1 and first.ints("c") == (2, 3) and first.has("a") and not first.has("z")
    assert first.get_int("z", 7) == 7 and first.ints("z") is None and first.positional() == ["a"]
    assert (second.cmd, second.line, second.expected) == ("upper", 10, "X\n")
    with pytest.raises(ParseError):
        first.get_int("z")
    with pytest.raises(ParseError):
        parse("cmd\nno separator\n")


def test_a_matching_file_passes_and_is_left_alone(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(SCRIPT)
    run_file(path, echo)
    assert path.read_text() == SCRIPT


def test_a_mismatch_fails_with_a_diff_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("REWRITE", raising=False)
    path = tmp_path / "t.txt"
    path.write_text(SCRIPT.replace("X\n", "Y\n"))
    with pytest.raises(AssertionError) as exc:
        run_file(path, echo)
    assert "-Y\n+X" in str(exc.value) and str(path) in str(exc.value)
    assert path.read_text() == SCRIPT.replace("X\n", "Y\n")  # untouched


@pytest.mark.parametrize("how", ["env", "flag"])
def test_rewrite_fills_in_the_output_and_keeps_comments(tmp_path, monkeypatch, how):
    if how == "env":
        monkeypatch.setenv("REWRITE", "1")
    else:
        monkeypatch.delenv("REWRITE", raising=False)
        monkeypatch.setattr(datadriven, "rewrite", True)
    path = tmp_path / "t.txt"
    stale = SCRIPT.replace("X\n", "stale\nlines\n").replace("a\nb=1\n", "")
    path.write_text(stale)
    run_file(path, echo)
    assert path.read_text() == SCRIPT


def test_output_with_blank_lines_is_fenced_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("REWRITE", "1")
    path = tmp_path / "t.txt"
    path.write_text("blank\n----\n\nupper y\n----\n")
    run_file(path, echo)
    assert path.read_text() == "blank\n----\n----\none\n\ntwo\n----\n----\n\nupper y\n----\nY\n"
    monkeypatch.delenv("REWRITE")
    run_file(path, echo)  # the fenced block parses back to the same output


def test_a_handler_error_names_the_line(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("upper a\n----\nA\n\nfail x=1\n----\n")
    with pytest.raises(AssertionError, match=r"t.txt:5: fail x=1: RuntimeError: boom"):
        run_file(path, echo)
