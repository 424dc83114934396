"""``ancrage demo``: the whole engine on embedded defaults, time-warped, on localhost.

A SQLite file and a private Redis under the organisation's ``var/demo``, every channel in the
sandbox, a session that has just ended with simulated learners who answer
through the real paths (a signed SMS webhook, or the one-tap answer page for
the learners reached by e-mail and by push), and one learner (you) whose phone
is a page in the browser. A narrator prints every send, reply and alert in
simulated Paris time, in French, then a summary per learner and for the session.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from engine.clock import WarpedClock
from engine.commands.processes import import_serving, pause, resolve_redis, serve_all
from engine.commands.progress import progress
from engine.core.personas import PERSONAS
from engine.demo.cohort import (
    DEMO_PASSWORD,
    DEMO_PLAN,
    DEMO_TRAINERS,
    ensure_trainers,
    with_learners,
)
from engine.demo.history import seed_history
from engine.demo.learners import SimulatedLearners
from engine.services.bootstrap import build_runtime, close_runtime
from engine.services.catalog import Catalog
from engine.services.labels import alert_kind, channel_name, long_date, short_stamp
from engine.services.runtime import Runtime
from engine.settings import Settings
from engine.store.base import DeliveryStatus, InboundStatus
from engine.store.migrate import upgrade_async
from engine.store.models import (
    Alert,
    Attendance,
    Delivery,
    InboundEvent,
    Learner,
    PushToken,
    TrainingSession,
)

PARIS = ZoneInfo("Europe/Paris")
AUTH_TOKEN = "demo-auth-token"
STARTUP_GRACE_SECONDS = 4.0
#: With ``--stop-at-end``, how long the demo waits past its last day for an engine running behind
#: the warped clock (a loaded machine) to send what was due and process what was received.
CATCH_UP_SECONDS = 60.0
CAST = [  # (first name, last name, phone, persona or None for the person trying the demo, reached by)
    ("Alex", "Moreau", "+33600000001", None, "sms"),
    ("Camille", "Martin", "+33600000002", "assidu", "sms"),
    ("Yanis", "Benali", None, "en-difficulte", "email"),
    ("Léa", "Roux", None, "tardif", "push"),
    ("Hugo", "Lambert", "+33600000005", "silencieux", "sms"),
]


def demo_start(today: datetime) -> datetime:
    """The demo session ends at 16:30 Paris on the latest working day (a Friday works too)."""
    day = today.astimezone(PARIS).date()
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, 16, 30, tzinfo=PARIS)


async def seed(rt: Runtime, *, campaign: str, ends_at: datetime) -> tuple[int, dict[int, tuple[str, str]]]:
    """The dashboard accounts, the live session (led by the demo trainer) and its learners; returns
    the session's id and learner id -> (persona, phone) for the simulated ones (an empty phone for
    those reached by e-mail or push: they answer on the one-tap page)."""
    await upgrade_async(rt.engine)
    async with rt.sessions() as session, session.begin():
        accounts = await ensure_trainers(session, DEMO_TRAINERS, DEMO_PASSWORD)
        training = TrainingSession(title="Manager coach — session de Lyon", trainer_id=accounts[DEMO_TRAINERS[0].email],
                                   location="Lyon", starts_at=ends_at - timedelta(hours=7), ends_at=ends_at,
                                   campaign_names=[campaign])
        session.add(training)
        await session.flush()
        simulated: dict[int, tuple[str, str]] = {}
        for first, last, phone, persona, reached_by in CAST:
            email = f"{first.lower().replace('é', 'e')}.{last.lower()}@example.fr"
            learner = Learner(first_name=first, last_name=last, phone=phone, email=email,
                              manager_name="Julien Petit", manager_email="julien.petit@example.fr",
                              consent_push=reached_by == "push")
            session.add(learner)
            await session.flush()
            session.add(Attendance(session_id=training.id or 0, learner_id=learner.id or 0))
            if reached_by == "push":
                session.add(PushToken(learner_id=learner.id or 0, token=f"demo-token-{learner.id}",
                                      platform="android"))
            if persona is not None:
                simulated[learner.id or 0] = (persona, phone or "")
    return training.id or 0, simulated


async def narrate(rt: Runtime, names: dict[int, str], stop_at: datetime, *, exit_at_end: bool = False) -> None:
    """Prints every send, reply and alert as it happens, in simulated Paris time; stops at ``stop_at``."""
    printed: set[tuple[str, int]] = set()
    since = rt.now()  # seeded history, if any, is not news
    while rt.now() < stop_at:
        await _print_new(rt, names, printed, since)
        await asyncio.sleep(0.5)
    if exit_at_end:  # a loaded machine's engine runs behind the warped clock: what was due is played
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while time.monotonic() < deadline and await _still_due(rt, set(names), stop_at):
            await _print_new(rt, names, printed, since)
            await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # what the last tick sent
    await _print_new(rt, names, printed, since)
    print(await summary(rt, names), flush=True)
    if exit_at_end:
        print(f"\nfin de la démo ({stop_at.astimezone(PARIS):%d/%m/%Y} simulé).", flush=True)
        return
    print(f"\nfin de la démo ({stop_at.astimezone(PARIS):%d/%m/%Y} simulé). Ctrl-C pour quitter.", flush=True)
    await asyncio.Event().wait()


async def _still_due(rt: Runtime, learners: set[int], stop_at: datetime) -> bool:
    """Whether a message to these learners due by ``stop_at`` is still on its way, a reply
    received is not yet processed, or their session ended and the engine has not enrolled them
    yet (its first tick still to come: nothing planned, nothing to wait for, a run of a day in
    two real seconds stopped before its first send)."""
    async with rt.sessions() as session:
        unenrolled = (await session.exec(select(TrainingSession.id).join(
            Attendance, col(Attendance.session_id) == col(TrainingSession.id)).where(
            col(Attendance.learner_id).in_(learners), col(TrainingSession.ends_at) <= stop_at,
            col(TrainingSession.ended_processed_at).is_(None), col(TrainingSession.problem).is_(None),
        ).limit(1))).first()
        if unenrolled is not None:
            return True
        sending = (await session.exec(select(Delivery.id).where(
            col(Delivery.learner_id).in_(learners), col(Delivery.due_at) <= stop_at,
            col(Delivery.status).in_([DeliveryStatus.PLANNED, DeliveryStatus.QUEUED, DeliveryStatus.SENDING]),
        ).limit(1))).first()
        unread = (await session.exec(select(InboundEvent.id).where(
            col(InboundEvent.status) == InboundStatus.RECEIVED).limit(1))).first()
    return sending is not None or unread is not None


async def _print_new(rt: Runtime, names: dict[int, str], printed: set[tuple[str, int]], since: datetime) -> None:
    """Lines not yet printed, by time: a delivery planned early but sent late is printed too."""
    rows: list[tuple[datetime, str]] = []
    async with rt.sessions() as session:
        for d in (await session.exec(select(Delivery).where(col(Delivery.sent_at) >= since))).all():
            if ("d", d.id or 0) in printed or d.learner_id not in names:  # the live session only
                continue
            printed.add(("d", d.id or 0))
            rows.append((d.sent_at or rt.now(), send_line(d, names)))
        for e in (await session.exec(select(InboundEvent).where(
                InboundEvent.status != "received", col(InboundEvent.received_at) >= since))).all():
            if ("e", e.id or 0) in printed or (e.learner_id or 0) not in names:
                continue
            printed.add(("e", e.id or 0))
            way = "" if e.provider == "twilio" else f" ({channel_name(e.channel)}, lien)"
            rows.append((e.received_at, f"← {names.get(e.learner_id or 0, '?'):<8} « {e.body} »{way}"))
        for a in (await session.exec(select(Alert).where(col(Alert.created_at) >= since))).all():
            if ("a", a.id or 0) in printed or (a.learner_id is not None and a.learner_id not in names):
                continue
            printed.add(("a", a.id or 0))
            rows.append((a.created_at, f"⚑ alerte « {alert_kind(a.kind)} » pour {names.get(a.learner_id or 0, '?')} : "
                                       f"{a.reason[:80]}"))
    for at, line in sorted(rows, key=lambda row: row[0]):
        print(f"{short_stamp(at, 'Europe/Paris')}  {line}", flush=True)


def send_line(delivery: Delivery, names: dict[int, str]) -> str:
    """One compact line per send: who, how, which step, the start of the text on one line."""
    text = " ".join(((delivery.rendered or {}).get("body") or "").split())
    who = {"trainer": "formateur", "manager": "manager"}.get(delivery.recipient,
                                                             names.get(delivery.learner_id, "?"))
    step = delivery.step_id or "réponse"
    return f"→ {who:<8} [{channel_name(delivery.channel or 'sms')}] {step}: {text[:90]}"


async def summary(rt: Runtime, names: dict[int, str]) -> str:
    """The end of the demo in a few lines: per learner, then for the session."""
    async with rt.sessions() as session:
        sent = Counter(d.learner_id for d in (await session.exec(select(Delivery).where(
            col(Delivery.sent_at).is_not(None), Delivery.recipient == "learner"))).all())
        replies = Counter(e.learner_id for e in (await session.exec(select(InboundEvent).where(
            InboundEvent.status != "received"))).all())
        alerts = Counter(a.learner_id for a in (await session.exec(select(Alert))).all())
        learners = (await session.exec(select(Learner).order_by(col(Learner.id)))).all()
        training = (await session.exec(select(TrainingSession))).first()
    lines = ["", f"Bilan — {training.title if training else 'session'}"]
    for learner in learners:
        lid = learner.id or 0
        risk = ", en difficulté" if learner.at_risk else ""
        lines.append(f"  {names.get(lid, '?'):<8} {sent[lid]:>3} message(s) reçu(s), {replies[lid]:>3} réponse(s), "
                     f"{alerts[lid]} alerte(s){risk}")
    lines.append(f"  session  {sum(sent.values()):>3} message(s) envoyé(s) à {len(learners)} apprenants, "
                 f"{sum(replies.values())} réponse(s), {sum(alerts.values())} alerte(s) pour le formateur")
    return "\n".join(lines)


async def fast_ticks(rt: Runtime, settings: Settings, every: float = 0.1,
                     stopping: asyncio.Event | None = None) -> None:
    """Ticks ten times a real second: at ×3600 the worker's one-second cron is a virtual hour."""
    from arq import create_pool
    from arq.connections import RedisSettings

    from engine.jobs import batch_enqueuer
    from engine.services.catalog import Catalog
    from engine.services.scheduler import tick

    assert settings.redis_url is not None
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    catalog = Catalog.load(settings.campaigns_dir, settings.content_dir)

    enqueue = batch_enqueuer(pool, settings)
    try:
        while stopping is None or not stopping.is_set():
            await tick(rt, catalog=catalog, enqueue=enqueue)
            await pause(stopping, every)
    finally:
        await pool.aclose()


