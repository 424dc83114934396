"""Matching a learner's question to an FAQ entry."""

from __future__ import annotations

import pytest

from engine.content.models import FaqEntry
from engine.core.faq import MIN_CONFIDENCE, FaqMatch, match_faq

ENTRIES = [
    FaqEntry(
        id="attestation",
        question="Quand vais-je recevoir mon attestation de formation ?",
        keywords=["attestation", "certificat"],
        answer="Elle part par e-mail sous 5 jours ouvrés.",
    ),
    FaqEntry(
        id="mot-de-passe",
        question="J'ai oublié mon mot de passe",
        keywords=["mot de passe", "identifiant", "connexion"],
        answer="Utilisez le lien « mot de passe oublié ».",
    ),
    FaqEntry(
        id="replay",
        question="Où trouver le replay de la session ?",
        keywords=["replay", "enregistrement", "vidéo"],
        answer="Dans votre espace, rubrique Sessions.",
    ),
    FaqEntry(
        id="horaires",
        question="Quels sont les horaires de la formation ?",
        keywords=["horaire", "heure"],
        answer="De 9 h à 17 h.",
    ),
]


@pytest.mark.parametrize(
    ("text", "entry_id"),
    [
        ("j'ai pas reçu mon attestation", "attestation"),
        ("J’ai toujours pas reçu mon ATTESTATION", "attestation"),
        ("Bonjour, où est mon certificat ?", "attestation"),
        ("atestation svp", "attestation"),
        ("attestations de formation ?", "attestation"),
        ("quand est-ce que je recevrai le certificat de réalisation", "attestation"),
        ("Bonjour, je n'arrive pas à retrouver mon mot de passe", "mot-de-passe"),
        ("mot de passe oublié", "mot-de-passe"),
        ("problème de connexion", "mot-de-passe"),
        ("mes identifiants ne marchent pas", "mot-de-passe"),
        ("où est la vidéo ?", "replay"),
        ("Il y a un replay ?", "replay"),
        ("l'enregistrement de la session est dispo ?", "replay"),
        ("c'est à quelle heure demain ?", "horaires"),
        ("Quels sont les horaires ?", "horaires"),
        ("je voudrais mon certificat et mon attestation", "attestation"),
        ("Merci beaucoup !", None),
        ("B", None),
        ("", None),
        ("Le formateur était top", None),
        ("J'ai adoré la session", None),
        ("mot", None),
    ],
)
def test_match_faq(text: str, entry_id: str | None) -> None:
    match = match_faq(text, ENTRIES)
    assert (match.entry_id if match else None) == entry_id


@pytest.mark.parametrize(
    "text",
    [
        "j'ai pas reçu mon attestation",
        "mot de passe oublié",
        "Quand vais-je recevoir mon attestation de formation ?",
        "où est la vidéo ?",
    ],
)
def test_confidence_is_a_fraction_above_the_floor(text: str) -> None:
    match = match_faq(text, ENTRIES)
    assert match is not None
    assert MIN_CONFIDENCE <= match.confidence <= 1.0


def test_more_evidence_means_more_confidence() -> None:
    weak = match_faq("attestation", ENTRIES)
    strong = match_faq("Quand vais-je recevoir mon attestation de formation ?", ENTRIES)
    assert weak is not None and strong is not None
    assert weak.confidence < strong.confidence
    assert strong == FaqMatch("attestation", 1.0) or strong.confidence > 0.8


def test_no_entries_no_match() -> None:
    assert match_faq("attestation", []) is None


def test_tie_goes_to_the_earlier_entry() -> None:
    twins = [
        FaqEntry(id="first", question="x", keywords=["badge"], answer="1"),
        FaqEntry(id="second", question="x", keywords=["badge"], answer="2"),
    ]
    assert match_faq("mon badge", twins) == FaqMatch("first", 0.5)
