import uuid
from datetime import timezone

from shared.events import Event, dead_letter_key, stream_key


def test_envelope_round_trips_through_json():
    event = Event("booking.confirmed", {"booking_id": "b1"}, clinic_id="c1", request_id="r1")
    back = Event.from_json(event.to_json())
    assert back == event
    assert isinstance(back.id, uuid.UUID) and back.occurred_at.tzinfo == timezone.utc


def test_topic_is_the_part_before_the_dot():
    assert Event("booking.confirmed", {}).topic == "booking"
    assert Event("voucher.issued", {}).topic == "voucher"
    assert stream_key("p:", "booking") == "p:events:booking"
    assert dead_letter_key("p:", "booking") == "p:dead:booking"


def test_each_event_gets_its_own_id():
    assert Event("a.b", {}).id != Event("a.b", {}).id
