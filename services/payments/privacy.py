"""Use cases of data protection in the payments service, which the booking service calls for a clinic (its
internal API): export everything payments holds about a customer, and erase what the law lets go
(services/payments/privacy_rules.py says what is kept and why). Each runs in the caller's transaction.

Stripe's events (stripe_events.payload) are left as they are: they hold PaymentIntents with amounts, ids and
our metadata (purpose, ids), never a name or an email, since we send Stripe none (a Customer to save cards on
included: created with our clinic's id only). Fees (issue 20) are kept as payments are; which Stripe Customer is
the email's is forgotten."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import asyncpg

from services.payments import privacy_store as store
from services.payments.privacy_rules import VoucherInProgress, masked, subject_email, vouchers_blocker
from shared.domain_errors import DomainError

log = logging.getLogger(__name__)


class PrivacyError(DomainError):
    """An erasure refused while something of the customer's is still in progress (409)."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def _value(units: int, voucher) -> dict[str, Any]:
    """An amount of a voucher, in its unit: money, or sessions (as the rest of the API shows `remaining`)."""
    return _money(units, voucher["currency"]) if voucher["unit"] == "money" else {"sessions": units}


def _payment_json(row, refunds: list) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "purpose": row["purpose"],
        "reference_id": str(row["reference_id"]),
        "amount": _money(row["amount"], row["currency"]),
        "amount_refunded": _money(row["amount_refunded"], row["currency"]),
        "status": row["status"],
        "stripe_payment_intent": row["stripe_payment_intent"],
        "customer_email": row["customer_email"],
        "created_at": _iso(row["created_at"]),
        "succeeded_at": _iso(row["succeeded_at"]),
        "refunds": [
            {
                "id": str(r["id"]),
                "amount": _money(r["amount"], row["currency"]),
                "reason": r["reason"],
                "status": r["status"],
                "stripe_refund_id": r["stripe_refund_id"],
                "created_at": _iso(r["created_at"]),
            }
            for r in refunds
        ],
    }


def _fee_json(row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "booking_id": str(row["booking_id"]),
        "kind": row["kind"],
        "amount": _money(row["amount"], row["currency"]),
        "status": row["status"],
        "failure": row["failure"],
        "stripe_payment_intent": row["stripe_payment_intent"],
        "customer_email": row["customer_email"],
        "created_at": _iso(row["created_at"]),
        "settled_at": _iso(row["settled_at"]),
    }


def _ledger_json(voucher, rows) -> list[dict[str, Any]]:
    balance, shown = 0, []
    for row in rows:
        balance += row["units"]
        shown.append(
            {
                "entry": row["entry"],
                "change": _value(row["units"], voucher),
                "balance_after": _value(balance, voucher),
                "reference_id": str(row["reference_id"]) if row["reference_id"] else None,
                "actor": row["actor"],
                "note": row["note"],
                "at": _iso(row["created_at"]),
            }
        )
    return shown


def _voucher_json(voucher, email: str, ledger, redemptions, changes) -> dict[str, Any]:
    """One voucher as the customer's export shows it: never its code (only the last four characters).

    A recipient sees the buyer's name (their gift email showed it), not the buyer's email; a change of the
    recipient's address shows the recipient only their own address."""
    bought = voucher["bought"]

    def change_value(field: str, value: str) -> str:
        if bought or field != "recipient_email" or value.lower() == email:
            return value
        return "[another address]"

    return {
        "id": str(voucher["id"]),
        "kind": voucher["kind"],
        "title": voucher["title"],
        "vat_class": voucher["vat_class"],
        "status": voucher["status"],
        "price": _money(voucher["price_amount"], voucher["currency"]),
        "face_value": _value(voucher["face_value"], voucher),
        "remaining": _value(voucher["balance"], voucher),
        "code_last4": voucher["code_last4"],
        "buyer": {"name": voucher["buyer_name"], "email": voucher["buyer_email"] if bought else None},
        "recipient": {"name": voucher["recipient_name"], "email": voucher["recipient_email"]},
        "message": voucher["message"],
        "deliver_on": voucher["deliver_on"].isoformat(),
        "created_at": _iso(voucher["created_at"]),
        "issued_at": _iso(voucher["issued_at"]),
        "expires_at": _iso(voucher["expires_at"]),
        "erased": voucher["erased_at"] is not None,
        "erased_at": _iso(voucher["erased_at"]),
        "ledger": _ledger_json(voucher, ledger),
        "redemptions": [
            {
                "reference_id": str(r["reference_id"]),
                "units": _value(r["units"], voucher),
                "value": _money(r["value_amount"], voucher["currency"]),
                "status": r["status"],
                "created_at": _iso(r["created_at"]),
            }
            for r in redemptions
        ],
        "changes": [
            {
                "field": c["field"],
                "from": change_value(c["field"], c["old_value"]),
                "to": change_value(c["field"], c["new_value"]),
                "actor": c["actor"],
                "at": _iso(c["changed_at"]),
            }
            for c in changes
        ],
    }


