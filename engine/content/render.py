"""Template rendering for content: sandboxed Jinja2, checked before anything is sent.

Designers write ``{{ learner.first_name }}`` in lessons, quizzes and surveys. The
sandbox keeps a template from reaching Python internals; StrictUndefined turns a
typo into an error instead of an SMS that says "Bonjour ,". :func:`check_template`
finds the same typos statically, so the linter reports them with a line number
before a campaign ever runs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, Undefined, nodes
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing
from markdown_it import MarkdownIt

from engine.diagnostics import did_you_mean

TEMPLATE_VARIABLES: dict[str, tuple[str, ...]] = {
    "learner": ("first_name", "last_name", "email", "locale", "phone"),
    "session": ("title", "ends_at", "trainer_name", "location"),
    "trainer": ("name", "email"),
    "manager": ("name", "email"),
    "links": ("answer", "unsubscribe", "app", "memo"),
    "campaign": ("title",),
}

_DAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


class RenderError(Exception):
    """A template could not be rendered; the message names the culprit for the designer."""


@dataclass(frozen=True)
class TemplateProblem:
    """A static finding in one template; ``line`` is 1-based within the template text."""

    line: int
    message: str
    hint: str | None = None


class _NamedUndefined(StrictUndefined):
    """StrictUndefined whose error names the missing variable and what was available."""

    @property
    def _undefined_message(self) -> str:
        name, owner = self._undefined_name, self._undefined_obj
        if self._undefined_hint or name is None:
            return self._undefined_hint or "undefined value"
        if owner is not missing and not isinstance(owner, Undefined):
            keys = [str(key) for key in owner] if isinstance(owner, Mapping) else []
            hint = did_you_mean(str(name), keys) or (f"known: {', '.join(keys)}" if keys else None)
            return f"unknown attribute '{name}'" + (f"; {hint}" if hint else "")
        hint = did_you_mean(str(name), TEMPLATE_VARIABLES)
        return f"undefined variable '{name}'" + (f"; {hint}" if hint else "")


def french_date(value: datetime, with_time: bool = False) -> str:
    """``vendredi 14 mars`` (and ``à 17h30``): how a French SMS says a date."""
    text = f"{_DAYS_FR[value.weekday()]} {value.day} {_MONTHS_FR[value.month - 1]}"
    if with_time:
        text += f" à {value.hour}h{value.minute:02d}"
    return text


_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()<>#+-.!|~&:\"'=")
_LINE_BREAKS = str.maketrans({"\r": " ", "\n": " ", "\u2028": " ", "\u2029": " "})


def escape_markdown(value: str) -> str:
    """``value`` as literal Markdown text: no link, emphasis, heading or HTML can come of it.

    Every ASCII punctuation character CommonMark gives a meaning to is
    backslash-escaped (an escape is valid anywhere but in code spans), and line
    breaks become spaces so a value cannot start a block of its own.
    """
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c
                   for c in value.translate(_LINE_BREAKS))


def _markdown_value(value: Any) -> Any:
    if value is None or isinstance(value, Undefined):
        return value
    return escape_markdown(str(value))


def _environment(*, autoescape: bool, markdown: bool = False) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=_NamedUndefined, autoescape=autoescape, keep_trailing_newline=False,
        finalize=_markdown_value if markdown else None,
    )
    env.filters["date_fr"] = french_date
    return env


TEXT_ENV = _environment(autoescape=False)  # SMS, WhatsApp, push, subjects: values stay plain
MARKDOWN_ENV = _environment(autoescape=False, markdown=True)  # email bodies: values escaped
HTML_ENV = _environment(autoescape=True)  # HTML email layouts: every value escaped
_ENVIRONMENTS = {"text": TEXT_ENV, "markdown": MARKDOWN_ENV, "html": HTML_ENV}


@functools.lru_cache(maxsize=4096)
def _compiled(template_text: str, markup: str) -> Any:
    return _ENVIRONMENTS[markup].from_string(template_text)


def render(template_text: str, context: Mapping[str, Any], *, autoescape: bool = False,
           markup: str = "text") -> str:
    """Render a content template; any error becomes a :class:`RenderError` worth showing.

    ``markup`` is the format the result is read as, and so how inserted values
    are escaped: ``text`` (none), ``markdown`` (see :func:`escape_markdown`),
    ``html`` (same as ``autoescape=True``).
    """
    try:
        return str(_compiled(template_text, "html" if autoescape else markup).render(**context))
    except TemplateSyntaxError as exc:
        raise RenderError(f"template syntax error on line {exc.lineno}: {exc.message}") from exc
    except TemplateError as exc:
        raise RenderError(str(exc)) from exc


def _problems(tree: nodes.Template) -> Iterator[TemplateProblem]:
    bound = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    known = set(TEMPLATE_VARIABLES) | bound | set(TEXT_ENV.globals) | {"loop"}
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name not in known:
            yield TemplateProblem(
                node.lineno,
                f"unknown variable '{node.name}'",
                did_you_mean(node.name, TEMPLATE_VARIABLES),
            )
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target, attr = _attribute_access(access)
        if target is None or target.name in bound or attr is None:
            continue
        fields = TEMPLATE_VARIABLES.get(target.name)
        if fields is not None and attr not in fields:
            yield TemplateProblem(
                access.lineno,
                f"unknown attribute '{attr}' of '{target.name}'",
                did_you_mean(attr, fields) or f"known: {', '.join(fields)}",
            )
    for filt in tree.find_all(nodes.Filter):
        if filt.name not in TEXT_ENV.filters:
            yield TemplateProblem(
                filt.lineno,
                f"unknown filter '{filt.name}'",
                did_you_mean(filt.name, TEXT_ENV.filters),
            )


def _attribute_access(node: nodes.Node) -> tuple[nodes.Name | None, str | None]:
    """``learner.first_name`` or ``learner["first_name"]`` as (Name node, attribute)."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return node.node, node.attr
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.node, nodes.Name)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.node, node.arg.value
    return None, None


