"""A customer's data at a clinic, exported or erased across the services (docs/privacy.md), and the audit of both.

Export: payments and notifications are asked for their records first (at once); then the booking service reads
its own and writes the audit entry in one transaction, so an export that could not be whole is neither answered
nor recorded.

Erasure, in an order that never leaves a part done that a retry would not finish: a dry run everywhere (the
booking service's own blockers too); any blocker refuses the whole (409, nothing changed anywhere); then payments,
then notifications, then the booking service last, in one transaction with its audit entry. Each part is
idempotent (what was erased is not found again, what is kept is counted again), so after a 503 the same request
completes it. The booking service's part: the customer's bookings lose name, email, phone and date of birth;
their health screenings are RESTRICTED until their retention date (found from then on by the subject key only),
or deleted if that date has passed already."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from services.booking import privacy_rules, privacy_store, store, waitlist_store
from services.booking.clinic_actions_store import Actor
from services.booking.domain import BookingError, Clinic
from services.booking.privacy_client import SERVICES, PrivacyClient
from shared.outbox import add_event
from shared.sealing import Sealer

log = logging.getLogger(__name__)
EXPORT_FORMAT = "customer-data/1"
# The kinds of records each service exports, in the document's order (a kind a service adds later follows them).
REMOTE_KINDS = {
    "payments": ("payments", "vouchers_bought", "vouchers_received"),
    "notifications": ("emails", "gift_emails", "reminders", "webhook_deliveries"),
}
EXPORT, ERASE = "export", "erase"
MAX_REQUESTS_LISTED = 200


@dataclass(frozen=True)
class Subject:
    """Whom a request is about: an email at a clinic, with its keyed hash and its masked form."""

    clinic_id: uuid.UUID
    email: str  # normalised
    key: bytes
    masked: str


def subject(secret: str, clinic_id: uuid.UUID, email: str) -> Subject:
    """`email` as sent; 422 `invalid_email` unless it is one. `secret`: the health data key (privacy_rules)."""
    normal = privacy_rules.valid_email(email)
    return Subject(
        clinic_id, normal, privacy_rules.subject_key(secret, clinic_id, normal), privacy_rules.mask_email(normal)
    )


def request_json(row: asyncpg.Record) -> dict[str, Any]:
    """An audit entry as the clinic sees it (never the email, nor its hash)."""
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "email_masked": row["email_masked"],
        "role": row["role"],
        "staff_id": str(row["staff_id"]) if row["staff_id"] else None,
        "at": row["at"].isoformat(),
        "counts": row["counts"],
    }


async def _at_once(calls: dict[str, Any]) -> dict[str, Any]:
    """Await one call per service at once; the first failure cancels the others and is raised as it is."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = {service: group.create_task(call) for service, call in calls.items()}
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return {service: task.result() for service, task in tasks.items()}


# --- export --------------------------------------------------------------------------------------


def _local(instant: datetime | None, clinic: Clinic) -> str | None:
    return instant.astimezone(clinic.rules.zone).isoformat() if instant else None


def _screening_json(
    row: asyncpg.Record, health: Sealer, clinic: Clinic, facts: privacy_store.Found
) -> dict[str, Any] | None:
    """A screening with its retention date: a restricted one's, frozen when its customer was erased; else the one
    the daily job will give it (from the customer's last visit and date of birth as they stand now)."""
    if row["screening_of"] is None:
        return None
    until = row["retain_until"]
    if row["restricted_at"] is None:
        answered_on = row["answered_at"].astimezone(clinic.rules.zone).date()
        anchor = privacy_rules.retention_anchor(answered_on, facts.last_visit)
        until = privacy_rules.health_retain_until(anchor, facts.birth_date)
    if row["answers_sealed"] is not None:
        kept = health.open(row["answers_sealed"])
    else:  # written before answers were sealed (migration 0007), and not yet sealed at a start
        kept = {"answers": row["answers"], "flags": list(row["flags"])}
    return {
        "questionnaire_version": row["questionnaire_version"],
        "answers": kept["answers"],
        "outcome": row["outcome"],
        "flags": kept["flags"],
        "answered_at": row["answered_at"].isoformat(),
        "restricted": row["restricted_at"] is not None,
        "retain_until": until.isoformat() if until else None,
    }


