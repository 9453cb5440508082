"""The booking service's settings (its API, its consumer, its seed and staff tools): the base, and its own keys."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import DEV_HEALTH_DATA_KEY, DEV_MANAGE_LINK_KEY, InternalTokenSettings


@dataclass(frozen=True)
class BookingSettings(InternalTokenSettings):
    # Signs the customers' manage links.
    manage_link_key: str = DEV_MANAGE_LINK_KEY
    # Encrypts the health screening answers at rest (shared/sealing.py): never lose it, never in the database.
    health_data_key: str = DEV_HEALTH_DATA_KEY
    # How often the waitlist's matcher looks for free times to offer (services/booking/waitlist.py); it also runs
    # right after the hold sweeper expired something.
    waitlist_sweep_seconds: float = 15.0

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.manage_link_key == DEV_MANAGE_LINK_KEY:
            problems.append("MANAGE_LINK_KEY must be set in production")
        if self.health_data_key == DEV_HEALTH_DATA_KEY:
            problems.append("HEALTH_DATA_KEY must be set in production")
        return problems