@functools.lru_cache(maxsize=4096)
def _check_cached(text: str) -> tuple[TemplateProblem, ...]:
    try:
        tree = TEXT_ENV.parse(text)
    except TemplateSyntaxError as exc:
        return (TemplateProblem(exc.lineno, f"template syntax error: {exc.message}"),)
    return tuple(sorted(set(_problems(tree)), key=lambda p: (p.line, p.message)))


def check_template(text: str) -> list[TemplateProblem]:
    """Static problems in a template: syntax errors and names unknown to TEMPLATE_VARIABLES."""
    if "{" not in text:  # no Jinja2 syntax at all: most content, skipped cheaply
        return []
    return list(_check_cached(text))


def sample_session_title(campaign_title: str) -> str:
    """A session title that fits a campaign: "Excel TCD - deux semaines d'astuces" -> "Excel TCD"."""
    for separator in (" - ", " — ", " : "):
        if separator in campaign_title:
            return campaign_title.split(separator, 1)[0].strip()
    return campaign_title.strip()


def sample_context(locale: str = "fr", *, session_title: str | None = None) -> dict[str, Any]:
    """A realistic learner and session, for previews and for linting rendered lengths.

    ``session_title`` lets a preview show the campaign's own course (see
    :func:`sample_session_title`); the default is a GSM-7 title, so sample data
    never makes an SMS look longer than the designer's text does.
    """
    english = locale.startswith("en")
    return {
        "learner": {
            "first_name": "Camille",
            "last_name": "Martin",
            "email": "camille.martin@example.fr",
            "locale": locale,
            "phone": "+33612345678",
        },
        "session": {
            "title": session_title or "Manager coach",
            "ends_at": datetime(2025, 3, 14, 17, 30, tzinfo=ZoneInfo("Europe/Paris")),
            "trainer_name": "Sophie Bernard",
            "location": "Lyon Part-Dieu",
        },
        "trainer": {"name": "Sophie Bernard", "email": "sophie.bernard@example.fr"},
        "manager": {"name": "Julien Petit", "email": "julien.petit@example.fr"},
        "links": {
            "answer": "https://ancrage.example/r/Xb7kQ2",
            "unsubscribe": "https://ancrage.example/u/Xb7kQ2",
            "app": "https://ancrage.example/app",
            "memo": "https://ancrage.example/m/feedback-sbi",
        },
        "campaign": {"title": "Follow-up" if english else "Suivi post-formation"},
    }


_MARKDOWN = MarkdownIt("js-default", {"html": False})  # raw HTML is escaped, never passed through


def markdown_to_html(md: str) -> str:
    """Email HTML from a (rendered) Markdown body; raw HTML in the source is escaped."""
    return str(_MARKDOWN.render(md))


def markdown_to_text(md: str) -> str:
    """Plain text of a Markdown body, for the text/plain email part and previews."""
    lines: list[str] = []
    lists: list[list[int]] = []  # stack of [ordered?, counter]
    for token in _MARKDOWN.parse(md):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append([kind == "ordered_list_open", int(token.attrGet("start") or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            lines.append("\n")
        elif kind == "list_item_open":
            ordered, counter = lists[-1]
            indent = "  " * (len(lists) - 1)
            lines.append(f"{indent}{counter}. " if ordered else f"{indent}- ")
            lists[-1][1] = counter + 1
        elif kind == "inline":
            lines.append(_inline_text(token.children or []))
        elif kind in ("fence", "code_block"):
            lines.append(token.content + "\n")
        elif kind == "hr":
            lines.append("---\n\n")
        elif kind in ("th_close", "td_close"):
            lines.append(" | ")
        elif kind == "tr_close":
            lines[-1] = "\n"
        elif kind in ("paragraph_close", "heading_close"):
            lines.append("\n" if token.hidden else "\n\n")
        elif kind == "table_close":
            lines.append("\n")
    text = "".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()


def _inline_text(children: list[Any]) -> str:
    parts: list[str] = []
    href: str | None = None
    start = 0
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
        elif child.type == "link_open":
            href, start = str(child.attrGet("href") or ""), len(parts)
        elif child.type == "link_close" and href:
            if "".join(parts[start:]) != href:
                parts.append(f" ({href})")
            href = None
    return "".join(parts)
