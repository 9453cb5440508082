"""The dashboard's Vouchers area as a browser without JavaScript uses it, through the gateway, for the owner and for
staff (reception): the list of the clinic's vouchers (status, balance, expiry, who; never the code), one voucher
with its ledger, reactivating an expired one (the reason kept in its ledger; CSRF-protected; a refusal in words),
and the monthly report by VAT class (table, chart, the CSV passed on from the API). Another clinic's voucher is the
dashboard's 404 page. Vouchers are bought and paid through the payments API, and expired by its own expiry path."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest

from services.booking.seed import stable_id
from services.payments import voucher_service
from services.payments.vouchers import Charge
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.booking import TREATMENT
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner, receptionist: fixtures)
    OWNER_EMAIL,
    STAFF_EMAIL,
    csrf_of,
    dashboard,
    owner,
    page,
    receptionist,
    signed_in,
)
from tests.support.vouchers import buy_voucher

ROLES = {"owner": OWNER_EMAIL, "staff": STAFF_EMAIL}
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
async def bought(payments, checkout, payments_pool, settings):
    """A £60 money voucher of Urban Therapy, bought and paid (the API's answer, and its code)."""
    return await buy_voucher(payments, checkout, payments_pool, settings)


async def expire(pool, voucher_id: str) -> None:
    """The voucher's expiry, as the payments service's housekeeping does it once the date has passed."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE vouchers SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(voucher_id)
        )
        assert await voucher_service.expire_due(conn) == 1


async def ledger_of(pool, voucher_id: str) -> list[tuple]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT entry, units, note FROM voucher_ledger WHERE voucher_id = $1 ORDER BY id", uuid.UUID(voucher_id)
        )
        status = await conn.fetchval("SELECT status FROM vouchers WHERE id = $1", uuid.UUID(voucher_id))
    return [status, *(tuple(r) for r in rows)]


async def redeem(pool, settings, code: str, amount: int) -> None:
    """A booking paying `amount` with the code (the payments service's own redemption)."""
    async with pool.acquire() as conn, conn.transaction():
        await voucher_service.redeem(
            conn,
            code=code,
            charge=Charge(stable_id("urban-therapy"), amount, uuid.UUID(TREATMENT), 1),
            reference_id=uuid.uuid4(),
            keys=voucher_service.CodeKeys(settings.voucher_code_key),
            now=datetime.now(timezone.utc),
        )


def row_of(text: str, marker: str, length: int = 1500) -> str:
    at = text.index(marker)
    return text[at : text.index("</tr>", at) if "</tr>" in text[at:] else at + length]


@pytest.mark.parametrize("role", ROLES)
async def test_a_bought_voucher_is_listed_and_its_page_shows_its_ledger(
    dashboard, owner, receptionist, bought, payments, payments_pool, settings, role
):
    voucher, code = bought
    await redeem(payments_pool, settings, code, 2000)
    await signed_in(dashboard, ROLES[role])
    listed = await page(await dashboard.get("/clinic/vouchers"))
    assert "<h1>Vouchers</h1>" in listed
    row = row_of(listed, f'href="/clinic/vouchers/{voucher["id"]}"')
    assert "£60.00 gift voucher" in row and "Money" in row and "Active" in row and "£40.00 left" in row
    assert "Grace Hopper" in row and "Ada Lovelace" in row, "recipient and buyer"
    assert re.search(r"\w+day \d+ \w+ \d{4}, \d\d:\d\d \(UK time, (GMT|BST)\)", row), "the expiry, zone named"
    assert f"code …{code.replace('-', '')[-4:]}" in row, "the code's last characters only"
    assert code not in listed and code.replace("-", "") not in listed, "never the code"
    # The API gives the code's hint only (checked at the source: nothing of the code but its last four).
    api = await payments.get(
        "/api/v1/clinic/vouchers",
        headers={
            CLINIC_ID_HEADER: str(stable_id("urban-therapy")),
            CLINIC_ROLE_HEADER: role,
            INTERNAL_TOKEN_HEADER: settings.internal_token,
        },
    )
    assert code not in await api.text() and code.replace("-", "") not in await api.text()

    one = await page(await dashboard.get(f"/clinic/vouchers/{voucher['id']}"))
    assert "<h1>£60.00 gift voucher</h1>" in one and "Multi-purpose" in one and "£40.00 left" in one
    assert "ada@example.com" in one and "grace@example.com" in one and code not in one
    ledger = one[one.index("<h2>Ledger</h2>") :]
    issued, used = row_of(ledger, "Issued (paid for)"), row_of(ledger, "Used for a booking")
    assert ">+£60.00<" in issued and ">£60.00</td>" in issued, "change and balance after"
    assert ">\u2212£20.00<" in used and ">£40.00</td>" in used
    assert ledger.index("Issued (paid for)") < ledger.index("Used for a booking"), "oldest first"
    assert re.search(r"<th scope=\"row\" data-label=\"When\">\w+day .*\(UK time, (GMT|BST)\)</th>", ledger)
    assert "Reactivate" not in one, "only an expired voucher can be reactivated"
    # The filter the page offers (the API filters nothing: the page does), and pages past the end.
    assert 'href="/clinic/vouchers?status=active"' in listed
    assert f"/clinic/vouchers/{voucher['id']}" in await page(await dashboard.get("/clinic/vouchers?status=active"))
    assert "No expired vouchers." in await page(await dashboard.get("/clinic/vouchers?status=expired"))
    for wrong in ("status=used", "page=2", "page=0", "page=x"):
        assert "Page not found" in await page(await dashboard.get(f"/clinic/vouchers?{wrong}"), 404)


async def test_a_voucher_whose_people_were_erased_says_so_on_its_pages(dashboard, owner, bought, payments_pool):
    voucher, _ = bought
    async with payments_pool.acquire() as conn:  # what erasing its buyer and recipient leaves (docs/privacy.md)
        await conn.execute(
            """UPDATE vouchers SET buyer_name = NULL, buyer_email = NULL, recipient_name = NULL,
                   recipient_email = NULL, message = '', erased_at = now() WHERE id = $1""",
            uuid.UUID(voucher["id"]),
        )
    await signed_in(dashboard, OWNER_EMAIL)
    row = row_of(await page(await dashboard.get("/clinic/vouchers")), f'href="/clinic/vouchers/{voucher["id"]}"')
    one = await page(await dashboard.get(f"/clinic/vouchers/{voucher['id']}"))
    for shown in (row, one[one.index("<dl") :]):
        assert "Erased at their request" in shown and "None" not in shown


async def test_staff_reactivate_an_expired_voucher_with_a_reason_and_it_shows_in_its_ledger(
    dashboard, receptionist, bought, payments_pool
):
    voucher, _ = bought
    await expire(payments_pool, voucher["id"])
    await signed_in(dashboard, STAFF_EMAIL)
    expired = await page(await dashboard.get("/clinic/vouchers?status=expired"))
    assert "Expired" in row_of(expired, f'href="/clinic/vouchers/{voucher["id"]}"')
    path = f"/clinic/vouchers/{voucher['id']}"
    one = await page(await dashboard.get(path))
    assert "Reactivate this voucher" in one and f'action="{path}/reactivate"' in one
    assert "Nothing left" in one and "\u2212£60.00" in row_of(one, "Expired: what was left")

    before = await ledger_of(payments_pool, voucher["id"])
    missing = await page(await dashboard.post(f"{path}/reactivate", data={"csrf": csrf_of(one), "reason": " "}), 400)
    assert "There is a problem" in missing and 'href="#reason"' in missing
    assert "Enter why you are reactivating this voucher" in missing
    short = await page(await dashboard.post(f"{path}/reactivate", data={"csrf": csrf_of(one), "reason": "no"}), 400)
    assert "at least 3 characters" in short and ">no</textarea>" in short, "what was typed is kept"
    assert await ledger_of(payments_pool, voucher["id"]) == before, "a refused form changes nothing"

    done = await dashboard.post(
        f"{path}/reactivate", data={"csrf": csrf_of(one), "reason": "in hospital"}, allow_redirects=False
    )
    assert done.status == 303 and done.headers["Location"] == f"{path}?done=reactivated"
    shown = await page(await dashboard.get(done.headers["Location"]))
    assert "Voucher reactivated." in shown and "£60.00 left" in shown and "Reactivate this voucher" not in shown
    back = row_of(shown, "Reactivated by the clinic")
    assert "Reason: in hospital" in back and ">+£60.00<" in back and ">£60.00</td>" in back
    assert (await ledger_of(payments_pool, voucher["id"]))[0] == "active"
    # Sent twice (another tab, a double click): the API's refusal, in words; nothing more changes.
    after = await ledger_of(payments_pool, voucher["id"])
    again = await page(await dashboard.post(f"{path}/reactivate", data={"csrf": csrf_of(one), "reason": "again"}), 409)
    assert "Only an expired voucher can be reactivated" in again
    assert await ledger_of(payments_pool, voucher["id"]) == after


@pytest.mark.parametrize("role", ROLES)
async def test_the_report_shows_the_months_sales_and_its_csv_downloads(dashboard, owner, receptionist, bought, role):
    await signed_in(dashboard, ROLES[role])
    month = datetime.now(LONDON).strftime("%Y-%m")
    month_words = datetime.now(LONDON).strftime("%B %Y")
    listed = await page(await dashboard.get("/clinic/vouchers"))
    assert 'href="/clinic/vouchers/report"' in listed
    report = await page(await dashboard.get("/clinic/vouchers/report"))
    assert f"<h1>Voucher report: {month_words}</h1>" in report and "UK time" in report
    assert f"<caption>Vouchers sold, redeemed, returned, expired and reactivated in {month_words}" in report
    assert '<th scope="col">Sold</th>' in report.replace(' class="figure"', "")
    money = row_of(report, '<th scope="row" data-label="Vouchers">Money vouchers</th>')
    assert (
        "Multi-purpose" in money and 'data-label="Sold" class="figure">£60.00<br><span class="count">1 voucher' in money
    )
    total = row_of(report, '<th scope="row" colspan="2">Total</th>')
    assert "£60.00" in total and "1 voucher" in total
    # The chart: bars drawn on the server, to scale, hidden from screen readers (the table says it in words).
    assert '<div class="chart-body" aria-hidden="true">' in report
    assert 'class="chart-fill bar--amount" x="0" y="0" height="18" width="100.0%"' in report
    assert "style=" not in report and "<script>" not in report
    # No month after this one; the one before, and back again.
    assert "Next month" not in report and "Previous month" in report
    assert f'name="month" type="month" value="{month}"' in report
    csv_link = f"/clinic/vouchers/report.csv?month={month}"
    assert f'href="{csv_link}"' in report

    download = await dashboard.get(csv_link)
    assert download.status == 200, await download.text()
    assert download.content_type == "text/csv" and download.charset == "utf-8"
    assert download.headers["Content-Disposition"] == f'attachment; filename="vouchers-{month}.csv"'
    assert download.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(await download.text())))
    assert rows[0][:4] == ["month", "vat_class", "kind", "currency"]
    assert rows[3][:6] == [month, "multi_purpose", "amount", "GBP", "1", "60.00"]
    assert rows[4][:6] == [month, "total", "", "GBP", "1", "60.00"]

    earlier = await page(await dashboard.get("/clinic/vouchers/report?month=2026-01"))
    assert "<h1>Voucher report: January 2026</h1>" in earlier and "Next month" in earlier
    assert "£60.00" not in earlier, "another month's sales are not this one's"
    assert "Previous month" not in await page(await dashboard.get("/clinic/vouchers/report?month=2000-01"))
    wrong = await page(await dashboard.get("/clinic/vouchers/report?month=July"), 400)
    assert "There is a problem" in wrong and 'href="#month"' in wrong and 'value="July"' in wrong
    assert "like 2026-07" in wrong
    assert "Page not found" in await page(await dashboard.get("/clinic/vouchers/report.csv?month=13-2026"), 404)


