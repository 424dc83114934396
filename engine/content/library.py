"""The content library: every lesson, quiz bank, survey, check-in and FAQ entry, validated.

Campaigns name content by reference (``lesson: management/feedback-sbi``); the
library maps those references to validated models and remembers where each
came from, so the campaign linter can say "did you mean" and point at a file.
Loading never raises on bad content: every problem is a Diagnostic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from engine.content.lint import lint_sms, lint_templates
from engine.content.models import Faq, Lesson, QuizBank, Survey
from engine.diagnostics import Diagnostic, did_you_mean
from engine.diagnostics.pydantic_errors import validate
from engine.diagnostics.yaml_reader import Source, new_parser, parse_yaml, split_front_matter

Channel = Literal["sms", "whatsapp", "push", "email"]
SourcePos = tuple[str, int, int]
_YAML_SUFFIXES = (".yaml", ".yml")
_KIND_NAMES = {
    "lesson": "a lesson",
    "quiz": "a quiz bank",
    "survey": "a survey",
    "checkin": "a check-in",
}


class FileProgress(Protocol):
    """Whoever shows the progress of a long read (the CLI's bar)."""

    def start(self, total: int) -> None: ...

    def advance(self, what: str = "") -> None: ...


@dataclass(frozen=True)
class ContentLibrary:
    """Validated content by reference; surveys and check-ins under their short name.

    ``positions`` maps a content path without suffix (``management/feedback-sbi``,
    ``surveys/satisfaction-chaud``) to (file, line, column) of its definition.
    """

    root: Path
    lessons: dict[str, Lesson] = field(default_factory=dict)
    banks: dict[str, QuizBank] = field(default_factory=dict)
    surveys: dict[str, Survey] = field(default_factory=dict)
    checkins: dict[str, Survey] = field(default_factory=dict)
    faq: Faq = field(default_factory=Faq)
    positions: dict[str, SourcePos] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)  # content path -> file that has errors

    @classmethod
    def load(cls, root: Path, *, progress: FileProgress | None = None) -> tuple[ContentLibrary, list[Diagnostic]]:
        """Read and validate every content file under ``root``; never raises on bad content.

        ``progress`` hears the number of files, then each file as it is read (a large library).
        """
        loader = _Loader(root)
        if not root.is_dir():
            missing = Diagnostic("error", root.as_posix(), 0, 0, "content folder not found")
            return loader.build(), [missing]
        paths = list(_content_files(root))
        if progress is not None:
            progress.start(len(paths))
        for path in paths:
            loader.load_file(path)
            if progress is not None:
                progress.advance(path.name)
        loader.check_item_ids()
        return loader.build(), sorted(loader.found, key=lambda d: (d.file, d.line, d.column))

    def refs(self, kind: str) -> dict[str, Any]:
        """The references a campaign may use for a step kind (``review`` uses quiz banks)."""
        table: dict[str, dict[str, Any]] = {
            "lesson": self.lessons,
            "quiz": self.banks,
            "review": self.banks,
            "survey": self.surveys,
            "checkin": self.checkins,
        }
        return table.get(kind, {})

    def ref_kinds(self) -> dict[str, list[str]]:
        """Every kind of reference and its known refs, sorted (for completion and reports)."""
        return {kind: sorted(self.refs(kind)) for kind in ("lesson", "quiz", "survey", "checkin")}

    def has(self, kind: str, ref: str) -> bool:
        return ref in self.refs(kind)

    def broken_file(self, kind: str, ref: str) -> str | None:
        """The file that defines this reference but has errors (reported there, once)."""
        folder = {"survey": "surveys/", "checkin": "checkins/"}.get(kind, "")
        return self.broken.get(folder + ref)

    def suggest(self, kind: str, ref: str) -> str | None:
        """A hint for an unknown reference: the close spelling, or the kind it really is."""
        short = ref.split("/", 1)[1] if ref.startswith(("surveys/", "checkins/")) else ref
        if short != ref and self.has(kind, short):
            return f"write '{short}': {kind}s are named without their folder"
        for other, label in _KIND_NAMES.items():
            if (
                other != kind
                and not (kind == "review" and other == "quiz")
                and self.has(other, short)
            ):
                return f"'{short}' is {label}, not {_KIND_NAMES.get(kind, 'a quiz bank')}"
        return did_you_mean(short, self.refs(kind))

    def position(self, kind: str, ref: str) -> SourcePos | None:
        """Where the content a campaign names is defined."""
        folder = {"survey": "surveys/", "checkin": "checkins/"}.get(kind, "")
        return self.positions.get(folder + ref)


def lesson_text(lesson: Lesson, channel: Channel) -> tuple[str | None, str]:
    """(subject or title, body) templates a lesson sends on a channel; SMS and WhatsApp have no title."""
    if channel in ("sms", "whatsapp"):
        return None, lesson.sms
    if channel == "push":
        return (lesson.push.title, lesson.push.body) if lesson.push else (lesson.title, lesson.sms)
    if channel == "email":
        if lesson.email:
            return lesson.email.subject, lesson.email.body or lesson.body or lesson.sms
        return lesson.title, lesson.body or lesson.sms
    raise ValueError(f"unknown channel {channel!r}")


