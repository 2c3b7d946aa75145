"""Every option of every `replicator` command says what it does in --help."""

from __future__ import annotations

import argparse

from replicator.cli import build_parser


def undocumented(parser: argparse.ArgumentParser, path: str = "replicator") -> list[str]:
    """'command --option' for every option (and subcommand) of `parser` without a help line."""
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if not helps.get(name):
                    missing.append(f"{path} {name}")
                missing += undocumented(sub, f"{path} {name}")
        elif not action.help or action.help == argparse.SUPPRESS:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_option_and_command_has_a_help_line():
    assert undocumented(build_parser()) == []


def test_the_walk_finds_an_option_without_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["cluster"].add_argument("--bare")
    parser.add_argument("--global-bare")
    assert sorted(undocumented(parser)) == ["replicator --global-bare", "replicator cluster --bare"]


def test_cluster_help_shows_each_flag_with_its_text(capsys):
    try:
        build_parser().parse_args(["cluster", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for flag, words in [("--nodes", "1 to 9"), ("--machines", "kv,znodes,locks"), ("--data-dir", "config files")]:
        assert flag in out and words in " ".join(out.split()), (flag, out)
