"""The clinic's monthly voucher report (GET /api/v1/clinic/vouchers/report, owner and staff) from the voucher
ledger: sold, redeemed, returned, expired and reactivated per VAT class, with months that begin at midnight on
the clinic's wall clock (the zone it has now), as JSON or as a CSV download; and one voucher with its ledger
(GET /api/v1/clinic/vouchers/{id}). Vouchers are bought, paid, redeemed, refunded, expired and reactivated
through the real paths; the ledger entries are then moved to the instants the test needs around a month's
edge."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from services.booking.seed import stable_id
from services.payments import voucher_service
from services.payments.voucher_report import CSV_HEADER, FORMULA_STARTS
from services.payments.vouchers import Charge
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.booking import COURSE, TREATMENT
from tests.support.clinic_api import bearer
from tests.support.vouchers import buy_voucher

REPORT = "/api/v1/clinic/vouchers/report"
URBAN, SPINECARE = "urban-therapy", "spinecare"
SWEDISH = str(stable_id(URBAN, "treatment", "swedish-60"))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


# Around the edge of June and July 2026, in summer time: London's midnight is 23:00 UTC.
JUNE_LATE = utc("2026-06-30T22:30")  # 23:30 on 30 June in London
JULY_FIRST_MINUTES = utc("2026-06-30T23:10")  # 00:10 on 1 July in London, still June in UTC
JULY_EARLY = utc("2026-06-30T23:30")  # 00:30 on 1 July in London
MID_JULY = utc("2026-07-15T12:00")
AUGUST_FIRST = utc("2026-07-31T23:30")  # 00:30 on 1 August in London


def as_role(settings, role: str, slug: str = URBAN) -> dict:
    return {
        CLINIC_ID_HEADER: str(stable_id(slug)),
        INTERNAL_TOKEN_HEADER: settings.internal_token,
        CLINIC_ROLE_HEADER: role,
    }


async def backdate_last_entry(pool, voucher_id: str, at: datetime) -> None:
    """The voucher's newest ledger entry, moved to `at` (as if it had been written then)."""
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE voucher_ledger SET created_at = $2 WHERE id = (SELECT max(id) FROM voucher_ledger "
            "WHERE voucher_id = $1)",
            uuid.UUID(voucher_id),
            at,
        )


async def redeem(pool, settings, code: str, slug: str, amount: int, treatment: str, at: datetime) -> uuid.UUID:
    """A booking paying with the code (the payments service's own redemption), dated `at`."""
    reference = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        applied = await voucher_service.redeem(
            conn,
            code=code,
            charge=Charge(stable_id(slug), amount, uuid.UUID(treatment), 1),
            reference_id=reference,
            keys=voucher_service.CodeKeys(settings.voucher_code_key),
            now=datetime.now(timezone.utc),
        )
    await backdate_last_entry(pool, str(applied.voucher_id), at)
    return reference


@pytest.fixture
async def ledger_world(payments, payments_pool, checkout, settings):
    """Vouchers of both clinics whose ledgers cross the edges of July 2026 in London."""
    pool = payments_pool

    async def bought(at: datetime, **kind) -> tuple[dict, str]:
        voucher, code = await buy_voucher(payments, checkout, pool, settings, **kind)
        await backdate_last_entry(pool, voucher["id"], at)
        return voucher, code

    # A: £60 of money, sold in June; £20 redeemed in the first minutes of July, £15 mid-July and given back
    # (the booking was cancelled) in the first minutes of August.
    money, money_code = await bought(JUNE_LATE)
    await redeem(pool, settings, money_code, URBAN, 2000, TREATMENT, JULY_EARLY)
    cancelled = await redeem(pool, settings, money_code, URBAN, 1500, TREATMENT, MID_JULY)
    async with pool.acquire() as conn, conn.transaction():
        await voucher_service.give_back(conn, cancelled, entry="refund")
    await backdate_last_entry(pool, money["id"], AUGUST_FIRST)
    # B: a treatment voucher sold ten minutes into July on London's clock (still June in UTC).
    treatment, _ = await bought(JULY_FIRST_MINUTES, kind="treatment", treatment=SWEDISH)
    # C: a course of 6 sessions for £345, sold and one session used mid-July (worth £57.50 of what was paid).
    course, course_code = await bought(MID_JULY, kind="course", course=COURSE)
    await redeem(pool, settings, course_code, URBAN, 6500, TREATMENT, MID_JULY)
    # D: £50 of money, sold, expired and reactivated by the clinic, all mid-July.
    lapsed, _ = await bought(MID_JULY, amount={"amount": 5000, "currency": "GBP"})
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE vouchers SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(lapsed["id"])
        )
        assert await voucher_service.expire_due(conn) == 1
    await backdate_last_entry(pool, lapsed["id"], MID_JULY)
    resp = await payments.post(
        f"/api/v1/clinic/vouchers/{lapsed['id']}/reactivate",
        headers=as_role(settings, "staff"),
        json={"reason": "in hospital"},
    )
    assert resp.status == 200, await resp.text()
    await backdate_last_entry(pool, lapsed["id"], MID_JULY)
    # E: the other clinic's £60, sold and £10 of it redeemed mid-July.
    other, other_code = await bought(MID_JULY, clinic=SPINECARE)
    spinecare_treatment = str(stable_id(SPINECARE, "treatment", "any"))
    await redeem(pool, settings, other_code, SPINECARE, 1000, spinecare_treatment, MID_JULY)
    return {"money": money, "treatment": treatment, "course": course, "lapsed": lapsed, "other": other}


