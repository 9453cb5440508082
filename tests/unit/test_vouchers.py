import math
import uuid
from collections import Counter
from datetime import date, datetime, timezone

import pytest

from services.payments.vouchers import (
    ALPHABET,
    CODE_LENGTH,
    CatalogueItem,
    Charge,
    VoucherError,
    VoucherState,
    check_delivery_date,
    code_hash,
    expiry_for,
    generate_code,
    normalise,
    plan_redemption,
    spec_for_amount,
    spec_for_course,
    spec_for_treatment,
)

CLINIC = uuid.uuid4()
TREATMENT = uuid.uuid4()
NOW = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)


def test_codes_are_grouped_readable_and_carry_at_least_60_bits():
    code = generate_code()
    assert len(code) == 19 and code.count("-") == 3
    assert CODE_LENGTH * math.log2(len(ALPHABET)) >= 60
    assert not set("01IO") & set(code.replace("-", ""))
    assert len({generate_code() for _ in range(2000)}) == 2000
    counts = Counter("".join(generate_code().replace("-", "") for _ in range(2000)))
    assert set(counts) == set(ALPHABET)


def test_codes_are_forgiving_to_type_and_hashed_with_a_key():
    code = generate_code()
    assert normalise(code.lower().replace("-", " ")) == code.replace("-", "")
    assert normalise("ABCD-EFGH") is None and normalise("0000-0000-0000-0000") is None
    norm = normalise(code)
    assert code_hash("k1", norm) == code_hash("k1", norm) != code_hash("k2", norm)


def test_what_a_purchase_issues():
    money = spec_for_amount(5000, "gbp", "GBP")
    assert (money.kind, money.unit, money.vat_class, money.face_value, money.price_amount) == (
        "amount",
        "money",
        "multi_purpose",
        5000,
        5000,
    )
    treatment = spec_for_treatment(CatalogueItem(TREATMENT, "Swedish massage", 6000, "GBP"))
    assert (treatment.unit, treatment.vat_class, treatment.face_value, treatment.price_amount) == (
        "sessions",
        "single_purpose",
        1,
        6000,
    )
    course = spec_for_course(CatalogueItem(uuid.uuid4(), "Sciatica course", 34500, "GBP", 6, TREATMENT))
    assert (course.face_value, course.treatment_id) == (6, TREATMENT)


@pytest.mark.parametrize(
    "amount, currency, code",
    [(2499, "GBP", "amount_out_of_range"), (50001, "GBP", "amount_out_of_range"), (5000, "EUR", "currency_mismatch")],
)
def test_refused_amounts(amount, currency, code):
    with pytest.raises(VoucherError) as refused:
        spec_for_amount(amount, currency, "GBP")
    assert refused.value.code == code and refused.value.status == 422


def test_delivery_dates_and_expiry():
    check_delivery_date(date(2026, 11, 25), date(2026, 11, 25))
    for bad in (date(2026, 11, 24), date(2027, 12, 1)):
        with pytest.raises(VoucherError):
            check_delivery_date(bad, date(2026, 11, 25))
    assert expiry_for(datetime(2026, 11, 25, tzinfo=timezone.utc)) == datetime(2028, 11, 25, tzinfo=timezone.utc)
    assert expiry_for(datetime(2026, 2, 28, tzinfo=timezone.utc), 12) == datetime(2027, 2, 28, tzinfo=timezone.utc)
    assert expiry_for(datetime(2028, 2, 29, tzinfo=timezone.utc), 12) == datetime(2029, 2, 28, tzinfo=timezone.utc)


def money(balance, **kw):
    return VoucherState(
        CLINIC,
        "money",
        kw.get("status", "active"),
        balance,
        kw.get("expires_at", datetime(2028, 1, 1, tzinfo=timezone.utc)),
        None,
    )


def test_money_voucher_pays_what_it_can_and_the_card_the_rest():
    charge = Charge(CLINIC, 6500, TREATMENT, 1)
    assert plan_redemption(money(5000), charge, NOW).__dict__ == {"units": 5000, "value": 5000, "card_amount": 1500}
    assert plan_redemption(money(9000), charge, NOW).__dict__ == {"units": 6500, "value": 6500, "card_amount": 0}


def test_session_vouchers_need_the_treatment_and_enough_sessions():
    course = VoucherState(CLINIC, "sessions", "active", 6, datetime(2028, 1, 1, tzinfo=timezone.utc), TREATMENT)
    assert plan_redemption(course, Charge(CLINIC, 34500, TREATMENT, 6), NOW).card_amount == 0
    with pytest.raises(VoucherError) as other:
        plan_redemption(course, Charge(CLINIC, 6500, uuid.uuid4(), 1), NOW)
    assert other.value.code == "voucher_not_valid_for_treatment"
    with pytest.raises(VoucherError) as short:
        plan_redemption(
            VoucherState(CLINIC, "sessions", "active", 2, None, TREATMENT), Charge(CLINIC, 34500, TREATMENT, 6), NOW
        )
    assert short.value.code == "voucher_not_enough_sessions"


@pytest.mark.parametrize(
    "voucher, code, status",
    [
        (money(5000, expires_at=datetime(2026, 11, 1, tzinfo=timezone.utc)), "voucher_expired", 409),
        (money(5000, status="expired"), "voucher_expired", 409),
        (money(0), "voucher_used_up", 409),
        (money(5000, status="void"), "voucher_void", 409),
        (VoucherState(uuid.uuid4(), "money", "active", 5000, None, None), "voucher_other_clinic", 422),
        (money(5000, status="awaiting_payment"), "voucher_not_found", 404),
    ],
)
def test_unusable_vouchers(voucher, code, status):
    with pytest.raises(VoucherError) as refused:
        plan_redemption(voucher, Charge(CLINIC, 6500, TREATMENT, 1), NOW)
    assert (refused.value.code, refused.value.status) == (code, status)
