"""Payments service: Stripe payments, gift vouchers and their ledger, refunds."""

from pathlib import Path

# This service's own migrations, which shared.migrations applies to its schema (shared knows no service).
MIGRATIONS = Path(__file__).parent / "migrations"
