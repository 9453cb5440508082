"""Hostile input through the gateway, on real PostgreSQL: every route family answers a 4xx in the error
shape with a field-level message, never a 5xx, and writes nothing. Text with NUL bytes, lone surrogates,
controls, SQL and huge sizes; JSON nested 100,000 deep; instants whose offset moves them out of range;
path segments and query values carrying the same."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.booking.app import create_app as create_booking_app
from services.gateway.app import create_app as create_gateway
from services.notifications.app import create_app as create_notifications
from services.payments.app import create_app as create_payments_app
from shared.input import MAX_JSON_DEPTH
from shared.logs import MalformedRequestFilter
from tests.support.booking import COURSE, THERAPIST, booking_body, free_slots, hold, hold_body, next_weekday
from tests.support.clinic_api import bearer, issue_keys
from tests.support.hostile import (
    clean,
    extreme_days,
    extreme_instants,
    hostile_text,
    nested_array,
    nested_in_extra_field,
    url_segment,
)
from tests.support.infra import free_port
from tests.support.openapi import OPERATIONS
from tests.support.vouchers import purchase_body

EXAMPLES = hypothesis_settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
async def stack(settings, aiohttp_server, aiohttp_client):
    """Booking, payments and notifications in-process behind the gateway, limits out of the way."""
    ports = {"booking": free_port(), "payments": free_port()}
    linked = settings.with_overrides(
        upstreams={s: f"http://127.0.0.1:{p}" for s, p in ports.items()},
        rate_limit_per_ip=10**6,
        rate_limit_holds_per_ip=10**6,
        rate_limit_per_key=10**6,
    )
    await aiohttp_server(create_payments_app(linked, reconciler=False), port=ports["payments"])
    await aiohttp_server(create_booking_app(linked), port=ports["booking"])
    notifications = await aiohttp_server(create_notifications(linked))
    upstreams = {**linked.upstreams, "notifications": str(notifications.make_url("")).rstrip("/")}
    return await aiohttp_client(create_gateway(linked.with_overrides(upstreams=upstreams)))


@pytest.fixture
async def key(booking_pool) -> str:
    return (await issue_keys(booking_pool))["urban-therapy"]


async def refused(resp, *statuses: int) -> dict:
    """The answer is a 4xx (one of `statuses` if given) in the one error shape."""
    text = await resp.text()
    assert 400 <= resp.status < 500, (resp.status, text[:2000])
    assert not statuses or resp.status in statuses, (resp.status, text[:2000])
    body = await resp.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]


def field_named(error: dict, field: str) -> None:
    """A field-level message: `details` names the field."""
    assert any(d["field"] == field or d["field"].startswith(field + ".") for d in error.get("details") or []), error


async def never_broken(resp, field: str) -> None:
    """Accepted, or refused in the error shape, naming `field` when validation refused it; never a 5xx."""
    if resp.status < 400:
        return
    error = await refused(resp)
    if error["code"] == "validation_failed":
        field_named(error, field)


# --- nesting, on every route that takes a body ------------------------------------------------------

BODY_ROUTES = [op for op in OPERATIONS if op.method in ("post", "patch") and op.model is not None]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


@pytest.mark.parametrize("op", BODY_ROUTES, ids=lambda op: f"{op.method} {op.path}")
@pytest.mark.parametrize("body", [nested_array(100_000), nested_in_extra_field(20_000)], ids=["array", "extra"])
async def test_deeply_nested_json_is_refused_before_parsing_on_every_body_route(stack, key, op, body):
    resp = await stack.request(
        op.method, concrete(op.path), data=body, headers={"Content-Type": "application/json", **bearer(key)}
    )
    error = await refused(resp, 400)
    assert error["code"] == "json_too_deep" and str(MAX_JSON_DEPTH) in error["message"]


async def test_nesting_up_to_the_limit_is_judged_by_the_model_as_usual(stack):
    extra = b'{"clinic": "urban-therapy", "extra": ' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}"
    error = await refused(
        await stack.post("/api/v1/holds", data=extra, headers={"Content-Type": "application/json"}), 422
    )
    field_named(error, "extra")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999999", b"9" * 5000])
async def test_numbers_json_does_not_have_are_refused(stack, literal):
    body = b'{"kind": "amount", "amount": {"amount": ' + literal + b', "currency": "GBP"}}'
    await refused(
        await stack.post("/api/v1/vouchers", data=body, headers={"Content-Type": "application/json"}), 400, 422
    )


# --- text in bodies: booking ----------------------------------------------------------------------


class Customer:
    """One hold at a time: a refused booking leaves it held for the next try; a booking uses it up."""

    def __init__(self, stack):
        self.stack = stack
        self.hold_id: str | None = None
        self.day = next_weekday(1, weeks_ahead=1)

    async def current_hold(self) -> str:
        if self.hold_id is None:
            while not (slots := await free_slots(self.stack, self.day)):
                self.day += timedelta(days=1)
            self.hold_id = (await hold(self.stack, slots[0]["start"]))["id"]
        return self.hold_id


@pytest.fixture
def customer(stack) -> Customer:
    return Customer(stack)


async def booking_row(booking_pool, payments_pool, hold_id: str):
    async with booking_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, customer_name, customer_email, customer_phone, payment_id, "
            "(SELECT count(*) FROM screenings WHERE booking_id = $1) AS screenings "
            "FROM bookings WHERE id = $1",
            uuid.UUID(hold_id),
        )
    async with payments_pool.acquire() as conn:
        payments = await conn.fetchval("SELECT count(*) FROM payments WHERE reference_id = $1", uuid.UUID(hold_id))
    return row, payments


@EXAMPLES
@given(where=st.sampled_from(["name", "email", "phone", "answer"]), text=hostile_text)
async def test_hostile_customer_text_is_refused_or_stored_exactly(
    stack, customer, booking_pool, payments_pool, where, text
):
    hold_id = await customer.current_hold()
    body = booking_body(hold_id, email="ada@example.com")
    if where == "answer":
        body["screening"] = {"answers": {**body["screening"]["answers"], text: False}}
    else:
        body["customer"][where] = text
    resp = await stack.post("/api/v1/bookings", json=body)
    row, payments = await booking_row(booking_pool, payments_pool, hold_id)
    if resp.status >= 400:
        error = await refused(resp)
        # Nothing written, and payments (and Stripe) never asked.
        assert (row["status"], row["customer_name"], row["screenings"], row["payment_id"], payments) == (
            "held",
            None,
            0,
            None,
            0,
        )
        if error["code"] == "validation_failed":
            field_named(error, f"customer.{where}" if where != "answer" else "screening.answers")
    else:
        assert resp.status == 201, await resp.text()
        assert row["status"] == "pending_payment" and payments == 1
        assert row[f"customer_{where}"] == clean(text)  # stored exactly as accepted
        customer.hold_id = None


async def test_a_nul_in_the_customers_name_leaves_no_payment_intent_behind(
    stack, customer, booking_pool, payments_pool, fake_stripe
):
    hold_id = await customer.current_hold()
    body = booking_body(hold_id)
    body["customer"]["name"] = "Ada\x00Lovelace"
    error = await refused(await stack.post("/api/v1/bookings", json=body), 422)
    field_named(error, "customer.name")
    row, payments = await booking_row(booking_pool, payments_pool, hold_id)
    assert (row["status"], row["customer_name"], row["payment_id"], payments) == ("held", None, None, 0)
    # The same customer, fixing the name, books as usual.
    assert (await stack.post("/api/v1/bookings", json=booking_body(hold_id))).status == 201


@pytest.mark.parametrize("where", ["name", "phone", "email"])
async def test_a_megabyte_of_text_is_refused_whole(stack, customer, booking_pool, payments_pool, where):
    hold_id = await customer.current_hold()
    body = booking_body(hold_id)
    body["customer"][where] = "a" * (1024 * 1024)
    resp = await stack.post(
        "/api/v1/bookings", data=io.BytesIO(json.dumps(body).encode()), headers={"Content-Type": "application/json"}
    )
    await refused(resp, 413)
    row, payments = await booking_row(booking_pool, payments_pool, hold_id)
    assert (row["status"], row["customer_name"], payments) == ("held", None, 0)


# --- text in bodies: vouchers ---------------------------------------------------------------------


async def voucher_counts(payments_pool) -> tuple[int, int]:
    async with payments_pool.acquire() as conn:
        return (
            await conn.fetchval("SELECT count(*) FROM vouchers"),
            await conn.fetchval("SELECT count(*) FROM payments"),
        )


@EXAMPLES
@given(
    where=st.sampled_from(["buyer.name", "recipient.name", "buyer.email", "recipient.email", "message", "code"]),
    text=hostile_text,
)
async def test_hostile_voucher_text_is_refused_or_stored_exactly(stack, payments_pool, where, text):
    body = purchase_body()
    if where == "code":  # a balance check: no code like that exists, whatever it holds
        await refused(await stack.post("/api/v1/vouchers/balance", json={"code": text}))
        return
    if where == "message":
        body["message"] = text
    else:
        person, field = where.split(".")
        body[person] = {**body[person], field: text}
    before = await voucher_counts(payments_pool)
    resp = await stack.post("/api/v1/vouchers", json=body)
    if resp.status >= 400:
        error = await refused(resp)
        assert await voucher_counts(payments_pool) == before
        if error["code"] == "validation_failed":
            field_named(error, where)
        return
    assert resp.status == 201, await resp.text()
    column = where.replace(".", "_")
    async with payments_pool.acquire() as conn:
        stored = await conn.fetchval(
            f"SELECT {column} FROM vouchers WHERE id = $1", uuid.UUID((await resp.json())["id"])
        )
    assert stored == clean(text)


# --- text in bodies: the clinic API ---------------------------------------------------------------


async def clinic_rows(booking_pool, notifications_pool) -> tuple[int, int]:
    async with booking_pool.acquire() as conn:
        keys = await conn.fetchval("SELECT count(*) FROM api_keys")
    async with notifications_pool.acquire() as conn:
        endpoints = await conn.fetchval("SELECT count(*) FROM webhook_endpoints")
    return keys, endpoints


@pytest.fixture
async def endpoint(stack, key) -> dict:
    resp = await stack.post(
        "/api/v1/clinic/webhook-endpoints",
        headers=bearer(key),
        json={"url": "http://127.0.0.1:9/hook", "events": ["booking.created"], "description": "ours"},
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()


@EXAMPLES
@given(
    where=st.sampled_from(
        ["api key name", "endpoint description", "patched description", "event type", "endpoint url"]
    ),
    text=hostile_text,
)
async def test_hostile_clinic_text_is_refused_or_stored_exactly(
    stack, key, endpoint, booking_pool, notifications_pool, where, text
):
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["booking.created"]}
    before = await clinic_rows(booking_pool, notifications_pool)
    endpoint_now = f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}"
    description = (await (await stack.get(endpoint_now, headers=bearer(key))).json())["description"]
    if where == "api key name":
        resp = await stack.post("/api/v1/clinic/api-keys", headers=bearer(key), json={"name": text})
    elif where == "patched description":
        resp = await stack.patch(
            f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}", headers=bearer(key), json={"description": text}
        )
    else:
        field = {"endpoint description": "description", "event type": "events", "endpoint url": "url"}[where]
        resp = await stack.post(
            "/api/v1/clinic/webhook-endpoints",
            headers=bearer(key),
            json={**hook, field: [text] if field == "events" else text},
        )
    if resp.status >= 400:
        await refused(resp)
        assert await clinic_rows(booking_pool, notifications_pool) == before
        assert (await (await stack.get(endpoint_now, headers=bearer(key))).json())["description"] == description
        return
    answer = await resp.json()
    if where == "api key name":
        assert answer["name"] == clean(text)
        assert (await stack.delete(f"/api/v1/clinic/api-keys/{answer['id']}", headers=bearer(key))).status == 200
    else:
        assert answer["description"] == clean(text) and where != "event type"
        if where != "patched description":
            await stack.delete(f"/api/v1/clinic/webhook-endpoints/{answer['id']}", headers=bearer(key))


# --- text in paths and queries --------------------------------------------------------------------

PATH_ROUTES = sorted({op.path for op in OPERATIONS if op.method == "get" and "{" in op.path})


@EXAMPLES
@given(path=st.sampled_from(PATH_ROUTES), text=hostile_text.filter(lambda t: t.strip("./") != ""))
async def test_hostile_path_segments_are_not_found(stack, key, path, text):
    # The availability route's required query given, so that only the path segment is left to judge.
    query = f"?treatment={uuid.uuid4()}" if path.endswith("/availability") else ""
    resp = await stack.get(re.sub(r"\{[^}]+\}", url_segment(text), path) + query, headers=bearer(key))
    await refused(resp, 404)


async def test_a_nul_in_a_clinic_slug_is_not_found_with_the_reason(stack):
    error = await refused(await stack.get("/api/v1/clinics/nul%00byte"), 404)
    assert error["details"][0]["field"] in ("clinic", "tail") and "NUL" in error["details"][0]["message"]


QUERIES = [
    ("/api/v1/clinics/urban-therapy/availability", ["treatment", "therapist", "from", "to"]),
    ("/api/v1/clinic/bookings", ["from", "to"]),
    (f"/api/v1/bookings/{uuid.uuid4()}", ["token"]),
]


@EXAMPLES
@given(query=st.sampled_from([(path, name) for path, names in QUERIES for name in names]), text=hostile_text)
async def test_hostile_query_values_are_refused(stack, key, query, text):
    path, name = query
    resp = await stack.get(f"{path}?{name}={url_segment(text)}", headers=bearer(key))
    await refused(resp)


# --- instants and days at the edges ---------------------------------------------------------------


@pytest.fixture
async def booked(stack, booking_pool, checkout) -> dict:
    """A confirmed booking and its manage token."""
    from tests.support.booking import book_and_pay

    booking = await book_and_pay(stack, checkout, day=next_weekday(2, weeks_ahead=1))
    return {"id": booking["id"], "token": booking["manage_url"].split("token=", 1)[1]}


@EXAMPLES
@given(
    where=st.sampled_from(["hold start", "course start", "course starts", "reschedule start", "replay since"]),
    moment=extreme_instants,
)
async def test_extreme_instants_never_break_a_route(stack, key, endpoint, booked, where, moment):
    if where == "hold start":
        resp = await stack.post("/api/v1/holds", json=hold_body(moment))
        field = "start"
    elif where.startswith("course"):
        course = {"clinic": "urban-therapy", "course": COURSE, "therapist": THERAPIST}
        field = where.split()[1]
        resp = await stack.post("/api/v1/holds", json={**course, field: moment if field == "start" else [moment] * 6})
    elif where == "reschedule start":
        resp = await stack.post(
            f"/api/v1/bookings/{booked['id']}/reschedule", json={"token": booked["token"], "start": moment}
        )
        field = "start"
    else:
        resp = await stack.post(
            f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}/replay", headers=bearer(key), json={"since": moment}
        )
        field = "since"
    await never_broken(resp, field)


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
@pytest.mark.parametrize("where", ["hold", "course", "replay"])
async def test_the_reported_edge_instants_are_422_with_the_field(stack, key, endpoint, where, moment):
    if where == "hold":
        resp, field = await stack.post("/api/v1/holds", json=hold_body(moment)), "start"
    elif where == "course":
        resp, field = (
            await stack.post(
                "/api/v1/holds",
                json={"clinic": "urban-therapy", "course": COURSE, "therapist": THERAPIST, "start": moment},
            ),
            "start",
        )
    else:
        resp, field = (
            await stack.post(
                f"/api/v1/clinic/webhook-endpoints/{endpoint['id']}/replay", headers=bearer(key), json={"since": moment}
            ),
            "since",
        )
    error = await refused(resp, 422)
    field_named(error, field)


@EXAMPLES
@given(
    where=st.sampled_from(["availability from", "availability to", "diary from", "diary to", "deliver_on"]),
    day=extreme_days,
)
async def test_extreme_days_never_break_a_route(stack, key, where, day):
    if where.startswith("availability"):
        name = where.split()[1]
        params = {"treatment": hold_body("")["treatment"], name: day}
        resp = await stack.get("/api/v1/clinics/urban-therapy/availability", params=params)
    elif where.startswith("diary"):
        name = where.split()[1]
        resp = await stack.get("/api/v1/clinic/bookings", params={name: day}, headers=bearer(key))
    else:
        name = "deliver_on"
        resp = await stack.post("/api/v1/vouchers", json=purchase_body(deliver_on=day))
    await never_broken(resp, name)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
@pytest.mark.parametrize("name", ["from", "to"])
async def test_the_reported_edge_days_are_422_with_the_parameter(stack, key, name, day):
    resp = await stack.get(
        "/api/v1/clinics/urban-therapy/availability", params={"treatment": hold_body("")["treatment"], name: day}
    )
    field_named(await refused(resp, 422), name)
    resp = await stack.get("/api/v1/clinic/bookings", params={name: day}, headers=bearer(key))
    field_named(await refused(resp, 422), name)


async def test_a_voucher_delivery_day_past_the_window_is_422(stack):
    error = await refused(await stack.post("/api/v1/vouchers", json=purchase_body(deliver_on="9999-12-31")), 422)
    field_named(error, "deliver_on")
    assert "2199-12-31" in error["details"][0]["message"]  # the window's last day


# --- JSON types are JSON's ------------------------------------------------------------------------


@pytest.mark.parametrize("grace", [False, "5", 5.0, None])
async def test_json_values_of_the_wrong_type_are_not_coerced(stack, key, grace):
    listed = await (await stack.get("/api/v1/clinic/api-keys", headers=bearer(key))).json()
    key_id = listed["api_keys"][0]["id"]
    resp = await stack.post(
        f"/api/v1/clinic/api-keys/{key_id}/rotate", headers=bearer(key), json={"grace_hours": grace}
    )
    field_named(await refused(resp, 422), "grace_hours")
    after = await (await stack.get("/api/v1/clinic/api-keys", headers=bearer(key))).json()
    assert after == listed  # nothing rotated


@pytest.mark.parametrize("name", ["from", "to"])
async def test_an_empty_date_parameter_is_not_a_missing_one(stack, key, name):
    field_named(await refused(await stack.get(f"/api/v1/clinic/bookings?{name}=", headers=bearer(key)), 422), name)


async def test_a_lone_surrogate_escape_is_named_by_its_field(stack):
    body = b'{"clinic": "urban-therapy", "kind": "amount", "buyer": {"name": "\\ud800", "email": "a@example.com"}}'
    error = await refused(
        await stack.post("/api/v1/vouchers", data=body, headers={"Content-Type": "application/json"}), 422
    )
    assert error["details"] == [
        {"field": "buyer.name", "message": "must not contain an unpaired surrogate", "type": "string_unicode"}
    ]


# --- headers --------------------------------------------------------------------------------------


async def raw_request(stack, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """A request written byte for byte (clients refuse to send such headers), through the gateway:
    the status and the body of the answer."""
    reader, writer = await asyncio.open_connection(stack.host, stack.port)
    writer.write(head + b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize("key_bytes", [b"\xff\xfe", b"caf\xc3\xa9\x80", b"x" * 300])
async def test_an_idempotency_key_that_is_not_text_is_refused(stack, booking_pool, key_bytes):
    slot = (await free_slots(stack, next_weekday(3, weeks_ahead=1)))[0]
    body = json.dumps(hold_body(slot["start"])).encode()
    status, answer = await raw_request(
        stack,
        b"POST /api/v1/holds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
        b"\r\nIdempotency-Key: " + key_bytes + b"\r\n",
        body,
    )
    assert status == 400 and json.loads(answer)["error"]["code"] == "invalid_idempotency_key", (status, answer)
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings WHERE hold_key IS NOT NULL") == 0


async def test_a_control_byte_in_a_header_is_a_400_and_one_warning_line(stack):
    seen: list[logging.LogRecord] = []
    recorder = logging.Handler()
    recorder.emit = seen.append
    server_log = logging.getLogger("aiohttp.server")
    noise = MalformedRequestFilter()
    server_log.addFilter(noise)  # as shared.logs.setup_logging installs it in every service
    server_log.addHandler(recorder)
    try:
        status, _ = await raw_request(stack, b"POST /api/v1/holds HTTP/1.1\r\nHost: x\r\nIdempotency-Key: a\x01b\r\n")
    finally:
        server_log.removeFilter(noise)
        server_log.removeHandler(recorder)
    assert status == 400  # aiohttp's own answer, before any middleware
    [record] = seen
    assert (record.levelname, record.getMessage(), record.exc_info) == (
        "WARNING",
        "malformed HTTP request refused",
        None,
    )
    assert "header" in record.error.lower()


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "http://[not-an-address]/hook",
        "http://example.com:99999/hook",
        "http://example.com:-1/hook",
        "http://" + "a" * 64 + ".example/hook",
        "http://a..b/hook",
        "https://exa mple.com/",
        "http://\u3002/hook",
        "javascript:alert(1)//x",
        "http://user:pass@127.0.0.1/hook",
        "http://:80/hook",
        "file:///etc/passwd",
    ],
)
async def test_a_webhook_url_that_is_no_url_is_422(stack, key, notifications_pool, url):
    resp = await stack.post(
        "/api/v1/clinic/webhook-endpoints", headers=bearer(key), json={"url": url, "events": ["booking.created"]}
    )
    error = await refused(resp, 422)
    assert error["code"] in ("invalid_url", "unresolvable_url", "validation_failed"), error
    async with notifications_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM webhook_endpoints") == 0


# --- a rush of one request ------------------------------------------------------------------------


async def test_a_rush_of_one_voucher_purchase_makes_one_voucher(stack, payments_pool):
    headers = {"Idempotency-Key": f"gift-{uuid.uuid4()}"}
    answers = await asyncio.gather(
        *(stack.post("/api/v1/vouchers", json=purchase_body(), headers=headers) for _ in range(10))
    )
    statuses = sorted(resp.status for resp in answers)
    assert set(statuses) <= {201, 409} and 201 in statuses, statuses
    made = {(await resp.json())["id"] for resp in answers if resp.status == 201}
    for resp in answers:
        if resp.status == 409:
            assert (await refused(resp, 409))["code"] == "idempotency_conflict"
    assert len(made) == 1 and await voucher_counts(payments_pool) == (1, 1)
