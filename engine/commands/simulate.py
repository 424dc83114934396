"""Glue for ``ancrage simulate``: reads a reply script and runs the pure-core simulation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from engine.campaign.schema import Campaign
from engine.core.offsets import OffsetError, parse_duration
from engine.core.personas import Persona, PersonaReplies, ScriptedReplies
from engine.core.questions import ContentView
from engine.core.simulation import Simulation, TranscriptEntry
from engine.diagnostics.yaml_reader import read_yaml


def load_script(path: Path) -> ScriptedReplies | str:
    """Reads ``{step-id: {replies: [...], delay: 2h}}`` (or ``step-id: [...]``); a str is an error."""
    doc, problems = read_yaml(path)
    if doc is None:
        return problems[0].format()
    if not isinstance(doc.data, dict):
        return f"{path}: a script maps step ids to replies"
    replies: dict[str, list[str]] = {}
    delays = {}
    for step_id, spec in doc.data.items():
        entry = spec if isinstance(spec, dict) else {"replies": spec}
        texts = entry.get("replies", [])
        if isinstance(texts, str | int):
            texts = [texts]
        if not isinstance(texts, list):
            line, col = doc.position((step_id,))
            return f"{path}:{line}:{col}: replies of '{step_id}' must be a list of texts"
        replies[str(step_id)] = [str(t) for t in texts]
        if "delay" in entry:
            try:
                delays[str(step_id)] = parse_duration(str(entry["delay"])).approx_timedelta()
            except OffsetError as exc:
                line, col = doc.position((step_id, "delay"))
                return f"{path}:{line}:{col}: {exc}"
    return ScriptedReplies(replies=replies, delays=delays)


def run_simulation(campaign: Campaign, content: ContentView, *, persona: Persona, anchor: datetime,
                   tz: ZoneInfo, seed: int = 1, script: ScriptedReplies | None = None,
                   render: Callable[[str], str] = lambda text: text) -> list[TranscriptEntry]:
    """The transcript of one simulated learner through one campaign."""
    simulation = Simulation(campaign, content, anchor=anchor, tz=tz,
                            replies=PersonaReplies(persona, seed), script=script, render=render)
    return simulation.run()
