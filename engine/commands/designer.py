"""Designers' commands: validate, schema, preview, simulate."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.campaign.jsonschema import campaign_json_schema
from engine.campaign.loader import LoadedCampaign, load_campaign
from engine.campaign.preview import build_preview, format_preview
from engine.campaign.validate import validate_paths
from engine.commands.progress import progress
from engine.content.library import ContentLibrary
from engine.content.render import RenderError, render, sample_context, sample_session_title
from engine.core.personas import PERSONAS, ScriptedReplies, find_persona
from engine.settings import Settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(commands: Commands) -> None:
    validate = commands.add_parser("validate", help="check campaigns and content")
    validate.add_argument("paths", nargs="*", type=Path,
                          help="campaign files or folders, and the content folder "
                               "(default: the organisation's campaigns/ and content/)")
    validate.add_argument("--content", type=Path,
                          help="the content library (default: the organisation's content/)")
    validate.add_argument("--format", choices=("text", "json"), default="text",
                          help="text for people, json for tools")
    validate.add_argument("--strict", action="store_true", help="warnings fail too")
    validate.set_defaults(handler=cmd_validate)

    schema = commands.add_parser("schema", help="print the campaign JSON Schema")
    schema.add_argument("--output", type=Path, help="write to this file instead of the terminal")
    schema.set_defaults(handler=cmd_schema)

    for name, handler, text in (("preview", cmd_preview, "print the dated timeline"),
                                ("simulate", cmd_simulate, "play a campaign against a persona")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("campaign", help="campaign file or name (campaigns/NAME.yaml)")
        sub.add_argument("--session-end", required=True, help="ISO date-time, e.g. 2026-03-27T18:00")
        sub.add_argument("--tz", help="learner time zone (default: Europe/Paris)")
        sub.add_argument("--content", type=Path,
                         help="the content library (default: the organisation's content/)")
        sub.add_argument("--format", choices=("text", "json"), default="text",
                         help="text for people, json for tools")
        sub.add_argument("--session-title",
                         help="the sample session's title in the messages (default: from the campaign's title)")
        sub.set_defaults(handler=handler)
        if name == "simulate":
            sub.add_argument("--persona", default="assidu",
                             help=f"one of {', '.join(PERSONAS)} (or good, struggling, late, silent)")
            sub.add_argument("--script", type=Path, help="YAML file of scripted replies per step id")
            sub.add_argument("--seed", type=int, default=1,
                             help="seed for the persona's choices (same seed, same transcript)")


def _with_settings(args: argparse.Namespace) -> None:
    """Fills the defaults from the organisation's folder, read when the command runs."""
    settings = Settings()
    if getattr(args, "content", None) is None:
        args.content = settings.content_dir
    if hasattr(args, "tz") and args.tz is None:
        args.tz = settings.default_timezone
    args.campaigns_dir = settings.campaigns_dir
    if hasattr(args, "paths") and not args.paths:
        args.paths = [settings.campaigns_dir, settings.content_dir]


def cmd_validate(args: argparse.Namespace) -> int:
    _with_settings(args)
    with progress("reading the content library") as bar:
        report = validate_paths(list(args.paths), content_dir=args.content, progress=bar)
    print(report.json() if args.format == "json" else report.text())
    failed = report.errors > 0 or (args.strict and report.warnings > 0)
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(campaign_json_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _fail(message: str) -> int:
    print(f"ancrage: {message}", file=sys.stderr)
    return 2


def _resolve_campaign(args: argparse.Namespace) -> Path:
    path = Path(args.campaign)
    if not path.exists() and not path.suffix:
        path = Path(args.campaigns_dir) / f"{args.campaign}.yaml"
    return path


def _prepare(args: argparse.Namespace) -> tuple[LoadedCampaign, ContentLibrary, datetime, ZoneInfo] | int:
    _with_settings(args)
    try:
        tz = ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        return _fail(f"unknown time zone '{args.tz}' (e.g. Europe/Paris)")
    try:
        session_end = datetime.fromisoformat(args.session_end)
    except ValueError:
        return _fail(f"cannot read --session-end '{args.session_end}': use 2026-03-27T18:00")
    if session_end.tzinfo is None:
        session_end = session_end.replace(tzinfo=tz)
    loaded = load_campaign(_resolve_campaign(args))
    library, _ = ContentLibrary.load(args.content)
    if loaded.campaign is None:
        for diagnostic in loaded.diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        return 1
    return loaded, library, session_end, tz


def _sample(args: argparse.Namespace, loaded: LoadedCampaign) -> dict[str, Any]:
    """The sample learner and a session that fits this campaign (``--session-title``)."""
    assert loaded.campaign is not None
    title = args.session_title or sample_session_title(loaded.campaign.title)
    return sample_context(loaded.campaign.locale, session_title=title)


def cmd_preview(args: argparse.Namespace) -> int:
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    loaded, library, session_end, tz = prepared
    assert loaded.campaign is not None
    context = _sample(args, loaded)
    rows = build_preview(loaded.campaign, library, session_end=session_end, tz=tz, context=context)
    if args.format == "json":
        print(json.dumps([row.as_dict() for row in rows], indent=2, ensure_ascii=False))
    else:
        print(format_preview(loaded.campaign, rows, tz))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from engine.commands.simulate import load_script, run_simulation

    persona = find_persona(args.persona)
    if persona is None:
        return _fail(f"unknown persona '{args.persona}': choose {', '.join(PERSONAS)}")
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    loaded, library, session_end, tz = prepared
    assert loaded.campaign is not None
    script: ScriptedReplies | None = None
    if args.script:
        loaded_script = load_script(args.script)
        if isinstance(loaded_script, str):
            return _fail(loaded_script)
        script = loaded_script
    context: dict[str, Any] = _sample(args, loaded)

    def _render(text: str) -> str:
        try:
            return render(text, context)
        except RenderError:
            return text

    entries = run_simulation(loaded.campaign, library, persona=persona, anchor=session_end, tz=tz,
                             seed=args.seed, script=script, render=_render)
    if args.format == "json":
        print(json.dumps([e.as_dict() for e in entries], indent=2, ensure_ascii=False))
        return 0
    print(f"{loaded.campaign.title}: persona '{persona.name}' ({persona.description})\n")
    for entry in entries:
        print(f"{entry.at:%a %Y-%m-%d %H:%M}  {entry.event:<9} {entry.step_id:<22} {entry.detail}")
        if entry.text and entry.event in ("reply", "feedback"):
            print(f"{'':41}> {entry.text.splitlines()[0]}")
    return 0
