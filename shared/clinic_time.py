"""How we name a clinic's zone to its customers (pure), for the pages and the emails alike."""

from __future__ import annotations

from zoneinfo import ZoneInfo

# What customers call a zone's time, by zone (the abbreviation, GMT or BST, is added per instant).
ZONE_NAMES = {"Europe/London": "UK time"}


def zone_name(zone: ZoneInfo) -> str:
    """'UK time'; another zone: its name."""
    return ZONE_NAMES.get(zone.key, zone.key.replace("_", " "))
