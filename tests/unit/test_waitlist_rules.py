"""services/booking/waitlist_rules.py: what a person may ask for, whether a time suits them (the clinic's wall time,
across a clock change), who is offered first, and which free time they are offered."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.booking import tokens, waitlist_rules
from services.booking.availability import Slot, Timing
from services.booking.waitlist_rules import Offering, Waiting, Wish, WishInvalid

LONDON = ZoneInfo("Europe/London")
AMARA, TOM = uuid.UUID(int=1), uuid.UUID(int=2)
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def local(text: str) -> datetime:
    """A London wall time as an instant."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


@pytest.mark.parametrize(
    "wall, part",
    [
        (time(0, 0), "morning"),
        (time(11, 59), "morning"),
        (time(12, 0), "afternoon"),
        (time(16, 59), "afternoon"),
        (time(17, 0), "evening"),
        (time(23, 59), "evening"),
    ],
)
def test_the_times_of_day_split_at_noon_and_five(wall, part):
    assert waitlist_rules.time_of_day(wall) == part


def test_weekdays_are_0_to_6_each_once_kept_in_order():
    assert waitlist_rules.weekdays([4, 0]) == (0, 4)
    assert waitlist_rules.weekdays([]) == ()
    for bad in ([7], [-1], [1, 1], [True]):
        with pytest.raises(WishInvalid) as refused:
            waitlist_rules.weekdays(bad)
        assert refused.value.field == "weekdays"


def test_times_of_day_are_named_each_once_kept_in_the_days_order():
    assert waitlist_rules.times_of_day(["evening", "morning"]) == ("morning", "evening")
    for bad in (["night"], ["morning", "morning"], ["Morning"]):
        with pytest.raises(WishInvalid) as refused:
            waitlist_rules.times_of_day(bad)
        assert refused.value.field == "times_of_day"


def test_a_person_has_at_most_twenty_live_entries_at_a_clinic():
    assert waitlist_rules.may_join(19)
    assert not waitlist_rules.may_join(waitlist_rules.MAX_LIVE_ENTRIES_PER_EMAIL)


def test_nothing_chosen_suits_any_time_with_any_therapist():
    wish = Wish(None)
    assert wish.matches(AMARA, local("2026-12-07T09:00"), LONDON)
    assert wish.matches(TOM, local("2026-12-13T20:30"), LONDON)


def test_a_wish_names_the_therapist_the_weekdays_and_the_times_of_day():
    wish = Wish(AMARA, frozenset({0}), frozenset({"morning", "evening"}))  # Mondays, mornings or evenings
    assert wish.matches(AMARA, local("2026-12-07T09:00"), LONDON)  # a Monday morning
    assert wish.matches(AMARA, local("2026-12-07T17:00"), LONDON)
    assert not wish.matches(TOM, local("2026-12-07T09:00"), LONDON)  # another therapist
    assert not wish.matches(AMARA, local("2026-12-08T09:00"), LONDON)  # a Tuesday
    assert not wish.matches(AMARA, local("2026-12-07T12:00"), LONDON)  # the afternoon


def test_times_are_judged_on_the_clinics_wall_clock_across_a_clock_change():
    # 10:30 UTC in July is 11:30 in London (BST): a morning; 20:00 UTC on a Sunday is Monday morning in Sydney.
    summer = datetime(2026, 7, 6, 10, 30, tzinfo=timezone.utc)  # Monday 11:30 BST
    assert Wish(None, frozenset({0}), frozenset({"morning"})).matches(AMARA, summer, LONDON)
    late = datetime(2026, 7, 6, 16, 30, tzinfo=timezone.utc)  # 17:30 BST: the evening, though 16:30 in UTC
    assert Wish(None, times_of_day=frozenset({"evening"})).matches(AMARA, late, LONDON)
    assert not Wish(None, times_of_day=frozenset({"afternoon"})).matches(AMARA, late, LONDON)
    sunday_utc = datetime(2026, 12, 6, 20, 0, tzinfo=timezone.utc)  # Monday 07:00 in Sydney
    assert Wish(None, frozenset({0})).matches(AMARA, sunday_utc, ZoneInfo("Australia/Sydney"))
    assert not Wish(None, frozenset({0})).matches(AMARA, sunday_utc, LONDON)


