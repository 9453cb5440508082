"""Use cases of gift vouchers: buy, issue on payment, check a balance, redeem against a booking,
release or refund, expire and reactivate. Each runs in the caller's transaction; every balance change is
a ledger entry (store.append_entry)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from cryptography.fernet import Fernet

from services.payments import store
from services.payments.vouchers import (  # noqa: F401
    EXPIRY_NOTICE_BEFORE,
    Charge,
    Redemption,
    VoucherError,
    VoucherSpec,
    VoucherState,
    check_delivery_date,
    code_hash,
    expiry_for,
    generate_code,
    normalise,
    plan_redemption,
    redact,
)
from shared import contracts, gift_delivery
from shared.outbox import add_event
from shared.sealing import fernet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CodeKeys:
    """Hashing finds a code; encryption (a key derived apart) keeps it for the delivery email."""

    secret: str

    def digest(self, normalised: str) -> bytes:
        return code_hash(self.secret, normalised)

    def _fernet(self) -> Fernet:
        return fernet(self.secret, "voucher-encrypt")

    def encrypt(self, code: str) -> str:
        return self._fernet().encrypt(code.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._fernet().decrypt(token.encode()).decode()

    def link_token(self, role: str, voucher_id: uuid.UUID) -> str:
        """What an email's links carry for one voucher and one `role`: "holder" (the gift email: the voucher,
        code and all) or "buyer" (the receipt: change the recipient's email or the day before it goes)."""
        mac = hmac.new(f"voucher-{role}:{self.secret}".encode(), str(voucher_id).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:24]).decode()

    def holder_token(self, voucher_id: uuid.UUID) -> str:
        return self.link_token("holder", voucher_id)

    def allows(self, role: str, voucher_id: uuid.UUID, token: str) -> bool:
        return hmac.compare_digest(self.link_token(role, voucher_id).encode(), token.encode())


def clinic_of(row) -> contracts.ClinicRef:
    """How voucher events name the clinic (emails are sent in its name, in its zone)."""
    return contracts.ClinicRef(str(row["clinic_id"]), row["clinic_slug"], row["clinic_name"], row["clinic_timezone"])


def voucher_json(row) -> dict:
    remaining = (
        {"amount": row["balance"], "currency": row["currency"]}
        if row["unit"] == "money"
        else {"sessions": row["balance"]}
    )
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "title": row["title"],
        "status": row["status"],
        "vat_class": row["vat_class"],
        "remaining": remaining,
        "code_hint": redact(row["code_last4"]) if row["code_last4"] else None,
        "expires_at": row["expires_at"].isoformat() if row["expires_at"] else None,
        "deliver_on": row["deliver_on"].isoformat(),
        "price": {"amount": row["price_amount"], "currency": row["currency"]},
    }


# --- buying and issuing --------------------------------------------------------------------------


async def start_purchase(
    conn: asyncpg.Connection,
    *,
    clinic,
    spec: VoucherSpec,
    buyer: dict,
    recipient: dict,
    message: str,
    deliver_on: date,
    today: date,
    purchase_key: str | None,
):
    """The voucher, awaiting its payment (the caller asks Stripe for the payment next)."""
    check_delivery_date(deliver_on, today)
    if purchase_key and (existing := await store.voucher_for_purchase_key(conn, clinic.id, purchase_key)):
        return existing
    return await store.insert_voucher(
        conn,
        voucher_id=uuid.uuid4(),
        clinic=clinic,
        spec=spec,
        buyer=buyer,
        recipient=recipient,
        message=message,
        deliver_on=deliver_on,
        purchase_key=purchase_key,
    )


