"""Fixtures for real-worker tests: the fake providers (helpers live in tests.support.worker_harness)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.fakes.fake_fcm import FakeFcm
from engine.fakes.fake_smtp import FakeSmtp
from engine.fakes.server import run_in_thread
from tests.support.worker_harness import HoldingTwilio, Providers, write_service_account


@pytest.fixture
def providers(tmp_path: Path) -> Iterator[Providers]:
    """Twilio, FCM and SMTP fakes on loopback; the real clients talk to them over HTTP/SMTP."""
    twilio = HoldingTwilio(send_callbacks=False, slow_seconds=20.0, retry_after="1")
    fcm = FakeFcm(retry_after="1")
    smtp = FakeSmtp()
    with run_in_thread(twilio.app) as twilio_url, run_in_thread(fcm.app) as fcm_url, \
            smtp.running() as (smtp_host, smtp_port):
        account = write_service_account(tmp_path / "fcm.json", f"{fcm_url}/token")
        yield Providers(twilio, fcm, smtp, twilio_url, fcm_url, smtp_host, smtp_port, account)