def figures(report: dict) -> dict:
    """{(vat_class, kind): {column: (count, amount)}} of the columns with anything in them."""
    shown = {}
    for row in report["rows"]:
        found = {
            column: (value["count"], value["amount"])
            for column, value in row.items()
            if isinstance(value, dict) and value["count"]
        }
        if found:
            shown[(row["vat_class"], row["kind"])] = found
    return shown


async def report_of(client, headers: dict, month: str, **params) -> dict:
    resp = await client.get(REPORT, headers=headers, params={"month": month, **params})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    return await resp.json()


JULY_IN_LONDON = {
    ("single_purpose", "treatment"): {"sold": (1, 6000)},
    ("single_purpose", "course"): {"sold": (1, 34500), "redeemed": (1, 5750)},
    ("multi_purpose", "amount"): {
        "sold": (1, 5000),
        "redeemed": (2, 3500),
        "expired": (1, 5000),
        "reactivated": (1, 5000),
    },
}


async def test_a_month_on_the_clinics_clock_by_vat_class(gateway, keys, ledger_world):
    key = bearer(keys[URBAN])
    july = await report_of(gateway, key, "2026-07")
    assert (july["month"], july["timezone"], july["currency"]) == ("2026-07", "Europe/London", "GBP")
    assert (july["from"], july["to"]) == ("2026-07-01T00:00:00+01:00", "2026-08-01T00:00:00+01:00")
    assert [(r["vat_class"], r["kind"]) for r in july["rows"]] == [
        ("single_purpose", "treatment"),
        ("single_purpose", "course"),
        ("multi_purpose", "amount"),
    ]
    assert figures(july) == JULY_IN_LONDON
    assert july["totals"] == {
        "sold": {"count": 3, "amount": 45500},
        "redeemed": {"count": 3, "amount": 9250},
        "returned": {"count": 0, "amount": 0},
        "expired": {"count": 1, "amount": 5000},
        "reactivated": {"count": 1, "amount": 5000},
    }
    june = await report_of(gateway, key, "2026-06")
    assert figures(june) == {("multi_purpose", "amount"): {"sold": (1, 6000)}}
    august = await report_of(gateway, key, "2026-08")
    assert figures(august) == {("multi_purpose", "amount"): {"returned": (1, 1500)}}
    assert figures(await report_of(gateway, key, "2026-05")) == {}


async def test_the_months_follow_the_clinics_time_zone_as_it_is_now(gateway, keys, ledger_world):
    key = bearer(keys[URBAN])
    resp = await gateway.patch("/api/v1/clinic/settings", headers=key, json={"timezone": "UTC"})
    assert resp.status == 200, await resp.text()
    june = await report_of(gateway, key, "2026-06")
    assert june["from"] == "2026-06-01T00:00:00+00:00"
    # The treatment voucher sold at 23:10 UTC on 30 June, and the first redemption at 23:30, are June's now.
    assert figures(june) == {
        ("single_purpose", "treatment"): {"sold": (1, 6000)},
        ("multi_purpose", "amount"): {"sold": (1, 6000), "redeemed": (1, 2000)},
    }


async def test_another_clinics_vouchers_are_never_counted(gateway, keys, ledger_world):
    spinecare = await report_of(gateway, bearer(keys[SPINECARE]), "2026-07")
    assert figures(spinecare) == {("multi_purpose", "amount"): {"sold": (1, 6000), "redeemed": (1, 1000)}}


async def test_staff_see_the_report_and_a_call_without_the_gateways_word_does_not(payments, settings, ledger_world):
    staff = await report_of(payments, as_role(settings, "staff"), "2026-07")
    assert figures(staff) == JULY_IN_LONDON
    resp = await payments.get(REPORT, params={"month": "2026-07"})
    assert resp.status == 401
    forged = {CLINIC_ID_HEADER: str(stable_id(URBAN)), INTERNAL_TOKEN_HEADER: "wrong"}
    assert (await payments.get(REPORT, headers=forged, params={"month": "2026-07"})).status == 401


