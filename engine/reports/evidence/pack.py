"""The Qualiopi evidence pack: a ZIP holding a PDF summary (indicators 2, 30, 31, 32, with
SVG charts), an XLSX workbook and the same tables as CSV files.

Everything is computed once from :func:`load_evidence` and the registers, by
:mod:`engine.core.indicators`, so the PDF, the sheets and the pages agree.
"""

from __future__ import annotations

import csv
import io
import statistics
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.indicators import (
    COLD,
    CRITERIA,
    CRITERION_LABELS,
    HOT,
    SMALL_N_DEFAULT,
    Indicator,
    Period,
    all_indicators,
    by_key,
    format_value,
    monthly_periods,
    publishable,
    response_rate,
    satisfaction_rate,
)
from engine.reports.evidence.rows import LoadedEvidence, load_evidence
from engine.reports.evidence.svg import bar_chart, line_chart
from engine.reports.evidence.tables import (
    CATEGORY_LABELS,
    KIND_LABELS,
    STATUS_LABELS,
    Table,
    answers_table,
    complaints_table,
    improvements_table,
    indicator_table,
    local,
    solicitation_table,
    spreadsheet_safe,
    testimonials_table,
)
from engine.services.improvements import action_rows
from engine.services.testimonials import testimonial_rows
from engine.store.models import PublishedIndicator

_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(["html"]))
HEADLINE = ("satisfaction.global", "nps.hot", "reponse.hot", "reponse.cold", "reponse.toutes", "froid.application",
            "demandes.delai", "reclamations.taux", "suivi.abandon", "reinscription.learner", "quiz.reussite")


@dataclass(frozen=True)
class Pack:
    """The ZIP's bytes and what went into it (tests and the dashboard read the figures)."""

    zip_bytes: bytes
    indicators: list[Indicator]
    tables: list[Table]
    pdf: bytes


async def build_pack(session: AsyncSession, *, period: Period, now: datetime, session_id: int | None = None,
                     threshold: int = SMALL_N_DEFAULT, pdf: bool = True) -> Pack:
    """Loads, computes and writes the whole pack in memory."""
    loaded = await load_evidence(session, period=period, now=now, session_id=session_id)
    indicators = all_indicators(loaded.rows, period, now=now)
    per_programme = [i for programme in loaded.rows.programmes()
                     for i in all_indicators(loaded.rows, period, now=now, programme=programme)]
    chosen = set((await session.exec(select(PublishedIndicator.key))).all())
    actions = await action_rows(session)
    testimonials = await testimonial_rows(session)
    tables = [indicator_table(indicators + per_programme), answers_table(loaded), solicitation_table(loaded),
              complaints_table(loaded), improvements_table(actions), testimonials_table(testimonials)]
    previous = by_key(all_indicators(loaded.rows, period.previous(), now=now))
    pdf_bytes = b""
    if pdf:
        scope = loaded.sessions[session_id].title if session_id in loaded.sessions else None
        html = _summary_html(loaded, indicators, per_programme, previous, chosen, tables, threshold, now, scope)
        pdf_bytes = render_pdf(html)
    return Pack(zip_pack(pdf_bytes, tables, period), indicators, tables, pdf_bytes)


def render_pdf(html: str) -> bytes:
    from weasyprint import HTML  # slow to import: only when a PDF is made

    out: bytes = HTML(string=html).write_pdf()
    return out


def zip_pack(pdf: bytes, tables: list[Table], period: Period) -> bytes:
    stamp = f"{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        # The PDF's streams and the XLSX (itself a ZIP) are compressed already: stored as they are.
        if pdf:
            archive.writestr(f"synthese-qualiopi-{stamp}.pdf", pdf, compress_type=zipfile.ZIP_STORED)
        archive.writestr(f"preuves-qualiopi-{stamp}.xlsx", workbook(tables), compress_type=zipfile.ZIP_STORED)
        for table in tables:
            archive.writestr(f"csv/{table.slug}.csv", table_csv(table))
    return buffer.getvalue()


def workbook(tables: list[Table]) -> bytes:
    """One sheet per table, headers in bold, frozen header row, filters on."""
    buffer = io.BytesIO()
    # No URL or formula sniffing: every cell is data (and a learner's "=..." stays text).
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False, "strings_to_urls": False,
                                       "strings_to_formulas": False})
    bold = book.add_format({"bold": True, "bg_color": "#EFF6FF"})
    for table in tables:
        sheet = book.add_worksheet(table.name[:31])
        sheet.write_row(0, 0, table.headers, bold)
        # Typed writes, empty cells skipped: ``write_row`` dispatches on every value's type and
        # was most of the pack's XLSX time (600,000 cells for a year of 200 sessions).
        write_string, write_number = sheet.write_string, sheet.write_number
        for r, row in enumerate(table.rows, start=1):
            for c, value in enumerate(row):
                if isinstance(value, str):
                    if value:
                        write_string(r, c, value)
                elif value is not None:
                    write_number(r, c, value)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(1, len(table.rows)), len(table.headers) - 1)
        sheet.set_column(0, len(table.headers) - 1, 18)
    book.close()
    return buffer.getvalue()


