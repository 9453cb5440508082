"""Reading what a client sent, for every service: the JSON body, path and query parameters. The rules
are shared.input's; this module applies them at the HTTP edge and answers in the one error shape, so no
hostile byte reaches SQL, a parser's recursion or date arithmetic."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Awaitable, Callable, NoReturn, TypeVar

import pydantic
from aiohttp import web

from shared.errors import ApiError
from shared.input import FIRST_DAY, LAST_DAY, MAX_JSON_DEPTH, in_day_window, json_too_deep, surrogate_path, text_problem

Model = TypeVar("Model", bound=pydantic.BaseModel)


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


async def read_json(request: web.Request, model: type[Model]) -> Model:
    """Parse and validate a JSON body, answering 415/400/422 in the error shape. Validation is strict, as
    JSON types are (no "5" for a number, no 0 for false): pydantic parses the bytes itself."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json")
    raw = await request.read()
    if json_too_deep(raw):
        raise ApiError(
            400, "json_too_deep", f"The request body nests arrays or objects more than {MAX_JSON_DEPTH} deep"
        )
    if not raw.lstrip().startswith(b"{"):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object")
    try:
        return model.model_validate_json(raw, strict=True)
    except pydantic.ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors(include_url=False, include_input=False)):
            raise _unreadable(raw) from None
        raise


def _unreadable(raw: bytes) -> ApiError:
    """Why pydantic could not read the body: not JSON, or JSON whose text is not Unicode (a lone
    surrogate escape, which has no UTF-8 form: named by its field)."""
    try:
        payload = json.loads(raw, parse_constant=_no_constants)  # NaN and Infinity are not JSON
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ApiError(400, "invalid_json", "The request body is not valid JSON")
    if (field := surrogate_path(payload)) is not None:
        message = "must not contain an unpaired surrogate"
        return ApiError(
            422,
            "validation_failed",
            "The request body is not valid",
            [{"field": field, "message": message, "type": "string_unicode"}],
        )
    return ApiError(400, "invalid_json", "The request body is not valid JSON")


def _invalid(name: str, where: str, message: str, kind: str, status: int = 422) -> ApiError:
    return ApiError(
        status,
        "validation_failed" if status == 422 else "not_found",
        f"`{name}` {message}" if status == 422 else "No such resource",
        [{"field": name, "in": where, "message": message, "type": kind}],
    )


def query_uuid(request: web.Request, name: str, *, required: bool = False) -> uuid.UUID | None:
    raw = request.query.get(name)
    if raw is None:
        if required:
            raise _invalid(name, "query", "is required", "missing")
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _invalid(name, "query", "must be an id (a UUID)", "uuid_parsing") from None


def query_day(request: web.Request, name: str, default: date | None = None) -> date | None:
    """A calendar day like 2026-12-01, inside shared.input's window."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise _invalid(name, "query", "must be a date like 2026-12-01", "date_parsing") from None
    if not in_day_window(day):
        raise _invalid(name, "query", f"must be between {FIRST_DAY} and {LAST_DAY}", "date_out_of_range")
    return day


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    """One of `choices`, or None if the parameter is absent."""
    raw = request.query.get(name)
    if raw is not None and raw not in choices:
        raise _invalid(name, "query", f"must be one of {', '.join(choices)}", "enum")
    return raw


MAX_IDEMPOTENCY_KEY = 255


def idempotency_key(request: web.Request) -> str | None:
    """The `Idempotency-Key` header of a creating POST, if sent: 1 to 255 characters of storable text
    (header bytes outside ASCII arrive as lone surrogates)."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and (not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or text_problem(key) is not None):
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters of text")
    return key


@web.middleware
async def parameters_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Path and query parameters are text too: refuse what shared.input refuses in a one-line field,
    before any handler sees them (a path segment that cannot name anything is 404, a query value 422).
    So is the Idempotency-Key header, checked here too so that the gateway refuses it rather than pass
    on what its HTTP client would make of it (it drops what is not text)."""
    idempotency_key(request)
    for name, value in request.match_info.items():
        if (problem := text_problem(value)) is not None:
            raise _invalid(name, "path", problem, "text_not_allowed", status=404)
    for name, value in request.query.items():
        if (problem := text_problem(name)) is not None:
            raise _invalid("(a parameter's name)", "query", problem, "text_not_allowed")
        if (problem := text_problem(value)) is not None:
            raise _invalid(name, "query", problem, "text_not_allowed")
    return await handler(request)
