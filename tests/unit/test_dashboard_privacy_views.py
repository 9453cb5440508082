"""The Privacy page's words (pure): the email the form takes, counts in words (known kinds in the page's order, any
other kind by name), what is kept grouped by why, blockers in sentences with where to act, and the past requests."""

from datetime import datetime, timezone

from services.web.dashboard import privacy_views as views


def when(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%d %b %Y %H:%M UTC")


def test_the_email_is_required_and_must_look_like_one():
    assert views.email_problem("") == "Enter the customer's email address"
    for wrong in ("ada", "ada@", "ada@example", "a da@example.com", "a" * 250 + "@example.com"):
        assert views.email_problem(wrong) == "Enter an email address in the correct format, like name@example.com"
    assert views.email_problem("Ada.Lovelace@Example.com") is None


def test_counts_are_words_in_the_page_s_order_without_zeros():
    counts = {"webhook_deliveries": 1, "bookings": 2, "emails": 0, "brand_new_kind": 3, "screenings": 1, "odd": "x"}
    assert views.counts_in_words(counts) == [
        "2 bookings",
        "1 health screening",
        "1 webhook delivery naming them",
        "3 brand new kind",
    ]
    assert views.counts_in_words({}) == [] and views.counts_in_words(None) == []


def test_what_is_kept_is_grouped_by_why():
    rows = views.kept_rows({"refunds": 1, "screenings": 2, "payments": 3, "voucher_sales": 0, "something": 1})
    assert [row["words"] for row in rows] == [
        "2 health screenings",
        "3 payment records and 1 refund record",
        "1 something",
    ]
    assert "turn 25" in rows[0]["why"] and "HMRC" in rows[1]["why"] and rows[2]["why"] == views.OTHER_WHY


def test_blockers_say_what_is_in_the_way_and_where_to_act():
    api_said = {"code": "customer_has_upcoming_bookings", "message": "This customer has 1 booking still to come."}
    rows = views.blocker_rows([api_said, {"code": "customer_has_vouchers_in_progress"}, "not a blocker"])
    assert rows[0]["message"] == api_said["message"] and "diary" in rows[0]["to_do"]
    assert rows[1]["message"].startswith("This customer has gift vouchers still in progress") and rows[1]["to_do"]
    assert views.blockers_of({"blockers": [api_said]}) == [api_said] and views.blockers_of(None) == []


def test_past_requests_say_when_what_whose_who_and_the_result():
    staff = {"6f1c0000-0000-4000-8000-000000000001": "Alice Jones"}
    rows = views.request_rows(
        [
            {
                "kind": "erase",
                "email_masked": "a***@example.com",
                "role": "owner",
                "staff_id": "6f1c0000-0000-4000-8000-000000000001",
                "at": "2026-12-10T09:30:00+00:00",
                "counts": {"erased": {"bookings": 1, "emails": 2}, "kept": {"payments": 1}},
            },
            {
                "kind": "export",
                "email_masked": "b***@example.com",
                "role": "owner",
                "staff_id": None,
                "at": None,
                "counts": {"bookings": 2, "payments": 0},
            },
            {
                "kind": "erase",
                "email_masked": "c***@example.com",
                "role": "owner",
                "staff_id": "gone",
                "at": "2026-12-10T09:30:00+00:00",
                "counts": {"erased": {}, "kept": {}},
            },
        ],
        staff,
        when,
    )
    assert rows[0] == {
        "when": "10 Dec 2026 09:30 UTC",
        "what": "Data erased",
        "email_masked": "a***@example.com",
        "who": "Alice Jones (owner)",
        "result": "Erased 1 booking, 2 emails sent to them; kept 1 payment record.",
    }
    assert rows[1]["who"] == "An API key (acting as the owner)" and rows[1]["result"] == "Found 2 bookings."
    assert rows[1]["when"] == "" and rows[1]["what"] == "Data downloaded"
    assert rows[2]["who"] == "A former member of staff (owner)" and rows[2]["result"] == "Nothing to erase."