def run_demo(*, speed: float, days: float, port: int, campaign: str, fresh: bool,
             exit_at_end: bool = False, data_dir: Path | None = None, no_run: bool = False,
             history_learners: int = 25) -> int:
    """Prepares the demo's data (accounts, history, the live session), then plays it unless ``no_run``."""
    data_dir = data_dir or Settings().data_dir / "demo"
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    session_end = demo_start(now)
    if no_run and session_end > now:  # ``ancrage run`` serves it on the real clock: the session has ended
        session_end = demo_start(now - timedelta(days=1))
    start = (session_end - timedelta(minutes=10)).astimezone(UTC)
    base = Settings(data_dir=data_dir, database_url=None, sandbox=True, twilio_auth_token=AUTH_TOKEN,
                    public_url=f"http://127.0.0.1:{port}", redis_prefix="ancrage-demo")
    live, simulated = asyncio.run(_prepare(base, campaign=campaign, session_end=session_end,
                                     until=min(start, now) if no_run else start, history_learners=history_learners))
    dashboard = f"{base.public_url}/dashboard/"
    accounts = "\n".join(f"    {spec.email:<24} {'responsable qualité' if spec.role == 'quality' else 'formateur'}"
                         for spec in DEMO_TRAINERS)
    print(f"""
Tableau de bord : {dashboard}
  comptes (mot de passe « {DEMO_PASSWORD} ») :
{accounts}""", flush=True)
    if no_run:
        print(f"""
données prêtes dans {data_dir}. Pour les servir :
  ANCRAGE_DATA_DIR={data_dir} ancrage run --port {port}""", flush=True)
        return 0
    url, private = resolve_redis(base)
    settings = base.model_copy(update={"redis_url": url})
    _warm_up(settings)
    # The clock starts once the web app and the worker are up (a few real seconds are hours at ×3600):
    # what takes long (Redis, the imports, the library's parse) is done before it is set.
    clock = WarpedClock(start=start, origin=time.time() + STARTUP_GRACE_SECONDS, speed=speed)
    os.environ.update(clock.as_env())
    try:
        asyncio.run(_main(settings, clock, campaign=campaign, session_end=session_end, days=days, port=port,
                          exit_at_end=exit_at_end, live=live, simulated=simulated))
    except KeyboardInterrupt:
        pass
    finally:
        if private is not None:
            private.stop()
        print("demo stopped.")
    return 0


