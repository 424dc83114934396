"""French public holidays and working days, checked by hand and against the ``holidays`` package."""

from __future__ import annotations

from datetime import date

import holidays
import pytest

from engine.core.calendar import (
    add_working_days,
    easter_sunday,
    french_public_holidays,
    holiday_name,
    is_public_holiday,
    is_working_day,
)

YEARS = range(2020, 2041)


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),  # latest possible
        (2285, date(2285, 3, 22)),  # earliest possible
        (2008, date(2008, 3, 23)),
    ],
)
def test_easter_sunday(year: int, expected: date) -> None:
    assert easter_sunday(year) == expected


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 1, 1), "Jour de l'an"),
        (date(2026, 4, 6), "Lundi de Pâques"),
        (date(2026, 5, 1), "Fête du Travail"),
        (date(2026, 5, 8), "Fête de la Victoire"),
        (date(2026, 5, 14), "Ascension"),
        (date(2026, 5, 25), "Lundi de Pentecôte"),
        (date(2026, 7, 14), "Fête nationale"),
        (date(2026, 8, 15), "Assomption"),
        (date(2026, 11, 1), "Toussaint"),
        (date(2026, 11, 11), "Armistice"),
        (date(2026, 12, 25), "Noël"),
        (date(2008, 5, 1), "Fête du Travail; Ascension"),
        (date(2026, 4, 3), None),  # Good Friday: only in Alsace-Moselle
        (date(2026, 12, 26), None),
        (date(2026, 4, 5), None),  # Easter Sunday is a Sunday, not a listed holiday
        (date(2026, 3, 30), None),
    ],
)
def test_holiday_name_2026(day: date, name: str | None) -> None:
    assert holiday_name(day) == name
    assert is_public_holiday(day) is (name is not None)


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 4, 3), "Vendredi saint"),
        (date(2026, 12, 26), "Saint-Étienne"),
        (date(2026, 4, 6), "Lundi de Pâques"),
    ],
)
def test_alsace_moselle_adds_two_days(day: date, name: str) -> None:
    assert holiday_name(day, alsace_moselle=True) == name
    assert is_public_holiday(day, alsace_moselle=True)


@pytest.mark.parametrize("year", YEARS)
def test_matches_holidays_package(year: int) -> None:
    reference = holidays.country_holidays("FR", years=year, language="fr")
    assert french_public_holidays(year) == dict(reference.items())


@pytest.mark.parametrize("year", YEARS)
def test_alsace_moselle_matches_holidays_package(year: int) -> None:
    reference = holidays.country_holidays("FR", years=year, subdiv="57", language="fr")
    assert french_public_holidays(year, alsace_moselle=True) == dict(reference.items())


def test_returned_dict_is_a_copy() -> None:
    first = french_public_holidays(2026)
    first.clear()
    assert len(french_public_holidays(2026)) == 11


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 27), True),  # Friday
        (date(2026, 3, 28), False),  # Saturday
        (date(2026, 3, 29), False),  # Sunday
        (date(2026, 4, 6), False),  # Easter Monday
        (date(2026, 4, 7), True),
        (date(2026, 5, 14), False),  # Ascension (Thursday)
        (date(2026, 8, 15), False),  # Assomption falls on a Saturday anyway
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert is_working_day(day) is working


@pytest.mark.parametrize(
    ("day", "n", "expected"),
    [
        (date(2026, 3, 27), 0, date(2026, 3, 27)),
        (date(2026, 3, 28), 0, date(2026, 3, 28)),  # zero days moves nothing, even on Saturday
        (date(2026, 3, 27), 1, date(2026, 3, 30)),  # Friday -> Monday
        (date(2026, 3, 28), 1, date(2026, 3, 30)),  # Saturday -> Monday
        (date(2026, 4, 3), 1, date(2026, 4, 7)),  # over Easter Monday
        (date(2026, 3, 30), 10, date(2026, 4, 14)),  # two weeks, one holiday
        (date(2026, 5, 13), 1, date(2026, 5, 15)),  # over Ascension
        (date(2026, 4, 30), 1, date(2026, 5, 4)),  # over 1 May (Friday)
        (date(2026, 5, 7), 1, date(2026, 5, 11)),  # over 8 May (Friday)
        (date(2026, 12, 24), 1, date(2026, 12, 28)),  # over Christmas
        (date(2026, 12, 31), 1, date(2027, 1, 4)),  # 1 Jan 2027 is a Friday
        (date(2026, 4, 7), -1, date(2026, 4, 3)),  # backwards over Easter Monday
    ],
)
def test_add_working_days(day: date, n: int, expected: date) -> None:
    assert add_working_days(day, n) == expected


@pytest.mark.parametrize(
    ("day", "expected_national", "expected_alsace"),
    [
        (date(2026, 4, 2), date(2026, 4, 3), date(2026, 4, 7)),
        (date(2026, 12, 24), date(2026, 12, 28), date(2026, 12, 28)),
        (date(2025, 12, 24), date(2025, 12, 26), date(2025, 12, 29)),
    ],
)
def test_add_working_days_alsace_moselle(
    day: date, expected_national: date, expected_alsace: date
) -> None:
    assert add_working_days(day, 1) == expected_national
    assert add_working_days(day, 1, alsace_moselle=True) == expected_alsace
