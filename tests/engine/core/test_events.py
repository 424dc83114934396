"""The engine's events: each documented with a JSON example, and docs/architecture.md lists them all."""

from __future__ import annotations

import json

import pytest

from engine.core import events as ev
from engine.settings import PROJECT_ROOT

ARCHITECTURE = PROJECT_ROOT / "docs" / "architecture.md"


def test_the_architecture_page_lists_the_events_of_the_code() -> None:
    """Regenerate with ``python -m engine.core.events docs/architecture.md``."""
    document = ARCHITECTURE.read_text(encoding="utf-8")
    assert ev.DOC_START in document and ev.DOC_END in document
    assert ev.with_catalogue(document) == document


def test_every_event_kind_is_in_the_catalogue() -> None:
    names = {kind.__name__ for kind in ev.EVENT_TYPES}
    assert len(names) >= 15
    assert all(f"| `{name}` |" in ev.catalogue() for name in names)


@pytest.mark.parametrize("kind", ev.EVENT_TYPES, ids=lambda k: k.__name__)
def test_each_event_has_a_summary_and_a_json_example(kind: type) -> None:
    doc = (kind.__doc__ or "").strip()
    summary, _, example = doc.partition("\n\n")
    assert summary and summary.rstrip().endswith(".")
    data = json.loads(example)
    assert isinstance(data, dict) and data


def test_an_event_as_json_names_its_kind() -> None:
    event = ev.AlertRaised("quiz_failure", "Trois mauvaises réponses de suite aux quiz")
    assert ev.as_json(event) == {"event": "AlertRaised", "kind": "quiz_failure",
                                 "reason": "Trois mauvaises réponses de suite aux quiz"}
