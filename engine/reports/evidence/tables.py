"""The evidence pack's tables (one per XLSX sheet and CSV file), in French.

Built from the loaded rows and the registers; the XLSX, the CSV files and the PDF
all print these same rows, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from engine.core.indicators import CRITERION_LABELS, RESPONSE_TARGET, Indicator
from engine.reports.evidence.rows import LoadedEvidence

Cell = str | int | float | None

KIND_LABELS = {"hot": "à chaud", "cold": "à froid", "testimonial": "témoignage", "other": "autre"}
CATEGORY_LABELS = {"question": "Question", "difficulte": "Difficulté", "reclamation": "Réclamation"}
STATUS_LABELS = {"planned": "Prévue", "in_progress": "En cours", "done": "Réalisée", "cancelled": "Abandonnée"}
SOURCE_LABELS = {"ticket": "Demande ou réclamation", "alert": "Alerte", "criterion": "Critère en baisse",
                 "verbatim": "Verbatim", "audit": "Audit", "other": "Autre"}
SCOPE_LABELS = {"internal": "Usage interne", "website": "Site web et supports"}


@dataclass(frozen=True)
class Table:
    """One sheet: a French name, its headers and its rows."""

    name: str
    slug: str
    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]]


@dataclass(frozen=True)
class ActionRow:
    id: int
    source_kind: str
    source: str
    finding: str
    decision: str
    owner: str
    due_on: date | None
    status: str
    effectiveness: str | None
    effective: bool | None
    reviewed_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class TestimonialRow:
    id: int
    author: str
    session: str
    text: str
    scope: str
    named: bool
    consent_at: datetime
    approved_at: datetime | None


def spreadsheet_safe(value: Cell) -> Cell:
    """A learner's text that a spreadsheet would run as a formula (``=HYPERLINK(...)``) stays text."""
    if isinstance(value, str) and value and (value[0] in "=+@\t\r" or (value[0] == "-" and value[1:2]
                                                                         and not value[1].isdigit())):
        return "'" + value
    return value


def local(moment: datetime | None, timezone: str = "Europe/Paris") -> str:
    """``31/03/2026 23:30`` in the organisation's zone (empty when missing)."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%d/%m/%Y %H:%M") if moment else ""


def indicator_table(indicators: Sequence[Indicator]) -> Table:
    rows: list[tuple[Cell, ...]] = [
        (i.label, i.programme or "Tous", i.formatted(), i.n, i.population, i.period.label,
         local(i.computed_at), ", ".join(f"{name} : {count}" for name, count in i.counts)) for i in indicators]
    return Table("Indicateurs", "indicateurs", ("Indicateur", "Programme", "Valeur", "n (répondants)",
                                                "Population", "Période", "Calculé le", "Détail"), rows)


def answers_table(loaded: LoadedEvidence) -> Table:
    session_titles = {sid: s.title for sid, s in loaded.sessions.items()}
    rows: list[tuple[Cell, ...]] = []
    for a in sorted(loaded.rows.answers, key=lambda a: (a.answered_at, a.learner_id)):
        if not loaded.period.contains(a.answered_at):
            continue
        value = a.value
        shown: Cell = ("oui" if value else "non") if isinstance(value, bool) else (
            value if isinstance(value, int | float | str) else None)
        rows.append((local(a.answered_at), a.session_id, session_titles.get(a.session_id or 0, ""), a.learner_id,
                     f"{a.survey_ref} ({KIND_LABELS.get(a.survey_kind, a.survey_kind)})", a.question_id,
                     CRITERION_LABELS.get(a.topic or "", ""), shown))
    return Table("Réponses", "reponses", ("Date", "Session", "Programme", "Stagiaire n°", "Questionnaire",
                                          "Question", "Critère", "Réponse"), rows)


def solicitation_table(loaded: LoadedEvidence) -> Table:
    """Every survey sent and every reminder, with its date (indicator 30's solicitation log)."""
    entries: list[tuple[datetime, tuple[Cell, ...]]] = []
    for s in loaded.rows.solicitations:
        if not loaded.period.contains(s.sent_at):
            continue
        kind = f"Questionnaire {KIND_LABELS.get(s.survey_kind, s.survey_kind)}"
        entries.append((s.sent_at, (local(s.sent_at), kind, s.survey_ref, s.step_id, s.session_id, s.learner_id,
                                    local(s.answered_at) or "sans réponse")))
        for number, reminder in enumerate(s.reminders_at, start=1):
            entries.append((reminder, (local(reminder), f"Relance n°{number}", s.survey_ref, s.step_id,
                                       s.session_id, s.learner_id, local(s.answered_at) or "sans réponse")))
    entries.sort(key=lambda e: (e[0], str(e[1][5])))
    return Table("Sollicitations", "sollicitations", ("Date", "Envoi", "Questionnaire", "Étape", "Session",
                                                      "Stagiaire n°", "Réponse le"), [row for _, row in entries])


def complaints_table(loaded: LoadedEvidence) -> Table:
    """Indicator 31's register: every request, categorised, with its dates and corrective action."""
    rows: list[tuple[Cell, ...]] = []
    for t in sorted(loaded.rows.tickets, key=lambda t: t.received_at):
        if not loaded.period.contains(t.received_at):
            continue
        delay = ((t.first_human_response_at - t.received_at).total_seconds() / 3600
                 if t.first_human_response_at else None)
        within = "" if delay is None else ("oui" if delay <= RESPONSE_TARGET.total_seconds() / 3600 else "non")
        rows.append((t.ticket_id, local(t.received_at), t.channel.upper() if t.channel == "sms" else t.channel,
                     CATEGORY_LABELS.get(t.category, t.category), t.session_id,
                     loaded.learners.get(t.learner_id or 0, ""), t.body[:300], local(t.acknowledged_at),
                     local(t.first_human_response_at), round(delay, 1) if delay is not None else None, within,
                     local(t.resolved_at), t.corrective_action_id))
    return Table("Réclamations", "reclamations", (
        "N°", "Reçue le", "Canal", "Catégorie", "Session", "Stagiaire", "Message", "Accusé de réception",
        "Première réponse humaine", "Délai (h)", "Sous 48 h", "Résolue le", "Action corrective n°"), rows)


def improvements_table(actions: Sequence[ActionRow]) -> Table:
    rows: list[tuple[Cell, ...]] = [
        (a.id, local(a.created_at), SOURCE_LABELS.get(a.source_kind, a.source_kind), a.source, a.finding,
         a.decision, a.owner, a.due_on.strftime("%d/%m/%Y") if a.due_on else "",
         STATUS_LABELS.get(a.status, a.status), a.effectiveness or "",
         "" if a.effective is None else ("efficace" if a.effective else "non efficace"), local(a.reviewed_at))
        for a in actions]
    return Table("Améliorations", "ameliorations", (
        "N°", "Créée le", "Source", "Origine", "Constat", "Décision", "Responsable", "Échéance", "Statut",
        "Revue d'efficacité", "Efficacité", "Revue le"), rows)


def testimonials_table(testimonials: Sequence[TestimonialRow]) -> Table:
    rows: list[tuple[Cell, ...]] = [
        (t.id, t.author, t.session, t.text, SCOPE_LABELS.get(t.scope, t.scope), "oui" if t.named else "non",
         local(t.consent_at), local(t.approved_at)) for t in testimonials]
    return Table("Témoignages", "temoignages", ("N°", "Auteur", "Session", "Témoignage", "Diffusion", "Nominatif",
                                                "Consentement le", "Approuvé le"), rows)