def parsed_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_the_report_as_a_csv_download(gateway, keys, ledger_world):
    key = bearer(keys[URBAN])
    asked = [
        ({"format": "csv"}, {}),
        ({}, {"Accept": "text/csv"}),
        ({}, {"Accept": "application/json;q=0.5, text/csv"}),
    ]
    for params, headers in asked:
        resp = await gateway.get(REPORT, headers={**key, **headers}, params={"month": "2026-07", **params})
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "text/csv" and resp.charset == "utf-8"
        assert resp.headers["Content-Disposition"] == 'attachment; filename="vouchers-2026-07.csv"'
        assert resp.headers["Cache-Control"] == "no-store"
        rows = parsed_csv(await resp.text())
        assert rows[0] == list(CSV_HEADER)
        assert [row[1:3] for row in rows[1:]] == [
            ["single_purpose", "treatment"],
            ["single_purpose", "course"],
            ["multi_purpose", "amount"],
            ["total", ""],
        ]
        by_name = [dict(zip(rows[0], row)) for row in rows[1:]]
        course, money, total = by_name[1], by_name[2], by_name[3]
        assert (course["sold_count"], course["sold_amount"], course["redeemed_amount"]) == ("1", "345.00", "57.50")
        assert (money["redeemed_count"], money["redeemed_amount"], money["expired_amount"]) == ("2", "35.00", "50.00")
        assert (total["month"], total["currency"], total["sold_amount"]) == ("2026-07", "GBP", "455.00")
        cells = [cell for row in rows for cell in row]
        assert not any(cell.startswith(FORMULA_STARTS) for cell in cells), "no cell a spreadsheet would run"
    # JSON unless CSV is asked for (or preferred).
    for headers in ({}, {"Accept": "application/json"}, {"Accept": "text/csv;q=0.2, application/json"}):
        resp = await gateway.get(REPORT, headers={**key, **headers}, params={"month": "2026-07"})
        assert resp.content_type == "application/json"


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-7", "26-07", "july", "1999-12", "2200-01", ""])
async def test_a_month_that_is_not_one_is_refused(gateway, keys, month):
    resp = await gateway.get(REPORT, headers=bearer(keys[URBAN]), params={"month": month})
    assert resp.status == 422, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "validation_failed" and error["details"][0]["field"] == "month"


async def test_an_unknown_format_is_refused_and_no_month_means_this_one(gateway, keys):
    resp = await gateway.get(REPORT, headers=bearer(keys[URBAN]), params={"format": "xlsx"})
    assert resp.status == 422 and (await resp.json())["error"]["details"][0]["field"] == "format"
    resp = await gateway.get(REPORT, headers=bearer(keys[URBAN]))
    assert resp.status == 200
    this_month = datetime.now(timezone.utc).astimezone(ZoneInfo("Europe/London"))
    assert (await resp.json())["month"] == this_month.strftime("%Y-%m")


async def test_a_vouchers_ledger_with_the_balance_each_entry_left(gateway, keys, settings, payments, ledger_world):
    money = ledger_world["money"]
    resp = await gateway.get(f"/api/v1/clinic/vouchers/{money['id']}", headers=bearer(keys[URBAN]))
    assert resp.status == 200, await resp.text()
    voucher = await resp.json()
    assert (voucher["status"], voucher["remaining"], voucher["vat_class"]) == (
        "active",
        {"amount": 4000, "currency": "GBP"},
        "multi_purpose",
    )
    assert voucher["expires_at"] and voucher["code_hint"].startswith("…")
    assert [(e["entry"], e["units"], e["balance_after"]) for e in voucher["ledger"]] == [
        ("issue", 6000, 6000),
        ("redeem", -2000, 4000),
        ("redeem", -1500, 2500),
        ("refund", 1500, 4000),
    ]
    assert voucher["ledger"][0]["at"] == "2026-06-30T22:30:00+00:00"
    assert voucher["buyer"]["email"] == "ada@example.com" and voucher["delivery_changes"] == []
    # Reactivation is in the API: the lapsed voucher's ledger shows it, staff may read it.
    lapsed = await payments.get(
        f"/api/v1/clinic/vouchers/{ledger_world['lapsed']['id']}", headers=as_role(settings, "staff")
    )
    entries = [(e["entry"], e["units"], e["actor"]) for e in (await lapsed.json())["ledger"]]
    assert entries == [
        ("issue", 5000, "payment"),
        ("expire", -5000, "expiry"),
        ("adjust", 5000, f"clinic:{stable_id(URBAN)}"),
    ]
    # Another clinic's voucher, or no voucher at all, is not found.
    for voucher_id in (ledger_world["other"]["id"], str(uuid.uuid4()), "not-a-uuid"):
        resp = await gateway.get(f"/api/v1/clinic/vouchers/{voucher_id}", headers=bearer(keys[URBAN]))
        assert resp.status == 404 and (await resp.json())["error"]["code"] in ("voucher_not_found", "not_found")


async def test_the_list_shows_status_balance_and_expiry(gateway, keys, ledger_world):
    resp = await gateway.get("/api/v1/clinic/vouchers", headers=bearer(keys[URBAN]))
    listed = {v["id"]: v for v in (await resp.json())["vouchers"]}
    assert set(listed) == {ledger_world[name]["id"] for name in ("money", "treatment", "course", "lapsed")}
    course = listed[ledger_world["course"]["id"]]
    assert (course["status"], course["remaining"], course["vat_class"]) == (
        "active",
        {"sessions": 5},
        "single_purpose",
    )
    assert all(v["expires_at"] for v in listed.values())