async def test_another_clinics_voucher_is_the_dashboards_404_page_and_cannot_be_reactivated(
    dashboard, owner, payments, checkout, payments_pool, settings
):
    theirs, _ = await buy_voucher(payments, checkout, payments_pool, settings, clinic="spinecare")
    await expire(payments_pool, theirs["id"])
    before = await ledger_of(payments_pool, theirs["id"])
    await signed_in(dashboard)
    listed = await page(await dashboard.get("/clinic/vouchers"))
    assert theirs["id"] not in listed
    path = f"/clinic/vouchers/{theirs['id']}"
    assert "Page not found" in await page(await dashboard.get(path), 404)
    refused = await dashboard.post(f"{path}/reactivate", data={"csrf": csrf_of(listed), "reason": "borrowed"})
    assert "Page not found" in await page(refused, 404)
    assert await ledger_of(payments_pool, theirs["id"]) == before
    assert "Page not found" in await page(await dashboard.get("/clinic/vouchers/not-a-voucher"), 404)


async def test_reactivating_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    dashboard, owner, bought, payments_pool
):
    voucher, _ = bought
    await expire(payments_pool, voucher["id"])
    before = await ledger_of(payments_pool, voucher["id"])
    await signed_in(dashboard)
    for token in ("", "forged", None):
        data = {"reason": "in hospital", **({"csrf": token} if token is not None else {})}
        refused = await dashboard.post(f"/clinic/vouchers/{voucher['id']}/reactivate", data=data)
        assert "This form has expired" in await page(refused, 403)
    assert await ledger_of(payments_pool, voucher["id"]) == before and before[0] == "expired"


async def test_signed_out_every_voucher_page_asks_to_sign_in(dashboard, bought):
    voucher, _ = bought
    for path in (
        "/clinic/vouchers",
        f"/clinic/vouchers/{voucher['id']}",
        "/clinic/vouchers/report",
        "/clinic/vouchers/report.csv?month=2026-07",
    ):
        resp = await dashboard.get(path, allow_redirects=False)
        location = urlsplit(resp.headers["Location"])  # signing in comes back to the page
        assert resp.status == 303 and location.path == "/clinic/sign-in", path
        assert dict(parse_qsl(location.query)) == {"next": path}, path
    posted = await dashboard.post(f"/clinic/vouchers/{voucher['id']}/reactivate", allow_redirects=False)
    assert posted.status == 303 and posted.headers["Location"] == "/clinic/sign-in?m=expired-unsaved"
