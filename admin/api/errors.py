"""Every error leaves as JSON naming the wrong field: ``{"error": {code, message, fields}}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import (
    Conflict,
    FieldProblem,
    InvalidInput,
    NotFound,
    NurtureError,
    PermissionDenied,
    TooLarge,
    Unauthenticated,
)

_STATUS: dict[type[NurtureError], int] = {
    TooLarge: 413,
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthenticated: 401,
    PermissionDenied: 403,
}


def error_body(code: str, message: str, problems: Sequence[FieldProblem] = ()) -> dict[str, Any]:
    """The one JSON shape of every error."""
    return {
        "error": {
            "code": code,
            "message": message,
            "fields": [{"field": p.field, "message": p.message} for p in problems],
        }
    }


def field_path(loc: Sequence[str | int]) -> str:
    """``('body', 3, 'email')`` → ``[3].email``; ``('query', 'limit')`` → ``query.limit``."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def problems_from(
    error: ValidationError | RequestValidationError, prefix: Sequence[str | int] = ()
) -> list[FieldProblem]:
    """Turn Pydantic's findings into field problems, one per wrong value."""
    found = []
    for item in error.errors():
        loc = [*prefix, *item.get("loc", ())]
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        if item.get("type") == "json_invalid":
            reason = (item.get("ctx") or {}).get("error", message)
            where = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
            found.append(FieldProblem("body", f"malformed JSON{where}: {reason}"))
            continue
        found.append(FieldProblem(field_path(loc), message))
    return found


def install(app: FastAPI) -> None:
    """Register the handlers that translate engine errors into HTTP."""

    @app.exception_handler(NurtureError)
    async def _engine_error(_: Request, error: NurtureError) -> JSONResponse:
        status = next((s for t, s in _STATUS.items() if isinstance(error, t)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(
            error_body(error.code, error.message, error.problems),
            status_code=status,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = problems_from(error)
        malformed = any(p.message.startswith("malformed JSON") for p in problems)
        code, status = ("malformed_json", 400) if malformed else ("invalid_input", 422)
        return JSONResponse(
            error_body(code, "the request is not valid", problems), status_code=status
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body("http_" + str(error.status_code), str(error.detail)),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(DBAPIError)
    async def _database_gone(_: Request, error: DBAPIError) -> JSONResponse:
        if not error.connection_invalidated:
            raise error  # a real bug: the server error handler answers 500 and logs it
        return JSONResponse(
            error_body("database_unavailable", "the database connection was lost; retry"),
            status_code=503,
            headers={"Retry-After": "1"},
        )
