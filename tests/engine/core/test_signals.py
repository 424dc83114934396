"""Complaint and distress words that send a message to a human first."""

from __future__ import annotations

import pytest

from engine.core.signals import complaint_words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Je suis très déçu", ["déçu"]),
        ("Très DÉÇUE par la formation", ["déçu"]),
        ("decu", ["déçu"]),
        ("Formation nulle", ["nul"]),
        ("c'est nul", ["nul"]),
        ("C’est une arnaque !", ["arnaque"]),
        ("On s'est fait arnaquer", ["arnaque"]),
        ("Je veux être remboursé", ["remboursement"]),
        ("Je demande le remboursement", ["remboursement"]),
        ("Je vais porter plainte", ["plainte"]),
        ("C'est inadmissible", ["inadmissible"]),
        ("Scandaleux !!!", ["scandaleux"]),
        ("une attitude scandaleuse", ["scandaleux"]),
        ("pas content du tout", ["pas content"]),
        ("Pas contente", ["pas content"]),
        ("Très mécontent", ["mécontent"]),
        ("Je fais une réclamation", ["réclamation"]),
        ("Quelle honte", ["honte"]),
        ("c'est honteux", ["honte"]),
        ("Une catastrophe", ["catastrophe"]),
        ("organisation catastrophique", ["catastrophe"]),
        ("Lamentable.", ["lamentable"]),
        ("Toujours pas reçu mon attestation", ["jamais reçu"]),
        ("jamais reçu le lien", ["jamais reçu"]),
        ("Mon avocat vous contactera", ["avocat"]),
        ("j'en ai marre de ces SMS", ["marre"]),
        ("ras-le-bol", ["marre"]),
        ("c'est du harcèlement", ["harcèlement"]),
        ("arrêtez ce spam", ["spam"]),
        ("I want a refund", ["refund"]),
        ("I'd like to file a complaint", ["complaint"]),
        ("This is a scam", ["scam"]),
        ("Very disappointed", ["disappointed"]),
        (
            "Déçu, c'est une arnaque, je veux un remboursement sinon plainte",
            ["déçu", "arnaque", "remboursement", "plainte"],
        ),
        ("nul nul nul", ["nul"]),
        ("une perte de temps, pas terrible", ["perte de temps", "pas terrible"]),
        # Not complaints.
        ("Super formation, merci !", []),
        ("Pas déçu du tout", []),
        ("je n'ai pas été déçu", []),
        ("jamais déçue avec vous", []),
        ("Je ne le trouve nulle part", []),
        ("nullement", []),
        ("J'ai reçu mon attestation", []),
        ("Le contenu était dense mais utile", []),
        ("mécanique", []),
        ("annulation de la session ?", []),
        ("", []),
    ],
)
def test_complaint_words(text: str, words: list[str]) -> None:
    assert complaint_words(text) == words
