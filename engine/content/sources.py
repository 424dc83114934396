"""Reading content files with positions: YAML and front matter in, diagnostics out.

Designers need "faq.yaml:12:5: unknown key 'anwser'", not a traceback. Each file
is parsed once: ruamel.yaml composes the node tree (which knows where every key
and item sits) and builds plain data from that same tree; pydantic's error paths
are then mapped back onto node positions, and YAML syntax errors keep the
parser's own mark. The safe composer is used rather than the round-trip loader:
it skips comment bookkeeping and loads a large library about a third faster.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.campaign.diagnostics import Diagnostic, did_you_mean

Loc = tuple[str | int, ...]
QUOTE_TEMPLATE_HINT = (
    'put a text containing {{ ... }} in quotes: sms: "Bonjour {{ learner.first_name }}"'
)


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

    def value(self, loc: Loc) -> Any:
        """The plain value at ``loc``, or None when the path does not exist."""
        value = self.data
        for part in loc:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value


def parse_yaml(
    text: str, file: str, line_offset: int = 0, parser: YAML | None = None
) -> tuple[Source | None, list[Diagnostic]]:
    """Parse YAML text once into data and positions; a syntax error becomes a Diagnostic.

    Pass one ``parser`` (``YAML(typ="safe", pure=True)``) for a whole library: reusing
    it is much faster than a fresh one per file. It is not thread-safe.
    """
    yaml = parser or YAML(typ="safe", pure=True)
    try:
        tree = yaml.compose(text)
        data = yaml.constructor.construct_document(tree) if tree is not None else None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1 + line_offset, mark.column + 1) if mark else (0, 0)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        hint = _yaml_hint(exc, text, line_offset)
        return None, [Diagnostic("error", file, line, col, f"YAML syntax error: {problem}", hint)]
    return Source(file, data, tree, line_offset), []


def _yaml_hint(exc: YAMLError, text: str, line_offset: int) -> str | None:
    problem = str(getattr(exc, "problem", "") or "")
    lines = text.splitlines()
    marks = [getattr(exc, name, None) for name in ("problem_mark", "context_mark")]
    if any(m is not None and m.line < len(lines) and "{{" in lines[m.line] for m in marks):
        return QUOTE_TEMPLATE_HINT
    if "'\\t'" in problem:
        return "YAML indents with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return "quote a text that contains ': ', e.g. text: \"Rappel : ...\""
    context, mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and mark is not None:
        return f"{context} started on line {mark.line + 1 + line_offset}"
    return None


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


def validate(
    model: type[BaseModel], data: dict[str, Any], source: Source
) -> tuple[Any, list[Diagnostic]]:
    """Validate data against a content model; each pydantic error becomes a placed Diagnostic."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        found = [_diagnostic(model, error, source) for error in exc.errors()]
        return None, sorted(set(found), key=lambda d: (d.line, d.column, d.message))


def _diagnostic(model: type[BaseModel], error: Any, source: Source) -> Diagnostic:
    loc: Loc = tuple(error["loc"])
    kind, name = error["type"], loc[-1] if loc else ""
    where = _dotted(loc)
    hint: str | None = None
    if kind == "extra_forbidden":
        message = f"unknown key '{name}'" + (f" in {_dotted(loc[:-1])}" if loc[:-1] else "")
        hint = did_you_mean(str(name), _fields_at(model, loc[:-1]))
    elif kind == "missing":
        message = f"missing required key '{name}'" + (
            f" in {_dotted(loc[:-1])}" if loc[:-1] else ""
        )
    elif kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", ""))
        message = f"{where}: '{error['input']}' is not one of {expected}"
        hint = did_you_mean(
            str(error["input"]), [w.strip("' ") for w in expected.replace(" or ", ",").split(",")]
        )
    elif kind == "string_type" and isinstance(error["input"], dict):
        message = f"{where}: expected a text, found a YAML mapping"
        hint = QUOTE_TEMPLATE_HINT
    elif kind == "string_pattern_mismatch" and name == "answer":
        message = f"{where}: answer must be the letter of a choice (A to F), not '{error['input']}'"
    elif kind == "string_pattern_mismatch":
        message = f"{where}: '{error['input']}' must use lowercase letters, digits, '-' or '_'"
    else:
        text = str(error["msg"]).removeprefix("Value error, ")
        message = f"{where}: {text}" if where else text
    if kind == "value_error":
        # A model check names the field it is about ("answer D but only 3 choices"): point there.
        first_word = str(error["msg"]).removeprefix("Value error, ").split(" ", 1)[0]
        node = source.value(loc)
        if isinstance(node, dict) and first_word in node:
            loc = (*loc, first_word)
    line, col = source.position(loc, key=kind == "extra_forbidden")
    return Diagnostic("error", source.file, line, col, message, hint)


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model found at ``loc``, for a 'did you mean' on an unknown key."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, str):
            field = current.model_fields.get(part)
            current = _model_in(field.annotation) if field else None
    if current is None:
        return []
    injected = ("ref", "body") if not loc else ()  # set by the loader, never written by designers
    return [name for name in current.model_fields if name not in injected]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
