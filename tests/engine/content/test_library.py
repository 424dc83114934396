"""Loading a content library: good files load clean, every mistake has a file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.content.library import ContentLibrary, lesson_text
from engine.content.lint import question_sms, quiz_sms
from engine.content.models import Question, QuizItem
from engine.diagnostics import Diagnostic

LESSON = """\
---
title: Le feedback SBI
tags: [feedback, management]
sms: "Bonjour {{ learner.first_name }}, rappel du jour : un feedback utile decrit la Situation, le Comportement et son Impact."
push:
  title: Feedback SBI
  body: Situation, Comportement, Impact.
email:
  subject: "Votre memo : le feedback SBI"
---

# Le feedback SBI

Bonjour {{ learner.first_name }}, voici la fiche : {{ links.memo }}
"""

QUIZ = """\
title: Quiz feedback SBI
items:
  - id: sbi-situation
    question: Dans SBI, que veut dire le S ?
    choices: [Situation, Solution, Sanction]
    answer: A
    explanation: |
      Le S, c'est la Situation : quand et ou.
  - id: sbi-impact
    question: Que decrit le I ?
    choices: [L'intention, L'impact sur vous ou l'equipe]
    answer: B
    explanation: L'Impact, ce que le comportement a produit.
"""

SURVEY = """\
title: Satisfaction a chaud
intro: Bonjour {{ learner.first_name }}, 3 questions sur votre formation.
questions:
  - id: accueil
    type: rating
    criterion: accueil
    text: Comment notez-vous l'accueil ?
  - id: nps
    type: nps
    text: Recommanderiez-vous cette formation a un collegue ?
"""

CHECKIN = """\
title: Plan d'action
questions:
  - id: avancement
    type: choice
    text: Ou en est votre plan d'action ?
    choices:
      - {value: fait, label: C'est fait}
      - {value: en-cours, label: En cours}
      - {value: bloque, label: Je suis bloque}
"""

FAQ = """\
entries:
  - id: attestation
    question: Ou trouver mon attestation ?
    keywords: [attestation, certificat]
    answer: "Votre attestation est dans votre espace : {{ links.app }}"
"""

GOOD = {
    "management/feedback-sbi.md": LESSON,
    "management/quiz-sbi.yaml": QUIZ,
    "surveys/satisfaction-chaud.yaml": SURVEY,
    "checkins/plan-action.yaml": CHECKIN,
    "faq.yaml": FAQ,
    "README.md": "# Contenu\n\nPas une lecon.\n",
}


def _load(root: Path, files: dict[str, str]) -> tuple[ContentLibrary, list[Diagnostic]]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return ContentLibrary.load(root)


def test_good_library_loads_without_diagnostics(tmp_path: Path) -> None:
    library, diagnostics = _load(tmp_path, GOOD)
    assert diagnostics == []
    assert library.ref_kinds() == {
        "lesson": ["management/feedback-sbi"],
        "quiz": ["management/quiz-sbi"],
        "survey": ["satisfaction-chaud"],
        "checkin": ["plan-action"],
    }
    lesson = library.lessons["management/feedback-sbi"]
    assert lesson.body.startswith("# Le feedback SBI")
    assert library.surveys["satisfaction-chaud"].ref == "satisfaction-chaud"
    assert library.banks["management/quiz-sbi"].item("sbi-impact") is not None
    assert [e.id for e in library.faq.entries] == ["attestation"]
    assert library.position("survey", "satisfaction-chaud") == (
        (tmp_path / "surveys/satisfaction-chaud.yaml").as_posix(),
        1,
        1,
    )
    assert library.positions["management/feedback-sbi"][1:] == (2, 1)
    assert len(library.files) == 5


@pytest.mark.parametrize(
    ("kind", "ref", "has", "hint"),
    [
        ("lesson", "management/feedback-sbi", True, None),
        ("lesson", "management/feedback-sb", False, "did you mean 'management/feedback-sbi'?"),
        (
            "lesson",
            "management/quiz-sbi",
            False,
            "'management/quiz-sbi' is a quiz bank, not a lesson",
        ),
        ("review", "management/quiz-sbi", True, None),
        (
            "survey",
            "surveys/satisfaction-chaud",
            False,
            "write 'satisfaction-chaud': surveys are named without their folder",
        ),
        ("checkin", "plan-actoin", False, "did you mean 'plan-action'?"),
        ("quiz", "nothing-like-it", False, None),
    ],
)
def test_has_and_suggest(tmp_path: Path, kind: str, ref: str, has: bool, hint: str | None) -> None:
    library, _ = _load(tmp_path, GOOD)
    assert library.has(kind, ref) is has
    if not has:
        assert library.suggest(kind, ref) == hint


BROKEN_YAML = "title: Quiz\nitems:\n  - id: a\n    question: [oups\n    answer: A\n"
BAD_ANSWER = QUIZ.replace("answer: B", "answer: D")
UNKNOWN_KEY = SURVEY.replace("    type: nps", "    typ: nps")
TYPO_VARIABLE = LESSON.replace("{{ links.memo }}", "{{ links.mmeo }}")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("q.yaml", BROKEN_YAML, (5, 11, "YAML syntax error: a '[' opened on line 4 is not closed", "close it")),
        ("q.yaml", "title: a\n\titems: []\n", (2, 1, "YAML syntax error", "spaces, not tabs")),
        ("q.yaml", BAD_ANSWER, (12, 13, "answer D but only 2 choices (A to B)", None)),
        (
            "q.yaml",
            QUIZ.replace("answer: A", "answer: 2"),
            (6, 13, "answer is the letter of the right choice (A, B, C...), not 2: "
                    "for the second choice, write answer: B", None),
        ),
        (
            "surveys/s.yaml",
            UNKNOWN_KEY,
            (9, 5, "unknown key 'typ' in questions[1]", "did you mean 'type'?"),
        ),
        (
            "surveys/s.yaml",
            SURVEY.replace("type: rating", "type: ratting"),
            (5, 11, "'ratting' is not allowed here", "did you mean 'rating'?"),
        ),
        (
            "l.md",
            LESSON.replace("title: Le", "titre: Le"),
            (2, 1, "unknown key 'titre'", "did you mean 'title'?"),
        ),
        (
            "l.md",
            LESSON.replace("  subject:", "  subjet:"),
            (9, 3, "unknown key 'subjet' in email", "did you mean 'subject'?"),
        ),
        (
            "l.md",
            TYPO_VARIABLE,
            (14, 1, "unknown attribute 'mmeo' of 'links'", "did you mean 'memo'?"),
        ),
        (
            "l.md",
            LESSON.replace("learner.first_name }},", "learner.frist_name }},", 1),
            (4, 6, "unknown attribute 'frist_name' of 'learner'", "did you mean 'first_name'?"),
        ),
        ("l.md", "# Pas de front matter\n", (1, 1, "front matter", None)),
        (
            "l.md",
            "---\ntitle: T\nsms: {{ learner.first_name }}\n---\n",
            (3, 7, "YAML syntax error: '{{' starts a YAML mapping here", "in quotes"),
        ),
        (
            "q.yaml",
            QUIZ.replace("Que decrit", "{{ learner.first_name }}, que decrit"),
            (10, 39, "YAML syntax error", "in quotes"),
        ),
        (
            "l.md",
            "---\ntitle: T\nsms:\n  texte: Bonjour\n---\n",
            (4, 3, "sms: expected a text, found a YAML mapping", "in quotes"),
        ),
        (
            "q.yaml",
            QUIZ.replace("title: Quiz", "title: A\ntitle: Quiz"),
            (2, 1, "the key 'title' appears twice (first on line 1)", "keep only one"),
        ),
        ("surveys/s.yaml", "- a\n- b\n", (1, 1, "expected a mapping", None)),
        (
            "faq.yaml",
            FAQ.replace('answer: "', 'answr: "'),
            (5, 5, "unknown key 'answr'", "did you mean 'answer'?"),
        ),
    ],
)
def test_errors_have_position_and_hint(
    tmp_path: Path, name: str, text: str, expected: tuple[int, int, str, str | None]
) -> None:
    _, diagnostics = _load(tmp_path, {name: text})
    errors = [d for d in diagnostics if d.severity == "error"]
    line, column, message, hint = expected
    found = next((d for d in errors if message in d.message), None)
    assert found is not None, [d.format() for d in diagnostics]
    assert found.file == (tmp_path / name).as_posix()
    assert (found.line, found.column) == (line, column), found.format()
    if hint is not None:
        assert found.hint is not None and hint in found.hint


def test_a_broken_file_does_not_stop_the_others(tmp_path: Path) -> None:
    library, diagnostics = _load(tmp_path, {**GOOD, "a-casse.yaml": BROKEN_YAML})
    assert [d.file.rsplit("/", 1)[1] for d in diagnostics] == ["a-casse.yaml"]
    assert library.has("quiz", "management/quiz-sbi")
    assert library.has("lesson", "management/feedback-sbi")


def test_ucs2_warning_names_the_character_and_its_fix(tmp_path: Path) -> None:
    lesson = LESSON.replace("rappel du jour :", "c’est le rappel du jour :")
    _, diagnostics = _load(tmp_path, {"l.md": lesson})
    [warning] = diagnostics
    assert (warning.severity, warning.line) == ("warning", 4)
    assert lesson.splitlines()[warning.line - 1][warning.column - 1] == "’"  # the character itself
    assert warning.message.startswith(
        "’ (U+2019) forces UCS-2: 70 characters per segment instead of 160"
    )
    assert warning.hint == "use ' for ’ (U+2019) or smart_encoded"


def test_ucs2_warning_points_at_the_quiz_choice_at_fault(tmp_path: Path) -> None:
    quiz = QUIZ.replace("Solution, Sanction", "Solution, Sanction\u00a0!")
    _, diagnostics = _load(tmp_path, {"q.yaml": quiz})
    [warning] = diagnostics
    assert "non-breaking space (U+00A0) forces UCS-2" in warning.message
    assert warning.line == 5 and quiz.splitlines()[4][warning.column - 1] == "\u00a0"
    assert warning.hint is not None and "a plain space for non-breaking space" in warning.hint


def test_long_sms_warns_about_segments(tmp_path: Path) -> None:
    lesson = LESSON.replace("son Impact.", "son Impact. " + "Pensez-y cette semaine. " * 14)
    _, diagnostics = _load(tmp_path, {"l.md": lesson})
    [warning] = diagnostics
    assert warning.message.startswith("SMS too long: 3 segments, GSM-7")
    assert (warning.line, warning.column) == (4, 6)


def test_duplicate_quiz_item_ids_across_banks(tmp_path: Path) -> None:
    other = QUIZ.replace("sbi-impact", "autre-id")
    _, diagnostics = _load(tmp_path, {"a/quiz.yaml": QUIZ, "b/quiz.yaml": other})
    [error] = diagnostics
    assert error.file == (tmp_path / "b/quiz.yaml").as_posix()
    assert (error.line, error.message) == (3, "quiz item id 'sbi-situation' is already used")
    assert error.hint is not None and f"{(tmp_path / 'a/quiz.yaml').as_posix()}:3:9" in error.hint


def test_yaml_without_items_is_ignored_with_a_warning(tmp_path: Path) -> None:
    library, diagnostics = _load(tmp_path, {"satisfaction.yaml": SURVEY})
    [warning] = diagnostics
    assert warning.severity == "warning"
    assert warning.hint == "surveys go in surveys/, check-ins in checkins/"
    assert library.banks == {} and library.surveys == {}


def test_a_lower_case_answer_is_its_letter(tmp_path: Path) -> None:
    library, diagnostics = _load(tmp_path, {"q.yaml": QUIZ.replace("answer: B", "answer: b")})
    assert [d for d in diagnostics if d.severity == "error"] == []
    assert [item.answer for item in next(iter(library.banks.values())).items] == ["A", "B"]


def test_template_errors_are_reported_even_when_the_file_is_invalid(tmp_path: Path) -> None:
    quiz = BAD_ANSWER.replace("Que decrit le I ?", '"{{ learner.prenom }}, que decrit le I ?"')
    _, diagnostics = _load(tmp_path, {"q.yaml": quiz})
    assert sorted(d.message.split(":")[0] for d in diagnostics) == [
        "answer D but only 2 choices (A to B)",
        "unknown attribute 'prenom' of 'learner'",
    ]


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("sms", (None, "SMS")),
        ("whatsapp", (None, "SMS")),
        ("push", ("Push", "push body")),
        ("email", ("Sujet", "# Corps")),
    ],
)
def test_lesson_text_picks_the_channel_variant(
    tmp_path: Path, channel: str, expected: tuple[str | None, str]
) -> None:
    text = "---\ntitle: T\nsms: SMS\npush: {title: Push, body: push body}\nemail: {subject: Sujet}\n---\n# Corps\n"
    library, diagnostics = _load(tmp_path, {"l.md": text})
    assert diagnostics == []
    assert lesson_text(library.lessons["l"], channel) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("channel", "expected"),
    [("push", ("T", "SMS")), ("email", ("T", "SMS"))],
)
def test_lesson_text_falls_back_to_title_and_sms(
    tmp_path: Path, channel: str, expected: tuple[str, str]
) -> None:
    library, _ = _load(tmp_path, {"l.md": "---\ntitle: T\nsms: SMS\n---\n"})
    assert lesson_text(library.lessons["l"], channel) == expected  # type: ignore[arg-type]


def test_prompts_as_sent() -> None:
    item = QuizItem(id="s", question="Le S ?", choices=["Situation", "Solution"], answer="A",
                    explanation="S")
    assert quiz_sms(item) == "Le S ?\nA) Situation\nB) Solution\nRépondez A ou B"
    rating = Question(id="a", type="rating", text="L'accueil ?")
    assert question_sms(rating) == "L'accueil ?\nNote de 1 à 5 (5 = excellent)"
    text = Question(id="m", type="text", text="Un mot ?", optional=True)
    assert question_sms(text) == "Un mot ?\nRépondez librement (ou PASSER)"


def test_missing_folder_is_a_diagnostic(tmp_path: Path) -> None:
    library, [error] = ContentLibrary.load(tmp_path / "nope")
    assert error.message == "content folder not found"
    assert library.ref_kinds()["lesson"] == []