def _content_files(root: Path) -> Iterator[Path]:
    """Lessons and YAML under root, in a stable order; hidden files and READMEs skipped."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if (
            path.suffix == ".md" and path.name.lower() != "readme.md"
        ) or path.suffix in _YAML_SUFFIXES:
            yield path


class _Loader:
    """Accumulates one library and its diagnostics, one file at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lessons: dict[str, Lesson] = {}
        self.banks: dict[str, QuizBank] = {}
        self.surveys: dict[str, Survey] = {}
        self.checkins: dict[str, Survey] = {}
        self.faqs: dict[str, Faq] = {}
        self.positions: dict[str, SourcePos] = {}
        self.files: list[str] = []
        self.found: list[Diagnostic] = []
        self.item_ids: dict[str, list[SourcePos]] = {}
        self.broken: dict[str, str] = {}
        self.parser = new_parser()

    def build(self) -> ContentLibrary:
        return ContentLibrary(
            root=self.root,
            lessons=self.lessons,
            banks=self.banks,
            surveys=self.surveys,
            checkins=self.checkins,
            faq=self.faqs.get("faq", Faq()),
            positions=self.positions,
            files=self.files,
            broken=self.broken,
        )

    def load_file(self, path: Path) -> None:
        before = len(self.found)
        self._load_file(path)
        key = path.relative_to(self.root).with_suffix("").as_posix()
        if key not in self.positions and any(d.severity == "error" for d in self.found[before:]):
            self.broken[key] = path.as_posix()

    def _load_file(self, path: Path) -> None:
        rel = path.relative_to(self.root)
        name = path.as_posix()
        self.files.append(name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.found.append(Diagnostic("error", name, 0, 0, f"cannot read file: {exc}"))
            return
        key = rel.with_suffix("").as_posix()
        if path.suffix == ".md":
            self._lesson(text, name, key)
            return
        source = self._parse(text, name)
        if source is None:
            return
        folder = rel.parts[0] if len(rel.parts) > 1 else ""
        if folder in ("surveys", "checkins"):
            short = key.split("/", 1)[1]
            target = self.surveys if folder == "surveys" else self.checkins
            self._add(Survey, source, key, short, target, {"ref": short})
        elif key == "faq":
            self._add(Faq, source, key, key, self.faqs, {})
        elif "items" in source.data:
            self._add(QuizBank, source, key, key, self.banks, {"ref": key})
        else:
            hint = (
                "surveys go in surveys/, check-ins in checkins/"
                if "questions" in source.data
                else None
            )
            message = "not content: a quiz bank needs 'items:'; file ignored"
            self.found.append(Diagnostic("warning", name, 1, 1, message, hint))

    def _parse(self, text: str, name: str, line_offset: int = 0) -> Source | None:
        source, problems = parse_yaml(text, name, line_offset, self.parser)
        self.found.extend(problems)
        if source is None:
            return None
        if not isinstance(source.data, dict):
            message = "expected a mapping of keys (key: value)"
            self.found.append(Diagnostic("error", name, 1 + line_offset, 1, message))
            return None
        return source

    def _lesson(self, text: str, name: str, key: str) -> None:
        split = split_front_matter(text)
        if split is None:
            message = "a lesson starts with YAML front matter between '---' lines"
            hint = "first line '---', then title: and sms:, then '---' and the Markdown body"
            self.found.append(Diagnostic("error", name, 1, 1, message, hint))
            return
        front, body, body_line = split
        source = self._parse(front, name, line_offset=1)
        if source is not None:
            injected = {"ref": key, "body": body}
            self._add(Lesson, source, key, key, self.lessons, injected, body_line)

    def _add(
        self,
        model: type[BaseModel],
        source: Source,
        key: str,
        ref: str,
        target: dict[str, Any],
        injected: dict[str, Any],
        body_line: int = 0,
    ) -> None:
        if ref in target:
            first = self.positions[key][0]
            message = f"'{ref}' is defined twice"
            self.found.append(Diagnostic("error", source.file, 1, 1, message, f"first in {first}"))
            return
        content = self._validate(model, source, injected, body_line)
        if content is None:
            return
        target[ref] = content
        self.positions[key] = (source.file, 1 + source.line_offset, 1)
        if isinstance(content, QuizBank):
            for i, item in enumerate(content.items):
                line, col = source.position(("items", i, "id"))
                self.item_ids.setdefault(item.id, []).append((source.file, line, col))

    def _validate(
        self, model: type[BaseModel], source: Source, injected: dict[str, Any], body_line: int
    ) -> Any:
        data = source.data
        if "ref" in data and "ref" in injected:
            line, col = source.position(("ref",), key=True)
            message = "'ref' comes from the file path; this one is ignored"
            self.found.append(Diagnostic("warning", source.file, line, col, message))
        self.found.extend(lint_templates(source, injected.get("body", ""), body_line))
        content, problems = validate(model, {**data, **injected}, source, hidden=tuple(injected))
        self.found.extend(problems)
        if content is not None:
            self.found.extend(lint_sms(content, source))
        return content

    def check_item_ids(self) -> None:
        """Quiz item ids key learners' review cards, so they must be unique library-wide."""
        for item_id, places in self.item_ids.items():
            file, line, col = places[0]
            for other in places[1:]:
                self.found.append(
                    Diagnostic(
                        "error",
                        other[0],
                        other[1],
                        other[2],
                        f"quiz item id '{item_id}' is already used",
                        f"first used at {file}:{line}:{col}; item ids must be unique across the library",
                    )
                )
