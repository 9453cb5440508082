"""Buying and holding gift vouchers in tests."""

from __future__ import annotations

from datetime import date, timedelta

from services.payments.voucher_service import CodeKeys

RECIPIENT = {"name": "Grace Hopper", "email": "grace@example.com"}
BUYER = {"name": "Ada Lovelace", "email": "ada@example.com"}


def purchase_body(kind: str = "amount", **overrides) -> dict:
    body = {
        "clinic": "urban-therapy",
        "kind": kind,
        "buyer": BUYER,
        "recipient": RECIPIENT,
        "message": "Happy birthday!",
        "deliver_on": (date.today() + timedelta(days=1)).isoformat(),
    }
    if kind == "amount":
        body["amount"] = {"amount": 6000, "currency": "GBP"}
    body.update(overrides)
    return body


async def issued_code(pool, voucher_id, settings) -> str:
    """The code as the delivery email will show it (decrypted with the key the database does not hold)."""
    import uuid

    async with pool.acquire() as conn:
        token = await conn.fetchval("SELECT code_ciphertext FROM vouchers WHERE id = $1", uuid.UUID(voucher_id))
    return CodeKeys(settings.voucher_code_key).decrypt(token)


async def buy_voucher(payments, checkout, pool, settings, **overrides) -> tuple[dict, str]:
    """Buy and pay for a voucher; returns it and its code."""
    resp = await payments.post("/api/v1/vouchers", json=purchase_body(**overrides))
    assert resp.status == 201, await resp.text()
    voucher = await resp.json()
    await checkout.pay(voucher)
    return voucher, await issued_code(pool, voucher["id"], settings)
