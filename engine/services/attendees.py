"""Reading attendee lists (CSV from a training-management system) into validated rows.

Every bad row is reported with its line number and nothing is imported unless
all rows are good: a half-imported session is worse than none.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from engine.store.models import LearnerCreate

_HEADERS = {
    "first_name": ("first_name", "prenom", "prénom", "firstname"),
    "last_name": ("last_name", "nom", "lastname", "name"),
    "phone": ("phone", "telephone", "téléphone", "mobile", "portable", "tel"),
    "email": ("email", "e-mail", "courriel", "mail"),
    "locale": ("locale", "langue", "language"),
    "timezone": ("timezone", "fuseau", "time_zone", "tz"),
    "external_id": ("external_id", "id", "matricule"),
    "manager_name": ("manager_name", "manager", "responsable"),
    "manager_email": ("manager_email", "email_manager", "email_responsable"),
    "manager_phone": ("manager_phone", "telephone_manager"),
    "company": ("company", "entreprise", "societe", "société", "employeur", "employer"),
    "training_completion": ("training_completion", "completion", "achevement", "achèvement",
                            "statut_formation"),
}
_COMPLETION = {"completed": "completed", "achevee": "completed", "achevée": "completed",
               "terminee": "completed", "terminée": "completed", "oui": "completed",
               "abandoned": "abandoned", "abandon": "abandoned", "abandonnee": "abandoned",
               "abandonnée": "abandoned", "non": "abandoned"}


def read_completion(raw: str) -> str | None:
    """The training's outcome as stored (``completed``/``abandoned``), or None if unreadable."""
    return _COMPLETION.get(raw.strip().lower())


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def format(self) -> str:
        return f"line {self.line}: {self.message}"


class PhoneError(ValueError):
    """A phone number that cannot be read or is not a mobile-capable number."""


def normalise_phone(raw: str, *, region: str = "FR") -> str:
    """E.164 form of a phone number (``06 12 34 56 78`` → ``+33612345678``)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise PhoneError(f"cannot read phone number '{raw}'") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"'{raw}' is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _column_map(header: list[str]) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for index, name in enumerate(header):
        key = name.strip().lower()
        for field, aliases in _HEADERS.items():
            if key in aliases and field not in mapping:
                mapping[field] = index
    return mapping


def parse_attendees(text: str, *, region: str = "FR", default_timezone: str = "Europe/Paris"
                    ) -> tuple[list[LearnerCreate], list[RowError]]:
    """Rows of a CSV (comma or semicolon, header required) as learners, or every error found."""
    text = text.lstrip("\ufeff")
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else "", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows = list(reader)
    if not rows:
        return [], [RowError(1, "empty file: expected a header line (first_name, last_name, phone, email)")]
    columns = _column_map(rows[0])
    missing = [f for f in ("first_name", "last_name") if f not in columns]
    if missing:
        return [], [RowError(1, f"missing column(s) {', '.join(missing)} in the header")]
    if "phone" not in columns and "email" not in columns:
        return [], [RowError(1, "need a 'phone' or an 'email' column to reach learners")]
    learners: list[LearnerCreate] = []
    errors: list[RowError] = []
    seen_phones: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        values = {f: (row[i].strip() if i < len(row) else "") for f, i in columns.items()}
        problems = []
        if not values.get("first_name") or not values.get("last_name"):
            problems.append("first and last name are required")
        for field in ("phone", "manager_phone"):
            if values.get(field):
                try:
                    values[field] = normalise_phone(values[field], region=region)
                except PhoneError as exc:
                    problems.append(str(exc))
        if values.get("phone") and values["phone"] in seen_phones:
            problems.append(f"phone {values['phone']} already on line {seen_phones[values['phone']]}")
        if not values.get("phone") and not values.get("email"):
            problems.append("no phone and no email: this learner cannot be reached")
        if values.get("email") and "@" not in values["email"]:
            problems.append(f"'{values['email']}' is not an email address")
        if values.get("training_completion"):
            completion = read_completion(values["training_completion"])
            if completion is None:
                problems.append(f"training completion '{values['training_completion']}' is not "
                                "'completed' or 'abandoned'")
            else:
                values["training_completion"] = completion
        zone = values.get("timezone") or default_timezone
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"unknown time zone '{zone}'")
        if problems:
            errors.extend(RowError(line, p) for p in problems)
            continue
        if values.get("phone"):
            seen_phones[values["phone"]] = line
        data = {k: v for k, v in values.items() if v}
        data["timezone"] = zone
        data.setdefault("locale", "fr")
        try:
            learners.append(LearnerCreate.model_validate(data))
        except ValueError as exc:
            errors.append(RowError(line, str(exc).splitlines()[0]))
    return learners, errors
