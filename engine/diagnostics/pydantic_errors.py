"""The one pydantic-error mapper: validation errors become positioned, plain-worded diagnostics.

Pydantic reports a path through the *models* (with union tags such as
``list[Action]``); the path is walked through the YAML document instead, the
union branches that do not match what the designer wrote are dropped, and an
unknown key gets a "did you mean". Campaigns and content files share it.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.diagnostics.model import Diagnostic, did_you_mean
from engine.diagnostics.yaml_reader import Loc, Source
from engine.diagnostics.yaml_words import QUOTE_TEMPLATE_HINT

_SCALARS = {"str": str, "int": int, "float": float, "bool": bool}
_PLAIN_TYPES = {"string_type": "a text", "int_type": "a whole number", "int_parsing": "a whole number",
                "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
                "bool_parsing": "true or false", "list_type": "a list", "dict_type": "a mapping (key: value)",
                "model_type": "a mapping (key: value)"}


def validate(model: type[BaseModel], data: dict[str, Any], source: Source, *,
             hidden: tuple[str, ...] = ()) -> tuple[Any, list[Diagnostic]]:
    """Validates ``data`` against ``model``; each distinct error becomes a placed Diagnostic.

    ``hidden`` names top-level fields the loader sets itself, never suggested to a designer.
    """
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, diagnostics_from_validation(exc, source, model, hidden=hidden)


def diagnostics_from_validation(error: ValidationError, source: Source, root: type[BaseModel], *,
                                kinds: Mapping[type[BaseModel], tuple[str, tuple[str, ...]]] | None = None,
                                hidden: tuple[str, ...] = ()) -> list[Diagnostic]:
    """One diagnostic per distinct problem, on the offending key or value.

    ``kinds`` gives, for a model, its name and the keys one of which says what it is
    (``{Step: ("step", STEP_KINDS)}``): an unknown key in such a mapping that has
    none of them is reported as an unknown kind ("unknown step kind 'video'").
    """
    items = error.errors()
    relevant = [(item, path) for item in items for path, fits in [_doc_path(tuple(item["loc"]), source.data)]
                if fits]
    if not relevant:  # every branch mismatched: report them all rather than nothing
        relevant = [(item, _doc_path(tuple(item["loc"]), source.data)[0]) for item in items]
    out: list[Diagnostic] = []
    seen: set[tuple[Loc, str]] = set()
    for item, path in relevant:
        placed, message, hint, key = _words(item, path, source, root, kinds or {}, hidden)
        if (placed, message) in seen:
            continue
        seen.add((placed, message))
        out.append(source.diagnostic(placed, message, hint=hint, key=key))
    return sorted(out, key=lambda d: (d.line, d.column, d.message))


def _words(item: Any, path: Loc, source: Source, root: type[BaseModel],
           kinds: Mapping[type[BaseModel], tuple[str, tuple[str, ...]]],
           hidden: tuple[str, ...]) -> tuple[Loc, str, str | None, bool]:
    kind = item["type"]
    name = str(path[-1]) if path else ""
    # The position says where; only a type error names its key ("sms: expected a text").
    where = next((str(part) for part in reversed(path) if isinstance(part, str)), "")
    if kind == "extra_forbidden":
        model = _model_at(root, path[:-1])
        word, names = kinds.get(model, ("", ())) if model is not None else ("", ())
        if names and not _names_one_of(source.value(path[:-1]), names):
            hint = did_you_mean(name, names) or f"a {word} is one of {', '.join(names)}"
            return path, f"unknown {word} kind '{name}'", hint, True
        allowed = [a for a in _aliases(model) if not (a in hidden and not path[:-1])] if model else []
        suggestion = did_you_mean(name, allowed) or ("allowed here: " + ", ".join(allowed) if allowed else None)
        return path, f"unknown key '{name}'" + _in(path[:-1]), suggestion, True
    if kind == "missing":
        return path[:-1], f"missing required key '{name}'" + _in(path[:-1]), None, True
    if kind == "literal_error":
        expected = str(item.get("ctx", {}).get("expected", ""))
        options = [part.strip(" '") for part in expected.replace(" or ", ",").split(",")]
        message = f"'{item.get('input')}' is not allowed here: expected {expected}"
        return path, message, did_you_mean(str(item.get("input")), [o for o in options if o]), False
    if kind == "string_type" and isinstance(item.get("input"), dict):
        return path, _at(where, "expected a text, found a YAML mapping"), QUOTE_TEMPLATE_HINT, False
    if kind == "string_pattern_mismatch":
        return path, f"'{item['input']}' must use lowercase letters, digits, '-' or '_'", None, False
    if kind in _PLAIN_TYPES:
        found = _plain_type(item.get("input"))
        return path, _at(where, f"expected {_PLAIN_TYPES[kind]}, found {found}"), None, False
    text = _clean(str(item["msg"]))
    if kind == "value_error":
        # A model check names the field it is about ("answer D but only 3 choices"): point there.
        first_word = text.split(" ", 1)[0]
        node = source.value(path)
        if isinstance(node, dict) and first_word in node:
            path = (*path, first_word)
    return path, text, None, False


def _at(where: str, message: str) -> str:
    return f"{where}: {message}" if where else message


def _in(loc: Loc) -> str:
    return f" in {_dotted(loc)}" if loc else ""


def _plain_type(value: Any) -> str:
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing"
    return f"'{value}'"


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _names_one_of(node: Any, names: tuple[str, ...]) -> bool:
    return not isinstance(node, dict) or any(name in node for name in names)


def _aliases(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _inner_models(annotation: Any) -> list[type[BaseModel]]:
    """Every BaseModel reachable inside an annotation (Optional, list, union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    if typing.get_origin(annotation) is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found.extend(_inner_models(arg))
    return found


def _model_at(root: type[BaseModel], path: Loc) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = next((info for name, info in model.model_fields.items() if (info.alias or name) == part), None)
        if field is None:
            return None
        inner = _inner_models(field.annotation)
        model = inner[0] if inner else None
    return model


def _doc_path(loc: tuple[int | str, ...], data: Any) -> tuple[Loc, bool]:
    """Maps a pydantic loc onto the document; False when the error is for a union branch
    that does not match the shape the designer wrote."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(part, int):
            if isinstance(node, list) and part < len(node):
                path.append(part)
                node = node[part]
                continue
            return tuple(path), False
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
            continue
        if part.startswith("list[") or part in ("list", *_SCALARS):
            expected = _SCALARS.get(part.split("[")[0], list)
            if not isinstance(node, expected):
                return tuple(path), False
            continue
        if part.startswith("function-") or (part[:1].isupper() and "[" not in part):
            if not isinstance(node, dict):  # a union tag naming a model branch
                return tuple(path), False
            continue
        path.append(part)  # a missing or unknown key: point at its parent
        node = None
    return tuple(path), True
