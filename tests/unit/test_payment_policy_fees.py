"""Card saved only, and no-show and late-cancellation fees (issue 20): what the policy accepts, the fees fixed
for a price (a course: per session), whether a booking saves the card, the words, the public JSON; and the
reservation's side: the fee on its no-show (once) and on a customer's late cancellation, never otherwise."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.booking import payment_policy as pp
from services.booking.domain import BookingError, Clinic, Therapist, Treatment
from services.booking.reservation import Particulars, Reservation
from shared import contracts

GBP = "GBP"
FEES = {"no_show_fee": {"percent": 50}, "late_cancellation_fee": {"amount": {"amount": 2000, "currency": GBP}}}
CARD = {"mode": "card"}
FULL_WITH_FEES = {"mode": "full", **FEES}
DEPOSIT_WITH_FEES = {"mode": "deposit", "deposit": {"percent": 20}, **FEES}
CARD_WITH_FEES = {"mode": "card", **FEES}


# --- parse ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        CARD,
        FULL_WITH_FEES,
        DEPOSIT_WITH_FEES,
        CARD_WITH_FEES,
        {"mode": "full", "no_show_fee": {"percent": 100}},
        {"mode": "card", "late_cancellation_fee": {"percent": 1}},
        {"mode": "full", "no_show_fee": {"amount": {"amount": 500_000, "currency": GBP}}},
    ],
)
def test_card_mode_and_fees_are_accepted_as_given(given):
    assert pp.parse(given, GBP) == given


def test_a_fee_amount_currency_is_kept_upper_case_and_a_null_fee_is_no_fee():
    given = {
        "mode": "card",
        "no_show_fee": {"amount": {"amount": 900, "currency": "gbp"}},
        "late_cancellation_fee": None,
    }
    assert pp.parse(given, GBP) == {"mode": "card", "no_show_fee": {"amount": {"amount": 900, "currency": GBP}}}


@pytest.mark.parametrize(
    "given",
    [
        {"mode": "card", "deposit": {"percent": 20}},
        {"mode": "card", "no_show_fee": {}},
        {"mode": "card", "no_show_fee": {"percent": 0}},
        {"mode": "card", "no_show_fee": {"percent": 101}},
        {"mode": "card", "no_show_fee": {"percent": 50.5}},
        {"mode": "card", "no_show_fee": {"percent": True}},
        {"mode": "card", "no_show_fee": {"percent": 50, "amount": {"amount": 500, "currency": GBP}}},
        {"mode": "full", "late_cancellation_fee": {"amount": 500}},
        {"mode": "full", "late_cancellation_fee": {"amount": {"amount": 0, "currency": GBP}}},
        {"mode": "full", "late_cancellation_fee": {"amount": {"amount": 500_001, "currency": GBP}}},
        {"mode": "full", "late_cancellation_fee": {"amount": {"amount": 500, "currency": "EUR"}}},
        {"mode": "full", "cancellation_fee": {"percent": 10}},
        {"mode": "deposit", "no_show_fee": {"percent": 10}},
        {"mode": "saved"},
    ],
)
def test_anything_else_is_refused_with_a_sentence(given):
    with pytest.raises(pp.PolicyInvalid) as refused:
        pp.parse(given, GBP)
    assert refused.value.message.endswith(".")


def test_the_refusal_names_the_fee():
    with pytest.raises(pp.PolicyInvalid) as refused:
        pp.parse({"mode": "full", "no_show_fee": {"percent": 101}}, GBP)
    assert "no-show fee" in refused.value.message


# --- what is paid, what it costs ---------------------------------------------------------------


def test_card_mode_pays_nothing_now_and_all_at_the_clinic_less_the_voucher():
    assert pp.deposit_for(CARD, 6500) == 0
    assert pp.card_at_most(CARD, 6500) == 0
    assert pp.parts(CARD, 6500, voucher_part=2000) == pp.Parts(voucher=2000, card=0, at_clinic=4500)


def test_a_booking_saves_the_card_in_card_mode_or_with_any_fee():
    assert pp.needs_saved_card(CARD)
    assert pp.needs_saved_card({"mode": "full", "no_show_fee": {"percent": 10}})
    assert pp.needs_saved_card({"mode": "deposit", "deposit": {"percent": 20}, "late_cancellation_fee": {"percent": 5}})
    assert not pp.needs_saved_card({"mode": "full"})
    assert not pp.needs_saved_card({"mode": "deposit", "deposit": {"percent": 20}})
    assert pp.is_plain({"mode": "full"}) and not pp.is_plain(FULL_WITH_FEES) and not pp.is_plain(CARD)


@pytest.mark.parametrize(
    "fee, price, amount",
    [
        ({"percent": 50}, 6500, 3250),
        ({"percent": 50}, 6501, 3251),  # 3250.5 rounds half up
        ({"percent": 33}, 1001, 330),  # 330.33 rounds down
        ({"percent": 100}, 6500, 6500),
        ({"amount": {"amount": 2000, "currency": GBP}}, 6500, 2000),
        ({"amount": {"amount": 9000, "currency": GBP}}, 6500, 6500),  # never more than the price
        ({"percent": 1}, 49, None),  # comes to nothing: no fee
        (None, 6500, None),
    ],
)
def test_a_fee_is_a_percent_rounded_half_up_or_an_amount_capped_at_the_price(fee, price, amount):
    assert pp.fee_for(fee, price) == amount


def test_a_courses_fees_are_of_one_sessions_share_rounded_half_up():
    # £100.00 over 3 sessions: a share of £33.33; over 4 with £100.02: 2500.5 → 2501.
    assert pp.session_share(10000, 3) == 3333
    assert pp.session_share(10002, 4) == 2501
    assert pp.fee_amounts(FULL_WITH_FEES, 10000, sessions=3) == pp.Fees(no_show=1667, late_cancellation=2000)
    assert pp.fee_amounts(FULL_WITH_FEES, 6500) == pp.Fees(no_show=3250, late_cancellation=2000)
    assert pp.fee_amounts({"mode": "full"}, 6500) == pp.Fees(None, None)


# --- words -----------------------------------------------------------------------------------------


def test_words_for_card_mode_and_the_fees():
    assert pp.words(CARD, 6500, GBP) == "Nothing to pay now; your card is saved and the £65.00 is paid at the clinic."
    assert pp.words(CARD_WITH_FEES, 6500, GBP, change_window_hours=24) == (
        "Nothing to pay now; your card is saved and the £65.00 is paid at the clinic. "
        "If you miss the appointment, a no-show fee of £32.50 is charged to your saved card. "
        "Cancelling less than 24 hours before costs a late-cancellation fee of £20.00."
    )
    assert pp.words(DEPOSIT_WITH_FEES, 6500, GBP, change_window_hours=48) == (
        "Pay a deposit of £13.00 now (20%); the rest, £52.00, at the clinic. "
        "If you miss the appointment, a no-show fee of £32.50 is charged to your saved card. "
        "Cancelling less than 48 hours before costs a late-cancellation fee of £20.00."
    )
    assert pp.words({"mode": "full", "no_show_fee": {"percent": 100}}, 6500, GBP) == (
        "Pay £65.00 now. If you miss the appointment, a no-show fee of £65.00 is charged to your saved card."
    )
    assert pp.words({"mode": "full", "late_cancellation_fee": {"percent": 50}}, 6500, GBP, 1) == (
        "Pay £65.00 now. Cancelling less than 1 hour before costs a late-cancellation fee of £32.50."
    )


def test_a_courses_words_say_the_fees_per_session():
    assert pp.words(FULL_WITH_FEES, 30000, GBP, 24, sessions=6) == (
        "Pay £300.00 now. If you miss a session, a no-show fee of £25.00 is charged to your saved card. "
        "Cancelling less than 24 hours before costs a late-cancellation fee of £20.00 a session."
    )


def test_general_words_for_card_mode_and_the_fees():
    assert pp.general_words(CARD, GBP) == (
        "Nothing to pay when booking; your card is saved and the price is paid at the clinic."
    )
    assert pp.general_words(FULL_WITH_FEES, GBP, 12) == (
        "Pay in full when booking. "
        "If you miss the appointment, a no-show fee of 50% of the price is charged to your saved card. "
        "Cancelling less than 12 hours before costs a late-cancellation fee of £20.00 (the price, if less)."
    )


def test_public_json_has_the_fees_in_money_and_whether_the_card_is_saved():
    assert pp.public_json(CARD_WITH_FEES, 6500, GBP) == {
        "mode": "card",
        "deposit_amount": {"amount": 0, "currency": GBP},
        "no_show_fee": {"amount": 3250, "currency": GBP},
        "late_cancellation_fee": {"amount": 2000, "currency": GBP},
        "save_card": True,
        "words": pp.words(CARD_WITH_FEES, 6500, GBP),
    }
    course = pp.public_json({"mode": "full", "no_show_fee": {"percent": 10}}, 30000, GBP, sessions=6)
    assert course["no_show_fee"] == {"amount": 500, "currency": GBP} and course["late_cancellation_fee"] is None


# --- the reservation: which events carry a fee ----------------------------------------------------

CLINIC = Clinic(uuid.uuid4(), "c", "C", "Europe/London", change_window_hours=24)
TREATMENT = Treatment(uuid.uuid4(), "Sports massage", 60, 6500, GBP)
START = datetime(2030, 1, 8, 10, tzinfo=timezone.utc)


def _booking(no_show: int | None = 3250, late: int | None = 2000) -> Reservation:
    from services.booking.domain import Customer

    return Reservation(
        id=uuid.uuid4(),
        clinic_id=CLINIC.id,
        treatment_id=TREATMENT.id,
        therapist_id=uuid.uuid4(),
        start=START,
        end=START + timedelta(hours=1),
        status="confirmed",
        expires_at=None,
        price_amount=6500,
        currency=GBP,
        customer=Customer("Ada", "ada@example.com"),
        no_show_fee=no_show,
        late_cancellation_fee=late,
        save_card=True,
    )


DESCRIBED = Particulars(CLINIC, TREATMENT, Therapist(uuid.uuid4(), "Sam"))


def _data(reservation: Reservation) -> dict:
    [event] = reservation.events
    return event.data


def test_a_no_show_carries_its_fee_once():
    booking = _booking()
    assert booking.record_outcome("no_show", DESCRIBED, START + timedelta(minutes=20))
    assert _data(booking)["fee"] == {"kind": "no_show", "amount": {"amount": 3250, "currency": GBP}}
    assert contracts.FeeDue("no_show", contracts.Money(3250, GBP)).kind in contracts.FEE_KINDS
    assert not booking.record_outcome("no_show", DESCRIBED, START + timedelta(minutes=30))  # marked twice
    assert len(booking.events) == 1


def test_no_fee_without_one_or_on_a_completed_visit():
    without = _booking(no_show=None)
    without.record_outcome("no_show", DESCRIBED, START + timedelta(minutes=20))
    assert "fee" not in _data(without)
    completed = _booking()
    completed.record_outcome("completed", DESCRIBED, START + timedelta(minutes=20))
    assert "fee" not in _data(completed)


def test_a_late_cancellation_is_allowed_with_its_fee_and_announced_with_it():
    booking = _booking()
    late = START - timedelta(hours=3)
    assert booking.late_cancellation_fee_due(CLINIC, late) == 2000
    assert booking.cancel(DESCRIBED, late) == 2000
    data = _data(booking)
    assert data["fee"] == {"kind": "late_cancellation", "amount": {"amount": 2000, "currency": GBP}}
    assert data["cancelled_by"] == "customer"
    assert booking.late_cancellation_fee_due(CLINIC, late) is None  # cancelled: nothing more due


def test_an_early_cancellation_costs_nothing():
    booking = _booking()
    early = START - timedelta(hours=30)
    assert booking.late_cancellation_fee_due(CLINIC, early) is None
    assert booking.cancel(DESCRIBED, early) is None
    assert "fee" not in _data(booking)


def test_without_the_fee_a_late_cancellation_is_refused_as_before():
    booking = _booking(late=None)
    with pytest.raises(BookingError) as refused:
        booking.cancel(DESCRIBED, START - timedelta(hours=3))
    assert refused.value.code == "outside_change_window"


def test_after_the_start_even_the_fee_does_not_allow_a_cancellation():
    booking = _booking()
    assert booking.late_cancellation_fee_due(CLINIC, START + timedelta(minutes=1)) is None
    with pytest.raises(BookingError):
        booking.cancel(DESCRIBED, START + timedelta(minutes=1))


def test_a_late_reschedule_stays_refused_even_with_the_fee():
    booking = _booking()
    with pytest.raises(BookingError) as refused:
        booking.check_changeable(CLINIC, START - timedelta(hours=3))
    assert refused.value.code == "outside_change_window"


def test_the_clinics_cancellation_on_behalf_never_carries_a_fee():
    booking = _booking()
    booking.cancel_on_behalf(DESCRIBED)
    assert "fee" not in _data(booking)
