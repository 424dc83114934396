"""Cross-checks a valid campaign against itself and the content library.

The schema checks one file's shape; this module checks what needs more context:
unique step ids, ``goto`` targets, content references, branch tests that fit the
question asked, template variables, and SMS cost.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from engine.campaign.loader import LoadedCampaign
from engine.campaign.schema import Action, Campaign, Condition, Step
from engine.content.library import ContentLibrary
from engine.content.render import TemplateProblem, check_template
from engine.content.sms import sms_info
from engine.diagnostics import Diagnostic, did_you_mean
from engine.diagnostics.yaml_reader import Loc as PathKey
from engine.diagnostics.yaml_reader import Source

_REF_KINDS = ("lesson", "quiz", "review", "survey", "checkin")
_CHARTER_FROM, _CHARTER_TO = (8, 0), (22, 0)


def _refs(holder: Step | Action) -> Iterator[tuple[str, str, PathKey]]:
    """(kind, ref, relative path) for each content reference of a step or an action."""
    for kind in _REF_KINDS:
        value: Any = getattr(holder, kind, None)
        if isinstance(value, str):
            yield kind, value, (kind,)
        elif isinstance(value, list):
            for index, ref in enumerate(value):
                yield kind, ref, (kind, index)


def _actions(step: Step) -> Iterator[tuple[Action, PathKey]]:
    for index, condition in enumerate(step.if_):
        for a_index, action in enumerate(condition.actions):
            rel: PathKey = ("if", index, "then")
            if isinstance(condition.then, list):
                rel = (*rel, a_index)
            yield action, rel
    if step.on_silence is not None:
        for a_index, action in enumerate(step.on_silence.actions):
            rel = ("on_silence", "then")
            if isinstance(step.on_silence.then, list):
                rel = (*rel, a_index)
            yield action, rel


class _Linter:
    def __init__(self, loaded: LoadedCampaign, library: ContentLibrary) -> None:
        assert loaded.campaign is not None and loaded.document is not None
        self.campaign: Campaign = loaded.campaign
        self.doc: Source = loaded.document
        self.library = library
        self.out: list[Diagnostic] = []

    def error(self, path: PathKey, message: str, hint: str | None = None, *, key: bool = False) -> None:
        self.out.append(self.doc.diagnostic(path, message, hint=hint, key=key))

    def warning(self, path: PathKey, message: str, hint: str | None = None) -> None:
        self.out.append(self.doc.diagnostic(path, message, hint=hint, severity="warning"))

    def run(self) -> list[Diagnostic]:
        self._step_ids()
        self._window(("defaults", "window"), self.campaign.defaults.window)
        targeted: set[str] = set()
        for index, step in enumerate(self.campaign.steps):
            base: PathKey = ("steps", index)
            self._content(step, base)
            self._step(step, base)
            for action, rel in _actions(step):
                self._content(action, (*base, *rel))
                if action.goto is not None:
                    targeted.add(action.goto)
                    self._goto(action.goto, (*base, *rel, "goto"))
                if action.message is not None:
                    self._template(action.message, (*base, *rel, "message"), self.campaign.channels_for(step))
            if step.window is not None:
                self._window((*base, "window"), step.window)
        for index, step in enumerate(self.campaign.steps):
            if step.when == "branched" and step.id not in targeted:
                self.warning(("steps", index, "when"), f"step '{step.id}' is 'branched' but no goto leads to it")
        return sorted(self.out, key=lambda d: (d.line, d.column))

    def _step_ids(self) -> None:
        first: dict[str, int] = {}
        for index, step in enumerate(self.campaign.steps):
            if step.id in first:
                line = self.doc.position(("steps", first[step.id], "id"))[0]
                self.error(("steps", index, "id"), f"duplicate step id '{step.id}' (first defined at line {line})")
            else:
                first[step.id] = index

    def _goto(self, target: str, path: PathKey) -> None:
        if self.campaign.step(target) is None:
            ids = [step.id for step in self.campaign.steps]
            self.error(path, f"goto '{target}': no step has this id", did_you_mean(target, ids))

    def _content(self, holder: Step | Action, base: PathKey) -> None:
        for kind, ref, rel in _refs(holder):
            if not self.library.has(kind, ref) and self.library.broken_file(kind, ref) is None:
                hint = self.library.suggest(kind, ref)
                self.error((*base, *rel), f"unknown {kind} '{ref}': no such content in the library", hint)

    def _step(self, step: Step, base: PathKey) -> None:
        channels = self.campaign.channels_for(step)
        if step.quiz is not None and self.library.has("quiz", step.quiz):
            size = len(self.library.banks[step.quiz].items)
            if step.ask > size:
                self.error((*base, "ask"), f"ask: {step.ask} but quiz '{step.quiz}' has {size} questions")
        if (step.review is not None and step.from_ and step.until
                and step.until.duration.approx_timedelta() <= step.from_.duration.approx_timedelta()):
            self.error((*base, "until"), "'until' must come after 'from'")
        for text_field in ("task", "message"):
            text = getattr(step, text_field)
            if text is not None:
                sms_channels: Sequence[str] = channels if text_field == "message" else ()
                self._template(text, (*base, text_field), sms_channels)
        for index, condition in enumerate(step.if_):
            self._condition(step, condition, (*base, "if", index))

    def _condition(self, step: Step, condition: Condition, path: PathKey) -> None:
        kind = step.kind
        if condition.score_below is not None or condition.score_at_least is not None:
            if kind != "quiz":
                self.error(path, f"score_below/score_at_least test a quiz score, but step '{step.id}' is a {kind}")
            return
        survey = None
        if kind == "survey" and step.survey and self.library.has("survey", step.survey):
            survey = self.library.surveys[step.survey]
        if kind == "checkin" and step.checkin and self.library.has("checkin", step.checkin):
            survey = self.library.checkins[step.checkin]
        if condition.rating_below is not None or condition.nps_below is not None:
            wanted = "rating" if condition.rating_below is not None else "nps"
            if kind not in ("survey", "checkin"):
                self.error(path, f"{wanted}_below tests a survey answer, but step '{step.id}' is a {kind}")
            elif survey is not None and not any(q.type == wanted for q in survey.questions):
                self.error(path, f"{wanted}_below: '{survey.ref}' has no {wanted} question")
            return
        if condition.answer is not None:
            answers = [condition.answer] if isinstance(condition.answer, str) else condition.answer
            if kind == "quiz":
                self.error(path, "'answer' tests a check-in or survey choice; for a quiz use score_below")
                return
            if survey is None:
                return
            values = [c.value for q in survey.questions for c in q.choices]
            values += ["oui", "non"] if any(q.type == "yes_no" for q in survey.questions) else []
            for answer in answers:
                if answer not in values:
                    self.error((*path, "answer"), f"answer '{answer}' is not a choice of '{survey.ref}'",
                               did_you_mean(answer, values) or f"choices: {', '.join(values) or 'none'}")

    def _template(self, text: str, path: PathKey, channels: Sequence[str]) -> None:
        for problem in check_template(text):
            problem_line, column = self._template_position(path, text, problem)
            self.out.append(Diagnostic("error", self.doc.file, problem_line, column,
                                       problem.message, problem.hint))
        if any(channel in ("sms", "whatsapp") for channel in channels):
            info = sms_info(text)
            if info.encoding == "ucs2":
                chars = ", ".join(f"{c} (U+{ord(c):04X})" for c in info.ucs2_chars)
                line, column = self.doc.char_position(path, info.ucs2_chars[0])
                self.out.append(Diagnostic(
                    "warning", self.doc.file, line, column,
                    f"SMS is UCS-2 because of {chars}: 70 characters per segment instead of 160",
                    "use plain ' \" ... or smart_encoded"))
            if info.segments > 2:
                self.warning(path, f"SMS is {info.segments} segments ({info.length} characters)")

    def _template_position(self, path: PathKey, text: str, problem: TemplateProblem) -> tuple[int, int]:
        """Where the unknown name sits in the file, not just where the scalar starts.

        A block scalar (``|``) starts on the line after its key, so the search runs
        from the problem's line within the template to one line further.
        """
        line, column = self.doc.position(path)
        fallback = (line + max(problem.line - 1, 0), column)
        name = re.search(r"'([^']+)'", problem.message)
        if name is None or not self.doc.lines:
            return fallback
        word = re.compile(rf"(?<![\w.]){re.escape(name.group(1))}(?!\w)|(?<=\.){re.escape(name.group(1))}(?!\w)")
        first = line + problem.line - 1
        for number in range(first, min(first + 1, len(self.doc.lines)) + 1):
            source = self.doc.lines[number - 1]
            start = column - 1 if number == line else 0
            found = word.search(source, start)
            if found is not None:
                return number, found.start() + 1
        return fallback

    def _window(self, path: PathKey, window: Any) -> None:
        start = (window.from_.hour, window.from_.minute)
        end = (window.to.hour, window.to.minute)
        if start < _CHARTER_FROM or end > _CHARTER_TO or "sun" in window.days:
            self.warning(path, "window goes beyond the French operators' charter (working days 08:00-22:00)")


def lint_campaign(loaded: LoadedCampaign, library: ContentLibrary) -> list[Diagnostic]:
    """Every cross-reference problem in a campaign that already has a valid shape."""
    if loaded.campaign is None or loaded.document is None:
        return []
    return _Linter(loaded, library).run()
