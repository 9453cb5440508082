"""The one JSON error shape: {"error": {"code": ..., "message": ..., "details"?: ...}}.

Handlers raise `ApiError`; the middleware turns it, aiohttp's own HTTP errors, validation
errors and database outages into that shape. A client never sees a stack trace.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import asyncpg
import pydantic
from aiohttp import web

from shared.domain_errors import DomainError
from shared.logs import loggable_path
from shared.redis_client import REDIS_UNAVAILABLE

log = logging.getLogger(__name__)

# Retry-After (seconds) sent with 503s caused by an unavailable dependency.
RETRY_AFTER_UNAVAILABLE = 5
# Retry-After (seconds) after a transaction lost a deadlock or serialization race (rare; retried inside first).
RETRY_AFTER_CONFLICT = 1


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


class DependencyUnavailable(ApiError):
    def __init__(self, what: str):
        super().__init__(
            503,
            "service_unavailable",
            f"{what} is unavailable, please retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(error_body(code, message, details), status=status, headers=headers)


# Exceptions that mean "the database cannot be reached right now" rather than "our bug".
DB_UNAVAILABLE = (
    ConnectionError,
    TimeoutError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


def _field_part(part: int | str) -> str:
    # A dict key is part of a field's name: never echo control characters or lone surrogates back.
    text = str(part)
    return text if text.isprintable() else text.encode("ascii", "backslashreplace").decode()


def validation_details(exc: pydantic.ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(_field_part(p) for p in err["loc"]), "message": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    except DomainError as exc:
        # A dependency outage the rules reported (e.g. the card processor): tell the client when to retry.
        headers = {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)} if exc.status == 503 else None
        return error_response(exc.status, exc.code, exc.message, exc.details, headers)
    except pydantic.ValidationError as exc:
        return error_response(422, "validation_failed", "The request body is not valid", validation_details(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 404 else "No such resource"
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return error_response(exc.status, code, message, headers=headers)
    except asyncpg.exceptions.TransactionRollbackError as exc:
        # A deadlock or serialization failure that outlived the use case's own retries: busy, not broken.
        log.warning("transaction conflict", extra={"sqlstate": exc.sqlstate, "path": loggable_path(request.path)})
        return error_response(
            503,
            "busy",
            "Too many changes at once; please retry in a moment",
            headers={"Retry-After": str(RETRY_AFTER_CONFLICT)},
        )
    except asyncpg.exceptions.DataError as exc:
        # The database refused a value the input checks let through: the client's data, not our state.
        # Logged (without the value) so the check that missed it gets written.
        log.warning(
            "value refused by the database",
            extra={"sqlstate": exc.sqlstate, "path": loggable_path(request.path), "error": type(exc).__name__},
        )
        return error_response(422, "invalid_value", "A value in the request cannot be stored")
    except REDIS_UNAVAILABLE as exc:
        log.warning("redis unavailable", extra={"error": type(exc).__name__, "path": loggable_path(request.path)})
        return error_response(
            503,
            "service_unavailable",
            "A service we rely on is unavailable, please retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )
    except DB_UNAVAILABLE as exc:
        log.warning("database unavailable", extra={"error": type(exc).__name__, "path": loggable_path(request.path)})
        return error_response(
            503,
            "service_unavailable",
            "The database is unavailable, please retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error", extra={"path": loggable_path(request.path), "method": request.method})
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged")
