"""Channel tests talk to local fakes only: any lookup or connection that would
leave the machine fails, as courier's tests do, so a misrouted client shows
up as a test failure instead of a call to a real provider."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.channels.twilio import TwilioChannel, TwilioConfig
from engine.fakes.fake_twilio import FakeTwilio
from engine.fakes.server import run_in_thread

TESTDATA = Path(__file__).parent / "testdata"
_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback(host: object) -> bool:
    if host in (None, "localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(
            host.decode() if isinstance(host, bytes) else str(host)
        ).is_loopback
    except ValueError:
        return False


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _loopback(host):
        raise socket.gaierror(socket.EAI_NONAME, f"non-loopback lookup blocked in tests: {host}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        raise ConnectionRefusedError(f"non-loopback connection blocked in tests: {address[0]}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(self, address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield


@pytest.fixture
def recorded() -> Callable[[str], Any]:
    """Loads a recorded wire payload from testdata/."""

    def load(name: str) -> Any:
        return json.loads((TESTDATA / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture
def fake() -> FakeTwilio:
    """The fake Twilio (no status callbacks); its app runs in a thread with ``api_base``."""
    return FakeTwilio(send_callbacks=False, slow_seconds=2.0)


@pytest.fixture
def api_base(fake: FakeTwilio) -> Iterator[str]:
    with run_in_thread(fake.app) as base:
        yield base


@pytest.fixture
async def make_channel(
    fake: FakeTwilio, api_base: str
) -> AsyncIterator[Callable[..., TwilioChannel]]:
    made: list[TwilioChannel] = []

    def make(name: str = "sms", **overrides: Any) -> TwilioChannel:
        settings: dict[str, Any] = {
            "account_sid": fake.account_sid,
            "auth_token": fake.auth_token,
            "from_number": "+33757000000",
            "whatsapp_from": "+14155238886",
            "status_callback_base": "https://ancrage.example.org",
            "api_base": api_base,
        }
        settings.update(overrides)
        channel = TwilioChannel(TwilioConfig(**settings), name=name)  # type: ignore[arg-type]
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.aclose()
