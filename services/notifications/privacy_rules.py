"""Data protection rules of the notifications service, with no I/O: which address a request is for, whether a
clinic webhook payload mentions it, and the payload with that person taken out (privacy.py applies them)."""

from __future__ import annotations

import html
import re
from typing import Any

ERASED_TEXT = "[erased]"
# What a person in a payload (a booking's customer, a voucher's buyer or recipient) becomes once erased.
ERASED_PERSON: dict[str, Any] = {"erased": True}
# A payload's own fields that stay whatever they mention: what the clinic's systems need to match the event.
ENVELOPE = ("type", "timestamp")
# The customer's own link (its token lets whoever holds it manage the booking): gone with the customer.
PERSONAL_LINKS = frozenset({"manage_url"})


def normalise_email(email: str) -> str:
    """An address as requests and lookups compare it: trimmed, lower case."""
    return email.strip().lower()


def _is(value: object, address: str) -> bool:
    return isinstance(value, str) and normalise_email(value) == address


def mentions(value: object, address: str) -> bool:
    """Whether any string in `value` (however nested) is the address, case aside."""
    if isinstance(value, dict):
        return any(mentions(v, address) for v in value.values())
    if isinstance(value, list):
        return any(mentions(v, address) for v in value)
    return _is(value, address)


def _erase(value: object, address: str) -> object:
    if isinstance(value, dict):
        # A person: an object holding the address as one of its own fields (name, email, phone… all go).
        if any(_is(v, address) for v in value.values()):
            return dict(ERASED_PERSON)
        return {k: _erase(v, address) for k, v in value.items()}
    if isinstance(value, list):
        return [_erase(v, address) for v in value]
    return ERASED_TEXT if _is(value, address) else value


def erase_from_payload(payload: dict[str, Any], address: str) -> dict[str, Any]:
    """The clinic webhook payload ({type, timestamp, data}) without the person whose address this is: each
    object holding the address becomes {"erased": true}, the address elsewhere "[erased]", and the data's
    personal links (the manage link) go too. The type, timestamp and ids stay. A payload that does not
    mention the address comes back unchanged."""
    if not mentions(payload, address):
        return payload
    erased = {k: v if k in ENVELOPE else _erase(v, address) for k, v in payload.items()}
    data = erased.get("data")
    if isinstance(data, dict):
        erased["data"] = {k: None if k in PERSONAL_LINKS else v for k, v in data.items()}
    return erased


# A name shorter than this is not looked for in other people's emails (an initial would match everywhere).
MIN_NAME_LENGTH = 3


def mention_pattern(address: str, names: list[str]) -> str:
    """A PostgreSQL regular expression (used case-insensitively) for the person in someone else's email: the
    address, and their names as whole words, as typed and as HTML writes them."""
    wanted = {address, html.escape(address)}
    for name in names:
        name = " ".join(name.split())
        if len(name) >= MIN_NAME_LENGTH:
            wanted |= {name, html.escape(name)}
    # Longest first, so that a name inside another (Ada in Ada Lovelace) does not leave the rest behind.
    alternatives = sorted(wanted, key=len, reverse=True)
    return r"\m(?:" + "|".join(re.escape(w) for w in alternatives) + r")\M"
