"""The command line as a newcomer meets it: bare ``ancrage`` helps, every option says what it does."""

from __future__ import annotations

import argparse

import pytest

from engine import cli


def _walk(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _walk(sub, f"{path} {name}")
    return found


def test_bare_ancrage_prints_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("usage: ancrage") and "init" in captured.out and "validate" in captured.out
    assert captured.err == ""


def test_every_command_and_option_has_a_description() -> None:
    parsers = _walk(cli._parser(), "ancrage")
    assert len(parsers) > 15
    missing = []
    for path, parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {choice.dest}" for choice in action._choices_actions if not choice.help]
                continue
            if not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []
