"""Booking service: catalogue, therapists, availability, holds and bookings."""

from pathlib import Path

# This service's own migrations, which shared.migrations applies to its schema (shared knows no service).
MIGRATIONS = Path(__file__).parent / "migrations"