def _by_voucher(rows) -> dict[uuid.UUID, list]:
    grouped: dict[uuid.UUID, list] = defaultdict(list)
    for row in rows:
        grouped[row["voucher_id"]].append(row)
    return grouped


async def export(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> dict[str, list[dict[str, Any]]]:
    """Everything payments holds about the customer with this email at this clinic: {kind: [records]}."""
    email = subject_email(email)
    payments = await store.payments(conn, clinic_id, email)
    refunds: dict[uuid.UUID, list] = defaultdict(list)
    for refund in await store.refunds(conn, [p["id"] for p in payments]):
        refunds[refund["payment_id"]].append(refund)
    vouchers = await store.vouchers(conn, clinic_id, email)
    ids = [v["id"] for v in vouchers]
    ledgers = _by_voucher(await store.ledgers(conn, ids))
    redemptions = _by_voucher(await store.redemptions(conn, ids))
    changes = _by_voucher(await store.changes(conn, ids))

    def shown(v) -> dict[str, Any]:
        return _voucher_json(v, email, ledgers[v["id"]], redemptions[v["id"]], changes[v["id"]])

    log.info("privacy export", extra={"clinic_id": str(clinic_id), "email_masked": masked(email)})
    return {
        "payments": [_payment_json(p, refunds[p["id"]]) for p in payments],
        "vouchers_bought": [shown(v) for v in vouchers if v["bought"]],
        "vouchers_received": [shown(v) for v in vouchers if v["received"]],
        "fees": [_fee_json(f) for f in await store.fees(conn, clinic_id, email)],
    }


def _in_progress(vouchers) -> list[VoucherInProgress]:
    return [
        VoucherInProgress(
            voucher_id=v["id"],
            roles=tuple(role for role, mine in (("buyer", v["bought"]), ("recipient", v["received"])) if mine),
            status=v["status"],
            payment_status=v["payment_status"],
            deliver_on=v["deliver_on"],
            timezone=v["clinic_timezone"],
        )
        for v in vouchers
        # Only a voucher still naming the customer can be held up by them: one already erased has nobody to wait for.
        if (v["bought"] and v["buyer_email"] is not None) or v["received"]
    ]


async def erase(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str, *, dry_run: bool, now: datetime
) -> dict[str, Any]:
    """Dry run: {"erase": {kind: count}, "keep": {kind: count}, "blockers": [...]}, nothing changed. For real:
    {"erased": {...}, "kept": {...}}, all in the caller's transaction, or PrivacyError (409) with the first
    blocker if anything is in progress. Idempotent: erasing again erases 0 and keeps the same."""
    email = subject_email(email)
    vouchers = await store.vouchers(conn, clinic_id, email, lock=not dry_run)
    blocker = vouchers_blocker(_in_progress(vouchers), now)
    kept = dict(await store.kept(conn, clinic_id, email))
    if dry_run:
        to_erase = dict(await store.count_to_erase(conn, clinic_id, email))
        return {"erase": to_erase, "keep": kept, "blockers": [blocker] if blocker else []}
    if blocker is not None:
        raise PrivacyError(409, blocker["code"], blocker["message"], {"blockers": [blocker]})
    erased = {
        "vouchers_bought": await store.erase_buyer(conn, clinic_id, email),
        "vouchers_received": await store.erase_recipient(conn, clinic_id, email),
        # Last: erasing the vouchers above does not touch the changes, which match on the email itself.
        "voucher_changes": await store.erase_changes(conn, clinic_id, email),
        "stripe_customers": await store.erase_stripe_customer(conn, clinic_id, email),
    }
    log.info("privacy erasure", extra={"clinic_id": str(clinic_id), "email_masked": masked(email), **erased})
    return {"erased": erased, "kept": kept}
