"""The workspace's areas, and which role may use each (pure). The home page and every page's navigation show
only these, so a staff (reception) account never sees a link to an owner's page. Pages added later hang here."""

from __future__ import annotations

from dataclasses import dataclass

OWNER = "owner"


@dataclass(frozen=True)
class Area:
    label: str
    path: str
    description: str
    owner_only: bool = False


# Reception runs the day (diary, bookings, vouchers, the waitlist) and reads the catalogue and therapists; the owner
# also runs the accounts, the settings, the integrations (API keys, webhooks) and customers' data requests (privacy).
# The API refuses the rest (403) anyway.
AREAS: tuple[Area, ...] = (
    Area("Diary", "/clinic/diary", "The day and the week for each therapist: bookings, holds, breaks and time off."),
    Area("Catalogue", "/clinic/catalogue", "Treatments and courses, their prices and the order they are shown in."),
    Area("Therapists", "/clinic/therapists", "Profiles, the treatments each gives, working hours and time off."),
    Area("Vouchers", "/clinic/vouchers", "Gift vouchers, their balances and the monthly sales report."),
    Area("Waitlist", "/clinic/waitlist", "Customers waiting for a time to come up, and the times offered to them."),
    Area("Staff", "/clinic/staff", "Invite the people who sign in to this dashboard, or remove them.", owner_only=True),
    Area(
        "Integrations",
        "/clinic/integrations",
        "Webhooks, API keys and the booking button for your own website.",
        owner_only=True,
    ),
    Area("Settings", "/clinic/settings", "Booking rules, reminders, policies and contact details.", owner_only=True),
    Area(
        "Privacy",
        "/clinic/privacy",
        "A customer's data protection requests: download everything held about them, or erase it.",
        owner_only=True,
    ),
)


def areas_for(role: str) -> tuple[Area, ...]:
    return tuple(area for area in AREAS if role == OWNER or not area.owner_only)


def current_area(path: str, areas: tuple[Area, ...]) -> Area | None:
    """The area a page belongs to (its path, or one under it), for the navigation's aria-current."""
    return next((a for a in areas if path == a.path or path.startswith(a.path + "/")), None)
