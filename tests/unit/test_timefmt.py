"""timefmt.fresh_until: absurd upstream header values are clamped, never an OverflowError."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from feedsvc.timefmt import MAX_RETRY_AFTER, fresh_until

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_an_age_past_every_lifetime_is_stale_not_an_overflow() -> None:
    huge = "9" * 23  # found by the hostile upstream corpus: timedelta overflowed
    assert fresh_until({"Cache-Control": "max-age=600", "Age": huge}, NOW) is None


def test_a_fresh_response_keeps_its_remaining_lifetime() -> None:
    got = fresh_until({"Cache-Control": "max-age=600", "Age": "100"}, NOW)
    assert got == NOW + timedelta(seconds=500)


@given(max_age=st.text("0123456789", min_size=1, max_size=30),
       age=st.text("0123456789", min_size=0, max_size=30))  # fmt: skip
def test_any_digits_give_at_most_a_day(max_age: str, age: str) -> None:
    headers = {"Cache-Control": f"max-age={max_age}", "Age": age}
    got = fresh_until(headers, NOW)
    assert got is None or NOW < got <= NOW + timedelta(seconds=MAX_RETRY_AFTER)
