"""The payment policy's inputs as the dashboard shows and reads them (pure: no I/O), for the Settings page (the
clinic's policy) and a treatment's form (its own, or the clinic's): a radio for the kind — full, a deposit in
percent, a deposit in pounds, the card saved only, and on a treatment "use the clinic's policy" — with the
deposit's two inputs beside their radios; then the two fees a saved card pays (issue 20: a no-show fee and a
late-cancellation fee), each none, a percent of the price or an amount. Without JavaScript every input shows; only
the chosen radios' inputs are read.

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
CLINIC, FULL, BY_PERCENT, BY_AMOUNT, CARD = "clinic", "full", "percent", "amount", "card"
NONE = "none"
# The fees (the API's policy keys): each a radio (none, percent, amount) and its two inputs.
FEES = ("no_show_fee", "late_cancellation_fee")
FEE_WORDS = {"no_show_fee": "no-show fee", "late_cancellation_fee": "late-cancellation fee"}
# How the API's refusal names a fee (its sentence, or its key): the sentence goes beside that fee's input.
_FEE_NAMED = {"no_show_fee": ("no-show", "no_show", "no show"), "late_cancellation_fee": ("late",)}
INPUTS = (MODE, PERCENT, AMOUNT, *(f"{fee}{part}" for fee in FEES for part in ("", "_percent", "_amount")))
ERROR_CODE = "invalid_payment_policy"

_WHOLE = re.compile(r"\d{1,3}")
_POUNDS = re.compile(r"£?\s*(\d{1,7})(?:\.(\d{1,2}))?")
# What `read` answers for "the treatment uses the clinic's policy": the API's null.
USE_CLINIC: None = None


def pounds(pence: int) -> str:
    return f"{pence // 100}.{pence % 100:02d}"


def _fee_values(policy: Mapping[str, Any] | None) -> dict[str, str]:
    shown: dict[str, str] = {}
    for fee in FEES:
        given = (policy or {}).get(fee) or {}
        shown[fee], shown[f"{fee}_percent"], shown[f"{fee}_amount"] = NONE, "", ""
        if "percent" in given:
            shown[fee], shown[f"{fee}_percent"] = BY_PERCENT, str(given["percent"])
        elif "amount" in given:
            shown[fee], shown[f"{fee}_amount"] = BY_AMOUNT, pounds(int(given["amount"]["amount"]))
    return shown


def values(policy: Mapping[str, Any] | None, *, treatment: bool = False) -> dict[str, str]:
    """The inputs' values for a policy as the API gives it (null on a treatment: the clinic's)."""
    fees = _fee_values(policy)
    if policy is None:
        return {MODE: CLINIC if treatment else FULL, PERCENT: "", AMOUNT: "", **fees}
    deposit = policy.get("deposit") or {}
    if policy.get("mode") == "deposit" and "percent" in deposit:
        return {MODE: BY_PERCENT, PERCENT: str(deposit["percent"]), AMOUNT: "", **fees}
    if policy.get("mode") == "deposit" and "amount" in deposit:
        return {MODE: BY_AMOUNT, PERCENT: "", AMOUNT: pounds(int(deposit["amount"]["amount"])), **fees}
    if policy.get("mode") == CARD:
        return {MODE: CARD, PERCENT: "", AMOUNT: "", **fees}
    return {MODE: FULL, PERCENT: "", AMOUNT: "", **fees}


@dataclass(frozen=True)
class Read:
    values: dict[str, str]  # what was typed, to show again
    policy: dict[str, Any] | None  # the API's value (None: the clinic's, on a treatment); only without errors
    errors: dict[str, str]
    given: bool = True  # a kind was sent: a form without the radios (another client) leaves the policy as it is


def _percent(typed: str) -> int | None:
    percent = typed.removesuffix("%").strip()
    return int(percent) if _WHOLE.fullmatch(percent) else None


def _pence(typed: str) -> int | None:
    match = _POUNDS.fullmatch(typed.replace(",", ""))
    return None if match is None else int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))


def _fees(typed: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The chosen fees as the API's policy keys (none chosen: left out), or sentences beside their inputs."""
    fees: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for fee in FEES:
        kind, words = typed.get(fee, "") or NONE, FEE_WORDS[fee]
        if kind == BY_PERCENT:
            if (percent := _percent(typed[f"{fee}_percent"])) is None:
                errors[f"{fee}_percent"] = f"Enter the {words} as a whole number percent, like 50"
            else:
                fees[fee] = {"percent": percent}
        elif kind == BY_AMOUNT:
            if (pence := _pence(typed[f"{fee}_amount"])) is None:
                errors[f"{fee}_amount"] = f"Enter the {words} in pounds, like 20 or 20.50"
            else:
                fees[fee] = {"amount": {"amount": pence, "currency": CURRENCY}}
        elif kind != NONE:
            errors[fee] = f"Choose whether there is a {words}"
    return fees, errors


def read(form: Mapping[str, Any], *, treatment: bool = False) -> Read:
    """The chosen kind and its input as the API's policy, with the chosen fees; a sentence beside each input
    that cannot be sent."""
    typed = {name: str(form.get(name, "")).strip() for name in INPUTS}
    mode = typed[MODE]
    if MODE not in form:
        return Read(typed, None, {}, given=False)
    kinds = (CLINIC, FULL, BY_PERCENT, BY_AMOUNT, CARD) if treatment else (FULL, BY_PERCENT, BY_AMOUNT, CARD)
    if mode not in kinds:
        return Read(typed, None, {MODE: "Choose how customers pay when they book"})
    if mode == CLINIC:  # the clinic's whole policy, its fees included: the fees typed here are not read
        return Read(typed, USE_CLINIC, {})
    fees, errors = _fees(typed)
    policy: dict[str, Any] | None = None
    if mode in (FULL, CARD):
        policy = {"mode": mode}
    elif mode == BY_PERCENT:
        if (percent := _percent(typed[PERCENT])) is None:
            errors = {PERCENT: "Enter the deposit as a whole number percent, like 20", **errors}
        else:
            policy = {"mode": "deposit", "deposit": {"percent": percent}}
    elif (pence := _pence(typed[AMOUNT])) is None:
        errors = {AMOUNT: "Enter the deposit in pounds, like 20 or 20.50", **errors}
    else:
        policy = {"mode": "deposit", "deposit": {"amount": {"amount": pence, "currency": CURRENCY}}}
    if errors:
        return Read(typed, None, errors)
    return Read(typed, {**(policy or {}), **fees}, {})


def api_error(code: str, message: str, typed: Mapping[str, str]) -> dict[str, str]:
    """The API's refusal of the policy beside the input it is about (a fee's, when the sentence names it; else
    the chosen kind's), or {} if it is not one."""
    if code != ERROR_CODE:
        return {}
    said = message or "This payment policy cannot be used"
    for fee in FEES:
        if any(word in said.lower() for word in _FEE_NAMED[fee]):
            kind = typed.get(fee, "")
            return {f"{fee}_{kind}" if kind in (BY_PERCENT, BY_AMOUNT) else fee: said}
    field = {BY_PERCENT: PERCENT, BY_AMOUNT: AMOUNT}.get(typed.get(MODE, ""), MODE)
    return {field: said}