def table_csv(table: Table) -> str:
    """Semicolon-separated with a BOM, as French spreadsheet software opens it."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(table.headers)
    writer.writerows(["" if v is None else spreadsheet_safe(v) for v in row] for row in table.rows)
    return "\ufeff" + out.getvalue()


def _summary_html(loaded: LoadedEvidence, indicators: list[Indicator], per_programme: list[Indicator],
                  previous: dict[str, Indicator], chosen: set[str], tables: list[Table], threshold: int,
                  now: datetime, scope: str | None) -> str:
    period = loaded.period
    figures = by_key(indicators)
    headline = [{"label": figures[k].label, "value": figures[k].formatted(), "n": figures[k].n,
                 "population": figures[k].population, "previous": previous[k].formatted()} for k in HEADLINE]
    published = [{"label": i.label, "programme": i.programme or "Tous", "value": i.formatted(), "n": i.n,
                  "period": i.period.label}
                 for i in publishable(indicators + per_programme, threshold=threshold, chosen=chosen)]
    criteria_rows = [{"label": CRITERION_LABELS[c], "rate": figures[f"satisfaction.{c}"].formatted(),
                      "mean": figures[f"moyenne.{c}"].formatted(), "n": figures[f"satisfaction.{c}"].n}
                     for c in CRITERIA]
    criteria_chart = bar_chart("Part de notes 4 et 5 par critère", [
        (CRITERION_LABELS[c], figures[f"satisfaction.{c}"].value if figures[f"satisfaction.{c}"].publishable(threshold)
         else None) for c in CRITERIA])
    months = monthly_periods(period)
    by_month = dict(zip(months, loaded.rows.split(months), strict=True))
    trend_chart = line_chart("Satisfaction (notes 4-5) par mois", [
        (f"{m.start:%m/%y}", _shown(satisfaction_rate(by_month[m], m, now=now), threshold)) for m in months])
    response_chart = line_chart("Taux de réponse à chaud par mois", [
        (f"{m.start:%m/%y}", _shown(response_rate(by_month[m], m, now=now, survey_kind=HOT), threshold))
        for m in months])
    response_rows = []
    for kind in (HOT, COLD):
        r = figures[f"reponse.{kind}"]
        response_rows.append({"label": r.label, "sent": r.count("envoyes"), "answered": r.count("repondus"),
                              "rate": r.formatted(), "reminders": r.count("relances"),
                              "after": r.count("repondus_apres_relance")})
    verbatims = [str(a.value) for a in loaded.rows.answers if a.topic == "verbatim" and isinstance(a.value, str)
                 and a.value.strip() and period.contains(a.answered_at)]
    complaints = next(t for t in tables if t.slug == "reclamations")
    actions = next(t for t in tables if t.slug == "ameliorations")
    categories = Counter(str(row[3]) for row in complaints.rows)
    status_counts = Counter(str(row[8]) for row in actions.rows)
    nps = figures["nps.hot"]
    context: dict[str, Any] = {
        "period_label": period.label, "scope": scope, "computed_at": local(now), "threshold": threshold,
        "headline": headline, "published": published, "surveys": _surveys(loaded),
        "response_rows": response_rows, "criteria_rows": criteria_rows, "criteria_chart": criteria_chart,
        "trend_chart": trend_chart, "response_chart": response_chart,
        "nps": {"value": nps.formatted(), "promoters": nps.count("promoteurs"), "passives": nps.count("passifs"),
                "detractors": nps.count("detracteurs")},
        "all_questions": {"value": figures["reponse.toutes"].formatted(),
                          "answered": figures["reponse.toutes"].count("repondues"),
                          "asked": figures["reponse.toutes"].count("questions")},
        "application": figures["froid.application"].formatted(), "verbatims_count": len(verbatims),
        "verbatims": verbatims[:15],
        "categories": [{"label": label, "count": categories.get(label, 0)} for label in CATEGORY_LABELS.values()],
        "within": figures["demandes.delai"].formatted(), "median": figures["demandes.mediane"].formatted(),
        "complaint_rate": figures["reclamations.taux"].formatted(),
        "complaints": [row for row in complaints.rows if row[3] == CATEGORY_LABELS["reclamation"]][:40],
        "actions_total": len(actions.rows), "actions": actions.rows[:60],
        "action_counts": [{"label": label, "count": status_counts.get(label, 0)} for label in STATUS_LABELS.values()],
    }
    return _TEMPLATES.get_template("summary.html").render(**context)


def _shown(indicator: Indicator, threshold: int) -> float | None:
    return indicator.value if indicator.publishable(threshold) else None


def _surveys(loaded: LoadedEvidence) -> list[dict[str, Any]]:
    """What was asked, how often, with what reminders: one entry per survey sent in the period."""
    period = loaded.period
    out: list[dict[str, Any]] = []
    refs = sorted({s.survey_ref for s in loaded.rows.solicitations if period.contains(s.sent_at)})
    for ref in refs:
        sent = [s for s in loaded.rows.solicitations if s.survey_ref == ref and period.contains(s.sent_at)]
        title, kind, questions = loaded.surveys.get(ref, (ref, sent[0].survey_kind, ()))
        delays = [(s.sent_at - loaded.sessions[s.session_id].ends_at).total_seconds() / 86400
                  for s in sent if s.session_id in loaded.sessions]
        mean = statistics.fmean(delays) if delays else None
        answered = sum(1 for s in sent if s.answered_at is not None)
        out.append({"title": title, "kind": KIND_LABELS.get(kind, kind), "questions": questions,
                    "sent": len(sent), "answered": answered, "rate": format_value(answered / len(sent), "%"),
                    "reminders": sum(len(s.reminders_at) for s in sent),
                    "delay": "—" if mean is None else (f"{mean * 24:.0f} h" if mean < 1 else f"{mean:.0f} jours")})
    return out