def _booking_json(
    row: asyncpg.Record, clinic: Clinic, actions: list[dict], health: Sealer, facts: privacy_store.Found
) -> dict[str, Any]:
    born = row["customer_birth_date"]
    return {
        "id": str(row["id"]),
        "treatment": {"id": str(row["treatment_id"]), "name": row["treatment_name"]},
        "therapist": {"id": str(row["therapist_id"]), "name": row["therapist_name"]},
        "course": (
            {
                "id": str(row["course_id"]),
                "name": row["course_name"],
                "series": {"id": str(row["series_id"]), "index": row["series_index"]},
            }
            if row["course_id"]
            else None
        ),
        "starts_at": _local(row["starts_at"], clinic),
        "ends_at": _local(row["ends_at"], clinic),
        "status": row["status"],
        "price": {"amount": row["price_amount"], "currency": row["currency"]},
        "booked_by": row["booked_by"],
        "payment_mode": row["payment_mode"],
        "cancelled_by": row["cancelled_by"],
        "cancel_reason": row["cancel_reason"],
        "voucher": row["voucher"],
        "created_at": _local(row["created_at"], clinic),
        "confirmed_at": _local(row["confirmed_at"], clinic),
        "cancelled_at": _local(row["cancelled_at"], clinic),
        "erased": row["erased_at"] is not None,
        "customer": {
            "name": row["customer_name"],
            "email": row["customer_email"],
            "phone": row["customer_phone"],
            "date_of_birth": born.isoformat() if born else None,
        },
        "screening": _screening_json(row, health, clinic, facts),
        "actions": actions,
    }


def _waitlist_json(row: asyncpg.Record, clinic: Clinic) -> dict[str, Any]:
    """A waitlist entry of the customer's (issue 20), with the times it was offered."""
    return {
        "id": str(row["id"]),
        "treatment": {"id": str(row["treatment_id"]), "name": row["treatment_name"]},
        "therapist": {"id": str(row["therapist_id"]), "name": row["therapist_name"]} if row["therapist_id"] else None,
        "weekdays": list(row["weekdays"]),
        "times_of_day": list(row["times_of_day"]),
        "customer": {"name": row["customer_name"], "email": row["customer_email"]},
        "status": row["status"],
        "created_at": _local(row["created_at"], clinic),
        "updated_at": _local(row["updated_at"], clinic),
        "offers": [
            {
                "id": str(offer_id),
                "starts_at": _local(starts_at, clinic),
                "expires_at": _local(expires_at, clinic),
                "status": status,
                "created_at": _local(created_at, clinic),
            }
            for offer_id, starts_at, expires_at, status, created_at in row["offers"]
        ],
    }


def _distinct(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v is not None))


def export_document(
    subject: Subject,
    clinic: Clinic,
    bookings: list[asyncpg.Record],
    actions: list[asyncpg.Record],
    remote: dict[str, dict[str, list]],
    earlier: list[asyncpg.Record],
    facts: privacy_store.Found,
    health: Sealer,
    now: datetime,
    waitlist: list[asyncpg.Record] | None = None,
) -> dict[str, Any]:
    """The one JSON file of an export (format customer-data/1, docs/privacy.md). `facts`: what the customer's
    bookings say of their last visit and date of birth (the retention date of their unrestricted screenings);
    `waitlist`: their waitlist entries (waitlist_store.subject_entries)."""
    by_booking: dict[uuid.UUID, list[dict]] = {}
    for action in actions:
        by_booking.setdefault(action["booking_id"], []).append(
            {
                "action": action["action"],
                "role": action["role"],
                "at": action["at"].isoformat(),
                "detail": action["detail"],
            }
        )
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": _local(now, clinic),
        "clinic": {"slug": clinic.slug, "name": clinic.name},
        "email": subject.email,
        "customer": {
            "names": _distinct([r["customer_name"] for r in bookings]),
            "phones": _distinct([r["customer_phone"] for r in bookings]),
            "dates_of_birth": _distinct(
                [r["customer_birth_date"].isoformat() for r in bookings if r["customer_birth_date"] is not None]
            ),
        },
        "bookings": [_booking_json(r, clinic, by_booking.get(r["id"], []), health, facts) for r in bookings],
        "waitlist": [_waitlist_json(r, clinic) for r in waitlist or []],
    }
    for service in SERVICES:
        records = remote[service]
        for kind in REMOTE_KINDS[service]:
            document[kind] = records.get(kind, [])
        for kind, items in records.items():
            document.setdefault(kind, items)
    document["privacy_requests"] = [request_json(r) for r in earlier]
    return document


