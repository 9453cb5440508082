"""Rules of the payments service's daily retention job (services/payments/retention.py), with no I/O.

- Stripe's events (stripe_events, the webhook's idempotency record: a redelivered event id has no second effect)
  are kept STRIPE_EVENTS_KEPT after we received them, then deleted.
- Money records (payments with their refunds, booking fees, gift-voucher sales with their ledger, redemptions
  and delivery changes) are kept until six years after the end of the UK tax year their last money movement falls
  in, then deleted, or, if deleting them would break a record still kept (a voucher's ledger pointing at a
  booking's payment, a voucher sale whose voucher is still redeemable), anonymised: what identifies a person
  goes, the amounts stay."""

from __future__ import annotations

import enum
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Stripe retries a webhook for up to 3 days: an event must be remembered at least that long, or a late retry
# would take effect twice.
STRIPE_RETRIES_FOR = timedelta(days=3)
# Kept well past that, to look into a payment problem reported a few weeks later; they hold amounts and ids only.
STRIPE_EVENTS_KEPT = timedelta(days=30)

# HMRC: business records are kept 6 years from the end of the accounting period they belong to. We count from
# the end of the UK tax year (6 April to 5 April), which is the period the clinics' sole-trader and VAT records
# most often follow; a company whose year ends earlier is covered too (its period ends no later than that).
YEARS_KEPT_AFTER_TAX_YEAR = 6
TAX_YEAR_LAST_MONTH, TAX_YEAR_LAST_DAY = 4, 5  # the tax year ends on 5 April
# A movement's day is its day in the UK (a payment at 00:30 BST on 6 April falls in the new tax year).
UK = ZoneInfo("Europe/London")


class Fate(enum.Enum):
    DELETE = "delete"
    ANONYMISE = "anonymise"


def tax_year_end(day: date) -> date:
    """The last day (5 April) of the UK tax year `day` falls in."""
    end = date(day.year, TAX_YEAR_LAST_MONTH, TAX_YEAR_LAST_DAY)
    return end if day <= end else end.replace(year=day.year + 1)


def kept_until(day: date) -> date:
    """The last day a money record whose last movement was on `day` (UK) is kept: 5 April, six years after the
    end of its tax year. E.g. 2019-04-05 → 2025-04-05; 2019-04-06 → 2026-04-05."""
    end = tax_year_end(day)
    return end.replace(year=end.year + YEARS_KEPT_AFTER_TAX_YEAR)


def money_kept_since(today: date) -> datetime:
    """The instant (UK midnight, a 6 April) from which money movements are still kept on `today`: a record whose
    last movement was before it is past its retention (kept_until(its day) < today); at or after it, kept."""
    # The latest tax year whose six years are over by today ended seven tax-year ends before today's ends.
    over = tax_year_end(today)
    last_past = over.replace(year=over.year - YEARS_KEPT_AFTER_TAX_YEAR - 1)
    return datetime.combine(last_past + timedelta(days=1), time(), UK)


def stripe_events_kept_since(now: datetime) -> datetime:
    """Stripe events received before this are deleted."""
    return now - STRIPE_EVENTS_KEPT


def fate(*, referenced: bool, moves_money: bool = True) -> Fate:
    """What happens to a money record past its retention. Referenced by a record still kept: anonymised (its
    amounts stay for that record's sake). A record of no money (a card-saving SetupIntent) is never needed for
    the accounts: deleted."""
    return Fate.ANONYMISE if referenced and moves_money else Fate.DELETE
