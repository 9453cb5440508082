"""The payment policy's inputs as the dashboard shows and reads them (pure: no I/O), for the Settings page (the
clinic's policy) and a treatment's form (its own, or the clinic's): a radio for the kind — full, a deposit in
percent, a deposit in pounds, and on a treatment "use the clinic's policy" — with the deposit's two inputs
beside their radios. Without JavaScript every input shows; only the chosen radio's input is read.

The API decides (services/booking/payment_policy.py): the page checks only that a percent is a whole number and an
amount an amount, and shows the API's 422 `invalid_payment_policy` sentence beside the radios."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CURRENCY = "GBP"  # every clinic's, for now: the amounts are typed in pounds
MODE = "payment_mode"  # the radios' name (and the fieldset's id, for the error summary)
PERCENT = "deposit_percent"
AMOUNT = "deposit_amount"
INPUTS = (MODE, PERCENT, AMOUNT)
CLINIC, FULL, BY_PERCENT, BY_AMOUNT = "clinic", "full", "percent", "amount"
ERROR_CODE = "invalid_payment_policy"

_WHOLE = re.compile(r"\d{1,3}")
_POUNDS = re.compile(r"£?\s*(\d{1,7})(?:\.(\d{1,2}))?")
# What `read` answers for "the treatment uses the clinic's policy": the API's null.
USE_CLINIC: None = None


def pounds(pence: int) -> str:
    return f"{pence // 100}.{pence % 100:02d}"


def values(policy: Mapping[str, Any] | None, *, treatment: bool = False) -> dict[str, str]:
    """The inputs' values for a policy as the API gives it (null on a treatment: the clinic's)."""
    if policy is None:
        return {MODE: CLINIC if treatment else FULL, PERCENT: "", AMOUNT: ""}
    deposit = policy.get("deposit") or {}
    if policy.get("mode") == "deposit" and "percent" in deposit:
        return {MODE: BY_PERCENT, PERCENT: str(deposit["percent"]), AMOUNT: ""}
    if policy.get("mode") == "deposit" and "amount" in deposit:
        return {MODE: BY_AMOUNT, PERCENT: "", AMOUNT: pounds(int(deposit["amount"]["amount"]))}
    return {MODE: FULL, PERCENT: "", AMOUNT: ""}


@dataclass(frozen=True)
class Read:
    values: dict[str, str]  # what was typed, to show again
    policy: dict[str, Any] | None  # the API's value (None: the clinic's, on a treatment); only without errors
    errors: dict[str, str]
    given: bool = True  # a kind was sent: a form without the radios (another client) leaves the policy as it is


def read(form: Mapping[str, Any], *, treatment: bool = False) -> Read:
    """The chosen kind and its input as the API's policy; a sentence beside the input that cannot be sent."""
    typed = {name: str(form.get(name, "")).strip() for name in INPUTS}
    mode = typed[MODE]
    if MODE not in form:
        return Read(typed, None, {}, given=False)
    kinds = (CLINIC, FULL, BY_PERCENT, BY_AMOUNT) if treatment else (FULL, BY_PERCENT, BY_AMOUNT)
    if mode not in kinds:
        return Read(typed, None, {MODE: "Choose how customers pay when they book"})
    if mode == CLINIC:
        return Read(typed, USE_CLINIC, {})
    if mode == FULL:
        return Read(typed, {"mode": "full"}, {})
    if mode == BY_PERCENT:
        percent = typed[PERCENT].removesuffix("%").strip()
        if _WHOLE.fullmatch(percent) is None:
            return Read(typed, None, {PERCENT: "Enter the deposit as a whole number percent, like 20"})
        return Read(typed, {"mode": "deposit", "deposit": {"percent": int(percent)}}, {})
    match = _POUNDS.fullmatch(typed[AMOUNT].replace(",", ""))
    if match is None:
        return Read(typed, None, {AMOUNT: "Enter the deposit in pounds, like 20 or 20.50"})
    pence = int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))
    return Read(typed, {"mode": "deposit", "deposit": {"amount": {"amount": pence, "currency": CURRENCY}}}, {})


def api_error(code: str, message: str, typed: Mapping[str, str]) -> dict[str, str]:
    """The API's refusal of the policy beside the input it is about (the chosen kind's), or {} if it is not one."""
    if code != ERROR_CODE:
        return {}
    field = {BY_PERCENT: PERCENT, BY_AMOUNT: AMOUNT}.get(typed.get(MODE, ""), MODE)
    return {field: message or "This payment policy cannot be used"}
