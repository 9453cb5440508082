"""The booking service's side of a customer's data rights (services/booking/privacy.py): the owner exports what is
held about a customer and erases them; erasure refuses while a booking is still to come, anonymises the customer's
bookings, keeps their health answers RESTRICTED until their retention date (hidden from the clinic's views, found by
an export through the subject key), and records every request in an audit log that never holds the email. The
payments and notifications services answer their parts for real; a stub stands in for notifications where it must
fail. And the customer's optional date of birth, given when booking, sets how long a child's answers are kept."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest
from aiohttp import web

from services.booking import privacy_rules
from services.booking.app import create_app as create_booking_app
from services.booking.privacy_client import PRIVACY
from services.booking.seed import stable_id
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.accounts import bearer as session_bearer
from tests.support.accounts import make_account, token_for
from tests.support.booking import ALL_CLEAR, THERAPIST, TREATMENT, booking_body, free_slots, hold, next_weekday
from tests.support.clinic_api import bearer

URBAN = "urban-therapy"
EMAIL = "Jo.Bloggs@Example.com"  # as typed: found again in any case
CHILD_BORN = "2016-05-20"  # ten at the visit: answers kept to the 25th birthday
EXPORT, ERASE, REQUESTS = (
    "/api/v1/clinic/privacy/export",
    "/api/v1/clinic/privacy/erase",
    "/api/v1/clinic/privacy/requests",
)


def as_role(settings, role: str, clinic: str = URBAN) -> dict:
    """What the gateway sends for a caller of `clinic` with this role (an API key's owner: no session)."""
    return {
        CLINIC_ID_HEADER: str(stable_id(clinic)),
        CLINIC_ROLE_HEADER: role,
        INTERNAL_TOKEN_HEADER: settings.internal_token,
    }


async def _book(client, *, email: str = EMAIL, born: str | None = None, phone: str = "07700 900456", weeks: int = 1):
    slot = (await free_slots(client, next_weekday(2, weeks_ahead=weeks)))[0]
    held = await hold(client, slot["start"])
    body = booking_body(held["id"], email)
    body["customer"]["phone"] = phone
    if born is not None:
        body["customer"]["date_of_birth"] = born
    resp = await client.post("/api/v1/bookings", json=body)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _into_the_past(pool, booking_id: str, visit: datetime, answered: datetime | None = None) -> None:
    """The visit (and the screening, if `answered`) happened back then."""
    async with pool.acquire() as conn:
        await conn.execute(
            """UPDATE bookings SET starts_at = $2::timestamptz, ends_at = $2::timestamptz + interval '1 hour',
                      blocked = tstzrange($2::timestamptz, $2::timestamptz + interval '1 hour') WHERE id = $1""",
            uuid.UUID(booking_id),
            visit,
        )
        if answered is not None:
            await conn.execute(
                "UPDATE screenings SET created_at = $2 WHERE booking_id = $1", uuid.UUID(booking_id), answered
            )


async def _paid_visit_in_the_past(booking, checkout, booking_pool, hour: int = 10, **kwargs) -> dict:
    """Booked and paid; the visit was on 10 March 2025 at `hour` (UTC), the screening answered on 1 March."""
    made = await _book(booking, **kwargs)
    await checkout.pay(made)
    await _into_the_past(
        booking_pool,
        made["id"],
        datetime(2025, 3, 10, hour, tzinfo=timezone.utc),
        datetime(2025, 3, 1, 9, tzinfo=timezone.utc),
    )
    return made


async def _row(pool, sql: str, *args):
    async with pool.acquire() as conn:
        return await conn.fetchrow(sql, *args)


# --- export --------------------------------------------------------------------------------------


async def test_the_owner_exports_the_customers_bookings_screening_and_date_of_birth_and_it_is_audited(
    gateway, keys, booking, checkout, booking_pool, settings
):
    made = await _paid_visit_in_the_past(booking, checkout, booking_pool, born="1985-07-14")
    elsewhere = await _book(booking, email="someone.else@example.com", weeks=2)

    resp = await gateway.post(EXPORT, json={"email": "  jo.bloggs@EXAMPLE.com "}, headers=bearer(keys[URBAN]))
    assert resp.status == 200, await resp.text()
    today = datetime.now(timezone.utc).date()
    assert resp.headers["Content-Disposition"] in {
        f'attachment; filename="customer-data-{day}.json"' for day in (today, date.fromordinal(today.toordinal() + 1))
    }
    assert resp.headers["Cache-Control"] == "no-store"
    document = await resp.json()
    assert document["format"] == "customer-data/1" and document["email"] == "jo.bloggs@example.com"
    assert document["clinic"] == {"slug": URBAN, "name": "Urban Therapy Clinic, London"}
    assert document["customer"] == {
        "names": ["Ada Lovelace"],
        "phones": ["07700 900456"],
        "dates_of_birth": ["1985-07-14"],
    }
    [exported] = document["bookings"]
    assert exported["id"] == made["id"] and exported["id"] != elsewhere["id"]
    assert exported["status"] == "confirmed" and exported["erased"] is False
    assert exported["treatment"]["id"] == TREATMENT and exported["therapist"]["id"] == THERAPIST
    assert exported["customer"] == {
        "name": "Ada Lovelace",
        "email": EMAIL,
        "phone": "07700 900456",
        "date_of_birth": "1985-07-14",
    }
    screening = exported["screening"]
    assert screening["answers"] == ALL_CLEAR and screening["outcome"] == "clear" and screening["restricted"] is False
    assert screening["retain_until"] == "2033-03-10", "an adult's: 8 years after the last visit"
    for kind in ("payments", "vouchers_bought", "vouchers_received", "emails", "reminders", "webhook_deliveries"):
        assert isinstance(document[kind], list), kind
    assert [p["reference_id"] for p in document["payments"]] == [made["id"]]
    assert document["privacy_requests"] == []

    listed = await gateway.get(REQUESTS, headers=bearer(keys[URBAN]))
    assert listed.status == 200
    [entry] = (await listed.json())["requests"]
    assert entry["kind"] == "export" and entry["email_masked"] == "j***@example.com"
    assert entry["role"] == "owner" and entry["staff_id"] is None
    assert entry["counts"]["bookings"] == 1 and entry["counts"]["payments"] == 1
    audit = await _row(booking_pool, "SELECT p::text AS everything, subject_key FROM privacy_requests p")
    assert "jo.bloggs" not in audit["everything"].lower(), "the audit log never keeps the email"
    assert audit["subject_key"] == privacy_rules.subject_key(settings.health_data_key, stable_id(URBAN), EMAIL)

    again = await (await gateway.post(EXPORT, json={"email": EMAIL}, headers=bearer(keys[URBAN]))).json()
    assert [r["id"] for r in again["privacy_requests"]] == [entry["id"]], "earlier requests about this customer"


async def test_only_the_owner_may_and_a_signed_in_owner_is_named_in_the_audit(gateway, booking, booking_pool, settings):
    for path, body in ((EXPORT, {"email": EMAIL}), (ERASE, {"email": EMAIL, "dry_run": True})):
        staff = await booking.post(path, json=body, headers=as_role(settings, "staff"))
        assert staff.status == 403 and (await staff.json())["error"]["code"] == "owner_only", path
    staff = await booking.get(REQUESTS, headers=as_role(settings, "staff"))
    assert staff.status == 403
    nobody = await gateway.post(EXPORT, json={"email": EMAIL})
    assert nobody.status == 401

    owner_id = await make_account(booking_pool, "owner@urban.example", role="owner")
    token = await token_for(gateway, "owner@urban.example")
    resp = await gateway.post(EXPORT, json={"email": EMAIL}, headers=session_bearer(token))
    assert resp.status == 200, await resp.text()
    [entry] = (await (await gateway.get(REQUESTS, headers=session_bearer(token))).json())["requests"]
    assert entry["staff_id"] == str(owner_id) and entry["role"] == "owner"
    for bad in ({"email": "not an email"}, {"email": ""}, {}):
        refused = await gateway.post(EXPORT, json=bad, headers=session_bearer(token))
        assert refused.status == 422, bad
    refused = await gateway.post(EXPORT, json={"email": "jo@example"}, headers=session_bearer(token))
    assert (await refused.json())["error"]["code"] == "invalid_email"
    for limit in ("0", "201", "ten", "²"):
        assert (await gateway.get(REQUESTS, params={"limit": limit}, headers=session_bearer(token))).status == 422


# --- erasure -------------------------------------------------------------------------------------


async def test_erasure_anonymises_the_bookings_and_restricts_the_screening_until_the_childs_25th_birthday(
    gateway, keys, booking, checkout, booking_pool
):
    made = await _paid_visit_in_the_past(booking, checkout, booking_pool, born=CHILD_BORN)
    booking_id = uuid.UUID(made["id"])
    other = await _paid_visit_in_the_past(booking, checkout, booking_pool, hour=12, email="other@example.com")
    key = bearer(keys[URBAN])

    dry = await gateway.post(ERASE, json={"email": EMAIL, "dry_run": True}, headers=key)
    assert dry.status == 200, await dry.text()
    preview = await dry.json()
    assert preview["dry_run"] is True and preview["email_masked"] == "j***@example.com"
    assert preview["blockers"] == []
    assert preview["erase"]["bookings"] == 1 and preview["erase"]["screenings"] == 0
    assert preview["keep"]["screenings"] == 1 and preview["keep"]["payments"] == 1
    still = await _row(booking_pool, "SELECT customer_email, erased_at FROM bookings WHERE id = $1", booking_id)
    assert (still["customer_email"], still["erased_at"]) == (EMAIL, None), "a dry run changes nothing"
    assert (await (await gateway.get(REQUESTS, headers=key)).json())["requests"] == [], "nor is it audited"

    resp = await gateway.post(ERASE, json={"email": EMAIL.upper()}, headers=key)
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["dry_run"] is False and result["erased"]["bookings"] == 1
    assert result["kept"]["screenings"] == 1 and result["kept"]["payments"] == 1
    assert result["request"]["kind"] == "erase" and result["request"]["email_masked"] == "j***@example.com"
    assert result["request"]["counts"] == {"erased": result["erased"], "kept": result["kept"]}
    assert "jo.bloggs" not in str(result).lower()

    row = await _row(
        booking_pool,
        """SELECT b.customer_name, b.customer_email, b.customer_phone, b.customer_birth_date, b.erased_at, b.status,
                  s.restricted_at, s.retain_until, s.subject_key
           FROM bookings b JOIN screenings s ON s.booking_id = b.id WHERE b.id = $1""",
        booking_id,
    )
    assert (row["customer_name"], row["customer_email"], row["customer_phone"], row["customer_birth_date"]) == (
        None,
        None,
        None,
        None,
    )
    assert row["erased_at"] is not None and row["status"] == "confirmed", "a past visit never marked completed"
    assert row["restricted_at"] is not None and row["subject_key"] is not None
    assert row["retain_until"] == date(2041, 5, 20), "a child of ten at the visit: to their 25th birthday"
    untouched = await _row(booking_pool, "SELECT customer_email FROM bookings WHERE id = $1", uuid.UUID(other["id"]))
    assert untouched["customer_email"] == "other@example.com"

    # Never shown in the clinic's views again: as if there were no screening, and no customer.
    view = await gateway.get(f"/api/v1/clinic/bookings/{booking_id}", headers=key)
    assert view.status == 200
    shown = await view.json()
    assert shown["screening"] is None and shown["customer"]["email"] is None and shown["customer"]["name"] is None
    day = "2025-03-10"
    listing = await (await gateway.get("/api/v1/clinic/bookings", params={"from": day, "to": day}, headers=key)).json()
    by_id = {b["id"]: b for b in listing["bookings"]}
    assert by_id[str(booking_id)]["screening"] is None
    assert by_id[other["id"]]["screening"] == {"outcome": "clear", "flags": []}, "another customer's is shown"

    # Only an export shows it, found by the subject key (the booking names nobody now).
    after = await (await gateway.post(EXPORT, json={"email": EMAIL}, headers=key)).json()
    [kept] = after["bookings"]
    assert kept["id"] == str(booking_id) and kept["erased"] is True
    assert kept["customer"] == {"name": None, "email": None, "phone": None, "date_of_birth": None}
    assert kept["screening"]["restricted"] is True and kept["screening"]["answers"] == ALL_CLEAR
    assert kept["screening"]["retain_until"] == "2041-05-20"
    assert after["customer"] == {"names": [], "phones": [], "dates_of_birth": []}
    assert [r["kind"] for r in after["privacy_requests"]] == ["erase"]

    # Again: nothing more to erase, the same kept.
    repeat = await (await gateway.post(ERASE, json={"email": EMAIL}, headers=key)).json()
    assert repeat["erased"]["bookings"] == 0 and repeat["erased"]["screenings"] == 0
    assert repeat["kept"] == result["kept"]
    listed = (await (await gateway.get(REQUESTS, params={"limit": "2"}, headers=key)).json())["requests"]
    assert [r["kind"] for r in listed] == ["erase", "export"], "newest first"


async def test_answers_already_past_their_retention_date_are_deleted_at_erasure(
    gateway, keys, booking, checkout, booking_pool
):
    made = await _book(booking)
    await checkout.pay(made)
    long_ago = datetime(2015, 6, 1, 10, tzinfo=timezone.utc)
    await _into_the_past(booking_pool, made["id"], long_ago, long_ago)
    resp = await gateway.post(ERASE, json={"email": EMAIL}, headers=bearer(keys[URBAN]))
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["erased"]["screenings"] == 1 and result["kept"]["screenings"] == 0
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM screenings WHERE booking_id = $1", uuid.UUID(made["id"])) == 0
        assert await conn.fetchval("SELECT erased_at FROM bookings WHERE id = $1", uuid.UUID(made["id"])) is not None


async def test_erasure_refuses_while_a_booking_is_still_to_come_and_changes_nothing(
    gateway, keys, booking, checkout, booking_pool
):
    past = await _paid_visit_in_the_past(booking, checkout, booking_pool)
    upcoming = await _book(booking, weeks=2)  # awaiting its payment, next week
    key = bearer(keys[URBAN])

    dry = await (await gateway.post(ERASE, json={"email": EMAIL, "dry_run": True}, headers=key)).json()
    [blocker] = dry["blockers"]
    assert blocker["code"] == "customer_has_upcoming_bookings"
    assert [b["id"] for b in blocker["details"]["bookings"]] == [upcoming["id"]]

    resp = await gateway.post(ERASE, json={"email": EMAIL}, headers=key)
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "customer_has_upcoming_bookings" and "Cancel it" in error["message"]
    assert error["details"]["blockers"] == [blocker]
    async with booking_pool.acquire() as conn:
        emails = await conn.fetch(
            "SELECT customer_email FROM bookings WHERE id = ANY($1::uuid[])",
            [uuid.UUID(past["id"]), uuid.UUID(upcoming["id"])],
        )
        assert {r["customer_email"] for r in emails} == {EMAIL}
        assert await conn.fetchval("SELECT count(*) FROM screenings WHERE restricted_at IS NOT NULL") == 0
        assert await conn.fetchval("SELECT count(*) FROM privacy_requests") == 0


async def test_an_unknown_email_erases_nothing_and_is_audited(gateway, keys):
    resp = await gateway.post(ERASE, json={"email": "nobody@example.com"}, headers=bearer(keys[URBAN]))
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert sum(result["erased"].values()) == 0 and result["erased"]["bookings"] == 0
    assert result["request"]["email_masked"] == "n***@example.com"


# --- date of birth -------------------------------------------------------------------------------


async def test_a_date_of_birth_is_checked_kept_on_the_booking_and_never_sent_in_events(booking, booking_pool):
    slot = (await free_slots(booking, next_weekday(2)))[0]
    held = await hold(booking, slot["start"])
    for bad in ("2999-01-01", "1890-01-01", "1990-02-30", "20/05/2016"):
        body = booking_body(held["id"], EMAIL)
        body["customer"]["date_of_birth"] = bad
        refused = await booking.post("/api/v1/bookings", json=body)
        assert refused.status == 422, bad
        assert (await refused.json())["error"]["code"] == "invalid_date_of_birth", bad
    body = booking_body(held["id"], EMAIL)
    body["customer"]["date_of_birth"] = CHILD_BORN
    made = await booking.post("/api/v1/bookings", json=body)  # the same hold: the refusals took nothing
    assert made.status == 201, await made.text()
    booking_id = uuid.UUID((await made.json())["id"])
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT customer_birth_date FROM bookings WHERE id = $1", booking_id) == date(
            2016, 5, 20
        )
        events = await conn.fetch(
            "SELECT envelope::text AS e FROM outbox WHERE envelope->'data'->>'booking_id' = $1", str(booking_id)
        )
    assert events and not any("2016-05-20" in r["e"] for r in events), "never in an event"