def _warm_up(settings: Settings) -> None:
    """What the web app and the worker import and parse first, before the warped clock starts: on
    a loaded machine they took longer than the startup grace (a day in two real seconds), the first
    tick came a virtual day after the session's end, and its same-day messages were past."""
    import_serving()
    Catalog.load(settings.campaigns_dir, settings.content_dir)  # the parse is kept for this process


async def _prepare(settings: Settings, *, campaign: str, session_end: datetime, until: datetime,
                   history_learners: int) -> tuple[int, dict[int, tuple[str, str]]]:
    """Accounts and the live session, then (on a new database) the past sessions, played up to ``until``."""
    rt = await build_runtime(settings, clock=lambda: until)
    try:
        await upgrade_async(rt.engine)
        async with rt.sessions() as session:
            new = (await session.exec(select(TrainingSession.id).limit(1))).first() is None
        live, simulated = await seed(rt, campaign=campaign, ends_at=session_end)
        if new and history_learners > 0:
            print("historique : sessions passées jouées par le moteur…", flush=True)
            catalog = Catalog.load(settings.campaigns_dir, settings.content_dir)
            with progress(threshold=1, stream=sys.stdout) as report_days:
                report = await seed_history(rt, catalog, plan=with_learners(DEMO_PLAN, history_learners),
                                            until=until, progress=report_days)
            print(f"historique : {report.sessions} sessions, {report.learners} apprenants, "
                  f"{report.messages} réponses traitées en {report.seconds:.1f} s", flush=True)
        return live, simulated
    finally:
        await close_runtime(rt)