def export_counts(document: dict[str, Any]) -> dict[str, int]:
    """What an export held, by kind (the audit entry's counts)."""
    return {kind: len(value) for kind, value in document.items() if isinstance(value, list)}


async def export(
    pool: asyncpg.Pool,
    client: PrivacyClient,
    health: Sealer,
    subject: Subject,
    actor: Actor,
    now: datetime,
) -> dict[str, Any]:
    # Payments first: the vouchers the customer received name the gift emails notifications holds for them.
    payments = await client.export("payments", subject.clinic_id, subject.email)
    gifts = [v["id"] for v in payments.get("vouchers_received", []) if isinstance(v, dict) and "id" in v]
    notifications = await client.export("notifications", subject.clinic_id, subject.email, {"gift_voucher_ids": gifts})
    remote = {"payments": payments, "notifications": notifications}
    async with pool.acquire() as conn, conn.transaction():
        clinic = await store.get_clinic_by_id(conn, subject.clinic_id)
        bookings = await privacy_store.bookings_for_export(conn, subject.clinic_id, subject.email, subject.key)
        actions = await privacy_store.actions_of(conn, subject.clinic_id, [r["id"] for r in bookings])
        earlier = await privacy_store.requests_of_subject(conn, subject.clinic_id, subject.key)
        facts = await privacy_store.find_customer(conn, subject.clinic_id, subject.email, subject.key, now, lock=False)
        waitlist = await waitlist_store.subject_entries(conn, subject.clinic_id, subject.email)
        document = export_document(subject, clinic, bookings, actions, remote, earlier, facts, health, now, waitlist)
        await privacy_store.insert_request(
            conn,
            subject.clinic_id,
            EXPORT,
            subject.key,
            subject.masked,
            actor.role,
            actor.staff_id,
            export_counts(document),
        )
    return document


# --- erasure -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingPart:
    """What erasing the customer does in the booking service, worked out from what it found."""

    found: privacy_store.Found
    restrict: dict[uuid.UUID, date]  # screening (its booking's id) → its retention date, kept restricted
    delete: list[uuid.UUID]  # screenings past their retention date already: deleted now
    waitlist_entries: int = 0  # their waitlist entries (issue 20): deleted, an open offer's hold released first

    @property
    def blockers(self) -> list[dict[str, Any]]:
        blocker = privacy_rules.upcoming_bookings_blocker(self.found.upcoming)
        return [blocker] if blocker else []

    @property
    def erase(self) -> dict[str, int]:
        return {
            "bookings": len(self.found.bookings),
            "screenings": len(self.delete),
            "waitlist_entries": self.waitlist_entries,
        }

    @property
    def keep(self) -> dict[str, int]:
        return {"screenings": self.found.restricted + len(self.restrict)}


def booking_part(found: privacy_store.Found, now: datetime, waitlist_entries: int = 0) -> BookingPart:
    today = now.date()
    restrict: dict[uuid.UUID, date] = {}
    delete: list[uuid.UUID] = []
    for row in found.screenings:
        anchor = privacy_rules.retention_anchor(row["answered_on"], found.last_visit)
        until = privacy_rules.health_retain_until(anchor, found.birth_date)
        if until < today:
            delete.append(row["booking_id"])
        else:
            restrict[row["booking_id"]] = until
    return BookingPart(found, restrict, delete, waitlist_entries)


