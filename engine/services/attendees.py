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
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT
from sqlalchemy import insert, or_
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
    **{f"consent_{channel}": (f"consent_{channel}", f"consentement_{channel}") for channel in
       ("sms", "whatsapp", "push", "email")},
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
    seen_emails: dict[str, int] = {}
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
        problems.extend(check_emails(values))
        problems.extend(check_consents(values))
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
        problems = repeated_email(values, line, seen_emails)
        if problems:
            errors.extend(RowError(line, p) for p in problems)
            continue
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


_BATCH = 2_000


class _NewLearner:
    """A row that becomes a new learner: its values, inserted with the others in one statement."""

    id = None

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    @property
    def external_id(self) -> str | None:
        return self.values.get("external_id")

    @property
    def phone(self) -> str | None:
        return self.values.get("phone")

    @property
    def email(self) -> str | None:
        return self.values.get("email")


class _Known:
    """The roster's learners an import can match, by external id, phone and e-mail.

    Where several learners share a value, the most recent (highest id) wins, as a
    one-by-one lookup ordered by id would decide.
    """

    def __init__(self) -> None:
        self.by: dict[str, dict[str, Learner | _NewLearner]] = {"external_id": {}, "phone": {}, "email": {}}

    def add(self, learner: Learner | _NewLearner) -> None:
        """Indexes ``learner``; one not yet inserted (no id) is the newest of all."""
        newest = learner.id is None
        for field, index in self.by.items():
            value = getattr(learner, field)
            if value and (newest or value not in index
                          or (index[value].id or 0) < (learner.id or 0)):
                index[value] = learner

    def match(self, data: LearnerCreate) -> Learner | _NewLearner | None:
        for field, index in self.by.items():
            value = getattr(data, field)
            if value and value in index:
                return index[value]
        return None


async def _insert_learners(session: AsyncSession, rows: list[dict[str, Any]]) -> list[Learner]:
    """New learners in one ORM bulk INSERT ... RETURNING (in ``rows``' order), without building
    and validating one table model per row first: the rows come from validated ``LearnerCreate``s,
    the columns they leave out take the model's defaults."""
    if not rows:
        return []
    fields = {name: info for name, info in Learner.model_fields.items() if name != "id"}
    defaults = {name: info.default for name, info in fields.items()
                if not info.is_required() and info.default_factory is None}
    factories = {name: info.default_factory for name, info in fields.items() if info.default_factory}
    params = [{**defaults, **{name: make() for name, make in factories.items()},  # type: ignore[call-arg]
               **{name: row[name] for name in fields if name in row}} for row in rows]
    statement = insert(Learner).returning(Learner, sort_by_parameter_order=True)
    return list((await session.exec(statement, params=params)).scalars().all())


async def _known_learners(session: AsyncSession, *, training: TrainingSession,
                          learners: list[LearnerCreate]) -> _Known:
    """Looks the rows' identifiers up in the session trainer's roster only, in batches."""
    known = _Known()
    roster = _roster(training.trainer_id)
    for first in range(0, len(learners), _BATCH):
        chunk = learners[first:first + _BATCH]
        wanted = [col(getattr(Learner, field)).in_(values) for field in known.by
                  if (values := [getattr(d, field) for d in chunk if getattr(d, field)])]
        if not wanted:
            continue
        for learner in (await session.exec(select(Learner).where(
                col(Learner.erased_at).is_(None), col(Learner.id).in_(roster), or_(*wanted)))).all():
            known.add(learner)
    return known


