"""Dated timelines: offsets on the learner's wall clock, pushed into send windows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.campaign.schema import WEEKDAYS, Campaign, SendWindow
from engine.core.offsets import parse_offset
from engine.core.timeline import apply_offset, plan_action_time, plan_step, plan_timeline
from engine.core.windows import is_open

PARIS = ZoneInfo("Europe/Paris")
MONTREAL = ZoneInfo("America/Montreal")
UTC = ZoneInfo("UTC")
SESSION_END = datetime(2026, 3, 27, 18, 0, tzinfo=PARIS)  # Friday; DST starts Sunday 29
WORKDAYS = SendWindow()
SEVEN_DAYS = SendWindow(days=list(WEEKDAYS))  # every day, but never on public holidays


def campaign(*steps: dict[str, Any], window: dict[str, Any] | None = None) -> Campaign:
    defaults: dict[str, Any] = {"channels": ["push", "sms"]}
    if window is not None:
        defaults["window"] = window
    return Campaign.model_validate(
        {"campaign": "test", "title": "Test", "defaults": defaults, "steps": list(steps)}
    )


def when(moment: datetime) -> str:
    return moment.isoformat(" ", "minutes")


@pytest.mark.parametrize(
    ("anchor", "offset", "tz", "expected"),
    [
        (SESSION_END, "+2h", PARIS, "2026-03-27 20:00+01:00"),
        (SESSION_END, "+1d 09:30", PARIS, "2026-03-28 09:30+01:00"),
        (SESSION_END, "+2d", PARIS, "2026-03-29 18:00+02:00"),  # wall time kept across DST
        (SESSION_END, "+1d 12h", PARIS, "2026-03-29 07:00+02:00"),  # 12 elapsed hours
        (SESSION_END, "+1d 02:30", PARIS, "2026-03-28 02:30+01:00"),
        (SESSION_END, "+2d 02:30", PARIS, "2026-03-29 03:30+02:00"),  # in the gap: forward
        (SESSION_END, "+1wd", PARIS, "2026-03-30 18:00+02:00"),
        (SESSION_END, "+5wd 09:00", PARIS, "2026-04-03 09:00+02:00"),
        (SESSION_END, "+1w", PARIS, "2026-04-03 18:00+02:00"),
        (SESSION_END, "+3mo", PARIS, "2026-06-27 18:00+02:00"),
        (SESSION_END, "+0d 21:00", PARIS, "2026-03-27 21:00+01:00"),
        (datetime(2026, 10, 24, 18, 0, tzinfo=PARIS), "+1d 02:30", PARIS, "2026-10-25 02:30+02:00"),
        (datetime(2026, 1, 31, 10, 0, tzinfo=PARIS), "+1mo", PARIS, "2026-02-28 10:00+01:00"),
        (datetime(2028, 1, 31, 10, 0, tzinfo=PARIS), "+1mo", PARIS, "2028-02-29 10:00+01:00"),
        (SESSION_END, "+2h", MONTREAL, "2026-03-27 15:00-04:00"),
        (SESSION_END, "+1d 09:30", MONTREAL, "2026-03-28 09:30-04:00"),
        (
            datetime(2026, 3, 6, 18, 0, tzinfo=MONTREAL),
            "+3d 09:00",
            MONTREAL,
            "2026-03-09 09:00-04:00",
        ),
        (SESSION_END, "+1d", "Pacific/Noumea", "2026-03-29 04:00+11:00"),
    ],
)
def test_apply_offset(anchor: datetime, offset: str, tz: ZoneInfo | str, expected: str) -> None:
    assert when(apply_offset(anchor, parse_offset(offset), tz)) == expected


def test_apply_offset_refuses_naive_anchor() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        apply_offset(datetime(2026, 3, 27, 18, 0), parse_offset("+2h"), PARIS)


@pytest.mark.parametrize(
    ("at", "tz", "local_due", "utc_due", "reason"),
    [
        ("+2h", PARIS, "2026-03-30 08:00+02:00", "2026-03-30 06:00+00:00", "after window"),
        ("+1d 09:30", PARIS, "2026-03-30 09:30+02:00", "2026-03-30 07:30+00:00", "weekend"),
        ("+1h", PARIS, "2026-03-27 19:00+01:00", "2026-03-27 18:00+00:00", None),
        ("+1d 07:00", PARIS, "2026-03-30 08:00+02:00", "2026-03-30 06:00+00:00", "weekend"),
        (
            "+10d",
            PARIS,
            "2026-04-07 08:00+02:00",
            "2026-04-07 06:00+00:00",
            "public holiday: Lundi de Pâques",
        ),
        ("+2h", MONTREAL, "2026-03-27 15:00-04:00", "2026-03-27 19:00+00:00", None),
        ("+1d 09:30", MONTREAL, "2026-03-30 09:30-04:00", "2026-03-30 13:30+00:00", "weekend"),
        (
            "+2h",
            "Indian/Reunion",
            "2026-03-30 08:00+04:00",
            "2026-03-30 04:00+00:00",
            "after window",
        ),
    ],
)
def test_session_ending_before_the_dst_weekend(
    at: str, tz: ZoneInfo | str, local_due: str, utc_due: str, reason: str | None
) -> None:
    [send] = plan_timeline(
        campaign({"id": "s", "at": at, "lesson": "x"}), anchor=SESSION_END, tz=tz
    )
    assert when(send.local_due_at) == local_due
    assert when(send.due_at) == utc_due
    assert send.due_at.tzinfo == UTC
    assert send.shifted_reason == reason


@pytest.mark.parametrize(
    ("holiday", "name", "expected"),
    [
        (datetime(2026, 4, 6, 10, 0), "Lundi de Pâques", "2026-04-07 10:00+02:00"),
        (datetime(2026, 5, 1, 10, 0), "Fête du Travail", "2026-05-02 10:00+02:00"),
        (datetime(2026, 5, 8, 10, 0), "Fête de la Victoire", "2026-05-09 10:00+02:00"),
        (datetime(2026, 5, 14, 10, 0), "Ascension", "2026-05-15 10:00+02:00"),
        (datetime(2026, 5, 25, 10, 0), "Lundi de Pentecôte", "2026-05-26 10:00+02:00"),
        (datetime(2026, 7, 14, 10, 0), "Fête nationale", "2026-07-15 10:00+02:00"),
        (datetime(2026, 8, 15, 10, 0), "Assomption", "2026-08-16 10:00+02:00"),
        (datetime(2026, 11, 1, 10, 0), "Toussaint", "2026-11-02 10:00+01:00"),
        (datetime(2026, 11, 11, 10, 0), "Armistice", "2026-11-12 10:00+01:00"),
        (datetime(2026, 12, 25, 10, 0), "Noël", "2026-12-26 10:00+01:00"),
        (datetime(2027, 1, 1, 10, 0), "Jour de l'an", "2027-01-02 10:00+01:00"),
    ],
)
def test_public_holidays_are_skipped(holiday: datetime, name: str, expected: str) -> None:
    anchor = (holiday - timedelta(days=1)).replace(hour=17, tzinfo=PARIS)
    plan = campaign(
        {"id": "s", "at": "+1d 10:00", "lesson": "x"}, window=SEVEN_DAYS.model_dump(by_alias=True)
    )
    [send] = plan_timeline(plan, anchor=anchor, tz=PARIS)
    assert when(send.nominal_at) == when(holiday.replace(tzinfo=PARIS))
    assert when(send.local_due_at) == expected
    assert send.shifted_reason == f"public holiday: {name}"


def test_holidays_allowed_by_the_window() -> None:
    window = {"days": list(WEEKDAYS), "holidays": True}
    anchor = datetime(2026, 7, 13, 17, 0, tzinfo=PARIS)
    [send] = plan_timeline(
        campaign({"id": "s", "at": "+1d 10:00", "message": "Bon 14 juillet"}, window=window),
        anchor=anchor,
        tz=PARIS,
    )
    assert when(send.local_due_at) == "2026-07-14 10:00+02:00"
    assert send.shifted_reason is None


def test_one_month_from_31_january() -> None:
    anchor = datetime(2026, 1, 31, 10, 0, tzinfo=PARIS)  # Saturday
    [send] = plan_timeline(
        campaign({"id": "s", "at": "+1mo", "lesson": "x"}), anchor=anchor, tz=PARIS
    )
    assert when(send.nominal_at) == "2026-02-28 10:00+01:00"  # clamped, a Saturday
    assert when(send.local_due_at) == "2026-03-02 08:00+01:00"
    assert send.shifted_reason == "weekend"


def test_daily_lessons_from_a_saturday_keep_five_distinct_days() -> None:
    step = {
        "id": "tips",
        "at": "+1d 09:00",
        "lesson": ["a", "b", "c", "d", "e"],
        "repeat": {"every": "1d", "count": 5},
    }
    sends = plan_timeline(campaign(step), anchor=SESSION_END, tz=PARIS)
    assert [s.content_ref for s in sends] == ["a", "b", "c", "d", "e"]
    assert [s.occurrence for s in sends] == [0, 1, 2, 3, 4]
    assert [when(s.local_due_at) for s in sends] == [
        f"2026-03-{day} 09:00+02:00" for day in ("30", "31")
    ] + [f"2026-04-0{day} 09:00+02:00" for day in (1, 2, 3)]
    assert [s.shifted_reason for s in sends][:2] == ["weekend", "weekend"]


def test_working_day_repeat_skips_easter_monday() -> None:
    step = {
        "id": "tips",
        "at": "+1wd 09:00",
        "message": "Astuce",
        "repeat": {"every": "1wd", "count": 3},
    }
    anchor = datetime(2026, 4, 2, 17, 0, tzinfo=PARIS)  # Thursday before Easter
    sends = plan_timeline(campaign(step), anchor=anchor, tz=PARIS)
    assert [when(s.local_due_at) for s in sends] == [
        "2026-04-03 09:00+02:00",
        "2026-04-07 09:00+02:00",
        "2026-04-08 09:00+02:00",
    ]
    assert all(s.shifted_reason is None for s in sends)


def test_repeat_within_a_day_keeps_its_spacing_after_a_shift() -> None:
    step = {"id": "s", "at": "+1h", "message": "Hop", "repeat": {"every": "2h", "count": 3}}
    sends = plan_timeline(campaign(step), anchor=SESSION_END, tz=PARIS)
    assert [when(s.local_due_at) for s in sends] == [
        "2026-03-27 19:00+01:00",
        "2026-03-30 08:00+02:00",
        "2026-03-30 10:00+02:00",
    ]
    assert [s.shifted_reason for s in sends] == [None, "after window", "after window"]


@pytest.mark.parametrize(
    ("per_week", "until", "expected_count"),
    [(1, "+35d", 4), (2, "+30d", 6), (3, "+21d", 6), (5, "+21d", 9), (7, "+14d", 4)],
)
def test_review_slots_spread_on_distinct_open_days(
    per_week: int, until: str, expected_count: int
) -> None:
    step = {
        "id": "rev",
        "review": "bank",
        "from": "+8d 10:00",
        "until": until,
        "per_week": per_week,
    }
    sends = plan_timeline(campaign(step), anchor=SESSION_END, tz=PARIS)
    days = [s.local_due_at.date() for s in sends]
    assert len(sends) == expected_count
    assert len(set(days)) == len(days)
    assert all(s.kind == "review" and s.content_ref == "bank" for s in sends)
    assert all(is_open(s.due_at, WORKDAYS, PARIS) for s in sends)
    last_day = apply_offset(SESSION_END, parse_offset(until), PARIS).date()
    assert max(days) <= last_day
    assert all(s.local_due_at.hour == 10 for s in sends)


def test_review_two_per_week_is_about_every_three_and_a_half_days() -> None:
    step = {"id": "rev", "review": "bank", "from": "+3d 10:00", "until": "+16d", "per_week": 2}
    sends = plan_timeline(
        campaign(step, window=SEVEN_DAYS.model_dump(by_alias=True)), anchor=SESSION_END, tz=PARIS
    )
    assert [f"{s.local_due_at:%a %d}" for s in sends] == ["Mon 30", "Thu 02", "Tue 07", "Thu 09"]
    assert sends[2].shifted_reason == "public holiday: Lundi de Pâques"


def test_trainer_task_and_branched_steps() -> None:
    plan = campaign(
        {"id": "call", "at": "+10d", "task": "Appeler {{ learner.first_name }}", "to": "trainer"},
        {"id": "recap", "when": "branched", "lesson": "recap"},
        {"id": "later", "when": "branched", "at": "+1d 11:00", "lesson": "later"},
    )
    [task] = plan_timeline(plan, anchor=SESSION_END, tz=PARIS)
    assert (task.kind, task.recipient, task.content_ref) == (
        "task",
        "trainer",
        "Appeler {{ learner.first_name }}",
    )
    assert when(task.local_due_at) == "2026-04-07 08:00+02:00"
    assert task.shifted_reason == "public holiday: Lundi de Pâques"
    assert task.channels == ("push", "sms")
    everything = plan_timeline(plan, anchor=SESSION_END, tz=PARIS, include_branched=True)
    assert [s.step_id for s in everything] == ["recap", "later", "call"]


def test_plan_step_from_an_event_time() -> None:
    plan = campaign({"id": "recap", "when": "branched", "at": "+1d", "lesson": "recap"})
    event = datetime(2026, 4, 3, 15, 0, tzinfo=PARIS)
    [send] = plan_step(plan, plan.steps[0], anchor=event, tz=PARIS)
    assert when(send.local_due_at) == "2026-04-07 08:00+02:00"


@pytest.mark.parametrize(
    ("event", "offset", "expected"),
    [
        (datetime(2026, 3, 27, 19, 30, tzinfo=PARIS), None, "2026-03-27 19:30+01:00"),
        (datetime(2026, 3, 27, 21, 0, tzinfo=PARIS), None, "2026-03-30 08:00+02:00"),
        (datetime(2026, 3, 27, 19, 30, tzinfo=PARIS), "+1d", "2026-03-30 08:00+02:00"),
        (datetime(2026, 3, 27, 19, 30, tzinfo=PARIS), "+1d 10:00", "2026-03-30 10:00+02:00"),
        (datetime(2026, 3, 27, 10, 0, tzinfo=PARIS), "+2h", "2026-03-27 12:00+01:00"),
    ],
)
def test_plan_action_time(event: datetime, offset: str | None, expected: str) -> None:
    parsed = None if offset is None else parse_offset(offset)
    assert when(plan_action_time(event, parsed, WORKDAYS, PARIS)) == expected


# --- properties -----------------------------------------------------------------------------

FULL = campaign(
    {"id": "chaud", "at": "+2h", "survey": "satisfaction-chaud"},
    {"id": "j1", "at": "+1d 09:30", "lesson": "feedback"},
    {"id": "tips", "at": "+1d 07:30", "message": "Astuce", "repeat": {"every": "1d", "count": 10}},
    {"id": "quiz", "at": "+7d", "quiz": "quiz-sbi", "ask": 3},
    {"id": "rev", "review": "quiz-sbi", "from": "+8d", "until": "+60d", "per_week": 2},
    {
        "id": "call",
        "at": "+10wd",
        "task": "Appeler",
        "to": "trainer",
        "window": {"days": ["mon", "tue", "wed", "thu"], "from": "14:00", "to": "17:00"},
    },
    {"id": "froid", "at": "+3mo", "survey": "satisfaction-froid"},
)
ZONES = ("Europe/Paris", "America/Montreal", "Pacific/Noumea", "Indian/Reunion")
anchors = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 6, 30), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(anchor=anchors, tz=st.sampled_from(ZONES))
def test_timeline_is_sorted_deterministic_and_inside_windows(anchor: datetime, tz: str) -> None:
    sends = plan_timeline(FULL, anchor=anchor, tz=tz)
    assert sends == plan_timeline(FULL, anchor=anchor, tz=tz)
    assert [s.due_at for s in sends] == sorted(s.due_at for s in sends)
    for send in sends:
        step = FULL.step(send.step_id)
        assert step is not None
        assert is_open(send.due_at, FULL.window_for(step), tz)
        assert send.due_at == send.local_due_at.astimezone(UTC)
        assert send.due_at.tzinfo == UTC and send.local_due_at.tzinfo == ZoneInfo(tz)
        nominal = send.nominal_at.astimezone(UTC)  # == across zones is never true in a DST fold
        if step.kind != "review":
            assert send.due_at >= nominal
        assert (send.shifted_reason is None) == (send.due_at == nominal)
    tips = [s.local_due_at.date() for s in sends if s.step_id == "tips"]
    assert len(tips) == 10 and len(set(tips)) == 10