async def test_a_phone_booking_takes_a_date_of_birth_too(booking, booking_pool, settings):
    slot = (await free_slots(booking, next_weekday(3)))[0]
    body = {
        "treatment": TREATMENT,
        "therapist": THERAPIST,
        "start": slot["start"],
        "customer": {"name": "Grace Hopper", "email": "grace@example.com", "date_of_birth": "1906-13-09"},
        "payment": "at_clinic",
        "screening": {"answers": ALL_CLEAR},
    }
    refused = await booking.post("/api/v1/clinic/bookings", json=body, headers=as_role(settings, "staff"))
    assert refused.status == 422 and (await refused.json())["error"]["code"] == "invalid_date_of_birth"
    body["customer"]["date_of_birth"] = "1980-12-09"
    made = await booking.post("/api/v1/clinic/bookings", json=body, headers=as_role(settings, "staff"))
    assert made.status == 201, await made.text()
    row = await _row(
        booking_pool, "SELECT customer_birth_date FROM bookings WHERE id = $1", uuid.UUID((await made.json())["id"])
    )
    assert row["customer_birth_date"] == date(1980, 12, 9)


# --- a service that cannot answer ------------------------------------------------------------------


class StubNotifications:
    """The notifications service's internal privacy API, as a stand-in that fails where a test says."""

    def __init__(self):
        self.fail_export = False
        self.fail_erase = False
        self.blocker: dict | None = None  # in its dry run, and as the 409 of the erasure itself
        self.erased: list[dict] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/internal/v1/privacy/export", self.export)
        app.router.add_post("/internal/v1/privacy/erase", self.erase)
        return app

    async def export(self, request: web.Request) -> web.Response:
        if self.fail_export:
            return web.json_response({"error": {"code": "oops", "message": "down"}}, status=500)
        return web.json_response({"records": {"emails": [], "reminders": [], "webhook_deliveries": []}})

    async def erase(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body["dry_run"]:
            return web.json_response(
                {"erase": {"emails": 2}, "keep": {}, "blockers": [self.blocker] if self.blocker else []}
            )
        if self.blocker:
            return web.json_response({"error": self.blocker}, status=409)
        if self.fail_erase:
            return web.json_response({"error": {"code": "service_unavailable", "message": "down"}}, status=503)
        self.erased.append(body)
        return web.json_response({"erased": {"emails": 2}, "kept": {}})


@pytest.fixture
async def stubbed(linked, payments_server, booking_server, aiohttp_server, aiohttp_client):
    """A second booking app on the same database, whose notifications is the stub (payments is the real one)."""
    _, settings = linked
    stub = StubNotifications()
    server = await aiohttp_server(stub.app())
    upstreams = {**settings.upstreams, "notifications": str(server.make_url("")).rstrip("/")}
    client = await aiohttp_client(
        create_booking_app(settings.with_overrides(upstreams=upstreams), retention_interval=None)
    )
    return stub, client


async def test_a_service_that_cannot_answer_is_503_and_the_same_erasure_again_completes_it(
    stubbed, booking, checkout, booking_pool, settings
):
    stub, client = stubbed
    made = await _paid_visit_in_the_past(booking, checkout, booking_pool)
    owner = as_role(settings, "owner")

    stub.fail_export = True
    resp = await client.post(EXPORT, json={"email": EMAIL}, headers=owner)
    assert resp.status == 503 and resp.headers["Retry-After"]
    error = (await resp.json())["error"]
    assert error["code"] == "privacy_service_unavailable" and error["details"] == {"service": "notifications"}
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM privacy_requests") == 0, "a failed export is not recorded"

    stub.fail_erase = True
    resp = await client.post(ERASE, json={"email": EMAIL}, headers=owner)
    assert resp.status == 503 and (await resp.json())["error"]["code"] == "privacy_service_unavailable"
    row = await _row(
        booking_pool, "SELECT customer_email, erased_at FROM bookings WHERE id = $1", uuid.UUID(made["id"])
    )
    assert (row["customer_email"], row["erased_at"]) == (EMAIL, None), "the booking's part comes last"
    assert stub.erased == []

    stub.fail_erase = False
    resp = await client.post(ERASE, json={"email": EMAIL}, headers=owner)
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert (result["erased"]["bookings"], result["erased"]["screenings"], result["erased"]["emails"]) == (1, 0, 2)
    assert result["kept"]["payments"] == 1 and result["kept"]["screenings"] == 1
    assert stub.erased == [
        {
            "clinic_id": str(stable_id(URBAN)),
            "email": "jo.bloggs@example.com",
            "dry_run": False,
            "names": ["Ada Lovelace"],  # the names she booked under, for other people's emails that hold her address
        }
    ]
    row = await _row(
        booking_pool, "SELECT customer_email, erased_at FROM bookings WHERE id = $1", uuid.UUID(made["id"])
    )
    assert row["customer_email"] is None and row["erased_at"] is not None


async def test_notifications_unreachable_is_503_with_nothing_changed(
    linked, booking, checkout, booking_pool, settings, aiohttp_client
):
    """Nothing listens where notifications should be: the dry run already fails, and nothing anywhere changes."""
    from tests.support.infra import free_port

    _, linked_settings = linked
    upstreams = {**linked_settings.upstreams, "notifications": f"http://127.0.0.1:{free_port()}"}
    client = await aiohttp_client(
        create_booking_app(linked_settings.with_overrides(upstreams=upstreams), retention_interval=None)
    )
    made = await _paid_visit_in_the_past(booking, checkout, booking_pool)
    for path in (EXPORT, ERASE):
        resp = await client.post(path, json={"email": EMAIL}, headers=as_role(settings, "owner"))
        assert resp.status == 503, path
        assert (await resp.json())["error"]["code"] == "privacy_service_unavailable"
    row = await _row(booking_pool, "SELECT customer_email FROM bookings WHERE id = $1", uuid.UUID(made["id"]))
    assert row["customer_email"] == EMAIL


async def test_a_services_blocker_refuses_the_erasure_with_nothing_changed(
    stubbed, booking, checkout, booking_pool, settings
):
    stub, client = stubbed
    made = await _paid_visit_in_the_past(booking, checkout, booking_pool)
    stub.blocker = {
        "code": "customer_has_vouchers_in_progress",
        "message": "A gift voucher for this customer is not delivered yet.",
        "details": {"vouchers": 1},
    }
    dry = await (
        await client.post(ERASE, json={"email": EMAIL, "dry_run": True}, headers=as_role(settings, "owner"))
    ).json()
    assert dry["blockers"] == [stub.blocker] and dry["erase"]["emails"] == 2 and dry["erase"]["bookings"] == 1
    resp = await client.post(ERASE, json={"email": EMAIL}, headers=as_role(settings, "owner"))
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "customer_has_vouchers_in_progress" and error["details"] == {"blockers": [stub.blocker]}
    row = await _row(booking_pool, "SELECT customer_email FROM bookings WHERE id = $1", uuid.UUID(made["id"]))
    assert row["customer_email"] == EMAIL and stub.erased == []

    # A blocker that appears between the dry run and the erasure itself: the service's 409 is passed on as it is.
    client.server.app[PRIVACY].erase = _dry_run_clear_then(client.server.app[PRIVACY].erase)
    resp = await client.post(ERASE, json={"email": EMAIL}, headers=as_role(settings, "owner"))
    assert resp.status == 409 and (await resp.json())["error"]["details"] == {"blockers": [stub.blocker]}
    row = await _row(booking_pool, "SELECT customer_email FROM bookings WHERE id = $1", uuid.UUID(made["id"]))
    assert row["customer_email"] == EMAIL, "the booking's part never ran"


def _dry_run_clear_then(erase):
    """The notifications dry run answers clear (the voucher is paid for meanwhile), the erasure itself not."""

    async def erase_with_a_late_blocker(service, clinic_id, email, *, dry_run, more=None):
        answer = await erase(service, clinic_id, email, dry_run=dry_run, more=more)
        if dry_run:
            answer["blockers"] = []
        return answer

    return erase_with_a_late_blocker
