"""The OpenAPI document tells the truth: a bounded schemathesis run with every check.

Each operation gets positive and negative examples (30 an operation, < 60 s in all),
sent in-process to the real app on its own database, with a valid API key and
learner token, so past authentication the routes themselves are exercised.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy.pool import NullPool

from engine.settings import Settings
from engine.store.db import create_engine, session_factory
from engine.store.migrate import upgrade
from engine.store.models import Learner
from tests.support.web_support import NOW, make_settings
from webhooks.app import create_app
from webhooks.deps import create_api_key, issue_app_token

EXAMPLES = 15  # per operation and generation mode: 30 an operation
BUDGET_SECONDS = 60
#: Twilio's form posts are checked against Twilio's own contract (signatures, fields) in
#: test_webhooks_twilio.py and test_webhooks_fuzz.py, not against a JSON document.
PROVIDER_WEBHOOKS = "/webhooks/twilio/"


async def _seed(settings: Settings) -> dict[str, str]:
    engine = create_engine(settings, poolclass=NullPool)
    try:
        async with session_factory(engine)() as session:
            session.add(Learner(first_name="Camille", last_name="Martin", phone="+33612345678",
                                email="c@example.org"))
            key = await create_api_key(session, "LMS")
            await session.commit()
    finally:
        await engine.dispose()
    return {"X-Api-Key": key, "Authorization": f"Bearer {issue_app_token(settings, 1, NOW)}"}


def _run(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> str | None:
    failure: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        given_headers = {name.lower() for name in case.headers or {}}
        # Positive examples always carry valid credentials; negative ones only where the
        # example has the header at all (a missing header is what is being tested).
        sent = {name: value for name, value in headers.items()
                if mode is GenerationMode.POSITIVE or name.lower() in given_headers}
        try:
            case.call_and_validate(headers=sent)
        except (AssertionError, BaseExceptionGroup) as exc:  # reported below, per operation
            if not failure:
                failure.append(f"{operation.label} [{mode.value}]: {exc}")

    try:
        run()
    except Unsatisfiable:  # nothing can be invalid (no parameters): no negative examples
        assert mode is GenerationMode.NEGATIVE, operation.label
    return failure[0] if failure else None


def test_schemathesis_finds_nothing(empty_store_url: str, tmp_path: Path) -> None:
    settings_ = make_settings(empty_store_url, tmp_path)
    upgrade(settings_)
    headers = asyncio.run(_seed(settings_))
    app = create_app(settings_, migrate=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.checks.update(included_check_names=["all"])
    # A schema-valid body may still break a rule JSON Schema cannot state (a session ending
    # before it starts, a phone that is no number, an unknown campaign): that is a 422.
    acceptance = schema.config.checks.positive_data_acceptance
    acceptance.expected_statuses = [*acceptance.expected_statuses, "422"]
    started = time.monotonic()
    failures: list[str] = []
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path.startswith(PROVIDER_WEBHOOKS):
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                found = _run(operation, mode, headers)
                if found:
                    failures.append(found)
    finally:
        shutdown_lifespans()
    elapsed = time.monotonic() - started
    assert not failures, "\n\n".join(failures)
    assert elapsed < BUDGET_SECONDS, f"schemathesis run took {elapsed:.0f} s"


@pytest.fixture(autouse=True)
def _no_leftover_lifespans() -> Any:
    yield
    shutdown_lifespans()
