"""The API keeps the promises its OpenAPI document makes, and the document says what the API does.

* Every 422 body is ``{"detail": [{"loc", "msg", "type"}, ...]}`` as the
  document's ``HTTPValidationError`` says, whoever raised it (a route's own
  check included); a body that is not JSON at all (or not UTF-8) is a 400 of
  the same shape.
* Every operation documents the 400 (malformed JSON) when it takes a body, and
  the 401 when it needs credentials.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException  # FastAPI's own subclasses it

_VALIDATION_ERROR = {"$ref": "#/components/schemas/HTTPValidationError"}
_MALFORMED = {"description": "the body is not valid JSON",
              "content": {"application/json": {"schema": _VALIDATION_ERROR}}}
_UNAUTHORIZED = {"description": "missing, unknown, revoked or expired credentials"}


def validation_detail(message: str, *loc: str | int) -> list[dict[str, Any]]:
    """One error in the shape of FastAPI's own validation errors."""
    return [{"loc": list(loc) or ["body"], "msg": message, "type": "value_error"}]


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    malformed = any(error.get("type") == "json_invalid" for error in errors)
    return JSONResponse({"detail": errors}, status_code=400 if malformed else 422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    api = request.url.path.startswith("/api/")  # the documented JSON API, not pages/webhooks
    if isinstance(exc.detail, str) and (exc.status_code == 422
                                        or (api and exc.status_code == 400)):
        return JSONResponse({"detail": validation_detail(exc.detail)},
                            status_code=exc.status_code, headers=exc.headers)
    return await http_exception_handler(request, exc)


def _document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                if "requestBody" in operation:
                    responses.setdefault("400", _MALFORMED)
                if operation.get("security"):
                    responses.setdefault("401", _UNAUTHORIZED)
        app.openapi_schema = schema
    return app.openapi_schema


def install(app: FastAPI) -> None:
    """Error shapes and the document's extra responses, for one app."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]
