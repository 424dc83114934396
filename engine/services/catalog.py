"""Campaign versions: what an enrolment pins so that editing a campaign never changes it.

A version is the campaign definition plus a snapshot of every piece of content
it uses, keyed by a content hash. Enrolling reuses the version with the same
hash, or stores a new one.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.campaign.lint import lint_campaign
from engine.campaign.loader import campaign_files, content_hash, load_campaign
from engine.campaign.schema import Action, Campaign, Step
from engine.content.library import ContentLibrary
from engine.content.models import Lesson, QuizBank, Survey
from engine.diagnostics import Diagnostic, has_errors
from engine.store.models import CampaignVersion

_KIND_TO_TABLE = {"lesson": "lessons", "quiz": "banks", "review": "banks", "survey": "surveys",
                  "checkin": "checkins"}


@dataclass(frozen=True)
class PinnedContent:
    """The content snapshot of one campaign version (satisfies the simulator's ContentView)."""

    lessons: dict[str, Lesson] = field(default_factory=dict)
    banks: dict[str, QuizBank] = field(default_factory=dict)
    surveys: dict[str, Survey] = field(default_factory=dict)
    checkins: dict[str, Survey] = field(default_factory=dict)

    def dump(self) -> dict[str, dict[str, Any]]:
        return {name: {ref: model.model_dump(mode="json") for ref, model in getattr(self, name).items()}
                for name in ("lessons", "banks", "surveys", "checkins")}

    @classmethod
    def load(cls, data: dict[str, dict[str, Any]]) -> PinnedContent:
        return cls(
            lessons={ref: Lesson.model_validate(v) for ref, v in data.get("lessons", {}).items()},
            banks={ref: QuizBank.model_validate(v) for ref, v in data.get("banks", {}).items()},
            surveys={ref: Survey.model_validate(v) for ref, v in data.get("surveys", {}).items()},
            checkins={ref: Survey.model_validate(v) for ref, v in data.get("checkins", {}).items()},
        )


def _holders(campaign: Campaign) -> list[Step | Action]:
    holders: list[Step | Action] = []
    for step in campaign.steps:
        holders.append(step)
        for condition in step.if_:
            holders.extend(condition.actions)
        if step.on_silence is not None:
            holders.extend(step.on_silence.actions)
    return holders


def snapshot(campaign: Campaign, library: ContentLibrary) -> PinnedContent:
    """Every piece of content the campaign references, copied out of the library."""
    pinned = PinnedContent()
    for holder in _holders(campaign):
        for kind, table in _KIND_TO_TABLE.items():
            value = getattr(holder, kind, None)
            refs = value if isinstance(value, list) else [value] if isinstance(value, str) else []
            source = getattr(library, table)
            for ref in refs:
                if ref in source:
                    getattr(pinned, table)[ref] = source[ref]
    return pinned


@dataclass(frozen=True)
class Catalog:
    """The campaigns on disk that passed validation, with the library they use."""

    campaigns: dict[str, Campaign]
    library: ContentLibrary
    diagnostics: list[Diagnostic]

    @classmethod
    def load(cls, campaigns_dir: Path, content_dir: Path) -> Catalog:
        """Loads every campaign; one with errors is left out and its diagnostics kept."""
        library, diagnostics = ContentLibrary.load(content_dir)
        campaigns: dict[str, Campaign] = {}
        for path in campaign_files([campaigns_dir]):
            loaded = load_campaign(path)
            found = loaded.diagnostics + lint_campaign(loaded, library)
            diagnostics.extend(found)
            if loaded.campaign is not None and not has_errors(found):
                campaigns[loaded.campaign.campaign] = loaded.campaign
        return cls(campaigns, library, diagnostics)

    @classmethod
    def load_cached(cls, campaigns_dir: Path, content_dir: Path) -> Catalog:
        """:meth:`load`, parsed once per process while no file under either folder changes.

        Every file under both folders is read and hashed on each call (a few
        milliseconds; parsing and linting the YAML is what costs), so an edit, a new
        file or a removed one is seen at once, whatever the clock or the file
        system's time stamps say. The catalog returned is shared: read it, never
        change it.
        """
        key = (str(campaigns_dir.resolve()), str(content_dir.resolve()))
        fingerprint = _fingerprint(campaigns_dir, content_dir)
        cached = _catalogs.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        catalog = cls.load(campaigns_dir, content_dir)
        _catalogs.pop(key, None)
        _catalogs[key] = (fingerprint, catalog)
        while len(_catalogs) > _CATALOGS_KEPT:  # tests point at many folders: keep the latest few
            del _catalogs[next(iter(_catalogs))]
        return catalog


#: (campaigns folder, content folder) -> (what their files held, the catalog parsed from them).
_catalogs: dict[tuple[str, str], tuple[str, Catalog]] = {}
_CATALOGS_KEPT = 4


def _fingerprint(*folders: Path) -> str:
    """A hash of every file's path and bytes under ``folders`` (a missing folder counts too)."""
    digest = hashlib.sha256()
    for folder in folders:
        digest.update(f"\0folder {folder.resolve()} {folder.is_dir()}\0".encode())
        for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
            digest.update(f"\0{path.relative_to(folder).as_posix()}\0".encode())
            try:
                digest.update(path.read_bytes())
            except OSError:  # removed while being read: the next call sees the folder as it is
                digest.update(b"\0unreadable\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class PinnedCampaign:
    version_id: int
    campaign: Campaign
    content: PinnedContent
    content_hash: str = ""


async def pin_version(session: AsyncSession, *, campaign: Campaign, library: ContentLibrary) -> CampaignVersion:
    """The stored version for this exact campaign and content, created when new."""
    pinned = snapshot(campaign, library)
    digest = content_hash(campaign, pinned.dump())
    statement = select(CampaignVersion).where(CampaignVersion.content_hash == digest)
    existing = (await session.exec(statement)).first()
    if existing is not None:
        return existing
    # Two workers may pin the same new version at once: the unique hash decides, quietly.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.exec(insert(CampaignVersion).values(
        name=campaign.campaign, content_hash=digest, created_at=datetime.now(UTC),
        definition={"campaign": campaign.model_dump(mode="json", by_alias=True), "content": pinned.dump()},
    ).on_conflict_do_nothing(index_elements=["content_hash"]))
    return (await session.exec(statement)).one()


