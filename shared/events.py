"""The event envelope every service publishes and consumes."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

ENVELOPE_VERSION = 1


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Event:
    type: str  # e.g. "booking.confirmed"; the part before the dot is the topic
    data: dict[str, Any]
    clinic_id: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=_now)
    request_id: str | None = None
    version: int = ENVELOPE_VERSION

    @property
    def topic(self) -> str:
        return self.type.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat(),
            "clinic_id": self.clinic_id,
            "request_id": self.request_id,
            "version": self.version,
            "data": self.data,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Event":
        return cls(
            id=uuid.UUID(d["id"]),
            type=d["type"],
            occurred_at=datetime.fromisoformat(d["occurred_at"]),
            clinic_id=d.get("clinic_id"),
            request_id=d.get("request_id"),
            version=d.get("version", ENVELOPE_VERSION),
            data=d["data"],
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Event":
        return cls.from_dict(json.loads(raw))


def stream_key(prefix: str, topic: str) -> str:
    return f"{prefix}events:{topic}"


def dead_letter_key(prefix: str, topic: str) -> str:
    return f"{prefix}dead:{topic}"
