"""The JSON Schema editors use: checked in, never drifting, and true to the shipped campaigns.

The shipped campaigns are checked with the ``jsonschema`` package (a dev
dependency) and with a small structural validator for the keywords our schema
uses (``$ref``, ``anyOf``, ``type``, ``properties``, ``required``,
``additionalProperties``, ``enum``, ``const``, ``pattern``, ``items``,
``minItems``, bounds), which also runs where ``jsonschema`` is missing and
shows which keywords an editor relies on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from engine.campaign.jsonschema import campaign_json_schema
from engine.cli import main
from engine.settings import PROJECT_ROOT

SCHEMA_FILE = PROJECT_ROOT / "docs" / "campaign.schema.json"
CAMPAIGN_FILES = sorted((PROJECT_ROOT / "campaigns").glob("*.yaml"))
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[name])


def schema_errors(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "$") -> list[str]:
    """Every violation of ``schema`` by ``value`` (the subset of draft 2020-12 our schema uses)."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return schema_errors(value, root["$defs"][name], root, where)
    if "anyOf" in schema:
        branches = [schema_errors(value, branch, root, where) for branch in schema["anyOf"]]
        return [] if any(not errors for errors in branches) else [f"{where}: matches no anyOf branch"]
    errors: list[str] = []
    if "type" in schema and not _is_type(value, schema["type"]):
        return [f"{where}: {value!r} is not {schema['type']}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} != {schema['const']!r}")
    if isinstance(value, str):
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: too long")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: above {schema['maximum']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        for index, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), root, f"{where}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{where}: missing {key}" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], root, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unknown key {key}")
    return errors


def _yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def test_checked_in_schema_is_what_the_command_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert SCHEMA_FILE.read_text(encoding="utf-8") == printed, (
        "docs/campaign.schema.json is stale: run 'ancrage schema --output docs/campaign.schema.json'"
    )
    assert json.loads(printed) == campaign_json_schema()


def test_schema_output_option_writes_the_same_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    assert main(["schema", "--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == SCHEMA_FILE.read_text(encoding="utf-8")


def test_schema_describes_the_language() -> None:
    schema = campaign_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["campaign", "title", "steps"]
    step = schema["$defs"]["Step"]["properties"]
    assert {"at", "from", "if", "on_silence", "lesson", "review", "task"} <= set(step)
    assert schema["$defs"]["SendWindow"]["properties"]["from"]["pattern"]


@pytest.mark.parametrize("path", CAMPAIGN_FILES, ids=[p.name for p in CAMPAIGN_FILES])
def test_shipped_campaigns_satisfy_the_schema(path: Path) -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema_errors(_yaml(path), schema, schema) == []


@pytest.mark.parametrize(
    ("step", "complaint"),
    [
        ({"id": "a", "at": "+1d", "lessson": "x"}, "unknown key lessson"),
        ({"id": "a", "at": "+2h30", "lesson": "x"}, "matches no anyOf branch"),
        ({"id": "a", "at": "2d", "lesson": "x"}, "matches no anyOf branch"),
        ({"id": "A b", "at": "+1d", "lesson": "x"}, "does not match"),
        ({"id": "a", "at": "+1d", "lesson": "x", "to": "boss"}, "not in"),
        ({"id": "a", "at": "+1d", "quiz": "x", "ask": 0}, "below 1"),
    ],
)
def test_schema_rejects_what_the_validator_rejects(step: dict[str, Any], complaint: str) -> None:
    schema = campaign_json_schema()
    errors = schema_errors({"campaign": "t", "title": "T", "steps": [step]}, schema, schema)
    assert any(complaint in error for error in errors), errors


@pytest.mark.parametrize(
    ("offset", "valid"),
    [("+2h", True), ("+1d 09:30", True), ("+1d 9h30", True), ("+09:30", True), ("+3mo 7d", True),
     ("+10wd", True), ("+2h30", False), ("+1d09:30", False), ("2d", False)],
)
def test_offset_pattern_agrees_with_the_parser(offset: str, valid: bool) -> None:
    pattern = campaign_json_schema()["$defs"]["Step"]["properties"]["at"]["anyOf"][0]["pattern"]
    assert (re.search(pattern, offset) is not None) is valid


def test_with_the_jsonschema_package_when_installed() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = campaign_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in CAMPAIGN_FILES:
        jsonschema.validate(_yaml(path), schema, cls=jsonschema.Draft202012Validator)
