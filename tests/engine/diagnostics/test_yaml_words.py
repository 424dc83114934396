"""YAML syntax errors in a designer's words, with a hint, at the right line and column."""

from __future__ import annotations

import pytest

from engine.diagnostics.yaml_reader import parse_yaml


@pytest.mark.parametrize(
    ("text", "line", "column", "message", "hint"),
    [
        ("campaign: t\nsteps:\n  - id: a\n\t  at: +1d\n", 4, 1,
         "a tab character: YAML indents with spaces only", "replace the tab"),
        ("campaign: t\nsteps:\n  - id: a\n    at:+2h\n    lesson: x\n", 4, 7,
         "missing space after ':' in 'at:+2h'", "write 'at: +2h'"),
        ("campaign: t\nsteps:\n  - id:a\n    at: +2h\n", 3, 7,
         "missing space after ':' in 'id:a'", "write 'id: a'"),
        ("campaign: t\nsteps:\n  - id: a\n     at: +2h\n", 4, 6,
         "line 4 is indented more than the line above", "same column (here column 5)"),
        ("campaign: t\nsteps:\n  - id: a\n    at: +2h\n   lesson: x\n", 5, 4,
         "the indentation of line 5 does not match the lines above (the block started on line 3)", "same column"),
        ("message: Rappel: demain\n", 1, 16, "a ': ' inside a text", "quote a text"),
        ("campaign: t\ntitle: [oops\nsteps: 1\n", 3, 6, "a '[' opened on line 2 is not closed", "close it"),
        ("campaign: t\ntitle: a\ntitle: b\n", 3, 1, "the key 'title' appears twice (first on line 2)", "keep only"),
        ('sms: "Bonjour\n', 2, 1, "a quotation mark opened on line 1 is never closed", "same quotation mark"),
    ],
    ids=["tab", "no-space-after-colon", "no-space-in-a-list", "indented-too-far", "indented-too-little",
         "colon-in-text", "open-bracket", "duplicate-key", "open-quote"],
)
def test_syntax_errors_in_plain_words(text: str, line: int, column: int, message: str, hint: str) -> None:
    source, [diagnostic] = parse_yaml(text, "c.yaml")
    assert source is None
    assert diagnostic.message == "YAML syntax error: " + message
    assert (diagnostic.line, diagnostic.column) == (line, column)
    assert diagnostic.hint is not None and hint in diagnostic.hint
    assert "mapping values" not in diagnostic.format() and "block end" not in diagnostic.format()