async def issue(conn: asyncpg.Connection, voucher_id: uuid.UUID, keys: CodeKeys, now: datetime) -> bool:
    """Its payment succeeded: give the voucher a code, its balance, an expiry; announce the purchase
    (without the code). False if it was already issued."""
    voucher = await store.lock_voucher(conn, voucher_id)
    if voucher is None or voucher["status"] != "awaiting_payment":
        return False
    code = generate_code()
    normalised = normalise(code)
    expires_at = expiry_for(now, voucher["validity_months"])  # the clinic's setting when it was sold
    await store.activate_voucher(
        conn,
        voucher_id,
        digest=keys.digest(normalised),
        last4=normalised[-4:],
        ciphertext=keys.encrypt(code),
        expires_at=expires_at,
    )
    await store.append_entry(conn, voucher_id, "issue", voucher["face_value"], actor="payment")
    await add_event(
        conn,
        contracts.event(
            contracts.VoucherPurchased(
                voucher_id=str(voucher_id),
                clinic=clinic_of(voucher),
                kind=voucher["kind"],
                title=voucher["title"],
                vat_class=voucher["vat_class"],
                price=contracts.Money(voucher["price_amount"], voucher["currency"]),
                buyer=contracts.Person(voucher["buyer_name"], voucher["buyer_email"]),
                recipient=contracts.Person(voucher["recipient_name"], voucher["recipient_email"]),
                deliver_on=voucher["deliver_on"],
                expires_at=expires_at,
                code_hint=redact(normalised),
                buyer_token=keys.link_token("buyer", voucher_id),
            ),
            clinic_id=str(voucher["clinic_id"]),
        ),
    )
    log.info("voucher issued", extra={"voucher_id": str(voucher_id), "code": redact(normalised)})
    return True


# --- the buyer's changes before delivery -----------------------------------------------------------


def gift_json(row, now: datetime) -> dict:
    """A gift as its buyer manages it from the receipt: whom and when, and whether that may still change."""
    zone = ZoneInfo(row["clinic_timezone"])
    return {
        "voucher_id": str(row["id"]),
        "title": row["title"],
        "clinic": row["clinic_slug"],
        "clinic_name": row["clinic_name"],
        "recipient": {"name": row["recipient_name"], "email": row["recipient_email"]},
        "deliver_on": row["deliver_on"].isoformat(),
        "changeable": row["status"] == "active" and not gift_delivery.goes_at_once(row["deliver_on"], zone, now),
    }


def _bought(row):
    """The voucher row, if its purchase was paid (a link to it exists only then)."""
    if row is None or row["status"] == "awaiting_payment":
        raise VoucherError(404, "voucher_not_found", "This voucher link is not valid")
    return row


async def gift(conn: asyncpg.Connection, voucher_id: uuid.UUID, now: datetime) -> dict:
    return gift_json(_bought(await store.get_voucher(conn, voucher_id)), now)


async def change_delivery(
    conn: asyncpg.Connection,
    voucher_id: uuid.UUID,
    *,
    recipient_email: str | None,
    deliver_on: date | None,
    now: datetime,
) -> dict:
    """Until the gift is sent, its buyer may change where and when it goes: audited, ledger-neutral, and
    announced (voucher.delivery_changed) so the delivery is planned again."""
    row = _bought(await store.lock_voucher(conn, voucher_id))
    if not gift_json(row, now)["changeable"]:
        raise VoucherError(409, "voucher_already_sent", "The voucher has already been sent, so it can no longer change")
    if deliver_on is not None:
        check_delivery_date(deliver_on, now.astimezone(ZoneInfo(row["clinic_timezone"])).date())
    changes = {
        field: (row[field], new)
        for field, new in (("recipient_email", recipient_email), ("deliver_on", deliver_on))
        if new is not None and new != row[field]
    }
    if changes:
        await store.change_delivery(conn, voucher_id, changes, actor="buyer")
        row = await store.lock_voucher(conn, voucher_id)
        await add_event(
            conn,
            contracts.event(
                contracts.VoucherDeliveryChanged(
                    voucher_id=str(voucher_id),
                    clinic=clinic_of(row),
                    deliver_on=row["deliver_on"],
                    changed=tuple(sorted(changes)),
                ),
                clinic_id=str(row["clinic_id"]),
            ),
        )
        log.info("gift delivery changed", extra={"voucher_id": str(voucher_id), "changed": sorted(changes)})
    return gift_json(row, now)


