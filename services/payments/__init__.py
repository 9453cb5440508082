"""Payments service: Stripe payments, gift vouchers and their ledger, refunds."""
