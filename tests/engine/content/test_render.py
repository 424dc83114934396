"""Sandboxed rendering and static template checks: typos caught before a learner sees them."""

from __future__ import annotations

import pytest

from engine.content.render import (
    TEMPLATE_VARIABLES,
    RenderError,
    TemplateProblem,
    check_template,
    markdown_to_html,
    markdown_to_text,
    render,
    sample_context,
)

CONTEXT = sample_context()


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Bonjour {{ learner.first_name }} !", "Bonjour Camille !"),
        ("{{ learner['last_name'] | upper }}", "MARTIN"),
        ("Fin : {{ session.ends_at | date_fr }}", "Fin : vendredi 14 mars"),
        ("{{ session.ends_at | date_fr(true) }}", "vendredi 14 mars à 17h30"),
        ("{% if manager %}Copie à {{ manager.name }}{% endif %}", "Copie à Julien Petit"),
        ("{% for w in ['a', 'b'] %}{{ loop.index }}{{ w }}{% endfor %}", "1a2b"),
        ("Répondez ici : {{ links.answer }}", "Répondez ici : https://ancrage.example/r/Xb7kQ2"),
        ("Pas de variable", "Pas de variable"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ learner.frist_name }}", "unknown attribute 'frist_name'; did you mean 'first_name'?"),
        ("{{ lerner.first_name }}", "undefined variable 'lerner'; did you mean 'learner'?"),
        ("{{ coupon }}", "undefined variable 'coupon'"),
        ("{{ learner.__class__ }}", "unsafe"),
        ("{% if learner %}", "syntax error on line 1"),
        ("{{ learner.first_name | nope }}", "No filter named 'nope'"),
    ],
)
def test_render_errors_name_the_culprit(template: str, message: str) -> None:
    with pytest.raises(RenderError, match=message.replace("?", r"\?").replace("(", r"\(")):
        render(template, CONTEXT)


def test_missing_value_in_context_is_an_error_not_a_blank() -> None:
    with pytest.raises(RenderError, match="unknown attribute 'first_name'"):
        render("Bonjour {{ learner.first_name }}", {"learner": {"last_name": "Martin"}})


def test_html_rendering_escapes_values() -> None:
    context = {"learner": {"first_name": "<script>x</script>"}}
    html = render("<p>{{ learner.first_name }}</p>", context, autoescape=True)
    assert html == "<p>&lt;script&gt;x&lt;/script&gt;</p>"
    assert render("{{ learner.first_name }}", context) == "<script>x</script>"


def test_sample_context_covers_every_template_variable() -> None:
    for name, fields in TEMPLATE_VARIABLES.items():
        for field in fields:
            assert render(f"{{{{ {name}.{field} }}}}", CONTEXT) != ""
    assert CONTEXT["session"]["title"] == "Manager coach"


@pytest.mark.parametrize(
    ("template", "problems"),
    [
        ("Bonjour {{ learner.first_name }}, fin le {{ session.ends_at | date_fr }}", []),
        ("Sans variable", []),
        ("{% for c in ['a'] %}{{ c }} {{ loop.index }}{% endfor %}{% set n = 2 %}{{ n }}", []),
        (
            "Bonjour\n{{ learner.frist_name }}",
            [
                TemplateProblem(
                    2, "unknown attribute 'frist_name' of 'learner'", "did you mean 'first_name'?"
                )
            ],
        ),
        (
            "{{ lerner.first_name }}",
            [TemplateProblem(1, "unknown variable 'lerner'", "did you mean 'learner'?")],
        ),
        (
            "a\n\n{{ session['titel'] }}",
            [TemplateProblem(3, "unknown attribute 'titel' of 'session'", "did you mean 'title'?")],
        ),
        (
            "{{ campaign.zzz }}",
            [TemplateProblem(1, "unknown attribute 'zzz' of 'campaign'", "known: title")],
        ),
        (
            "{{ learner.first_name | uper }}",
            [TemplateProblem(1, "unknown filter 'uper'", "did you mean 'upper'?")],
        ),
    ],
)
def test_check_template(template: str, problems: list[TemplateProblem]) -> None:
    assert check_template(template) == problems


@pytest.mark.parametrize(
    ("template", "line"),
    [("{{ learner.first_name }", 1), ("ok\n{% if x %}\nsans fin", 2), ("a\n{{ }}", 2)],
)
def test_check_template_reports_syntax_errors_with_line(template: str, line: int) -> None:
    [problem] = check_template(template)
    assert problem.message.startswith("template syntax error")
    assert problem.line == line