_cache: dict[tuple[str, int], PinnedCampaign] = {}


def forget_versions() -> None:
    """Empties the process cache (tests that recreate a database under the same URL need it)."""
    _cache.clear()


_database_names: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _database(session: AsyncSession) -> str:
    """Which database a session talks to: version ids are only unique within one.

    Rendered once per engine (the send job asks twice per delivery)."""
    engine = session.get_bind().engine
    name = _database_names.get(engine)
    if name is None:
        name = _database_names[engine] = engine.url.render_as_string(hide_password=True)
    return name


def unpin(version: CampaignVersion, *, database: str = "") -> PinnedCampaign:
    """The campaign and content of a stored version (parsed once per process and database)."""
    assert version.id is not None
    key = (database, version.id)
    cached = _cache.get(key)
    if cached is None or cached.content_hash != version.content_hash:
        cached = PinnedCampaign(
            version.id,
            Campaign.model_validate(version.definition["campaign"]),
            PinnedContent.load(version.definition["content"]),
            version.content_hash,
        )
        _cache[key] = cached
    return cached


async def load_pinned(session: AsyncSession, version_id: int) -> PinnedCampaign:
    """A version by id, from the process cache or the database (versions never change)."""
    cached = _cache.get((_database(session), version_id))
    if cached is not None:
        return cached
    version = await session.get(CampaignVersion, version_id)
    if version is None:
        raise LookupError(f"campaign version {version_id} does not exist")
    return unpin(version, database=_database(session))
