"""Time formats: RFC 3339 out and in, HTTP dates, Retry-After. One of each."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo

from werkzeug.http import http_date as _werkzeug_http_date
from werkzeug.http import parse_date as _werkzeug_parse_date

# RFC 3339 §5.6 date-time (a "T" or, as §5.6 NOTE allows, a space between date and time)
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
MAX_RETRY_AFTER = 86400.0  # nobody may push our next attempt further than a day
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def rfc3339(when: datetime) -> str:
    """An aware datetime as RFC 3339 in UTC with a ``Z`` ("2026-01-11T01:30:00Z")."""
    if when.tzinfo is None:
        raise ValueError("timefmt: naive datetime")
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_time(when: datetime, zone: tzinfo) -> datetime:
    """An aware datetime as seen in ``zone`` (what a page shows); UTC where that overflows."""
    if when.tzinfo is None:
        raise ValueError("timefmt: naive datetime")
    try:
        return when.astimezone(zone)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by the offset
        return when.astimezone(UTC)


def rfc3339_or_none(when: datetime | None) -> str | None:
    return rfc3339(when) if when is not None else None


def parse_rfc3339(value: object, *, lenient: bool = False) -> datetime | None:
    """An aware UTC datetime from an RFC 3339 date-time, or None when it is not one.

    ``lenient`` also takes what ``datetime.fromisoformat`` reads (a date, no offset = UTC), for
    upstream documents that bend the rule.
    """
    if not isinstance(value, str):
        return None
    text = value.strip() if lenient else value
    if not lenient and not _RFC3339.fullmatch(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def http_date(when: datetime) -> str:
    """An IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 11 Jan 2026 01:30:00 GMT"."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _werkzeug_http_date(when.astimezone(UTC).replace(microsecond=0))


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP-date (IMF-fixdate, rfc850 or asctime) as aware UTC, or None when it is not one."""
    if not value:
        return None
    try:
        parsed = _werkzeug_parse_date(value.strip())
    except (OverflowError, ValueError):
        return None
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (RFC 9110 §10.2.3: delay-seconds or an
    HTTP-date), at least 0 and at most MAX_RETRY_AFTER; None when absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER) if len(value) < 16 else MAX_RETRY_AFTER
    when = parse_http_date(value)
    if when is None:
        return None
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)


def later(now: datetime, seconds: float) -> datetime:
    """``now`` plus ``seconds``, or the latest datetime Python holds when that overflows."""
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def fresh_until(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """RFC 9111 §4.2.1: max-age wins over Expires; Expires is taken relative to Date."""
    cache_control = headers.get("Cache-Control", "")
    if re.search(r"no-store|no-cache", cache_control, re.IGNORECASE):
        return None
    age_text = headers.get("Age", "")
    age = int(age_text[:16]) if age_text.isascii() and age_text.isdigit() else 0
    age = min(age, int(2 * MAX_RETRY_AFTER))  # older than any lifetime we keep: stale either way
    match = _MAX_AGE.search(cache_control)
    if match:  # an absurd max-age is clamped: nobody pushes our next poll past a day
        lifetime = timedelta(seconds=min(int(match.group(1)[:16]), MAX_RETRY_AFTER) - age)
    else:
        expires = parse_http_date(headers.get("Expires"))
        if expires is None:
            return None
        lifetime = expires - (parse_http_date(headers.get("Date")) or now)
    lifetime = min(lifetime, timedelta(seconds=MAX_RETRY_AFTER))
    return now + lifetime if lifetime > timedelta(0) else None