# --- balance -------------------------------------------------------------------------------------


async def balance(conn: asyncpg.Connection, code: str, keys: CodeKeys) -> dict:
    normalised = normalise(code)
    row = await store.voucher_by_hash(conn, keys.digest(normalised)) if normalised else None
    if row is None or row["status"] == "awaiting_payment":
        raise VoucherError(404, "voucher_not_found", "We don't recognise that voucher code")
    return {**voucher_json(row), "clinic": row["clinic_slug"], "clinic_name": row["clinic_name"]}


async def delivery(conn: asyncpg.Connection, voucher_id: uuid.UUID, keys: CodeKeys) -> dict:
    """The voucher as its recipient has it, code included (decrypted only for the gift email and for the
    page its links open), with the token those links carry."""
    row = await conn.fetchrow(
        "SELECT id, clinic_id, clinic_slug, clinic_name, title, kind, unit, balance, currency, recipient_name, "
        "recipient_email, buyer_name, message, deliver_on, expires_at, status, code_ciphertext "
        "FROM vouchers WHERE id = $1",
        voucher_id,
    )
    if row is None or row["code_ciphertext"] is None:
        raise VoucherError(404, "voucher_not_found", "No such issued voucher")
    remaining = (
        {"amount": row["balance"], "currency": row["currency"]}
        if row["unit"] == "money"
        else {"sessions": row["balance"]}
    )
    return {
        "voucher_id": str(row["id"]),
        "clinic_id": str(row["clinic_id"]),
        "title": row["title"],
        "kind": row["kind"],
        "status": row["status"],
        "code": keys.decrypt(row["code_ciphertext"]),
        "remaining": remaining,
        "recipient": {"name": row["recipient_name"], "email": row["recipient_email"]},
        "buyer_name": row["buyer_name"],
        "message": row["message"],
        "deliver_on": row["deliver_on"].isoformat(),
        "expires_at": row["expires_at"].isoformat(),
        "clinic": row["clinic_slug"],
        "clinic_name": row["clinic_name"],
        "holder_token": keys.holder_token(row["id"]),
    }


# --- redeeming against a booking -----------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    voucher_id: uuid.UUID
    code_hint: str
    unit: str
    redemption: Redemption
    remaining: int  # what the voucher has left after this booking: money, or sessions


async def redeem(
    conn: asyncpg.Connection, *, code: str, charge: Charge, reference_id: uuid.UUID, keys: CodeKeys, now: datetime
) -> Applied:
    """Take what a booking needs (or what is left) from a voucher; once per booking."""
    existing = await store.lock_redemption(conn, reference_id)
    if existing is not None and existing["status"] == "redeemed":
        return Applied(
            existing["voucher_id"],
            redact(existing["code_last4"]),
            existing["unit"],
            Redemption(existing["units"], existing["value_amount"], charge.amount - existing["value_amount"]),
            await store.voucher_balance(conn, existing["voucher_id"]),
        )
    normalised = normalise(code)
    row = await store.lock_voucher_by_hash(conn, keys.digest(normalised)) if normalised else None
    if row is None:
        raise VoucherError(404, "voucher_not_found", "We don't recognise that voucher code")
    state = VoucherState(
        row["clinic_id"], row["unit"], row["status"], row["balance"], row["expires_at"], row["treatment_id"]
    )
    plan = plan_redemption(state, charge, now)
    try:
        async with conn.transaction():  # savepoint: a balance that would go negative writes nothing
            remaining = await store.append_entry(
                conn, row["id"], "redeem", -plan.units, reference_id=reference_id, actor="booking"
            )
    except asyncpg.CheckViolationError:
        raise VoucherError(409, "voucher_used_up", "This voucher has already been used in full") from None
    await store.insert_redemption(
        conn, voucher_id=row["id"], reference_id=reference_id, units=plan.units, value_amount=plan.value
    )
    log.info(
        "voucher redeemed",
        extra={
            "voucher_id": str(row["id"]),
            "code": redact(normalised),
            "units": plan.units,
            "reference_id": str(reference_id),
        },
    )
    return Applied(row["id"], redact(normalised), row["unit"], plan, remaining)