def test_markdown_to_html_escapes_raw_html() -> None:
    html = markdown_to_html("# Mémo\n\nLe **feedback** <b>SBI</b> : [fiche](https://x.fr/m)")
    assert "<h1>Mémo</h1>" in html
    assert "<strong>feedback</strong>" in html
    assert "&lt;b&gt;SBI&lt;/b&gt;" in html
    assert '<a href="https://x.fr/m">fiche</a>' in html


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("# Titre\n\nUn **mot** et `code`.", "Titre\n\nUn mot et code."),
        ("Voir [la fiche](https://x.fr/m).", "Voir la fiche (https://x.fr/m)."),
        ("Lien <https://x.fr>", "Lien https://x.fr"),
        ("- un\n- deux\n\nfin", "- un\n- deux\n\nfin"),
        ("1. Situation\n2. Comportement\n3. Impact", "1. Situation\n2. Comportement\n3. Impact"),
        ("ligne\nsuite", "ligne\nsuite"),
        ("> citation", "citation"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "a | b\n1 | 2"),
    ],
)
def test_markdown_to_text(markdown: str, text: str) -> None:
    assert markdown_to_text(markdown) == text


# --- values inserted into Markdown (e-mail bodies) are escaped; in SMS they stay plain ---

INJECTED = {**CONTEXT, "learner": {**CONTEXT["learner"],
                                   "first_name": "[Réinitialiser](https://x.example/p)"}}
LESSON = "Bonjour {{ learner.first_name }}, relisez *{{ session.title }}* : [ici]({{ links.answer }})"


def test_a_name_written_as_a_link_is_no_link_in_an_email() -> None:
    html = markdown_to_html(render(LESSON, INJECTED, markup="markdown"))
    assert '<a href="https://x.example/p"' not in html
    assert "Bonjour [Réinitialiser](https://x.example/p)," in html
    # What the designer wrote still works: emphasis, and a link to our own URL.
    assert f"<em>{INJECTED['session']['title']}</em>" in html
    assert '<a href="https://ancrage.example/r/Xb7kQ2">ici</a>' in html
    text = markdown_to_text(render(LESSON, INJECTED, markup="markdown"))
    assert text.startswith("Bonjour [Réinitialiser](https://x.example/p), relisez")


@pytest.mark.parametrize("value", ["# Titre", "a\n\n<script>x</script>", "**gras**", "_x_",
                                   "`code`", "1. liste", "> cite", "![i](https://x/i.png)"])
def test_escaped_values_come_out_as_written(value: str) -> None:
    context = {"learner": {"first_name": value}}
    html = markdown_to_html(render("{{ learner.first_name }}", context, markup="markdown"))
    assert html.count("<") == 2 and html.startswith("<p>")  # one paragraph, nothing else
    assert markdown_to_text(render("{{ learner.first_name }}", context,
                                   markup="markdown")) == value.replace("\n", " ")


def test_sms_text_keeps_values_plain() -> None:
    assert render("Bonjour {{ learner.first_name }}", INJECTED) == (
        "Bonjour [Réinitialiser](https://x.example/p)")


def test_composed_emails_escape_and_sms_do_not() -> None:
    from engine.campaign.loader import load_campaign_text
    from engine.services.catalog import PinnedContent
    from engine.services.compose import Composed, Recipient, compose

    loaded = load_campaign_text("campaign: c\ntitle: T\nsteps:\n  - id: m\n    at: +1d\n"
                                "    message: 'Bonjour {{ learner.first_name }}'\n", "c.yaml")
    assert loaded.campaign is not None
    recipient = Recipient(context=INJECTED, delivery_id=1, public_url="https://a.example",
                          secret="s" * 32)
    sent = {channel: compose(campaign=loaded.campaign, step=None, kind="message",
                             content_ref="Bonjour {{ learner.first_name }}",
                             content=PinnedContent(), channel=channel, recipient=recipient,
                             now=CONTEXT["session"]["ends_at"])
            for channel in ("email", "sms")}
    email, sms = sent["email"], sent["sms"]
    assert isinstance(email, Composed) and isinstance(sms, Composed)
    assert email.html is not None and "<a " not in email.html
    assert sms.body == "Bonjour [Réinitialiser](https://x.example/p)"