async def add_attendees(session: AsyncSession, *, training: TrainingSession,
                        learners: list[LearnerCreate], now: datetime,
                        consent: dict[str, bool] | None = None) -> list[AttendeeAdded]:
    """Create or update each row's learner and record attendance (idempotent per learner).

    The one matching rule of the API and the CSV import: external id, then phone,
    then e-mail, looked up in the session trainer's roster only (see ``_roster``);
    erased learners never match. A row matching someone of another roster matches
    nobody (a new learner is created), so the answer never tells whether a number
    exists elsewhere. A new learner's consent is ``consent`` (the organisation's
    default) where the row says nothing; a consent the row gives is applied to a
    known learner too. Works in batches (a few statements per 2,000 rows); flushes,
    never commits: the caller makes the import one transaction. New attendees of a
    session whose end was already processed re-open that processing, so the next
    tick enrols them (enrolment is idempotent for the others).
    """
    assert training.id is not None
    known = await _known_learners(session, training=training, learners=learners)
    rows: list[tuple[Learner | _NewLearner, bool]] = []
    for data in learners:
        found = known.match(data)
        values = data.model_dump(exclude_unset=True)
        if found is None:
            new = _NewLearner({**(consent or {}), **values})
            known.add(new)  # a later row of the same file matches this learner
            rows.append((new, True))
            continue
        if isinstance(found, _NewLearner):
            found.values.update(values)
        else:
            for name, value in values.items():
                setattr(found, name, value)
            session.add(found)
        rows.append((found, False))
    fresh = [learner for learner, created in rows if created and isinstance(learner, _NewLearner)]
    inserted = dict(zip((id(new) for new in fresh),
                        await _insert_learners(session, [new.values for new in fresh]), strict=True))
    matched = [(inserted[id(learner)] if isinstance(learner, _NewLearner) else learner, created)
               for learner, created in rows]
    await session.flush()  # known learners' changes in one batch
    ids = [learner.id or 0 for learner, _ in matched]
    present: set[int] = set()
    for first in range(0, len(ids), _BATCH):
        present.update((await session.exec(select(Attendance.learner_id).where(
            col(Attendance.session_id) == training.id,
            col(Attendance.learner_id).in_(ids[first:first + _BATCH])))).all())
    completion = {learner.id or 0: data.training_completion
                  for data, (learner, _) in zip(learners, matched, strict=True)
                  if data.training_completion is not None}
    joining = [learner_id for learner_id in dict.fromkeys(ids) if learner_id not in present]
    if joining:
        await session.exec(insert(Attendance), params=[
            {"session_id": training.id, "learner_id": learner_id, "created_at": now,
             "training_completion": completion.get(learner_id)} for learner_id in joining])
    if known_outcomes := {lid: value for lid, value in completion.items() if lid in present}:
        # The training's own outcome, sent later (or corrected) for attendees already there.
        for attendance in (await session.exec(select(Attendance).where(
                col(Attendance.session_id) == training.id,
                col(Attendance.learner_id).in_(list(known_outcomes))))).all():
            attendance.training_completion = known_outcomes[attendance.learner_id]
            session.add(attendance)
    results = [AttendeeAdded(row=row, learner=learner, created=created,
                             joined=(learner.id or 0) not in present)
               for row, (learner, created) in enumerate(matched, start=1)]
    if joining and training.ended_processed_at is not None:
        training.ended_processed_at = None
        session.add(training)
    await session.flush()
    return results
#: The header names each column accepts (the first is the canonical one), for README and --help.
ACCEPTED_COLUMNS = _HEADERS

_YES = frozenset({"oui", "o", "yes", "y", "1", "true", "vrai", "x"})
_NO = frozenset({"non", "n", "no", "0", "false", "faux"})


def normalise_email(raw: str) -> str:
    """An e-mail address as the standard reads it (``emma.garnier@exemple`` is refused: no domain);
    deliverability is not checked (no DNS look-up at import).

    ``email_validator`` decides every address; a plain one (a dot-atom before the
    @-sign, no special mailbox name) only has its domain checked once per import's
    worth of rows (a file has a few domains for thousands of rows): the same
    answer, without checking ``exemple.fr`` again for each learner.
    """
    local, at, domain = raw.partition("@")
    if at and "@" not in domain and len(local) <= 64 and DOT_ATOM_TEXT.match(local) \
            and local.lower() not in _MAILBOX_NAMES:
        known = _email_domain(domain)
        if known is not None:
            normalised = f"{local}@{known[0]}"
            if max(len(raw), len(normalised), len(local) + 1 + len(known[1])) <= 254:
                return normalised
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"'{raw}' is not a valid e-mail address: {exc}") from None


_MAILBOX_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)  # lowercased by email_validator


@lru_cache(maxsize=1024)
def _email_domain(domain: str) -> tuple[str, str] | None:
    """(normalised, ASCII) form of an address's domain as ``email_validator`` reads it, or None."""
    try:
        checked = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return checked.domain, checked.ascii_domain


def check_emails(values: dict[str, str]) -> list[str]:
    """Validates (and normalises in place) the row's e-mail addresses; the problems found."""
    problems = []
    for field in ("email", "manager_email"):
        if values.get(field):
            try:
                values[field] = normalise_email(values[field])
            except ValueError as exc:
                problems.append(str(exc))
    return problems


def check_consents(values: dict[str, str]) -> list[str]:
    """Reads ``consent_*`` cells (oui/non, yes/no, 1/0, x) in place; an empty cell means the default."""
    problems = []
    for field in [name for name in values if name.startswith("consent_")]:
        cell = values[field].strip().lower()
        if not cell:
            continue
        if cell not in _YES | _NO:
            problems.append(f"{field} '{values[field]}' is neither oui nor non")
        values[field] = "true" if cell in _YES else "false"
    return problems


def repeated_email(values: dict[str, str], line: int, seen: dict[str, int]) -> list[str]:
    """Two rows of one file with the same e-mail address (case-insensitive) are one learner twice."""
    email = (values.get("email") or "").lower()
    if not email:
        return []
    if email in seen:
        return [f"e-mail {values['email']} already on line {seen[email]}"]
    seen[email] = line
    return []

