"""YAML syntax errors told in a designer's words, with a hint, still at ``file:line:column``.

The parser says "mapping values are not allowed here"; a pedagogical engineer
needs "missing space after ':' in 'at:+2h'" or "this line is indented more than
the one above". Each rule looks at the parser's marks and at the source lines.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.error import YAMLError

from engine.diagnostics.model import Diagnostic

QUOTE_TEMPLATE_HINT = (
    'put a text containing {{ ... }} in quotes: sms: "Bonjour {{ learner.first_name }}"'
)
PREFIX = "YAML syntax error: "
_KEY_WITHOUT_SPACE = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][\w-]*):(?=[^\s/])")


def _mark(exc: YAMLError, name: str) -> Any:
    return getattr(exc, name, None)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def syntax_diagnostic(exc: YAMLError, text: str, file: str, line_offset: int = 0) -> Diagnostic:
    """One diagnostic for a parser error: plain words, a hint, the parser's own position."""
    lines = text.splitlines()
    problem_mark, context_mark = _mark(exc, "problem_mark"), _mark(exc, "context_mark")
    mark = problem_mark or context_mark
    line, column = (mark.line, mark.column) if mark else (-1, -1)
    message, hint = _explain(exc, lines)
    if isinstance(message, tuple):  # a rule that points elsewhere than the parser's mark
        (line, column), message = message
    return Diagnostic("error", file, line + 1 + line_offset, column + 1, PREFIX + message, hint)


def _explain(exc: YAMLError, lines: list[str]) -> tuple[Any, str | None]:
    problem = str(_mark(exc, "problem") or "") or str(exc).splitlines()[0]
    problem_mark, context_mark = _mark(exc, "problem_mark"), _mark(exc, "context_mark")
    marks = [m for m in (problem_mark, context_mark) if m is not None and m.line < len(lines)]
    if "'\\t'" in problem:
        return "a tab character: YAML indents with spaces only", "YAML indents with spaces, not tabs: replace the tab"
    if "duplicate key" in problem:
        found = re.search(r'duplicate key "([^"]*)"', problem)
        name = found.group(1) if found else "?"
        end = problem_mark.line if problem_mark is not None else len(lines)
        first = next((n for n in range(end) if re.match(rf"^\s*(?:-\s+)?{re.escape(name)}\s*:", lines[n])), None)
        where = f" (first on line {first + 1})" if first is not None else ""
        return f"the key '{name}' appears twice{where}", "keep only one of them"
    if any("{{" in lines[m.line] for m in marks):
        return ("'{{' starts a YAML mapping here, not a template",
                QUOTE_TEMPLATE_HINT)
    if "could not find expected ':'" in problem or "mapping values are not allowed" in problem:
        start = context_mark.line if context_mark is not None else problem_mark.line
        for number in range(max(start - 1, 0), min(problem_mark.line, len(lines) - 1) + 1):
            found = _KEY_WITHOUT_SPACE.match(lines[number])
            if found:
                name = found.group(2)
                rest = lines[number][found.end():].strip()
                colon = (number, found.end() - 1)
                return ((colon, f"missing space after ':' in '{name}:{rest}'"),
                        f"write '{name}: {rest}'")
    if "mapping values are not allowed" in problem and problem_mark is not None:
        number = problem_mark.line
        above = next((n for n in range(number - 1, -1, -1) if lines[n].strip()
                      and not lines[n].lstrip().startswith("#")), None)
        if above is not None and number < len(lines) and _indent(lines[number]) > _indent(lines[above]) \
                and re.search(r":\s+\S", lines[above]):
            column = _indent(lines[above]) + (2 if lines[above].lstrip().startswith("- ") else 0)
            return ((number, _indent(lines[number])),
                    f"line {number + 1} is indented more than the line above"), \
                f"keys of one block start in the same column (here column {column + 1})"
        return "a ': ' inside a text", "quote a text that contains ': ', e.g. text: \"Rappel : ...\""
    if "could not find expected ':'" in problem:
        return ("a line without 'key: value' among keys",
                "every line of this block is 'key: value'; check the indentation of the line above")
    if "expected <block end>" in problem and problem_mark is not None:
        started = f" (the block started on line {context_mark.line + 1})" if context_mark is not None else ""
        return (f"the indentation of line {problem_mark.line + 1} does not match the lines above{started}",
                "keys of one block start in the same column, with spaces")
    if "expected ',' or ']'" in problem or "expected ',' or '}'" in problem:
        bracket = "]" if "']'" in problem else "}"
        opened = f" on line {context_mark.line + 1}" if context_mark is not None else ""
        return (f"a '{'[' if bracket == ']' else '{'}' opened{opened} is not closed",
                f"close it with '{bracket}', or put the text in quotes")
    if "quoted scalar" in str(_mark(exc, "context") or ""):
        opened = f" on line {context_mark.line + 1}" if context_mark is not None else ""
        return f"a quotation mark opened{opened} is never closed", "end the text with the same quotation mark"
    context = _mark(exc, "context")
    hint = f"{context} started on line {context_mark.line + 1}" if context and context_mark is not None else None
    return problem, hint
