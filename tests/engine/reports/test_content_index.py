"""The content index is read once per campaign version per process, and never confused across databases."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel.ext.asyncio.session import AsyncSession as SQLModelSession

from engine.reports import content
from engine.reports.content import load_index
from engine.store.models import CampaignVersion


def _version(name: str, question_type: str, *, digest: str) -> CampaignVersion:
    return CampaignVersion(name=name, content_hash=digest, definition={
        "campaign": {"steps": [{"id": "chaud", "title": f"Enquête {name}"}], "defaults": {"channels": ["email"]}},
        "content": {"surveys": {"satisfaction-chaud": {"questions": [
            {"id": "q1", "type": question_type, "text": f"Question {name}", "criterion": "accueil"}]}}}})


async def test_a_version_s_definition_is_read_once_then_kept_by_its_hash(session: SQLModelSession) -> None:
    digest = "a" * 63 + "1"
    content._PARTS.pop(digest, None)
    version = _version("un", "rating", digest=digest)
    session.add(version)
    await session.commit()
    statements: list[str] = []
    sync_engine = session.get_bind()

    def record(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        first = await load_index(session, [version.id or 0])
        second = await load_index(session, [version.id or 0])
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)
    assert first.questions["satisfaction-chaud#q1"].type == "rating"
    assert second.questions == first.questions and second.step_titles == {"chaud": "Enquête un"}
    assert second.channels == {version.id: ["email"]}
    definitions = [s for s in statements if "campaign_version.definition" in s]
    assert len(definitions) == 1, statements


async def test_the_same_id_in_another_database_with_other_content_is_read_afresh(session: SQLModelSession) -> None:
    kept = _version("ancienne", "rating", digest="b" * 64)
    content._remember(kept.content_hash, content.ContentIndex(
        questions={"satisfaction-chaud#q1": content.QuestionInfo(type="rating", text="ancienne")}))
    fresh = _version("nouvelle", "nps", digest="c" * 64)
    content._PARTS.pop(fresh.content_hash, None)
    session.add(fresh)
    await session.commit()
    index = await load_index(session, [fresh.id or 0])
    assert index.questions["satisfaction-chaud#q1"].type == "nps"
    assert index.questions["satisfaction-chaud#q1"].text == "Question nouvelle"


async def test_unknown_version_ids_give_an_empty_index(session: AsyncSession) -> None:
    index = await load_index(session, [987654])
    assert index.questions == {} and index.channels == {}
