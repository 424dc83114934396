"""A local stand-in for Google's OAuth token endpoint and the FCM HTTP v1 API.

firebase-admin first exchanges a service-account JWT for an access token at
the `token_uri` of the service account, then POSTs each message to
`/v1/projects/{project}/messages:send`. Both are served here, so the real
library runs unchanged; `fake_service_account()` makes a key whose
`token_uri` points at this fake.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FcmFailure = Literal[
    "unregistered", "invalid", "unavailable", "unavailable_once", "internal", "quota"
]

# failure -> (HTTP status, google.rpc status, FcmError errorCode, message)
_ERRORS: dict[str, tuple[int, str, str, str]] = {
    "unregistered": (404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    "invalid": (
        400,
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
    ),
    "unavailable": (503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
    "internal": (500, "INTERNAL", "INTERNAL", "Internal error encountered."),
    "quota": (
        429,
        "RESOURCE_EXHAUSTED",
        "QUOTA_EXCEEDED",
        "Quota exceeded for quota metric 'Send requests' of service 'fcm.googleapis.com'",
    ),
}


@lru_cache(maxsize=1)
def _private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def fake_service_account(token_uri: str, project_id: str = "ancrage-demo") -> dict[str, str]:
    """A service-account key (locally generated RSA key) whose tokens come from `token_uri`."""
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": _private_key_pem(),
        "client_email": f"firebase-adminsdk@{project_id}.iam.gserviceaccount.com",
        "client_id": "1" * 21,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/firebase",
    }


@dataclass
class FakeFcm:
    """State and ASGI app of the fake. Run it with `engine.fakes.server.run_in_thread(fake.app)`."""

    project_id: str = "ancrage-demo"
    retry_after: str | None = "30"
    sent: list[dict[str, Any]] = field(default_factory=list)
    token_grants: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, FcmFailure] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    _access_tokens: set[str] = field(default_factory=set, repr=False)

    def fail(self, registration_token: str, failure: FcmFailure) -> None:
        """Make sends to this registration token fail ("unregistered" = a dead token)."""
        self.failures[registration_token] = failure

    @cached_property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
            ]
        )

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        assertion = str(form.get("assertion", ""))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not assertion:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Invalid JWT."}, status_code=400
            )
        self.token_grants.append(_jwt_claims(assertion))
        access_token = "ya29.fake-" + secrets.token_urlsafe(24)
        self._access_tokens.add(access_token)
        return JSONResponse(
            {"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"}
        )

    async def _send(self, request: Request) -> Response:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self._access_tokens:
            return _error(
                401, "UNAUTHENTICATED", None, "Request had invalid authentication credentials."
            )
        if request.path_params["project"] != self.project_id:
            return _error(403, "PERMISSION_DENIED", None, "Permission denied on resource project.")
        payload = await request.json()
        message = payload.get("message") or {}
        token = message.get("token") or message.get("fid")
        if not token:
            return _error(
                400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Request contains an invalid argument."
            )
        self.attempts[token] = self.attempts.get(token, 0) + 1
        failure = self.failures.get(token)
        if failure == "unavailable_once":
            if self.attempts[token] == 1:
                return _error(*_fields("unavailable"))
        elif failure is not None:
            headers = (
                {"Retry-After": self.retry_after}
                if failure == "quota" and self.retry_after
                else None
            )
            return _error(*_fields(failure), headers=headers)
        name = f"projects/{self.project_id}/messages/0:{int(time.time() * 1000)}%{secrets.token_hex(8)}"
        self.sent.append({"name": name, **payload})
        return JSONResponse({"name": name})


def _fields(failure: str) -> tuple[int, str, str, str]:
    return _ERRORS[failure]


def _error(
    code: int,
    status: str,
    fcm_code: str | None,
    message: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if fcm_code:
        error["details"] = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}
        ]
    return JSONResponse({"error": error}, status_code=code, headers=headers)


def _jwt_claims(assertion: str) -> dict[str, Any]:
    """The JWT's claims (unverified: the fake only records who asked for what scope)."""
    try:
        segment = assertion.split(".")[1]
        claims: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        )
        return claims
    except (IndexError, ValueError):
        return {}
