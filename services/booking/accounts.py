"""Staff accounts (pure): the roles, the clinic API's sign-in tokens, the one-time links that set a password,
what a new clinic may be called, and whom an owner may remove.

Tokens and links are random (`secrets`), so, as for API keys, only their SHA-256 digest is stored: a database
leak gives nobody a way in. The link travels once, by email (the `staff.invited` event)."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from services.booking import clinic_settings
from services.booking.domain import BookingError
from shared import contracts
from shared.events import Event
from shared.input import text_problem

# The same words as shared.clinic_auth's (which a pure module may not import: it is aiohttp's side).
OWNER, STAFF = "owner", "staff"
ROLES = (OWNER, STAFF)
INVITED, ACTIVE = "invited", "active"

SESSION_PREFIX = "cst_"
# A sign-in lasts a working day at most; then the dashboard asks again. Not extended by use.
SESSION_LIFETIME = timedelta(hours=12)
# A set-password link: long enough for a weekend, short enough not to lie in an inbox for ever.
LINK_LIFETIME = timedelta(hours=72)
# Password guessing per account (the email typed, known or not), as the dashboard's sign-in form counts it:
# every attempt counts, before its check, so a burst of parallel guesses cannot slip through.
SIGN_IN_ATTEMPTS = 10
SIGN_IN_WINDOW = timedelta(minutes=15)

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200
MAX_ADDRESS_LENGTH = 500
# A clinic's slug is in its public URLs (/c/{slug}): lower-case letters, digits and hyphens, 3 to 40 of them,
# starting and ending with a letter or digit.
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")
SLUG_RULE = "3 to 40 lower-case letters, digits and hyphens, starting and ending with a letter or digit"


# --- tokens and links ----------------------------------------------------------------------------


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def is_session_token(text: str) -> bool:
    return text.startswith(SESSION_PREFIX)


def new_link_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def account_fingerprint(email: str) -> bytes:
    """What the sign-in limit counts an account by: the email as typed, in any case, digested."""
    return hashlib.sha256(email.strip().lower().encode()).digest()


def set_password_url(public_url: str, token: str) -> str:
    return f"{public_url}/clinic/set-password?{urlencode({'token': token})}"


def check_link(expires_at: datetime, used_at: datetime | None, now: datetime) -> None:
    """A link works once, until it expires (410 in either case: it was real, and is gone)."""
    if used_at is not None:
        raise BookingError(410, "link_used", "This link has been used already; sign in with your password")
    if expires_at <= now:
        raise BookingError(410, "link_expired", "This link has expired; ask the clinic's owner to invite you again")


def link_not_found() -> BookingError:
    return BookingError(404, "link_not_found", "This link is not valid; check you copied all of it")


def status_of(has_password: bool) -> str:
    return ACTIVE if has_password else INVITED


def retry_after_seconds(tat: datetime, now: datetime) -> int:
    """How long until one more sign-in attempt is allowed, from the bucket's theoretical arrival time."""
    interval = SIGN_IN_WINDOW / SIGN_IN_ATTEMPTS
    wait = (tat + interval - SIGN_IN_WINDOW - now).total_seconds()
    return max(1, int(-(-wait // 1)))


# --- who may be removed or re-invited ------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    role: str
    has_password: bool


def refuse_removal(target: Member, caller: uuid.UUID | None, other_owners: int) -> None:
    """An owner cannot remove themselves, and a clinic keeps an owner who can sign in (`other_owners`: owners
    with a password besides the target)."""
    if caller is not None and target.id == caller:
        raise BookingError(409, "cannot_remove_self", "You cannot remove your own account; ask another owner")
    if target.role == OWNER and other_owners == 0:
        raise BookingError(409, "last_owner", "This is the clinic's last owner; make someone else an owner first")


def refuse_demotion(target: Member, new_role: str, other_owners: int) -> None:
    """Inviting again with another role must not leave the clinic without an owner."""
    if target.role == OWNER and new_role != OWNER and other_owners == 0:
        raise BookingError(409, "last_owner", "This is the clinic's last owner; make someone else an owner first")


# --- a new clinic (the operators' onboarding command) --------------------------------------------


def slug_problem(slug: str) -> str | None:
    return None if SLUG_PATTERN.fullmatch(slug) else f"the slug must be {SLUG_RULE} (got {slug!r})"


def timezone_problem(name: str) -> str | None:
    """The settings' own rule (an IANA place name, not `localtime` or `Factory`), worded for the command line."""
    if clinic_settings.zone_problem(name) is None:
        return None
    return f"unknown time zone {name!r}: give an IANA name such as Europe/London"


def email_problem(what: str, email: str) -> str | None:
    if len(email) > MAX_EMAIL_LENGTH or not re.fullmatch(EMAIL_PATTERN, email):
        return f"the {what} must be an email address (got {email!r})"
    return None


def line_problem(what: str, text: str, max_length: int) -> str | None:
    if not text.strip():
        return f"the {what} must not be empty"
    if len(text) > max_length:
        return f"the {what} must be at most {max_length} characters"
    if (problem := text_problem(text)) is not None:
        return f"the {what} {problem}"
    return None


@dataclass(frozen=True)
class NewClinic:
    slug: str
    name: str
    timezone: str
    address: str
    email: str
    owner_email: str
    owner_name: str

    def problems(self) -> list[str]:
        """Everything wrong with it, each in words an operator can act on; [] if nothing."""
        found = [
            slug_problem(self.slug),
            line_problem("clinic's name", self.name, MAX_NAME_LENGTH),
            timezone_problem(self.timezone),
            line_problem("address", self.address, MAX_ADDRESS_LENGTH),
            email_problem("contact email", self.email),
            email_problem("owner's email", self.owner_email),
            line_problem("owner's name", self.owner_name, MAX_NAME_LENGTH),
        ]
        return [problem for problem in found if problem is not None]


# --- the invitation's event ----------------------------------------------------------------------


def invited_event(
    *,
    staff_id: uuid.UUID,
    clinic: contracts.ClinicRef,
    name: str,
    email: str,
    role: str,
    url: str,
    expires_at: datetime,
    new_clinic: bool = False,
) -> Event:
    """`staff.invited`: the notifications service emails `url` (a secret: it carries the link's token)."""
    return contracts.event(
        contracts.StaffInvited(
            staff_id=str(staff_id),
            clinic=clinic,
            name=name,
            email=email,
            role=role,
            set_password_url=url,
            expires_at=expires_at,
            new_clinic=new_clinic,
        ),
        clinic_id=clinic.id,
    )
