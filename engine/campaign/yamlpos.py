"""YAML reading that remembers where every key and value came from.

Designers get ``file:line:column`` for every problem, so the loader keeps a map
from a path in the document (``("steps", 2, "at")``) to its position, and turns
YAML syntax errors into diagnostics instead of tracebacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from engine.campaign.diagnostics import Diagnostic

PathKey = tuple[str | int, ...]


@dataclass
class PositionedDocument:
    """Plain Python data plus 1-based (line, column) positions by document path."""

    data: Any
    file: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  # the source, to point inside a scalar

    def position(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """The position of ``path``, or of its nearest ancestor that has one."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.keys:
                return self.keys[probe]
            probe = probe[:-1]
        return (1, 1)

    def diagnostic(
        self, path: PathKey, message: str, *, hint: str | None = None, key: bool = False,
        severity: str = "error",
    ) -> Diagnostic:
        line, column = self.position(path, key=key)
        return Diagnostic(severity, self.file, line, column, message, hint)  # type: ignore[arg-type]


def _plain(node: Any, path: PathKey, doc: PositionedDocument) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            child = (*path, str(key))
            try:
                key_line, key_col = node.lc.key(key)
                doc.keys[child] = (key_line + 1, key_col + 1)
                value_line, value_col = node.lc.value(key)
                doc.values[child] = (value_line + 1, value_col + 1)
            except (KeyError, TypeError):
                pass
            out[str(key) if not isinstance(key, bool) else key] = _plain(value, child, doc)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            child = (*path, index)
            try:
                line, col = node.lc.item(index)
                doc.values[child] = doc.keys[child] = (line + 1, col + 1)
            except (KeyError, TypeError, IndexError):
                pass
            items.append(_plain(value, child, doc))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def parse_yaml(text: str, file: str) -> tuple[PositionedDocument | None, list[Diagnostic]]:
    """Parses YAML text; a syntax error becomes one diagnostic with its line and column."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        raw = yaml.load(StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "found duplicate key" in str(exc) or "duplicate key" in problem:
            problem = "duplicate key " + str(exc.problem).split("duplicate key", 1)[-1].strip()
        return None, [Diagnostic("error", file, line, column, f"YAML syntax: {problem}")]
    except YAMLError as exc:
        return None, [Diagnostic("error", file, 1, 1, f"YAML syntax: {exc}")]
    doc = PositionedDocument(data=None, file=file, lines=text.splitlines())
    doc.data = _plain(raw, (), doc)
    return doc, []


def read_yaml(path: Path) -> tuple[PositionedDocument | None, list[Diagnostic]]:
    """Reads and parses a YAML file; unreadable or non-UTF-8 files become diagnostics."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Diagnostic("error", str(path), 1, 1, f"not UTF-8 text ({exc.reason})")]
    except OSError as exc:
        return None, [Diagnostic("error", str(path), 0, 0, f"cannot read file: {exc.strerror}")]
    return parse_yaml(text, str(path))
