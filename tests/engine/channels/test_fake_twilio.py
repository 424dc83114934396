"""The fake Twilio behaves as Twilio does for what recovery relies on, checked
against recorded response shapes (testdata/) and through the real client.

Statuses move over time and ``date_sent`` stays null until a message has left;
the Messages list filters on To, From and DateSent (=, <=, >=) and pages;
Smart Encoding changes the stored body. Then ``TwilioChannel.find_sent``
against it: found while still queued, despite Smart Encoding, never before the
attempt, never a sid another delivery owns.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from engine.channels.base import OutboundMessage
from engine.channels.twilio import LookupIncomplete, TwilioChannel
from engine.fakes.fake_twilio import FakeTwilio

LEARNER = "+33612345678"
ENC = "%2B33612345678"
RFC2822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")
T0 = datetime(2026, 6, 2, 8, 0, tzinfo=UTC)


def sms(body: str = "Quiz : répondez A, B ou C", to: str = LEARNER) -> OutboundMessage:
    return OutboundMessage(delivery_id=1, channel="sms", to=to, body=body)


def _auth(fake: FakeTwilio) -> httpx.BasicAuth:
    return httpx.BasicAuth(fake.account_sid, fake.auth_token)


def _list(fake: FakeTwilio, api_base: str, query: str) -> dict[str, Any]:
    url = f"{api_base}/2010-04-01/Accounts/{fake.account_sid}/Messages.json?{query}"
    response = httpx.get(url, auth=_auth(fake))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _same_shape(served: dict[str, Any], recorded: dict[str, Any]) -> None:
    assert sorted(served) == sorted(recorded)
    for key, value in recorded.items():
        if value is not None and served[key] is not None:
            assert type(served[key]) is type(value), key
        if key.startswith("date_") and served[key] is not None:
            assert RFC2822.match(served[key]), (key, served[key])


async def test_create_answer_has_twilio_shape(fake: FakeTwilio, api_base: str,
                                              recorded: Callable[[str], Any]) -> None:
    fake.hold_queued.add(LEARNER)
    response = httpx.post(f"{api_base}/2010-04-01/Accounts/{fake.account_sid}/Messages.json", auth=_auth(fake),
                          data={"To": LEARNER, "Body": "Quiz", "MessagingServiceSid": "MG" + "1" * 32})
    assert response.status_code == 201
    created = response.json()
    _same_shape(created, recorded("twilio_message_created.json"))
    assert (created["status"], created["date_sent"]) == ("accepted", None)
    assert created["date_created"] is not None


async def test_statuses_move_over_time_and_date_sent_waits_for_sent(
        fake: FakeTwilio, api_base: str, make_channel: Callable[..., TwilioChannel]) -> None:
    fake.step_seconds = 0.15
    fake.clock = lambda: T0
    channel = make_channel(from_number=None, messaging_service_sid="MG" + "1" * 32)
    sid = (await channel.send(sms())).provider_id
    early = _list(fake, api_base, f"To={ENC}")["messages"][0]
    assert early["sid"] == sid and early["status"] in ("accepted", "queued")
    assert early["date_sent"] is None and parsedate_to_datetime(early["date_created"]) == T0
    time.sleep(0.8)
    late = _list(fake, api_base, f"To={ENC}")["messages"][0]
    assert late["status"] == "delivered"
    assert late["date_sent"] is not None and parsedate_to_datetime(late["date_sent"]) >= T0
    assert fake.messages[0]["history"] == ["accepted", "queued", "sending", "sent", "delivered"]


async def test_list_filters_to_from_and_date_sent(fake: FakeTwilio, api_base: str,
                                                   make_channel: Callable[..., TwilioChannel],
                                                   recorded: Callable[[str], Any]) -> None:
    moments = iter([T0, T0 + timedelta(days=1), T0 + timedelta(days=1, hours=1)])
    fake.clock = lambda: next(moments)
    fake.hold_queued.add("+33600000003")
    channel = make_channel()
    for to in (LEARNER, LEARNER, "+33600000003"):
        assert (await channel.send(sms(to=to))).accepted
    first, second, held = fake.messages

    def sids(query: str) -> list[str]:
        return [m["sid"] for m in _list(fake, api_base, query)["messages"]]

    assert sids(f"To={ENC}") == [second["sid"], first["sid"]]  # newest first
    assert sids("To=%2B33600000003") == [held["sid"]]  # listed by To while still queued...
    assert sids("DateSent>=2026-06-01") == [second["sid"], first["sid"]]  # ...but never by DateSent
    assert sids("DateSent=2026-06-02") == [first["sid"]]
    assert sids("DateSent<=2026-06-02") == [first["sid"]]
    assert sids("DateSent>=2026-06-03") == [second["sid"]]
    assert sids("DateSent>=2026-06-02T08:00:01Z") == [second["sid"]]
    assert sids("From=%2B33757000000&DateSent<=2026-06-03T08:00:00Z") == [second["sid"], first["sid"]]
    assert sids("From=%2B33000000000") == []
    page = _list(fake, api_base, f"To={ENC}&PageSize=1")
    _same_shape(page, recorded("twilio_messages_page.json"))
    for message, shape in zip(page["messages"], recorded("twilio_messages_page.json")["messages"], strict=False):
        _same_shape(message, shape)
    assert page["next_page_uri"].startswith(f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json?")
    assert "Page=1" in page["next_page_uri"] and "PageToken=PA" in page["next_page_uri"]
    assert sids(page["next_page_uri"].partition("?")[2]) == [first["sid"]]


async def test_the_real_client_pages_through_the_list(fake: FakeTwilio,
                                                      make_channel: Callable[..., TwilioChannel]) -> None:
    channel = make_channel()
    for index in range(5):
        assert (await channel.send(sms(body=f"Message {index}"))).accepted
    listed = await channel._twilio().messages.list_async(to=LEARNER, page_size=2)
    assert [m.body for m in listed] == [f"Message {i}" for i in range(4, -1, -1)]
    after = await channel._twilio().messages.list_async(date_sent_after=datetime.now(UTC) - timedelta(minutes=1))
    assert len(after) == 5


async def test_smart_encoding_changes_the_stored_body(fake: FakeTwilio,
                                                      make_channel: Callable[..., TwilioChannel]) -> None:
    fake.smart_encoding = True
    posted = "« C’est prêt » — l’équipe…\u202f!"
    assert (await make_channel().send(sms(body=posted))).accepted
    [message] = fake.messages
    assert message["posted_body"] == posted
    assert message["body"] == "\" C'est prêt \" - l'équipe... !"


async def test_find_sent_finds_a_message_still_queued(fake: FakeTwilio,
                                                      make_channel: Callable[..., TwilioChannel]) -> None:
    fake.clock = lambda: T0
    fake.hold_queued.add(LEARNER)
    channel = make_channel()
    sid = (await channel.send(sms())).provider_id
    assert fake.messages[0]["date_sent"] is None
    assert await channel.find_sent(to=LEARNER, body=sms().body, since=T0) == sid
    # what the old lookup (DateSent after the claim) saw: nothing, hence the second SMS
    assert await channel._twilio().messages.list_async(to=LEARNER, date_sent_after=T0 - timedelta(minutes=5)) == []


async def test_find_sent_tolerates_smart_encoding_and_knows_absence(
        fake: FakeTwilio, make_channel: Callable[..., TwilioChannel]) -> None:
    fake.smart_encoding = True
    fake.clock = lambda: T0
    channel = make_channel()
    body = "« Plan d’action » : où en êtes-vous… ?"
    sid = (await channel.send(sms(body=body))).provider_id
    assert fake.messages[0]["body"] != body
    assert await channel.find_sent(to=LEARNER, body=body, since=T0) == sid
    assert await channel.find_sent(to=LEARNER, body="Un autre message", since=T0) is None
    assert await channel.find_sent(to="+33699999999", body=body, since=T0) is None
    assert await channel.find_sent(to=LEARNER, body=body, since=T0 + timedelta(hours=1)) is None  # sent before
    assert await channel.find_sent(to=LEARNER, body=body, since=T0, exclude={str(sid)}) is None


async def test_find_sent_gives_up_rather_than_guess_when_the_log_is_too_long(
        fake: FakeTwilio, make_channel: Callable[..., TwilioChannel], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.channels.twilio.LOOKUP_LIMIT", 3)
    channel = make_channel()
    for index in range(3):
        assert (await channel.send(sms(body=f"Message {index}"))).accepted
    with pytest.raises(LookupIncomplete):
        await channel.find_sent(to=LEARNER, body="Message 9", since=T0)
