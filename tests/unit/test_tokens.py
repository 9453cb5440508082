import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.booking.tokens import TokenInvalid, check_token, make_token

KEY = "test-key"
NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)
BOOKING = uuid.uuid4()


def test_a_fresh_token_opens_its_booking():
    check_token(KEY, make_token(KEY, BOOKING, NOW + timedelta(days=1)), BOOKING, NOW)


@pytest.mark.parametrize(
    "token",
    [
        make_token(KEY, BOOKING, NOW - timedelta(seconds=1)),  # expired
        make_token(KEY, uuid.uuid4(), NOW + timedelta(days=1)),  # another booking's
        make_token("other-key", BOOKING, NOW + timedelta(days=1)),  # forged with another key
        str(BOOKING),
        "",
        "abc.def",
        "1.!!!",
    ],
    # Named, not shown: the tokens hold random ids, and every test process must collect the same names.
    ids=["expired", "another-booking", "another-key", "a-bare-id", "empty", "no-signature", "bad-characters"],
)
def test_bad_tokens_are_refused(token):
    with pytest.raises(TokenInvalid):
        check_token(KEY, token, BOOKING, NOW)


def test_extending_the_expiry_breaks_the_signature():
    token = make_token(KEY, BOOKING, NOW - timedelta(days=1))
    expires, mac = token.split(".")
    with pytest.raises(TokenInvalid):
        check_token(KEY, f"{int(expires) + 86400 * 30}.{mac}", BOOKING, NOW)


def test_token_does_not_contain_the_booking_id():
    assert str(BOOKING) not in make_token(KEY, BOOKING, NOW)
