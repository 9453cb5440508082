"""Operators' command that brings a new clinic on board:

    python -m services.booking.onboard --slug riverside-physio --name "Riverside Physio" \\
        --timezone Europe/London --address "1 River Lane, Bristol BS1 4AA" --email hello@riverside.example \\
        --owner-email sam@riverside.example --owner-name "Sam Taylor"

creates the clinic (with the default policies, which its owner changes in the dashboard) and its owner's
account, without a password, and emails the owner a one-time link to set one (72 hours; the `staff.invited`
event, written in the same transaction, so the email goes if and only if the clinic exists). Prints the clinic's
id and what happens next; the link itself is never printed or logged. Refused, with the reason, for a slug that is
not 3 to 40 lower-case letters, digits and hyphens or is taken, an unknown time zone, or an owner's email that
already has an account."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from services.booking import accounts, accounts_service, accounts_store
from services.booking.settings import BookingSettings
from shared import db
from shared.config import load_settings


class Refused(Exception):
    """What the operator must change, in words."""


@dataclass(frozen=True)
class Onboarded:
    clinic_id: uuid.UUID
    owner_id: uuid.UUID
    link_expires_at: datetime


async def onboard(settings: BookingSettings, new: accounts.NewClinic, now: datetime | None = None) -> Onboarded:
    if problems := new.problems():
        raise Refused("; ".join(problems))
    now = now or datetime.now(timezone.utc)
    conn = await db.connect(settings, "booking")
    try:
        async with conn.transaction():
            clinic_id = await accounts_store.insert_clinic(
                conn, new.slug, new.name.strip(), new.timezone, new.address.strip(), new.email
            )
            if clinic_id is None:
                raise Refused(f"the slug {new.slug!r} is taken by another clinic")
            owner_id = await accounts_store.insert_account(
                conn, clinic_id, new.owner_email, new.owner_name.strip(), accounts.OWNER
            )
            if owner_id is None:
                raise Refused(f"{new.owner_email} already has an account (each person signs in to one clinic)")
            await accounts_service.send_invitation(
                conn,
                clinic_id,
                owner_id,
                name=new.owner_name.strip(),
                email=new.owner_email,
                role=accounts.OWNER,
                public_url=settings.public_url,
                now=now,
                new_clinic=True,
            )
    finally:
        await conn.close()
    return Onboarded(clinic_id, owner_id, now + accounts.LINK_LIFETIME)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.booking.onboard", description="Create a clinic and email its owner a sign-up link."
    )
    parser.add_argument("--slug", required=True, help=f"the clinic's name in its URLs: {accounts.SLUG_RULE}")
    parser.add_argument("--name", required=True, help="the clinic's name, as customers see it")
    parser.add_argument("--timezone", required=True, help="the clinic's IANA time zone, e.g. Europe/London")
    parser.add_argument("--address", required=True, help="the clinic's address, on one line")
    parser.add_argument("--email", required=True, help="the clinic's contact email, shown to customers")
    parser.add_argument("--owner-email", required=True, help="the owner's own email: the sign-up link goes there")
    parser.add_argument("--owner-name", required=True, help="the owner's name")
    args = parser.parse_args(argv)
    settings = load_settings(BookingSettings)
    new = accounts.NewClinic(
        args.slug, args.name, args.timezone, args.address, args.email, args.owner_email, args.owner_name
    )
    try:
        done = asyncio.run(onboard(settings, new))
    except Refused as refused:
        raise SystemExit(f"not created: {refused}") from None
    print(f"clinic {new.slug}: {done.clinic_id}")
    print(
        f"{new.owner_email} is emailed a link to set their password (valid until {done.link_expires_at:%Y-%m-%d %H:%M} "
        f"UTC, once), then signs in at {settings.public_url}/clinic/sign-in to add treatments, therapists and hours; "
        "the booking relay, the notifications consumer and a Celery worker must be running for the email to go."
    )


if __name__ == "__main__":
    main()
