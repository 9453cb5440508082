"""The dashboard's areas by role (pure): reception sees only what it may use; the owner sees everything."""

from services.web.dashboard.navigation import AREAS, areas_for, current_area


def test_staff_see_the_day_s_areas_and_owners_every_area():
    assert [a.label for a in areas_for("staff")] == ["Diary", "Catalogue", "Therapists", "Vouchers", "Waitlist"]
    assert areas_for("owner") == AREAS
    assert {a.label for a in AREAS if a.owner_only} == {"Staff", "Integrations", "Settings", "Privacy"}
    assert [a.label for a in areas_for("someone else")] == ["Diary", "Catalogue", "Therapists", "Vouchers", "Waitlist"]


def test_a_page_belongs_to_the_area_its_path_is_under():
    areas = areas_for("owner")
    assert current_area("/clinic/staff", areas).label == "Staff"
    assert current_area("/clinic/therapists/123/hours", areas).label == "Therapists"
    assert current_area("/clinic/staffing", areas) is None and current_area("/clinic", areas) is None
    assert current_area("/clinic/staff", areas_for("staff")) is None
