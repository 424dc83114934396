"""A template's ``links``: the unsubscribe link is signed only when a template names it,
and then is the same valid link as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.content.render import RenderError, render
from engine.links import verify
from engine.services.compose import UNSUBSCRIBE_PURPOSE
from engine.services.context import Links

SECRET = "xxx-" + "k9Zx" * 8
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _links(signed: list[int]) -> Links:
    from engine.links import sign

    def unsubscribe() -> str:
        signed.append(1)
        return "https://a.example/u/" + sign(SECRET, purpose=UNSUBSCRIBE_PURPOSE, data={"l": 7},
                                             expires_at=NOW + timedelta(days=365))

    return Links({"answer": "https://a.example/r", "app": "https://a.example/app"}, unsubscribe=unsubscribe)


def test_the_unsubscribe_link_is_signed_only_when_named() -> None:
    signed: list[int] = []
    links = _links(signed)
    assert render("Bonjour, répondez sur {{ links.answer }}", {"links": links}) == \
        "Bonjour, répondez sur https://a.example/r"
    assert signed == []
    text = render("{{ links.unsubscribe }} {{ links.unsubscribe }}", {"links": links})
    first, second = text.split()
    assert first == second and signed == [1]  # signed once, then kept
    assert verify(SECRET, first.rsplit("/", 1)[1], purpose=UNSUBSCRIBE_PURPOSE, now=NOW)["l"] == 7
    assert sorted(links) == ["answer", "app", "unsubscribe"] and len(links) == 3


def test_an_unknown_link_names_the_known_ones() -> None:
    with pytest.raises(RenderError, match="unsubscribe"):
        render("{{ links.unsubscrib }}", {"links": _links([])})
