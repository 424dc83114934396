"""The JSON Schema of the campaign format, for editor completion (yaml-language-server)."""

from __future__ import annotations

from typing import Any

from engine.campaign.schema import Campaign

SCHEMA_ID = "https://ancrage.local/schemas/campaign.schema.json"


def campaign_json_schema() -> dict[str, Any]:
    """The schema as a dict: what ``ancrage schema`` prints and docs/campaign.schema.json holds."""
    schema = Campaign.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Ancrage campaign",
        **{key: value for key, value in schema.items() if key != "title"},
    }
