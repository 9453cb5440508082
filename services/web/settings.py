"""The web pages' settings: the base and how the pay page takes cards (no secret of its own: it is a client of
the public API, and never holds the Stripe secret key)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings, fake_stripe_url, setting


@dataclass(frozen=True)
class WebSettings(Settings):
    # Set (pk_test_… or pk_live_…, of the payments service's secret key's account): the pay page takes cards in
    # Stripe's Payment Element. Empty: the offline test-card form, confirmed against the local fake Stripe.
    stripe_publishable_key: str = ""
    # The local fake Stripe the offline test-card form confirms against.
    stripe_api_base: str = setting("http://127.0.0.1:8420", fallback=fake_stripe_url)

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if not self.stripe_publishable_key:
            problems.append("STRIPE_PUBLISHABLE_KEY must be set in production (customers pay by card with it)")
        return problems