async def _main(settings: Settings, clock: WarpedClock, *, campaign: str, session_end: datetime,
                days: float, port: int, exit_at_end: bool, live: int,
                simulated: dict[int, tuple[str, str]]) -> None:
    rt = await build_runtime(settings)
    rt.clock = clock
    try:
        async with rt.sessions() as session:
            names = {row.id or 0: row.first_name for row in (await session.exec(
                select(Learner).join(Attendance, col(Attendance.learner_id) == col(Learner.id))
                .where(col(Attendance.session_id) == live))).all()}
        you = next(lid for lid in names if lid not in simulated)
        base = f"http://127.0.0.1:{port}"
        print(f"""
Ancrage — démo (×{clock.speed:.0f} : une heure simulée toutes les {3600 / clock.speed:.1f} s)
  session « Manager coach » terminée le {long_date(session_end, "Europe/Paris")} (Paris), campagne « {campaign} »
  votre téléphone :      {base}/sandbox/phone/{you}   (vous êtes {names[you]} : répondez aux quiz vous-même)
  tous les apprenants :  {base}/sandbox
  tableau de bord :      {base}/dashboard/
  données :              {settings.data_dir} (SQLite + Redis privé, canal bac à sable)
  Ctrl-C pour arrêter.
""", flush=True)
        learners = SimulatedLearners(rt, clock, f"{settings.public_url}/webhooks/twilio/sms", AUTH_TOKEN,
                                     {lid: (PERSONAS[p], phone) for lid, (p, phone) in simulated.items()})
        stop_at = clock() + timedelta(days=days)
        stopping = asyncio.Event()
        await serve_all(settings, host="127.0.0.1", port=port, stopping=stopping,
                        extra=[learners.run(stopping), narrate(rt, names, stop_at, exit_at_end=exit_at_end),
                               fast_ticks(rt, settings, stopping=stopping)])
    finally:
        await close_runtime(rt)
