"""The payments service's settings (its API, its consumer): the base, Stripe, voucher codes, the reconciler."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import (
    DEV_VOUCHER_CODE_KEY,
    DEV_WEBHOOK_SECRET,
    InternalTokenSettings,
    fake_stripe_url,
    setting,
    stripe_mode,
)


@dataclass(frozen=True)
class PaymentsSettings(InternalTokenSettings):
    stripe_secret_key: str = ""
    # Not a secret (the pay page gives it to browsers): read here only to check it is of the secret key's mode.
    stripe_publishable_key: str = ""
    stripe_api_base: str = setting("http://127.0.0.1:8420", fallback=fake_stripe_url)
    stripe_webhook_secret: str = DEV_WEBHOOK_SECRET
    # Keys voucher codes' hashes and encrypts them at rest; losing it makes issued codes unusable.
    voucher_code_key: str = DEV_VOUCHER_CODE_KEY
    # Voucher balance checks per minute per client address: guessing codes must be hopeless.
    voucher_balance_checks_per_minute: int = 20
    # Seconds a payment may stay open before the reconciler asks Stripe about it.
    reconcile_after: float = 180.0
    reconcile_interval: float = 60.0

    @property
    def offline_stripe(self) -> bool:
        return not self.stripe_secret_key

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.stripe_webhook_secret == DEV_WEBHOOK_SECRET:
            problems.append("STRIPE_WEBHOOK_SECRET must be set in production")
        if self.voucher_code_key == DEV_VOUCHER_CODE_KEY:
            problems.append("VOUCHER_CODE_KEY must be set in production")
        if self.offline_stripe:
            problems.append("STRIPE_SECRET_KEY must be set in production")
        if not self.stripe_publishable_key:
            problems.append("STRIPE_PUBLISHABLE_KEY must be set in production (customers pay by card with it)")
        elif stripe_mode(self.stripe_publishable_key) != stripe_mode(self.stripe_secret_key):
            problems.append("STRIPE_PUBLISHABLE_KEY and STRIPE_SECRET_KEY must both be test keys or both live keys")
        return problems
