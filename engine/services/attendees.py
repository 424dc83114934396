"""Attendees: reading lists (CSV from a training-management system) into validated rows,
and writing them into a session with the one matching rule the API and the CSV share.

Every bad row is reported with its line number and nothing is imported unless
all rows are good: a half-imported session is worse than none.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.models import Attendance, Learner, LearnerCreate, TrainingSession

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
}


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


# --- writing attendees: one matching rule for the API and the CSV import -------------


@dataclass(frozen=True)
class AttendeeAdded:
    """One imported row: the learner it became, whether that learner is new, and
    whether the row added them to the session (False when they already attended)."""

    row: int
    learner: Learner
    created: bool
    joined: bool


def _roster(trainer_id: int | None) -> Any:
    """Ids of learners that belong to one trainer's roster (NULL: the organisation's own).

    A learner belongs to a roster when every session they attend is led by that
    trainer. A person who follows two trainers' sessions is two learner records,
    one per roster: neither trainer can read or change what the other holds.
    """
    same = (col(TrainingSession.trainer_id).is_(None) if trainer_id is None
            else col(TrainingSession.trainer_id) == trainer_id)
    other = (col(TrainingSession.trainer_id).is_not(None) if trainer_id is None
             else or_(col(TrainingSession.trainer_id).is_(None),
                      col(TrainingSession.trainer_id) != trainer_id))
    attends = select(Attendance.learner_id).join(
        TrainingSession, col(TrainingSession.id) == col(Attendance.session_id))
    return attends.where(same).where(col(Attendance.learner_id).not_in(attends.where(other)))


async def match_attendee(session: AsyncSession, *, training: TrainingSession,
                         data: LearnerCreate) -> Learner | None:
    """The learner an attendee row designates, looked up in the session trainer's roster only.

    Tried in order: external id, phone, e-mail; erased learners never match.
    A row matching someone of another roster matches nobody (a new learner is
    created), so the answer never tells whether a number exists elsewhere.
    """
    roster = _roster(training.trainer_id)
    for column, value in ((Learner.external_id, data.external_id), (Learner.phone, data.phone),
                          (Learner.email, data.email)):
        if value:
            found = (await session.exec(select(Learner).where(
                col(column) == value, col(Learner.erased_at).is_(None),
                col(Learner.id).in_(roster))
                .order_by(col(Learner.id).desc()).limit(1))).first()
            if found is not None:
                return found
    return None


async def add_attendees(session: AsyncSession, *, training: TrainingSession,
                        learners: list[LearnerCreate], now: datetime) -> list[AttendeeAdded]:
    """Create or update each learner and record attendance (idempotent per learner).

    Flushes, never commits: the caller makes the import one transaction. New
    attendees of a session whose end was already processed re-open that
    processing, so the next tick enrols them (enrolment is idempotent for the others).
    """
    results: list[AttendeeAdded] = []
    added = False
    assert training.id is not None
    for row, data in enumerate(learners, start=1):
        learner = await match_attendee(session, training=training, data=data)
        created = learner is None
        if learner is None:
            learner = Learner.model_validate(data)
        else:
            for name, value in data.model_dump(exclude_unset=True).items():
                setattr(learner, name, value)
        session.add(learner)
        await session.flush()
        present = (await session.exec(select(Attendance.id).where(
            col(Attendance.session_id) == training.id,
            col(Attendance.learner_id) == learner.id))).first()
        if present is None:
            session.add(Attendance(session_id=training.id, learner_id=learner.id or 0,
                                   created_at=now))
            added = True
        results.append(AttendeeAdded(row=row, learner=learner, created=created,
                                     joined=present is None))
    if added and training.ended_processed_at is not None:
        training.ended_processed_at = None
        session.add(training)
    await session.flush()
    return results
