"""Operators' command for dashboard accounts:

    python -m services.booking.staff_accounts add <clinic-slug> <email> "<name>"

asks for the password twice (or reads it from standard input when that is not a terminal), stores only its
scrypt hash, and prints the account's id. Adding an existing email of the same clinic sets a new password."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from services.booking import staff, store
from services.booking.settings import BookingSettings
from shared import db
from shared.config import load_settings


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("the two passwords differ")
    return first


async def add(settings: BookingSettings, slug: str, email: str, name: str, password: str) -> str:
    if len(password) < staff.MIN_PASSWORD_LENGTH:
        raise SystemExit(f"the password must have at least {staff.MIN_PASSWORD_LENGTH} characters")
    conn = await db.connect(settings, "booking")
    try:
        clinic = await store.get_clinic(conn, slug)
        if clinic is None:
            raise SystemExit(f"no clinic {slug!r}")
        staff_id = await store.upsert_staff(conn, clinic.id, email, name, staff.hash_password(password))
    finally:
        await conn.close()
    if staff_id is None:
        raise SystemExit(f"{email} already signs in to another clinic")
    return str(staff_id)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.booking.staff_accounts")
    commands = parser.add_subparsers(dest="command", required=True)
    adding = commands.add_parser("add", help="add a dashboard account, or set its password")
    adding.add_argument("clinic"), adding.add_argument("email"), adding.add_argument("name")
    args = parser.parse_args(argv)
    print(asyncio.run(add(load_settings(BookingSettings), args.clinic, args.email, args.name, _read_password())))


if __name__ == "__main__":
    main()
