"""What a confirmation says of a deposit (shared/money.py, issue 20): what the card paid and what is due at the
clinic; only the amount due when a voucher paid the deposit; once, as the whole course's, for a course session."""

from shared.money import card_part, deposit_paid

GBP = "GBP"


def gbp(amount: int) -> dict:
    return {"amount": amount, "currency": GBP}


def test_a_deposit_paid_by_card_and_the_rest_due_at_the_clinic() -> None:
    paid = card_part(gbp(6500), None, gbp(5200))
    assert paid == gbp(1300)
    assert deposit_paid(paid, gbp(5200)) == "Paid: £13.00 deposit. To pay at the clinic: £52.00."


def test_a_voucher_that_paid_the_deposit_leaves_only_the_amount_due() -> None:
    voucher = {"value": gbp(2500)}
    assert card_part(gbp(6500), voucher, gbp(4000)) == gbp(0)
    assert deposit_paid(card_part(gbp(6500), voucher, gbp(4000)), gbp(4000)) == "To pay at the clinic: £40.00."


def test_nothing_due_at_the_clinic_says_nothing() -> None:
    assert deposit_paid(gbp(6500), gbp(0)) is None
    assert deposit_paid(gbp(6500), None) is None


def test_a_course_says_the_whole_course_amount_once() -> None:
    assert deposit_paid(None, gbp(27600), course=True) == "To pay at the clinic for the whole course: £276.00."