async def holds_redemption(conn: asyncpg.Connection, reference_id: uuid.UUID) -> bool:
    """Whether a voucher still pays part of this booking (so it would go back if the booking lapses)."""
    redemption = await store.lock_redemption(conn, reference_id)
    return redemption is not None and redemption["status"] == "redeemed"


async def give_back(conn: asyncpg.Connection, reference_id: uuid.UUID, *, entry: str, value: int | None = None) -> int:
    """Return a booking's redemption to its voucher: all of it (`release`: the booking expired unpaid), or
    the part paying for `value` of it (`refund`: one cancelled session of a series). The value returned."""
    r = await store.lock_redemption(conn, reference_id)
    if r is None or r["status"] != "redeemed":
        return 0
    if value is None or value >= r["value_amount"]:
        back_units, back_value = r["units"], r["value_amount"]
    elif r["unit"] == "money":
        back_units = back_value = value
    else:  # sessions: one session per cancelled session
        back_units, back_value = 1, value
    await store.append_entry(conn, r["voucher_id"], entry, back_units, reference_id=reference_id, actor="booking")
    if back_units < r["units"]:
        await store.set_redemption(conn, r["id"], "redeemed", r["units"] - back_units, r["value_amount"] - back_value)
    else:
        await store.set_redemption(
            conn, r["id"], "released" if entry == "release" else "refunded", r["units"], r["value_amount"]
        )
    return back_value


# --- expiry --------------------------------------------------------------------------------------


async def expire_due(conn: asyncpg.Connection, limit: int = 200) -> int:
    """Vouchers past their expiry lose what is left (an `expire` entry); announce it."""
    rows = await store.claim_expired_vouchers(conn, limit)
    for row in rows:
        if row["balance"] > 0:
            await store.append_entry(conn, row["id"], "expire", -row["balance"], actor="expiry")
        await store.mark_expired(conn, row["id"])
        await add_event(
            conn,
            contracts.event(
                contracts.VoucherExpired(voucher_id=str(row["id"]), title=row["title"]), clinic_id=str(row["clinic_id"])
            ),
        )
    return len(rows)


async def announce_expiring(conn: asyncpg.Connection, limit: int = 200) -> int:
    """Once per voucher, 30 days before expiry: voucher.expiring (the notifications service emails it)."""
    rows = await store.claim_expiry_notices(conn, EXPIRY_NOTICE_BEFORE.total_seconds(), limit)
    for row in rows:
        await add_event(
            conn,
            contracts.event(
                contracts.VoucherExpiring(
                    voucher_id=str(row["id"]),
                    clinic=clinic_of(row),
                    title=row["title"],
                    expires_at=row["expires_at"],
                    recipient=contracts.Person(row["recipient_name"], row["recipient_email"]),
                    remaining=contracts.Remaining.from_data(voucher_json(row)["remaining"]),
                    code_hint=redact(row["code_last4"]),
                ),
                clinic_id=str(row["clinic_id"]),
            ),
        )
    return len(rows)


async def reactivate(
    conn: asyncpg.Connection,
    voucher_id: uuid.UUID,
    *,
    units: int,
    actor: str,
    reason: str,
    now: datetime,
    extend: timedelta,
) -> dict:
    """Clinic staff bring an expired voucher back with `units` of balance: an audited `adjust` entry."""
    row = await store.lock_voucher(conn, voucher_id)
    if row is None:
        raise VoucherError(404, "voucher_not_found", "No such voucher")
    if row["status"] != "expired":
        raise VoucherError(409, "voucher_not_expired", "Only an expired voucher can be reactivated")
    if units <= 0:
        raise VoucherError(422, "invalid_units", "Reactivate with a positive balance")
    await store.reactivate_voucher(conn, voucher_id, now + extend)
    await store.append_entry(conn, voucher_id, "adjust", units, actor=actor, note=f"reactivated: {reason}")
    return voucher_json(await store.lock_voucher(conn, voucher_id))
