"""``build_preview``: real dates across weekends, French public holidays, DST and time zones.

The reference case is the one designers get wrong by hand: a session ending on
Friday 27 March 2026 at 18:00 in Paris, two days before clocks go forward.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.campaign.loader import load_campaign
from engine.campaign.preview import PreviewRow, build_preview, format_preview
from engine.campaign.schema import Campaign
from engine.campaign.validate import validate_paths
from engine.cli import main
from engine.content.library import ContentLibrary
from engine.content.lint import MAX_SMS_SEGMENTS
from engine.content.render import sample_context
from engine.settings import PROJECT_ROOT

LIBRARY, _ = ContentLibrary.load(PROJECT_ROOT / "content")


def _standard() -> Campaign:
    campaign = load_campaign(PROJECT_ROOT / "campaigns" / "suivi-standard.yaml").campaign
    assert campaign is not None
    return campaign


STANDARD = _standard()
PARIS = ZoneInfo("Europe/Paris")


def preview(campaign: Campaign, session_end: str, tz: str) -> list[PreviewRow]:
    zone = ZoneInfo(tz)
    end = datetime.fromisoformat(session_end)
    return build_preview(campaign, LIBRARY, session_end=end if end.tzinfo else end.replace(tzinfo=zone),
                         tz=zone, context=sample_context(campaign.locale))


def by_step(rows: list[PreviewRow]) -> dict[tuple[str, int], PreviewRow]:
    return {(row.send.step_id, row.send.occurrence): row for row in rows}


# (session end, learner zone, step, occurrence, local due time, why it moved)
STANDARD_DATES = [
    # Friday before the spring DST change, Paris learner.
    ("2026-03-27T18:00", "Europe/Paris", "satisfaction-chaud", 0, "2026-03-30T09:00:00+02:00", "after window"),
    ("2026-03-27T18:00", "Europe/Paris", "rappel-j1", 0, "2026-03-30T09:30:00+02:00", "weekend"),
    ("2026-03-27T18:00", "Europe/Paris", "quiz-j7", 0, "2026-04-03T18:00:00+02:00", None),
    ("2026-03-27T18:00", "Europe/Paris", "appel-formateur", 0, "2026-04-10T18:00:00+02:00", None),
    # A session ending the Monday before Easter: the quiz at +7d falls on Easter Monday.
    ("2026-03-30T18:00", "Europe/Paris", "quiz-j7", 0, "2026-04-07T09:00:00+02:00",
     "public holiday: Lundi de Pâques"),
    ("2026-03-27T18:00", "Europe/Paris", "revisions", 0, "2026-04-07T12:30:00+02:00", "weekend"),
    ("2026-03-27T18:00", "Europe/Paris", "revisions", 1, "2026-04-08T12:30:00+02:00", "spread over open days"),
    ("2026-03-27T18:00", "Europe/Paris", "memo-j14", 0, "2026-04-10T18:00:00+02:00", None),
    ("2026-03-27T18:00", "Europe/Paris", "plan-action-j21", 0, "2026-04-17T18:00:00+02:00", None),
    ("2026-03-27T18:00", "Europe/Paris", "defi-j30", 0, "2026-04-27T09:00:00+02:00", "weekend"),
    ("2026-03-27T18:00", "Europe/Paris", "point-manager", 0, "2026-04-27T18:00:00+02:00", None),
    ("2026-03-27T18:00", "Europe/Paris", "satisfaction-froid", 0, "2026-06-29T09:00:00+02:00", "weekend"),
    ("2026-03-27T18:00", "Europe/Paris", "temoignage", 0, "2026-07-06T09:00:00+02:00", "weekend"),
    ("2026-03-27T18:00", "Europe/Paris", "satisfaction-froid-6mois", 0, "2026-09-28T09:00:00+02:00", "weekend"),
    # The same Paris session (17:00 UTC) followed from Montreal (EDT since 8 March, UTC-4):
    # 13:00 local, so the hot survey goes out the same afternoon.
    ("2026-03-27T18:00+01:00", "America/Montreal", "satisfaction-chaud", 0, "2026-03-27T15:00:00-04:00", None),
    ("2026-03-27T18:00+01:00", "America/Montreal", "rappel-j1", 0, "2026-03-30T09:30:00-04:00", "weekend"),
    ("2026-03-27T18:00+01:00", "America/Montreal", "quiz-j7", 0, "2026-04-03T13:00:00-04:00", None),
    ("2026-03-27T18:00+01:00", "America/Montreal", "appel-formateur", 0, "2026-04-10T13:00:00-04:00", None),
    # ... and from Réunion (UTC+4 all year): 21:00 local, after the window.
    ("2026-03-27T18:00+01:00", "Indian/Reunion", "satisfaction-chaud", 0, "2026-03-30T09:00:00+04:00", "after window"),
    ("2026-03-27T18:00+01:00", "Indian/Reunion", "rappel-j1", 0, "2026-03-30T09:30:00+04:00", "weekend"),
    ("2026-03-27T18:00+01:00", "Indian/Reunion", "quiz-j7", 0, "2026-04-07T09:00:00+04:00",
     "after window"),
    # Friday before the autumn DST change: summer time in, winter time out.
    ("2026-10-23T18:00", "Europe/Paris", "satisfaction-chaud", 0, "2026-10-26T09:00:00+01:00", "after window"),
    ("2026-10-23T18:00", "Europe/Paris", "rappel-j1", 0, "2026-10-26T09:30:00+01:00", "weekend"),
    ("2026-10-23T18:00", "Europe/Paris", "quiz-j7", 0, "2026-10-30T18:00:00+01:00", None),
    ("2026-10-23T18:00", "Europe/Paris", "revisions", 0, "2026-11-02T12:30:00+01:00", "weekend"),
    ("2026-10-23T18:00", "Europe/Paris", "appel-formateur", 0, "2026-11-06T18:00:00+01:00", None),
]


@pytest.mark.parametrize(("session_end", "tz", "step", "occurrence", "local", "reason"), STANDARD_DATES)
def test_suivi_standard_dates(session_end: str, tz: str, step: str, occurrence: int, local: str,
                              reason: str | None) -> None:
    row = by_step(preview(STANDARD, session_end, tz))[(step, occurrence)]
    assert row.send.local_due_at.isoformat() == local
    assert row.send.shifted_reason == reason
    assert row.send.local_due_at.tzinfo == ZoneInfo(tz)


@pytest.mark.parametrize(
    ("session_end", "tz", "closed_days"),
    [
        ("2026-03-27T18:00", "Europe/Paris",
         {"2026-04-06", "2026-05-01", "2026-05-08", "2026-05-14", "2026-05-25", "2026-07-14"}),
        ("2026-10-23T18:00", "Europe/Paris", {"2026-11-11", "2026-12-25", "2027-01-01"}),
    ],
)
def test_nothing_on_weekends_or_public_holidays(session_end: str, tz: str, closed_days: set[str]) -> None:
    rows = preview(STANDARD, session_end, tz)
    assert rows  # the loop below checks something
    for row in rows:
        local = row.send.local_due_at
        assert local.weekday() < 5, row.send
        assert local.date().isoformat() not in closed_days, row.send


def _holiday_campaign() -> Campaign:
    def step(step_id: str, at: str, **extra: Any) -> dict[str, Any]:
        return {"id": step_id, "at": at, "lesson": "management/feedback-sbi", **extra}

    return Campaign.model_validate({
        "campaign": "feries", "title": "Jours fériés",
        "defaults": {"channels": ["sms"], "window": {"from": "09:00", "to": "19:00"}},
        "steps": [
            step("travail", "+1d 10:00"),
            step("victoire", "+8d 10:00"),
            step("ascension", "+14d 10:00"),
            step("ouvres", "+5wd"),
            step("meme-ferie", "+1d 10:00", window={"days": ["fri"], "holidays": True}),
        ],
    })


@pytest.mark.parametrize(
    ("step", "local", "reason"),
    [
        ("travail", "2026-05-04T10:00:00+02:00", "public holiday: Fête du Travail"),
        ("victoire", "2026-05-11T10:00:00+02:00", "public holiday: Fête de la Victoire"),
        ("ascension", "2026-05-15T10:00:00+02:00", "public holiday: Ascension"),
        # five working days after Thursday 30 April skip 1 May, the weekend and 8 May
        ("ouvres", "2026-05-11T18:00:00+02:00", None),
        # a window that opts in to holidays sends on 1 May
        ("meme-ferie", "2026-05-01T10:00:00+02:00", None),
    ],
)
def test_may_holidays(step: str, local: str, reason: str | None) -> None:
    row = by_step(preview(_holiday_campaign(), "2026-04-30T18:00", "Europe/Paris"))[(step, 0)]
    assert (row.send.local_due_at.isoformat(), row.send.shifted_reason) == (local, reason)


def test_rows_carry_rendered_text_and_sms_cost() -> None:
    rows = by_step(preview(STANDARD, "2026-03-27T18:00", "Europe/Paris"))
    task = rows[("appel-formateur", 0)]
    assert task.channel == "dashboard"
    assert task.text.startswith("Appeler Camille Martin :")
    assert "only for learners marked at risk" in task.notes
    quiz = rows[("quiz-j7", 0)]
    assert quiz.channel == "push" and quiz.sms_segments == 1  # by SMS, the fallback, it is one segment
    assert quiz.text.splitlines()[-1] == "Répondez A, B ou C"
    manager = rows[("point-manager", 0)]
    assert manager.send.recipient == "manager" and manager.channel == "email"


def test_text_format_says_why_a_send_moved() -> None:
    rows = preview(STANDARD, "2026-03-27T18:00", "Europe/Paris")
    text = format_preview(STANDARD, rows, PARIS)
    assert "Fri 2026-04-10 18:00 CEST  appel-formateur  [task -> trainer, dashboard]" in text
    easter = format_preview(STANDARD, preview(STANDARD, "2026-03-30T18:00", "Europe/Paris"), PARIS)
    assert "    moved from Mon 2026-04-06 18:00: public holiday: Lundi de Pâques" in easter
    assert "Mon 2026-03-30 09:30 CEST  rappel-j1  [lesson -> learner, push]" in text


def test_validate_warns_wherever_preview_shows_a_long_sms(tmp_path: Path) -> None:
    """The survey's first SMS is its intro and first question together: one cost, one warning."""
    content = tmp_path / "content"
    shutil.copytree(PROJECT_ROOT / "content", content)
    survey = content / "surveys" / "satisfaction-chaud.yaml"
    long_intro = 'intro: "{{ learner.first_name }}, merci ! ' + "Votre avis compte beaucoup pour nous. " * 5 + '"'
    survey.write_text(re.sub(r"^intro: .*$", long_intro, survey.read_text(encoding="utf-8"), flags=re.M),
                      encoding="utf-8")
    campaigns = sorted((PROJECT_ROOT / "campaigns").glob("*.yaml"))
    report = validate_paths([*campaigns, content], content_dir=content)
    warned = {d.file for d in report.diagnostics if d.severity == "warning" and "SMS too long" in d.message}
    library, _ = ContentLibrary.load(content)
    long_rows = 0
    for path in campaigns:
        campaign = load_campaign(path).campaign
        assert campaign is not None
        rows = build_preview(campaign, library, session_end=datetime(2026, 3, 27, 18, tzinfo=PARIS), tz=PARIS,
                             context=sample_context(campaign.locale))
        for row in rows:
            if row.sms_segments is not None and row.sms_segments > MAX_SMS_SEGMENTS:
                long_rows += 1
                position = library.position(row.send.kind, row.send.content_ref or "")
                assert position is not None and position[0] in warned, (path.name, row.send.step_id)
    assert long_rows >= 1 and str(survey) in warned


def test_the_sample_session_fits_the_campaign(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", "suivi-securite", "--session-end", "2026-03-27T18:00"]) == 0
    out = capsys.readouterr().out
    assert "merci d'avoir suivi Gestes et postures !" in out and "Manager coach" not in out
    assert main(["preview", "suivi-securite", "--session-end", "2026-03-27T18:00",
                 "--session-title", "Sécurité entrepôt"]) == 0
    assert "merci d'avoir suivi Sécurité entrepôt !" in capsys.readouterr().out


def test_preview_speaks_one_language(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preview", "suivi-standard", "--session-end", "2026-03-27T18:00"]) == 0
    tool_lines = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith("    |")]
    french_words = re.compile(r"\b(lun|mar|mer|jeu|ven|sam|dim)\.|\b(déplacé|fuseau|segments SMS)\b")
    assert tool_lines and [line for line in tool_lines if french_words.search(line)] == []
