"""The week of free times as its buttons say it (services/web/booking.week_view, rendering the `week` macro): each time
named by its clock and described by its day's heading, which names the zone; its values printed unescaped only
because they are safe, whatever the API's text."""

from __future__ import annotations

import re

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.web.app import templates
from services.web.assets import Assets
from services.web.booking import week_view
from services.web.pages import API, TEMPLATES

CLINIC = {"slug": "urban-therapy", "timezone": "Europe/London"}
AMARA = {"id": "c8dcc88a-55d0-5d7a-90ca-aa3520453687", "name": "Amara <Okafor> & co"}
WEEK = "2030-06-03"  # a Monday, in British Summer Time


class Availability:
    """The API's answer, whatever is asked."""

    def __init__(self, slots: list[dict]):
        self.slots = slots

    def for_request(self, request: web.Request) -> "Availability":
        return self

    async def availability_answer(self, *args) -> bytes:
        return orjson.dumps({"slots": self.slots})


async def week_html(slots: list[dict], *, with_therapist: bool = True) -> str:
    """The week's times for no preference of therapist (each naming its therapist), or for Amara's."""
    app = web.Application()
    app[API] = Availability(slots)
    app[TEMPLATES] = templates(Assets())
    view = await week_view(
        make_mocked_request("GET", "/", app=app), CLINIC, "treatment", None if with_therapist else AMARA["id"], WEEK
    )
    return str(view["week_html"])


def buttons(html: str) -> list[str]:
    return re.findall(r"<button [^>]*>.*?</button>", html)


async def test_each_time_is_its_clock_described_by_its_day_which_names_the_zone():
    html = await week_html(
        [
            {"start": "2030-06-03T08:00:00+00:00", "therapist": AMARA},
            {"start": "2030-06-04T13:30:00+00:00", "therapist": AMARA},
        ]
    )
    assert '<h2 class="h3" id="day-2030-06-03">Monday 3 June 2030 (UK time, BST)</h2>' in html
    monday, tuesday = buttons(html)
    assert f'value="{AMARA["id"]}|2030-06-03T08:00:00+00:00" aria-describedby="day-2030-06-03">09:00<' in monday
    assert 'aria-describedby="day-2030-06-04">14:30<' in tuesday


async def test_with_no_preference_each_time_names_its_therapist_escaped():
    html = await week_html([{"start": "2030-06-03T08:00:00+00:00", "therapist": AMARA}])
    assert '<span class="visually-hidden">, with Amara &lt;Okafor&gt; &amp; co</span>' in html
    assert "<Okafor>" not in html
    assert "visually-hidden" not in await week_html(
        [{"start": "2030-06-03T08:00:00+00:00", "therapist": AMARA}], with_therapist=False
    )


async def test_a_start_the_page_could_not_print_as_it_is_is_written_anew():
    # Python's fromisoformat takes any character between the date and the time.
    [button] = buttons(await week_html([{"start": "2030-06-03<08:00:00+00:00", "therapist": AMARA}]))
    assert f'value="{AMARA["id"]}|2030-06-03T08:00:00+00:00"' in button


async def test_a_therapist_id_that_is_not_a_uuid_is_refused():
    with pytest.raises(ValueError):
        await week_html([{"start": "2030-06-03T08:00:00+00:00", "therapist": {**AMARA, "id": '"><script>'}}])
