"""French public holidays and working days, computed from the standard library alone.

Messages are not sent on public holidays (unless a window says so) and ``wd``
offsets count working days, so the engine needs the French calendar for any
year without a network call or a third-party package. The dates follow the
Code du travail (article L3133-1) as it stands since 2008: eleven national
holidays, two of them moving with Easter, plus Good Friday and 26 December in
Alsace-Moselle (Bas-Rhin, Haut-Rhin, Moselle).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType

_FIXED: tuple[tuple[int, int, str], ...] = (
    (1, 1, "Jour de l'an"),
    (5, 1, "Fête du Travail"),
    (5, 8, "Fête de la Victoire"),
    (7, 14, "Fête nationale"),
    (8, 15, "Assomption"),
    (11, 1, "Toussaint"),
    (11, 11, "Armistice"),
    (12, 25, "Noël"),
)
# Days after Easter Sunday.
_EASTER_BASED: tuple[tuple[int, str], ...] = (
    (1, "Lundi de Pâques"),
    (39, "Ascension"),
    (50, "Lundi de Pentecôte"),
)
_ALSACE_MOSELLE_EASTER: tuple[tuple[int, str], ...] = ((-2, "Vendredi saint"),)
_ALSACE_MOSELLE_FIXED: tuple[tuple[int, int, str], ...] = ((12, 26, "Saint-Étienne"),)
_WEEKEND = (5, 6)  # date.weekday(): Saturday, Sunday


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Meeus/Jones/Butcher algorithm), the root of movable feasts."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=256)
def _holidays(year: int, alsace_moselle: bool) -> Mapping[date, str]:
    names: dict[date, list[str]] = {}
    fixed = _FIXED + (_ALSACE_MOSELLE_FIXED if alsace_moselle else ())
    for month, day, name in fixed:
        names.setdefault(date(year, month, day), []).append(name)
    easter = easter_sunday(year)
    movable = _EASTER_BASED + (_ALSACE_MOSELLE_EASTER if alsace_moselle else ())
    for days_after, name in movable:
        names.setdefault(easter + timedelta(days=days_after), []).append(name)
    # Ascension sometimes falls on 1 May (2008, 2087): one day, both names.
    return MappingProxyType({day: "; ".join(parts) for day, parts in sorted(names.items())})


def french_public_holidays(year: int, *, alsace_moselle: bool = False) -> dict[date, str]:
    """The public holidays of one year, date -> French name; a fresh dict the caller may keep."""
    return dict(_holidays(year, alsace_moselle))


def holiday_name(day: date, *, alsace_moselle: bool = False) -> str | None:
    """The French name of the holiday on ``day`` (for shift reasons and previews), else None."""
    return _holidays(day.year, alsace_moselle).get(day)


def is_public_holiday(day: date, *, alsace_moselle: bool = False) -> bool:
    """Whether ``day`` is a French public holiday (national, or Alsace-Moselle when asked)."""
    return day in _holidays(day.year, alsace_moselle)


def is_working_day(day: date, *, alsace_moselle: bool = False) -> bool:
    """Monday to Friday and not a public holiday: the days ``wd`` offsets count."""
    return day.weekday() not in _WEEKEND and not is_public_holiday(
        day, alsace_moselle=alsace_moselle
    )


def add_working_days(day: date, n: int, *, alsace_moselle: bool = False) -> date:
    """The ``n``-th working day after ``day`` (before it when ``n`` is negative); ``n=0`` is ``day``.

    ``day`` itself need not be a working day: one working day after a Saturday
    is the Monday (or Tuesday after Easter).
    """
    step = 1 if n >= 0 else -1
    remaining = abs(n)
    current = day
    while remaining:
        current += timedelta(days=step)
        if is_working_day(current, alsace_moselle=alsace_moselle):
            remaining -= 1
    return current
