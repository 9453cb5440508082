"""How long a saved card Stripe refused to attach waits before the reconciler tries it again, and when it is given
up (services.payments.domain)."""

from __future__ import annotations

from datetime import timedelta

from services.payments.domain import ATTACH_FIRST_RETRY, ATTACH_TRIES, next_attach_try


def test_each_wait_is_twice_the_last_until_the_last_try_gives_up():
    waits = [next_attach_try(refusals) for refusals in range(1, ATTACH_TRIES + 1)]
    assert waits[:-1] == [ATTACH_FIRST_RETRY * 2**n for n in range(ATTACH_TRIES - 1)]
    assert waits[-1] is None, "given up after the last try"
    assert next_attach_try(ATTACH_TRIES + 3) is None


def test_all_the_tries_fit_in_a_working_day():
    waited = sum((next_attach_try(refusals) or timedelta() for refusals in range(1, ATTACH_TRIES)), timedelta())
    assert timedelta(hours=2) < waited < timedelta(hours=8)