def waiting(minutes: int, wish: Wish = Wish(None), offered=frozenset()) -> Waiting:
    return Waiting(uuid.uuid4(), T0 + timedelta(minutes=minutes), wish, offered)


def test_first_come_first_offered():
    first, second, third = waiting(0), waiting(5), waiting(10)
    assert waitlist_rules.in_queue_order([third, first, second]) == [first, second, third]
    # Joined at the same instant: the id decides, the same for every matcher.
    a, b = Waiting(uuid.UUID(int=5), T0, Wish(None)), Waiting(uuid.UUID(int=9), T0, Wish(None))
    assert waitlist_rules.in_queue_order([b, a]) == [a, b]


def slot(therapist: uuid.UUID, text: str, minutes: int = 60) -> Slot:
    start = local(text)
    return Slot(therapist, start, start + timedelta(minutes=minutes))


SLOTS = [
    slot(AMARA, "2026-12-07T09:00"),
    slot(TOM, "2026-12-07T09:00"),
    slot(AMARA, "2026-12-07T09:15"),
    slot(AMARA, "2026-12-07T10:15"),
    slot(AMARA, "2026-12-07T18:00"),
]


def test_an_entry_is_offered_the_earliest_free_time_that_suits_it():
    offering = Offering(SLOTS, Timing(60, buffer_after_minutes=15), LONDON)
    evenings = waiting(0, Wish(AMARA, times_of_day=frozenset({"evening"})))
    assert next(offering.candidates(evenings)) == SLOTS[4]
    assert next(offering.candidates(waiting(0, Wish(TOM)))) == SLOTS[1]
    assert next(offering.candidates(waiting(0))) == SLOTS[0]


def test_a_time_offered_is_gone_with_every_time_of_its_therapist_it_overlaps():
    offering = Offering(SLOTS, Timing(60, buffer_after_minutes=15), LONDON)
    offering.take(SLOTS[0])  # Amara 09:00-10:00, and her 15 minutes after: 09:15 overlaps, 10:15 does not
    assert list(offering.candidates(waiting(0, Wish(AMARA)))) == [SLOTS[3], SLOTS[4]]
    assert list(offering.candidates(waiting(0, Wish(TOM)))) == [SLOTS[1]]  # Tom's 09:00 is another's time


def test_a_time_offered_to_an_entry_before_is_never_offered_to_it_again():
    offering = Offering(SLOTS, Timing(60), LONDON)
    again = waiting(0, Wish(AMARA), frozenset({(AMARA, SLOTS[0].start)}))
    assert next(offering.candidates(again)) == SLOTS[2]
    # ...but it is offered to the next person.
    assert next(offering.candidates(waiting(5, Wish(AMARA)))) == SLOTS[0]


def test_a_wish_in_words():
    assert waitlist_rules.wish_in_words([], []) == "any day, any time"
    assert waitlist_rules.wish_in_words([4, 0], ["evening", "morning"]) == "Mondays or Fridays, mornings or evenings"


def test_link_tokens_name_one_thing_for_one_purpose():
    thing = uuid.uuid4()
    token = tokens.make_link_token("key", "waitlist-leave", thing)
    tokens.check_link_token("key", "waitlist-leave", token, thing)
    for key, purpose, given, who in (
        ("other key", "waitlist-leave", token, thing),
        ("key", "waitlist-offer", token, thing),
        ("key", "waitlist-leave", token, uuid.uuid4()),
        ("key", "waitlist-leave", "not base64 !", thing),
        ("key", "waitlist-leave", "", thing),
    ):
        with pytest.raises(tokens.TokenInvalid):
            tokens.check_link_token(key, purpose, given, who)


def test_an_ended_entry_is_forgotten_30_days_after_it_ended():
    now = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)
    assert waitlist_rules.ended_entries_forgotten_before(now) == now - timedelta(days=30)
    assert set(waitlist_rules.ENDED_STATUSES) == set(waitlist_rules.STATUSES) - set(waitlist_rules.LIVE_STATUSES)
