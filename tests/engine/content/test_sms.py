"""GSM 03.38 maths: what a French SMS really costs, and how smart encoding saves it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.content.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SmsInfo,
    cost_hint,
    gsm_equivalent,
    is_gsm7,
    smart_encode,
    sms_info,
)

NBSP, NNBSP = "\u00a0", "\u202f"


def test_basic_table_has_127_characters_plus_escape() -> None:
    assert len(GSM7_BASIC) == 127
    assert frozenset("\f^{}\\[~]|€") == GSM7_EXTENSION


@pytest.mark.parametrize("char", list("éèùìòÇØøÅåÄäÖöÑñÜüàßÉÆæ@£$¥¤§¡¿_ΔΦΓΛΩΠΨΣΘΞ\n\r"))
def test_in_gsm7_basic(char: str) -> None:
    assert char in GSM7_BASIC


@pytest.mark.parametrize("char", [*list("çâêîôûëïœŒÈÀÙÊ’‘«»“”…–—`\t"), NBSP, NNBSP])
def test_not_gsm7(char: str) -> None:
    assert not is_gsm7(char)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsInfo("gsm7", 0, 0)),
        ("a" * 160, SmsInfo("gsm7", 160, 1)),
        ("a" * 161, SmsInfo("gsm7", 161, 2)),
        ("a" * 306, SmsInfo("gsm7", 306, 2)),
        ("a" * 307, SmsInfo("gsm7", 307, 3)),
        ("€" * 80, SmsInfo("gsm7", 160, 1)),
        ("€" * 81, SmsInfo("gsm7", 162, 2)),
        ("[x]{y}", SmsInfo("gsm7", 10, 1)),
        # An escape sequence never straddles two parts: the € opens part two.
        ("a" * 152 + "€" + "a" * 152, SmsInfo("gsm7", 306, 3)),
        ("C’est", SmsInfo("ucs2", 5, 1, ("’",))),
        ("’" * 70, SmsInfo("ucs2", 70, 1, ("’",))),
        ("’" * 71, SmsInfo("ucs2", 71, 2, ("’",))),
        ("’" * 134, SmsInfo("ucs2", 134, 2, ("’",))),
        ("’" * 135, SmsInfo("ucs2", 135, 3, ("’",))),
        ("👍", SmsInfo("ucs2", 2, 1, ("👍",))),
        ("a" * 69 + "👍", SmsInfo("ucs2", 71, 2, ("👍",))),
        # A surrogate pair never straddles two parts either.
        ("a" * 66 + "👍" + "a" * 66, SmsInfo("ucs2", 134, 3, ("👍",))),
    ],
)
def test_sms_info(text: str, expected: SmsInfo) -> None:
    assert sms_info(text) == expected


@pytest.mark.parametrize(
    ("sentence", "encoding", "ucs2_chars"),
    [
        (
            "Bonjour Camille, rappel : le feedback SBI, c'est Situation, Comportement, Impact.",
            "gsm7",
            (),
        ),
        ("Où en êtes-vous de votre plan d'action ?", "ucs2", ("ê",)),
        (f"Prêt{NNBSP}? C’est à vous{NBSP}!", "ucs2", ("ê", NNBSP, "’", NBSP)),
        ("« Le feedback, c’est un cadeau »… l’œuvre", "ucs2", ("«", "’", "»", "…", "œ")),
        ("Leçon n°3 : déléguer", "ucs2", ("ç", "°")),
        ("Déjà vu ? Très bien, à demain !", "gsm7", ()),
        ("Évaluez la formation de 1 à 5 (5 = très satisfait).", "gsm7", ()),
    ],
)
def test_french_sentences(sentence: str, encoding: str, ucs2_chars: tuple[str, ...]) -> None:
    info = sms_info(sentence)
    assert (info.encoding, info.ucs2_chars) == (encoding, ucs2_chars)


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("C’est l’été", "C'est l'été"),
        (f"«{NBSP}Bonjour{NBSP}»", '"Bonjour"'),
        ("“Top” ‘ok’", "\"Top\" 'ok'"),
        (f"Prêt{NNBSP}? Allez{NBSP}!", "Pret ? Allez !"),
        ("Attendez…", "Attendez..."),
        ("2024–2025 — fin", "2024-2025 - fin"),
        ("cœur, Œuvre", "coeur, OEuvre"),
        ("Ça, ça, leçon", "Ça, ca, lecon"),
        ("âêîôûëïÿ ÂÊÎÔÛËÏÈÀÙ", "aeioueiy AEIOUEIEAU"),
        ("été à où É Ç", "été à où É Ç"),
        ("Bravo 👍", "Bravo 👍"),
    ],
)
def test_smart_encode(text: str, encoded: str) -> None:
    assert smart_encode(text) == encoded


def test_smart_encode_turns_typical_french_into_one_gsm7_segment() -> None:
    text = (
        "Bonjour Camille\u202f! Rappel\u00a0: le feedback SBI, c’est « Situation, "
        "Comportement, Impact »… Prêt(e) à l’essayer cette semaine\u202f?"
    )
    assert (sms_info(text).encoding, sms_info(text).segments) == ("ucs2", 2)
    assert sms_info(smart_encode(text)).encoding == "gsm7"
    assert sms_info(smart_encode(text)).segments == 1


@given(st.text())
def test_smart_encode_leaves_only_characters_without_equivalent(text: str) -> None:
    left = sms_info(smart_encode(text)).ucs2_chars
    assert all(gsm_equivalent(char) is None for char in left)
    assert smart_encode(smart_encode(text)) == smart_encode(text)


@given(st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION))))
def test_gsm7_length_counts_escapes_twice(text: str) -> None:
    info = sms_info(text)
    assert info.encoding == "gsm7"
    assert info.length == len(text) + sum(ch in GSM7_EXTENSION for ch in text)


@pytest.mark.parametrize(
    ("info", "hint"),
    [
        (SmsInfo("gsm7", 42, 1), "1 segment, GSM-7, 42 characters (160 a segment)"),
        (SmsInfo("ucs2", 95, 2, ("’",)), "2 segments, UCS-2, 95 characters (67 a segment)"),
    ],
)
def test_cost_hint(info: SmsInfo, hint: str) -> None:
    assert cost_hint(info) == hint
