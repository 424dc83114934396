"""Words for what trainers and learners read in place of internal codes (French, English).

Alerts carry a ``kind`` (``low_rating``, ``detractor``, ``branch``...) and replies a
status (``processed``...): the pages and the demo show these words, never the codes.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

_ALERT_KINDS = {
    "fr": {"low_rating": "note basse", "detractor": "NPS détracteur", "branch": "alerte de campagne",
           "quiz_failure": "trois erreurs de suite au quiz", "complaint": "mécontentement",
           "task": "tâche formateur", "late": "réponse tardive", "silence": "sans réponse"},
    "en": {"low_rating": "low rating", "detractor": "NPS detractor", "branch": "campaign alert",
           "quiz_failure": "three wrong answers in a row", "complaint": "dissatisfaction",
           "task": "trainer task", "late": "late reply", "silence": "no answer"},
}
_REPLY_STATUSES = {
    "fr": {"received": "reçue", "processed": "prise en compte", "ignored": "ignorée", "failed": "en erreur"},
    "en": {"received": "received", "processed": "taken into account", "ignored": "ignored", "failed": "failed"},
}
_CHANNELS = {
    "fr": {"sms": "SMS", "whatsapp": "WhatsApp", "push": "notification", "email": "e-mail"},
    "en": {"sms": "SMS", "whatsapp": "WhatsApp", "push": "push", "email": "email"},
}
_DAYS = {"fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
         "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
_SHORT_DAYS = {"fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
               "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}


def _lang(locale: str | None) -> str:
    return "en" if (locale or "").lower().startswith("en") else "fr"


def alert_kind(kind: str, locale: str | None = "fr") -> str:
    """``low_rating`` -> "note basse"; an unknown kind reads "alerte" rather than its code."""
    return _ALERT_KINDS[_lang(locale)].get(kind, "alerte" if _lang(locale) == "fr" else "alert")


def reply_status(status: str, locale: str | None = "fr") -> str:
    return _REPLY_STATUSES[_lang(locale)].get(status, "")


def channel_name(channel: str, locale: str | None = "fr") -> str:
    return _CHANNELS[_lang(locale)].get(channel, channel)


def local_time(moment: datetime, zone: str, pattern: str = "%d/%m %H:%M") -> str:
    """A moment as the viewer reads it: in their zone (Europe/Paris unless told)."""
    return moment.astimezone(ZoneInfo(zone)).strftime(pattern)


def long_date(moment: datetime, zone: str, locale: str | None = "fr") -> str:
    """"vendredi 27/03/2026 à 16:30" (or "Friday 27/03/2026 at 16:30"), whatever the machine's locale."""
    local = moment.astimezone(ZoneInfo(zone))
    word = "à" if _lang(locale) == "fr" else "at"
    return f"{_DAYS[_lang(locale)][local.weekday()]} {local:%d/%m/%Y} {word} {local:%H:%M}"


def short_stamp(moment: datetime, zone: str, locale: str | None = "fr") -> str:
    """"ven. 27/03 16:30": a narrator's time stamp, in French by default."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{_SHORT_DAYS[_lang(locale)][local.weekday()]} {local:%d/%m %H:%M}"
