import pytest

from services.gateway.routing import service_for


@pytest.mark.parametrize(
    "path, service",
    [
        ("/api/v1/clinics", "booking"),
        ("/api/v1/clinics/urban-therapy/availability", "booking"),
        ("/api/v1/bookings/123/cancel", "booking"),
        ("/api/v1/clinic/bookings", "booking"),
        ("/api/v1/clinic/vouchers", "payments"),
        ("/api/v1/vouchers/balance", "payments"),
        ("/api/v1/stripe/webhook", "payments"),
        ("/api/v1/clinic/webhook-endpoints/9/rotate-secret", "notifications"),
        ("/api/v1/clinic/deliveries/5/replay", "notifications"),
        ("/dev/mailbox", "notifications"),
        ("/", "web"),
        ("/c/urban-therapy", "web"),
        ("/c/urban-therapy/book/hold", "web"),
        ("/manage/123", "web"),
        ("/waitlist/123/leave", "web"),
        ("/assets/site.0123456789ab.css", "web"),
    ],
)
def test_paths_go_to_their_owner(path, service):
    assert service_for(path) == service


@pytest.mark.parametrize("path", ["/api/v1/clinicsx", "/api/v1/unknown", "/api/v2/clinics", "//", "/cx", "/x"])
def test_other_paths_have_no_owner(path):
    assert service_for(path) is None


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/clinic/bookings/../../../../internal/v1/privacy/export",
        "/api/v1/clinic/fees/./x",
        "/api/v1/bookings/..",
        "/c/urban-therapy/../../internal/v1/clinics/1",
        "/..",
    ],
)
def test_a_path_with_a_dot_segment_has_no_owner(path):
    # The forwarding client would resolve the dots and send another path than the one routed.
    assert service_for(path) is None


@pytest.mark.parametrize("path", ["/api/v1/clinics/urban-therapy/therapists/a.b", "/assets/site.css", "/c/...x"])
def test_dots_inside_a_segment_are_ordinary(path):
    assert service_for(path) is not None
