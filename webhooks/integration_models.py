"""What the LMS/TMS integration API accepts and returns, and per-row attendee checks.

Attendee rows are checked one by one so that every bad row is reported with
its number, like the CSV import (``engine.services.attendees``): nothing is
written unless all rows are good.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

# The session models live with the services that read and write them; the routes import them here.
from engine.services.api_models import SessionIn as SessionIn
from engine.services.api_models import SessionOut as SessionOut
from engine.services.api_models import zone_named
from engine.services.attendees import PhoneError, normalise_email, normalise_phone
from engine.store.models import LearnerCreate
from webhooks.fields import RowTimeZoneName, Text


class AttendeeIn(BaseModel):
    """One attendee row; formats are checked per row (see :func:`check_rows`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    phone: Text | None = None
    email: Text | None = None
    locale: Text | None = None
    timezone: RowTimeZoneName | None = None
    manager_name: Text | None = None
    manager_email: Text | None = None
    manager_phone: Text | None = None
    consent_sms: bool | None = Field(default=None, description="omitted: ANCRAGE_DEFAULT_CONSENT for a new learner")
    consent_whatsapp: bool | None = None
    consent_push: bool | None = None
    consent_email: bool | None = None
    company: Text | None = Field(default=None, description="employer (client company)")
    training_completion: Literal["completed", "abandoned"] | None = Field(
        default=None, description="the training's own outcome for this attendee, when known")


class RowError(BaseModel):
    row: int = Field(description="1-based position in the submitted list")
    field: str | None = None
    message: str


class AttendeeResult(BaseModel):
    row: int
    learner_id: int
    created: bool


class AttendeesOut(BaseModel):
    session_id: int
    attendees: list[AttendeeResult]
    total_attendees: int


def check_rows(rows: list[AttendeeIn], *, region: str, default_timezone: str
               ) -> tuple[list[LearnerCreate], list[RowError]]:
    """Validated learners, or every problem found (row numbers start at 1)."""
    learners: list[LearnerCreate] = []
    errors: list[RowError] = []
    seen_phones: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        found: list[RowError] = []
        values: dict[str, Any] = {k: v for k, v in row.model_dump().items() if v not in (None, "")}
        for name in ("first_name", "last_name"):
            if name not in values:
                found.append(RowError(row=number, field=name, message=f"{name} is required"))
        for name in ("phone", "manager_phone"):
            if name in values:
                try:
                    values[name] = normalise_phone(values[name], region=region)
                except PhoneError as exc:
                    found.append(RowError(row=number, field=name, message=str(exc)))
        phone = values.get("phone")
        if phone and phone in seen_phones and not any(e.field == "phone" for e in found):
            found.append(RowError(row=number, field="phone",
                                  message=f"phone {phone} already on row {seen_phones[phone]}"))
        if "phone" not in values and "email" not in values:
            found.append(RowError(row=number, field=None,
                                  message="no phone and no email: this learner cannot be reached"))
        for name in ("email", "manager_email"):
            if name in values:
                try:
                    values[name] = normalise_email(values[name])
                except ValueError as exc:
                    found.append(RowError(row=number, field=name, message=str(exc)))
        values.setdefault("timezone", default_timezone)
        try:
            zone_named(values["timezone"])
        except ValueError as exc:
            found.append(RowError(row=number, field="timezone", message=str(exc)))
        if not found:
            try:
                learners.append(LearnerCreate.model_validate(values))
            except ValidationError as exc:
                found.extend(RowError(row=number, field=".".join(map(str, e["loc"])) or None,
                                      message=e["msg"]) for e in exc.errors())
        if phone and not found:
            seen_phones[phone] = number
        errors.extend(found)
    return learners, errors
