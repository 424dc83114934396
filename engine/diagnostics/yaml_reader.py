"""The one positioned YAML reader, for campaigns, content and reply scripts alike.

Designers need "faq.yaml:12:5: unknown key 'anwser'", not a traceback. Each file
is parsed once: ruamel.yaml composes the node tree (which knows where every key
and item sits) and builds plain data from that same tree; pydantic's error paths
are then mapped back onto node positions (:mod:`engine.diagnostics.pydantic_errors`),
and YAML syntax errors keep the parser's own mark, told in plain words
(:mod:`engine.diagnostics.yaml_words`). The safe composer is used rather than the
round-trip loader: it skips comment bookkeeping and loads a large library about a
third faster.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.diagnostics.model import Diagnostic, Severity
from engine.diagnostics.yaml_words import syntax_diagnostic

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Source:
    """One parsed file: its plain data and the node tree that knows positions.

    ``line_offset`` is the number of lines before the YAML starts (1 for a lesson's
    front matter, which follows the opening ``---``).
    """

    file: str
    data: Any
    tree: Node | None
    line_offset: int = 0
    lines: tuple[str, ...] = field(default=(), repr=False)  # the text, to point inside a scalar

    def _walk(self, loc: Loc, *, key: bool = False) -> tuple[Node | None, int, int]:
        """The node at ``loc`` (None when the path leaves the tree) and the 0-based mark
        of the deepest node reached: where the designer has to look or add a key."""
        node, line, col = self.tree, 0, 0
        for depth, part in enumerate(loc):
            found: Node | None = None
            if isinstance(node, MappingNode):
                for key_node, value_node in node.value:
                    if isinstance(key_node, ScalarNode) and key_node.value == part:
                        mark = key_node if key and depth == len(loc) - 1 else value_node
                        found, line, col = value_node, mark.start_mark.line, mark.start_mark.column
                        break
            elif (
                isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value)
            ):
                found = node.value[part]
                line, col = found.start_mark.line, found.start_mark.column
            if found is None:
                return None, line, col
            node = found
        return node, line, col

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the value at ``loc`` (of its key when ``key``)."""
        _, line, col = self._walk(loc, key=key)
        return line + 1 + self.line_offset, col + 1

    def text_position(self, loc: Loc, template_line: int) -> tuple[int, int]:
        """Where line ``template_line`` of the text at ``loc`` sits in the file."""
        node, line, col = self._walk(loc)
        line, col = line + 1 + self.line_offset, col + 1
        block = isinstance(node, ScalarNode) and node.style in ("|", ">")
        if template_line == 1 and not block:
            return line, col
        return line + template_line - 1 + int(block), 1

    def char_position(self, loc: Loc, char: str) -> tuple[int, int]:
        """1-based (line, column) of the first ``char`` inside the text at ``loc`` (the ’ that
        forces UCS-2), or of the text itself when the source does not show it."""
        node, line, col = self._walk(loc)
        last = node.end_mark.line if node is not None else line
        for number in range(line, min(last, len(self.lines) - 1) + 1):
            text = self.lines[number]  # the YAML's own lines: marks index them directly
            found = text.find(char, col if number == line else 0)
            if found >= 0:
                return number + 1 + self.line_offset, found + 1
        return line + 1 + self.line_offset, col + 1

    def diagnostic(self, loc: Loc, message: str, *, hint: str | None = None, key: bool = False,
                   severity: Severity = "error") -> Diagnostic:
        """A finding placed on the value at ``loc`` (on its key when ``key``)."""
        line, column = self.position(loc, key=key)
        return Diagnostic(severity, self.file, line, column, message, hint)

    def value(self, loc: Loc) -> Any:
        """The plain value at ``loc``, or None when the path does not exist."""
        value = self.data
        for part in loc:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value


def new_parser() -> YAML:
    """A parser to reuse for a whole library (much faster than one per file; not thread-safe)."""
    return YAML(typ="safe", pure=True)


def parse_yaml(
    text: str, file: str, line_offset: int = 0, parser: YAML | None = None
) -> tuple[Source | None, list[Diagnostic]]:
    """Parse YAML text once into data and positions; a syntax error becomes a Diagnostic.

    Pass one ``parser`` (``YAML(typ="safe", pure=True)``) for a whole library: reusing
    it is much faster than a fresh one per file. It is not thread-safe.
    """
    key = (text, file, line_offset)
    cached = _parsed.get(key)
    if cached is not None:
        _parsed.move_to_end(key)
        return cached[0], list(cached[1])
    yaml = parser or new_parser()
    try:
        tree = yaml.compose(text)
        data = yaml.constructor.construct_document(tree) if tree is not None else None
        found: tuple[Source | None, list[Diagnostic]] = (
            Source(file, data, tree, line_offset, tuple(text.splitlines())), [])
    except YAMLError as exc:
        found = None, [syntax_diagnostic(exc, text, file, line_offset)]
    _parsed[key] = found
    while len(_parsed) > PARSED_KEPT:
        _parsed.popitem(last=False)
    return found[0], list(found[1])


#: The last files parsed, by (text, file name, line offset): re-validating a library (the
#: designer's watch, a worker's reload, a test's fresh copy of the shipped folders) parses only
#: the files that changed. A :class:`Source` is shared between the callers that read the same
#: text: read its data, never change it.
_parsed: OrderedDict[tuple[str, str, int], tuple[Source | None, list[Diagnostic]]] = OrderedDict()
PARSED_KEPT = 4096


def read_yaml(path: Path) -> tuple[Source | None, list[Diagnostic]]:
    """Reads and parses a YAML file; unreadable or non-UTF-8 files become diagnostics."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Diagnostic("error", str(path), 1, 1, f"not UTF-8 text ({exc.reason})")]
    except OSError as exc:
        return None, [Diagnostic("error", str(path), 0, 0, f"cannot read file: {exc.strerror}")]
    return parse_yaml(text, str(path))


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """(front matter YAML, Markdown body, body's first line) or None without front matter."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            body = "".join(lines[index + 1 :])
            skipped = len(body) - len(body.lstrip("\n"))  # blank lines before the body
            return "".join(lines[1:index]), body.strip("\n"), index + 2 + skipped
    return None
