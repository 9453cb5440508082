"""Building blocks of the OpenAPI 3.1 spec: each service declares its public operations with these
(services/<svc>/api_spec.py) and serves them as JSON on its internal API (`serve_operations`, at SPEC_PATH);
the gateway fetches them from there and assembles one document (services/gateway/openapi.py), so it imports
no service's code.

Request bodies come from the same pydantic models the handlers validate with (`shared.http_input.read_json`),
so the spec and the validation cannot drift apart: one source of truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

import pydantic
from aiohttp import web

from shared.clinic_auth import require_internal

# A JSON object of the OpenAPI document (a schema, a response, a parameter, an operation).
JsonObject = dict[str, Any]

REF = "#/components/schemas/{model}"
# Where each service with public operations serves them (internal: the gateway never routes /internal/).
SPEC_PATH = "/internal/v1/openapi"
JSON = "application/json"
CLINIC_SECURITY = "clinicApiKey"

# The one error shape of shared.errors.
ERROR_SCHEMA: JsonObject = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["slot_taken"]},
                "message": {"type": "string"},
                "details": {},
            },
        },
    },
}
MONEY_SCHEMA: JsonObject = {
    "type": "object",
    "required": ["amount", "currency"],
    "properties": {
        "amount": {"type": "integer", "description": "minor units (pence)"},
        "currency": {"type": "string", "minLength": 3, "maxLength": 3},
    },
}
# Named "Amount": "Money" is the request model of payments (services/payments/schemas.py).
SHARED_SCHEMAS = {"Error": ERROR_SCHEMA, "Amount": MONEY_SCHEMA}
MONEY = {"$ref": REF.format(model="Amount")}

# Why each status can happen; the descriptions of the standard error responses.
ERROR_REASONS: dict[int, str] = {
    400: "Malformed request (invalid JSON, bad header)",
    401: "Missing, invalid or revoked clinic API key",
    402: "Payment required (e.g. a voucher does not cover the booking)",
    403: "Not allowed (e.g. an invalid or expired manage link)",
    404: "No such resource",
    409: "Conflict with the current state",
    413: "Request body too large",
    415: "The body must be application/json",
    422: "Validation failed (field errors in `details`)",
    429: "Rate limited (see Retry-After)",
    503: "A dependency is unavailable; retry after Retry-After",
    504: "The owning service did not answer in time",
}
# Every operation can meet these at the gateway (rate limit, a service down or slow).
ALWAYS = (429, 503, 504)
WITH_BODY = (400, 413, 415, 422)


def error_response(status: int, description: str | None = None) -> JsonObject:
    return {
        "description": description or ERROR_REASONS.get(status, "Error"),
        "content": {JSON: {"schema": {"$ref": REF.format(model="Error")}}},
    }


def json_response(description: str, schema: JsonObject) -> JsonObject:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def model_schema(model: type[pydantic.BaseModel]) -> tuple[JsonObject, dict[str, JsonObject]]:
    """A `$ref` to the model and the component schemas it needs (itself and its `$defs`)."""
    schema = model.model_json_schema(ref_template=REF)
    defs = schema.pop("$defs", {})
    return {"$ref": REF.format(model=model.__name__)}, {**defs, model.__name__: schema}


def path_param(name: str, schema: JsonObject | None = None, description: str = "") -> JsonObject:
    param = {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}
    if description:
        param["description"] = description
    return param


def query_param(
    name: str, schema: JsonObject | None = None, description: str = "", required: bool = False
) -> JsonObject:
    param = {"name": name, "in": "query", "required": required, "schema": schema or {"type": "string"}}
    if description:
        param["description"] = description
    return param


UUID = {"type": "string", "format": "uuid"}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry-safe creation: the same key answers with the same result",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    spec: JsonObject
    schemas: dict[str, JsonObject] = field(default_factory=dict)
    model: type[pydantic.BaseModel] | None = None  # the request body's model, the handler's too


def operation(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    responses: dict[int, JsonObject],
    errors: tuple[int, ...] = (),
    parameters: list[JsonObject] | None = None,
    body: type[pydantic.BaseModel] | None = None,
    body_required: bool = True,
    raw_body: JsonObject | None = None,
    clinic_auth: bool = False,
    description: str = "",
    operation_id: str | None = None,
) -> Operation:
    """One operation: `responses` are the success answers (status → response object), `errors` the
    statuses the handler raises; the gateway's statuses and those of body parsing are added."""
    spec: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "operationId": operation_id or _operation_id(method, path),
    }
    if description:
        spec["description"] = description
    if parameters:
        spec["parameters"] = parameters
    schemas: dict[str, JsonObject] = {}
    statuses = set(errors) | set(ALWAYS)
    # shared.http_input refuses unusable text in any parameter: 404 in a path, 422 in a query.
    places = {p["in"] for p in parameters or ()}
    statuses |= {404} if "path" in places else set()
    statuses |= {422} if "query" in places else set()
    if body is not None:
        ref, schemas = model_schema(body)
        spec["requestBody"] = {"required": body_required, "content": {JSON: {"schema": ref}}}
        statuses |= set(WITH_BODY)
    elif raw_body is not None:  # a body checked otherwise (e.g. a signature over the raw bytes)
        spec["requestBody"] = {"required": True, "content": {JSON: {"schema": raw_body}}}
    if clinic_auth:
        spec["security"] = [{CLINIC_SECURITY: []}]
        statuses.add(401)
    all_responses = {str(status): response for status, response in responses.items()}
    for status in sorted(statuses):
        all_responses.setdefault(str(status), error_response(status))
    spec["responses"] = dict(sorted(all_responses.items()))
    return Operation(path, method.lower(), spec, schemas, body)


def _operation_id(method: str, path: str) -> str:
    words = [p.strip("{}").replace("-", "_") for p in path.split("/") if p and p not in ("api", "v1")]
    return method.lower() + "_" + "_".join(words)


# --- the operations on the wire: service → gateway -------------------------------------------------


def operations_to_json(operations: Iterable[Operation]) -> JsonObject:
    """What a service serves at SPEC_PATH: each operation's path, method, spec and component schemas (the
    request model itself stays behind: the document needs only its schema, already in `schemas`)."""
    return {
        "operations": [
            {"path": op.path, "method": op.method, "spec": op.spec, "schemas": op.schemas} for op in operations
        ]
    }


def operations_from_json(document: JsonObject) -> tuple[Operation, ...]:
    """The operations a service served (KeyError or TypeError if it is not that shape)."""
    return tuple(
        Operation(item["path"], item["method"], item["spec"], item["schemas"]) for item in document["operations"]
    )


def serve_operations(app: web.Application, operations: Iterable[Operation]) -> None:
    """`GET SPEC_PATH` on a service: its public operations, for the gateway (internal token required)."""
    body = json.dumps(operations_to_json(operations)).encode()

    async def operations_json(request: web.Request) -> web.Response:
        require_internal(request)
        return web.Response(body=body, content_type="application/json")

    app.router.add_get(SPEC_PATH, operations_json)
