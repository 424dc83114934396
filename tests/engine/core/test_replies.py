"""Real-world replies, as learners type them on a phone, and what they mean."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.content.models import Choice, Question, QuizItem
from engine.core.replies import Expectation, ParsedReply, detect_keyword, parse_reply

QUIZ = Expectation(
    "choice",
    choices=("Le feedback sandwich", "Le feedback SBI", "Le feedback à chaud"),
)
QUIZ5 = Expectation("choice", choices=("Un", "Deux", "Trois", "Quatre", "Cinq"))
CHECKIN = Expectation(
    "choice",
    choices=("C'est fait ✅", "En cours ⏳", "Je suis bloqué·e 🚧"),
    values=("fait", "en_cours", "bloque"),
)
YES_NO = Expectation("yes_no")
RATING = Expectation("rating")
NPS = Expectation("nps")
TEXT = Expectation("text")

OK, AMBIGUOUS, UNREADABLE = "ok", "ambiguous", "unreadable"

CHOICE_ROWS = [
    # The letter, dressed in every way a phone allows.
    ("B", OK, 1),
    ("b", OK, 1),
    ("b)", OK, 1),
    ("b.", OK, 1),
    ("B.", OK, 1),
    (" b ", OK, 1),
    ("B !", OK, 1),
    ("B!!!", OK, 1),
    ("(b)", OK, 1),
    ("[B]", OK, 1),
    ("B :", OK, 1),
    ('"B"', OK, 1),
    ("«B»", OK, 1),
    ("*B*", OK, 1),
    ("B\n", OK, 1),
    ("\tB", OK, 1),
    ("Ｂ", OK, 1),
    ("🅱️", OK, 1),
    ("Ⓑ", OK, 1),
    ("B 👍", OK, 1),
    ("B 😊", OK, 1),
    ("b ?", OK, 1),
    # Digits are 1-based.
    ("2", OK, 1),
    ("2.", OK, 1),
    ("2)", OK, 1),
    ("2️⃣", OK, 1),
    ("2⃣", OK, 1),
    ("la 2", OK, 1),
    ("réponse 2", OK, 1),
    ("n°2", OK, 1),
    ("1", OK, 0),
    ("3", OK, 2),
    # French phrasing around the letter.
    ("réponse B", OK, 1),
    ("reponse b", OK, 1),
    ("Réponse : B", OK, 1),
    ("REPONSE B", OK, 1),
    ("rep b", OK, 1),
    ("la b", OK, 1),
    ("La B", OK, 1),
    ("la réponse c", OK, 2),
    ("la réponse B.", OK, 1),
    ("ma réponse est la B", OK, 1),
    ("la bonne réponse est B", OK, 1),
    ("Je dirais B", OK, 1),
    ("je dirais la b", OK, 1),
    ("Je pense que c'est la B", OK, 1),
    ("je pense B", OK, 1),
    ("c'est la B", OK, 1),
    ("c’est la B", OK, 1),
    ("C est la B", OK, 1),
    ("cest la b", OK, 1),
    ("Plutôt B", OK, 1),
    ("je choisis la C", OK, 2),
    ("je vote C", OK, 2),
    ("choix B", OK, 1),
    ("option b", OK, 1),
    ("la lettre B", OK, 1),
    ("À mon avis c'est B", OK, 1),
    ("a mon avis la b", OK, 1),
    # Explanations after the answer.
    ("b - parce que le sandwich noie le message", OK, 1),
    ("B car c'est factuel", OK, 1),
    ("B parce que", OK, 1),
    ("B, il est plus précis", OK, 1),
    ("B. Le SBI est plus clair", OK, 1),
    ("C'est la B, pas la A", OK, 1),
    ("B mais je ne suis pas sûr", OK, 1),
    ("Pourquoi pas la B", OK, 1),
    ("pas B, plutôt C", OK, 2),
    ("Pas la A, la B", OK, 1),
    ("pour moi c'est la B", OK, 1),
    ("B pour moi", OK, 1),
    ("BBB", OK, 1),
    ("B,merci", OK, 1),
    ("la 2 car c'est factuel", OK, 1),
    ("2 merci", OK, 1),
    # Greetings, thanks and signatures.
    ("Bonjour, B", OK, 1),
    ("Bonjour B", OK, 1),
    ("bonjour,\nB\ncordialement", OK, 1),
    ("b merci", OK, 1),
    ("B merci !", OK, 1),
    ("Merci, B", OK, 1),
    ("B svp", OK, 1),
    ("Salut ! La B 😉", OK, 1),
    ("B\n\nEnvoyé de mon iPhone", OK, 1),
    ("B\n--\nMarie Dupont\nDRH\n06 12 34 56 78", OK, 1),
    ("B\nMarie D.", OK, 1),
    ("B\nBonne journée", OK, 1),
    ("Bonjour,\nJe pense que c'est la B.\nBonne soirée à vous", OK, 1),
    ("Réponse B\nEnvoyé depuis mon mobile Orange", OK, 1),
    ("Bonjour Madame, ma réponse est la B. Cordialement, Julie Martin", OK, 1),
    ("Ma réponse : B\nPhilippe B.", OK, 1),
    ("👉 B", OK, 1),
    ("B ✅", OK, 1),
    ("Rép : B", OK, 1),
    ("b, c'est sûr", OK, 1),
    ("B 😅 j'avoue j'ai hésité", OK, 1),
    ("Je crois que c'est la C mais pas sûre", OK, 2),
    ("C ?", OK, 2),
    # A
    ("A", OK, 0),
    ("a", OK, 0),
    ("à", OK, 0),
    ("a)", OK, 0),
    ("A.", OK, 0),
    ("(A)", OK, 0),
    ("la A", OK, 0),
    ("réponse a", OK, 0),
    ("c'est a", OK, 0),
    ("A car le sandwich adoucit", OK, 0),
    ("Bonjour, a", OK, 0),
    ("a merci", OK, 0),
    ("A 👍", OK, 0),
    # Ordinals and spelled-out positions.
    ("la deuxième", OK, 1),
    ("la 2e", OK, 1),
    ("la 2ème", OK, 1),
    ("la première", OK, 0),
    ("la 1ère", OK, 0),
    ("la dernière", OK, 2),
    ("deux", OK, 1),
    ("trois", OK, 2),
    # Autocorrect: a lone "B" becomes "Bé", "C" becomes "Cé".
    ("Bé", OK, 1),
    ("bé", OK, 1),
    ("Cé", OK, 2),
    # The label, when unique.
    ("le feedback SBI", OK, 1),
    ("SBI", OK, 1),
    ("sbi", OK, 1),
    ("Le feedback à chaud", OK, 2),
    ("sandwich", OK, 0),
    ("feedback", AMBIGUOUS, None),
    # Two answers.
    ("A ou B", AMBIGUOUS, None),
    ("a ou b", AMBIGUOUS, None),
    ("AB", AMBIGUOUS, None),
    ("A B", AMBIGUOUS, None),
    ("A, B", AMBIGUOUS, None),
    ("A et C", AMBIGUOUS, None),
    ("b ou c ?", AMBIGUOUS, None),
    ("J'hésite entre A et C", AMBIGUOUS, None),
    ("1 ou 2", AMBIGUOUS, None),
    ("les deux", AMBIGUOUS, None),
    ("toutes", AMBIGUOUS, None),
    ("BC", AMBIGUOUS, None),
    # Out of range.
    ("F", AMBIGUOUS, None),
    ("D", AMBIGUOUS, None),
    ("la réponse E", AMBIGUOUS, None),
    ("4", AMBIGUOUS, None),
    ("0", AMBIGUOUS, None),
    ("9️⃣", AMBIGUOUS, None),
    # Nothing to read.
    ("", UNREADABLE, None),
    ("   ", UNREADABLE, None),
    ("\n\n", UNREADABLE, None),
    ("Merci", UNREADABLE, None),
    ("Bonjour !", UNREADABLE, None),
    ("?", UNREADABLE, None),
    ("👍", UNREADABLE, None),
    ("Je ne sais pas", UNREADABLE, None),
    ("aucune idée", UNREADABLE, None),
    ("il y a un souci avec le lien", UNREADABLE, None),
    ("Je suis en réunion, je réponds plus tard", UNREADABLE, None),
    ("à bientôt", UNREADABLE, None),
    ("je réponds dans 2 jours", UNREADABLE, None),
    ("J'ai 2 questions sur le module", UNREADABLE, None),
    ("Bonjour, je n'ai pas compris la question 2, pouvez-vous m'expliquer ?", UNREADABLE, None),
    ("Pourquoi la B est fausse ?", UNREADABLE, None),
    ("C'est quoi le feedback SBI ?", UNREADABLE, None),
    ("ok", UNREADABLE, None),
]

CHECKIN_ROWS = [
    ("fait", OK, "fait"),
    ("Fait !", OK, "fait"),
    ("c'est fait", OK, "fait"),
    ("C'est fait ✅", OK, "fait"),
    ("Fait hier avec mon équipe", OK, "fait"),
    ("faite", OK, "fait"),
    ("en cours", OK, "en_cours"),
    ("En cours", OK, "en_cours"),
    ("c'est en cours", OK, "en_cours"),
    ("bloqué", OK, "bloque"),
    ("je suis bloqué", OK, "bloque"),
    ("je suis bloquée", OK, "bloque"),
    ("Bloqué depuis 2 semaines", OK, "bloque"),
    ("BLOQUE", OK, "bloque"),
    ("1", OK, "fait"),
    ("2", OK, "en_cours"),
    ("3️⃣", OK, "bloque"),
    ("A", OK, "fait"),
    ("b", OK, "en_cours"),
    ("la c", OK, "bloque"),
    ("pas encore fait", UNREADABLE, None),
    ("4", AMBIGUOUS, None),
    ("fait ou en cours", AMBIGUOUS, None),
    ("ça avance", UNREADABLE, None),
]

YES_NO_ROWS = [
    ("oui", OK, True),
    ("Oui", OK, True),
    ("OUI", OK, True),
    ("oui !", OK, True),
    ("Oui.", OK, True),
    ("ouiii", OK, True),
    ("Oui merci", OK, True),
    ("o", OK, True),
    ("O", OK, True),
    ("yes", OK, True),
    ("Yes!", OK, True),
    ("ok", OK, True),
    ("OK 👌", OK, True),
    ("ouais", OK, True),
    ("yep", OK, True),
    ("d'accord", OK, True),
    ("D’accord", OK, True),
    ("absolument", OK, True),
    ("bien sûr", OK, True),
    ("tout à fait", OK, True),
    ("carrément", OK, True),
    ("👍", OK, True),
    ("👍🏼", OK, True),
    ("✅", OK, True),
    ("Bonjour, oui", OK, True),
    ("Oui, je l'ai fait avec mon équipe", OK, True),
    ("oui\nJean", OK, True),
    ("si", OK, True),
    ("non", OK, False),
    ("Non", OK, False),
    ("NON", OK, False),
    ("non merci", OK, False),
    ("Non.", OK, False),
    ("nan", OK, False),
    ("n", OK, False),
    ("N", OK, False),
    ("no", OK, False),
    ("nope", OK, False),
    ("nooon", OK, False),
    ("pas du tout", OK, False),
    ("Pas vraiment", OK, False),
    ("absolument pas", OK, False),
    ("pas encore", OK, False),
    ("jamais", OK, False),
    ("pas d'accord", OK, False),
    ("pas du tout d'accord", OK, False),
    ("Oui oui", OK, True),
    ("Affirmatif", OK, True),
    ("Pas encore mais bientôt", OK, False),
    ("pas tout à fait", OK, False),
    ("👎", OK, False),
    ("❌", OK, False),
    ("Non, pas eu le temps", OK, False),
    ("oui et non", AMBIGUOUS, None),
    ("Oui... enfin non", AMBIGUOUS, None),
    ("peut-être", UNREADABLE, None),
    ("je ne sais pas", UNREADABLE, None),
    ("bof", UNREADABLE, None),
    ("mouais", UNREADABLE, None),
    ("B", UNREADABLE, None),
    ("", UNREADABLE, None),
]

RATING_ROWS = [
    ("4", OK, 4),
    ("4/5", OK, 4),
    ("4 / 5", OK, 4),
    ("4 sur 5", OK, 4),
    ("quatre", OK, 4),
    ("Quatre sur cinq", OK, 4),
    ("⭐⭐⭐⭐", OK, 4),
    ("⭐️⭐️⭐️⭐️⭐️", OK, 5),
    ("★★★", OK, 3),
    ("4️⃣", OK, 4),
    ("note 4", OK, 4),
    ("Note : 4", OK, 4),
    ("4 étoiles", OK, 4),
    ("une étoile", OK, 1),
    ("1", OK, 1),
    ("5 !", OK, 5),
    ("Je mets 4, formateur au top", OK, 4),
    ("4/5 ⭐⭐⭐⭐", OK, 4),
    ("Bonjour, 5/5 merci !", OK, 5),
    ("4\n06 12 34 56 78", OK, 4),
    ("5 sur 5, super formation", OK, 5),
    ("Je donne 4", OK, 4),
    ("4 ⭐", OK, 4),
    ("4⭐", OK, 4),
    ("4 étoiles sur 5", OK, 4),
    ("Très bien, je mets 5", OK, 5),
    ("Note 4/5 pour la formation, 5/5 pour le formateur", AMBIGUOUS, None),
    ("6", AMBIGUOUS, None),
    ("0", AMBIGUOUS, None),
    ("10/10", AMBIGUOUS, None),
    ("8/10", AMBIGUOUS, None),
    ("4,5", AMBIGUOUS, None),
    ("3 ou 4", AMBIGUOUS, None),
    ("entre 3 et 4", AMBIGUOUS, None),
    ("⭐⭐⭐ 4/5", AMBIGUOUS, None),
    ("très bien", UNREADABLE, None),
    ("bof", UNREADABLE, None),
    ("", UNREADABLE, None),
]

NPS_ROWS = [
    ("10", OK, 10),
    ("10/10", OK, 10),
    ("dix", OK, 10),
    ("8 sur 10", OK, 8),
    ("8", OK, 8),
    ("0", OK, 0),
    ("zéro", OK, 0),
    ("🔟", OK, 10),
    ("7️⃣", OK, 7),
    ("9 !", OK, 9),
    ("Je dirais 9/10", OK, 9),
    ("11", AMBIGUOUS, None),
    ("4/5", AMBIGUOUS, None),
    ("7 ou 8", AMBIGUOUS, None),
    ("8,5", AMBIGUOUS, None),
    ("jamais de la vie", UNREADABLE, None),
]

TEXT_ROWS = [
    (
        "Mettre en place un point hebdo avec l'équipe",
        OK,
        "Mettre en place un point hebdo avec l'équipe",
    ),
    ("  B  ", OK, "B"),
    ("👍", OK, "👍"),
    ("", UNREADABLE, None),
    (" \n ", UNREADABLE, None),
]

TABLE = [
    *((text, QUIZ, status, value) for text, status, value in CHOICE_ROWS),
    *((text, CHECKIN, status, value) for text, status, value in CHECKIN_ROWS),
    *((text, YES_NO, status, value) for text, status, value in YES_NO_ROWS),
    *((text, RATING, status, value) for text, status, value in RATING_ROWS),
    *((text, NPS, status, value) for text, status, value in NPS_ROWS),
    *((text, TEXT, status, value) for text, status, value in TEXT_ROWS),
]


@pytest.mark.parametrize(("text", "expected", "status", "value"), TABLE)
def test_parse_reply(text: str, expected: Expectation, status: str, value: object) -> None:
    parsed = parse_reply(text, expected)
    assert (parsed.status, parsed.value) == (status, value), parsed.hint


@pytest.mark.parametrize(
    ("text", "expected", "hint"),
    [
        ("", QUIZ, "empty"),
        ("Merci !", QUIZ, "no answer"),
        ("A ou B", QUIZ, "several answers"),
        ("F", QUIZ, "out of range"),
        ("je sais pas", QUIZ, "unsure"),
        ("comment ça marche, la B ?", QUIZ, "question"),
        ("oui et non", YES_NO, "yes and no"),
        ("peut-être", YES_NO, "unsure"),
        ("8/10", RATING, "other scale"),
        ("4,5", RATING, "decimal"),
        ("7", RATING, "out of range"),
        ("3 ou 4", RATING, "several answers"),
        ("B", QUIZ, None),
    ],
)
def test_hint_says_why(text: str, expected: Expectation, hint: str | None) -> None:
    assert parse_reply(text, expected).hint == hint


def test_expectations_from_content() -> None:
    item = QuizItem(id="q1", question="?", choices=["x", "y", "z"], answer="B", explanation="")
    question = Question(
        id="avancement",
        type="choice",
        text="Où en êtes-vous ?",
        choices=[Choice(value="fait", label="Fait"), Choice(value="bloque", label="Bloqué")],
    )
    assert Expectation.for_quiz_item(item) == Expectation("choice", choices=("x", "y", "z"))
    assert Expectation.for_question(question).values == ("fait", "bloque")
    assert Expectation("rating").scale == (1, 5)
    assert Expectation("nps").scale == (0, 10)
    assert Expectation("rating", scale=(1, 10)).scale == (1, 10)


def test_mismatched_values_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        Expectation("choice", choices=("a", "b"), values=("x",))


EXPECTATIONS = st.one_of(
    st.integers(min_value=2, max_value=6).map(
        lambda n: Expectation("choice", choices=tuple(f"option {i}" for i in range(n)))
    ),
    st.sampled_from([CHECKIN, YES_NO, RATING, NPS, TEXT, Expectation("choice")]),
)


@given(text=st.text(), expected=EXPECTATIONS)
@example(text="❶", expected=Expectation("choice", choices=("option 0", "option 1")))  # a digit int() refuses
@example(text="²", expected=Expectation("choice", choices=("option 0", "option 1")))
def test_parse_reply_never_raises_and_stays_in_range(text: str, expected: Expectation) -> None:
    parsed = parse_reply(text, expected)
    assert isinstance(parsed, ParsedReply)
    assert (parsed.status == "ok") == (parsed.hint is None)
    if parsed.status != "ok":
        assert parsed.value is None
    elif expected.kind == "choice" and expected.values:
        assert parsed.value in expected.values
    elif expected.kind == "choice":
        assert isinstance(parsed.value, int)
        assert 0 <= parsed.value < expected.size
    elif expected.kind in ("rating", "nps"):
        assert isinstance(parsed.value, int)
        assert expected.scale[0] <= parsed.value <= expected.scale[1]


@given(text=st.text(alphabet="abcdefABCDEF123456 .,!?()-éèàç'’\n🅱️⃣👍", max_size=30))
def test_choice_ish_text_never_raises(text: str) -> None:
    parse_reply(text, QUIZ5)
    detect_keyword(text)
