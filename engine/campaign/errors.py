"""Turns pydantic validation errors into designer-friendly diagnostics.

Pydantic reports a path through the *models* (with union tags such as
``list[Action]``); we walk that path through the YAML document instead, drop
the union branches that do not match what the designer wrote, and add a
"did you mean" for unknown keys.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.campaign.diagnostics import Diagnostic, did_you_mean
from engine.campaign.schema import STEP_KINDS, Step
from engine.campaign.yamlpos import PathKey, PositionedDocument


def _aliases(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _inner_models(annotation: Any) -> list[type[BaseModel]]:
    """Every BaseModel reachable inside an annotation (Optional, list, union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found.extend(_inner_models(arg))
    return found


def _model_at(root: type[BaseModel], path: PathKey) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = next(
            (info for name, info in model.model_fields.items() if (info.alias or name) == part),
            None,
        )
        if field is None:
            return None
        inner = _inner_models(field.annotation)
        model = inner[0] if inner else None
    return model


def _doc_path(loc: tuple[int | str, ...], data: Any) -> tuple[PathKey, bool]:
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
        if part.startswith("list[") or part in ("list", "str", "int", "float", "bool"):
            expected = {"str": str, "int": int, "float": float, "bool": bool}.get(
                part.split("[")[0], list
            )
            if not isinstance(node, expected):
                return tuple(path), False
            continue
        if part.startswith("function-") or (part[:1].isupper() and "[" not in part):
            # a union tag naming a model branch
            if not isinstance(node, dict):
                return tuple(path), False
            continue
        path.append(part)  # a missing or unknown key: point at its parent
        node = None
    return tuple(path), True


def _has_kind(data: Any, path: PathKey) -> bool:
    """Whether the mapping at ``path`` names one of the step kinds."""
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return True
    return not isinstance(node, dict) or any(kind in node for kind in STEP_KINDS)


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def diagnostics_from_validation(
    error: ValidationError, doc: PositionedDocument, root: type[BaseModel]
) -> list[Diagnostic]:
    """One diagnostic per distinct problem, positioned on the offending key or value."""
    out: list[Diagnostic] = []
    seen: set[tuple[PathKey, str]] = set()
    relevant = []
    for item in error.errors():
        path, matches = _doc_path(tuple(item["loc"]), doc.data)
        if matches:
            relevant.append((item, path))
    if not relevant:  # every branch mismatched: report them all rather than nothing
        relevant = [(item, _doc_path(tuple(item["loc"]), doc.data)[0]) for item in error.errors()]
    for item, path in relevant:
        kind = item["type"]
        hint = None
        key = False
        if kind == "extra_forbidden":
            name = str(path[-1]) if path else ""
            model = _model_at(root, path[:-1])
            message = f"unknown key '{name}'"
            if model is Step and not _has_kind(doc.data, path[:-1]):
                # The step says nothing it is: the unknown key is most likely its kind.
                message = f"unknown step kind '{name}'"
                hint = did_you_mean(name, STEP_KINDS) or f"a step is one of {', '.join(STEP_KINDS)}"
            elif model is not None:
                hint = did_you_mean(name, _aliases(model))
                if hint is None:
                    hint = "allowed here: " + ", ".join(_aliases(model))
            key = True
        elif kind == "missing":
            name = str(path[-1]) if path else "?"
            message = f"missing required key '{name}'"
            path = path[:-1]
            key = True
        elif kind == "literal_error":
            expected = item.get("ctx", {}).get("expected", "")
            value = item.get("input")
            message = f"'{value}' is not allowed here: expected {expected}"
            options = [part.strip(" '") for part in str(expected).replace(" or ", ",").split(",")]
            hint = did_you_mean(str(value), [o for o in options if o])
        else:
            message = _clean(item["msg"])
        marker = (path, message)
        if marker in seen:
            continue
        seen.add(marker)
        out.append(doc.diagnostic(path, message, hint=hint, key=key))
    return out