async def erase(
    pool: asyncpg.Pool,
    client: PrivacyClient,
    subject: Subject,
    actor: Actor,
    now: datetime,
    *,
    dry_run: bool,
) -> dict[str, Any]:
    clinic_id, email = subject.clinic_id, subject.email
    remote = await _at_once({s: client.erase(s, clinic_id, email, dry_run=True) for s in SERVICES})
    async with pool.acquire() as conn:
        mine = booking_part(
            await privacy_store.find_customer(conn, clinic_id, email, subject.key, now, lock=False),
            now,
            len(await waitlist_store.subject_entries(conn, clinic_id, email)),
        )
    blockers = mine.blockers + [b for s in SERVICES for b in remote[s]["blockers"]]
    if dry_run:
        return {
            "dry_run": True,
            "email_masked": subject.masked,
            "erase": privacy_rules.merge_counts(mine.erase, *(remote[s]["erase"] for s in SERVICES)),
            "keep": privacy_rules.merge_counts(mine.keep, *(remote[s]["keep"] for s in SERVICES)),
            "blockers": blockers,
        }
    if blockers:
        raise _refused(blockers)
    # Notifications also takes the person out of other people's emails that name them (a gift's receipt names its
    # recipient): the names their bookings and vouchers give them, read before anything is erased.
    names = sorted(set(mine.found.names) | await _voucher_names(client, subject))
    done = {
        s: await client.erase(
            s, clinic_id, email, dry_run=False, more={"names": names} if s == "notifications" else None
        )
        for s in SERVICES
    }
    async with pool.acquire() as conn, conn.transaction():
        found = await privacy_store.find_customer(conn, clinic_id, email, subject.key, now, lock=True)
        mine = booking_part(found, now, await _erase_waitlist(conn, clinic_id, email))
        if mine.blockers:  # booked meanwhile: refused, as the dry run would have (the others erased what they had)
            raise _refused(mine.blockers)
        if mine.restrict:
            await privacy_store.restrict_screenings(
                conn, list(mine.restrict), list(mine.restrict.values()), subject.key, now
            )
        if mine.delete:
            await privacy_store.delete_screenings(conn, mine.delete)
        if found.bookings:
            await privacy_store.anonymise_bookings(conn, found.bookings, now)
        erased = privacy_rules.merge_counts(mine.erase, *(done[s]["erased"] for s in SERVICES))
        kept = privacy_rules.merge_counts(mine.keep, *(done[s]["kept"] for s in SERVICES))
        row = await privacy_store.insert_request(
            conn,
            clinic_id,
            ERASE,
            subject.key,
            subject.masked,
            actor.role,
            actor.staff_id,
            {"erased": erased, "kept": kept},
        )
    # The audit entry's id, never the email: the entry itself says whom, masked.
    log.info("customer erased", extra={"clinic_id": str(clinic_id), "privacy_request": str(row["id"])})
    return {"dry_run": False, "request": request_json(row), "erased": erased, "kept": kept}


async def _erase_waitlist(conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str) -> int:
    """In the erasure's transaction: the customer's open waitlist offers withdrawn and their held times freed
    (announced as any release), then their entries deleted (their offers with them); how many entries."""
    for entry_id, hold_id in await waitlist_store.subject_open_offer_holds(conn, clinic_id, email):
        await waitlist_store.lock_hold(conn, hold_id)
        if await waitlist_store.withdraw_offer(conn, entry_id, hold_id):
            for lapsed in await store.release_holds(conn, hold_id):
                await add_event(conn, lapsed.event)
    return await waitlist_store.delete_subject_entries(conn, clinic_id, email)


async def _voucher_names(client: PrivacyClient, subject: Subject) -> set[str]:
    records = await client.export("payments", subject.clinic_id, subject.email)
    people = [v.get("buyer") for v in records.get("vouchers_bought", [])]
    people += [v.get("recipient") for v in records.get("vouchers_received", [])]
    return {p["name"] for p in people if isinstance(p, dict) and isinstance(p.get("name"), str)}


def _refused(blockers: list[dict[str, Any]]) -> BookingError:
    first = blockers[0]
    return BookingError(409, first["code"], first["message"], {"blockers": blockers})


# --- the audit log -------------------------------------------------------------------------------


async def requests(pool: asyncpg.Pool, clinic_id: uuid.UUID, limit: int) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [request_json(r) for r in await privacy_store.requests_of_clinic(conn, clinic_id, limit)]
