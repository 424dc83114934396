"""The import's e-mail check answers exactly as ``email_validator`` does, address for address.

``normalise_email`` checks a plain address's domain once per domain; these tests
hold it to the library's verdict, normalised form and error message.
"""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.services.attendees import normalise_email

DOMAINS = ["example.fr", "Exemple.FR", "exemple", "localhost", "test", "a.test", "x.invalid", "arpa",
           "sub.domain.example.org", "xn--bcher-kva.ch", "bücher.ch", "ex_ample.fr", "-bad.fr", "bad-.fr",
           "1.2.3.4", "[1.2.3.4]", "a..b.fr", "example.com.", "", "exa mple.fr", "example.123",
           f"{'a' * 63}.fr", f"{'a' * 64}.fr", ".".join(["abcdefghi"] * 24) + ".fr", "ÉCOLE.fr", "b@c.fr",
           "example.fr>", "<example.fr"]
LOCALS = st.one_of(
    st.sampled_from(["lea.roux", "Lea.Roux", "a", "postmaster", "PostMaster", "info", "x" * 64, "x" * 65,
                     ".lea", "lea.", "le..a", '"lea roux"', "léa", "lea roux", "", "a+tag", "o'neil",
                     "{a}|b~c", "Emma <emma", "x" * 200]),
    st.text(alphabet="aZ9._+-'\"@ éÉ<>()\\", max_size=12))


def _reference(address: str) -> str:
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return f"'{address}' is not a valid e-mail address: {exc}"


def _ours(address: str) -> str:
    try:
        return normalise_email(address)
    except ValueError as exc:
        return str(exc)


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("local", ["lea.roux", "Lea.Roux", "postmaster", "x" * 64, "x" * 65, "a+tag", "léa"])
def test_known_shapes_answer_like_the_library(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    assert _ours(address) == _reference(address)
    assert _ours(address) == _reference(address)  # the domain's answer, cached, is the same


@settings(max_examples=400, deadline=None)
@given(local=LOCALS, domain=st.one_of(st.sampled_from(DOMAINS), st.text(alphabet="ab.-_é1@ ", max_size=10)))
def test_any_address_answers_like_the_library(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    assert _ours(address) == _reference(address)


def test_a_long_address_is_refused_like_the_library() -> None:
    address = "x" * 60 + "@" + ".".join(["abcdefghi"] * 20) + ".fr"
    assert len(address) > 254
    assert _ours(address) == _reference(address) and "too long" in _ours(address)
