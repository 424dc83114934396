"""Logging into the dashboard with httpx: the CSRF cookie, the token in the form, the session cookie."""

from __future__ import annotations

import re

import httpx

from tests.support.dashboard_support import PASSWORD

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/dashboard/login")
    return await client.post("/dashboard/login", data={"csrf": csrf_of(page.text), "email": email,
                                                       "password": password, "next": "/dashboard/"})


async def post_form(client: httpx.AsyncClient, page_path: str, action: str, data: dict[str, str]
                    ) -> httpx.Response:
    """Opens ``page_path`` (for its CSRF token) and posts ``data`` to ``action``."""
    page = await client.get(page_path)
    return await client.post(action, data={"csrf": csrf_of(page.text), **data})
