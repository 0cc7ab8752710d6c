"""Filters from the query string: dates typed by staff, read in the site's time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo


def parse_day(value: str | None) -> date | None:
    """A ``YYYY-MM-DD`` date, or None when empty or not a date."""
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def day_range(
    since: date | None, until: date | None, tz: tzinfo
) -> tuple[datetime | None, datetime | None]:
    """From the start of ``since`` to the end of ``until`` (both inclusive), as aware times."""
    start = datetime.combine(since, time.min, tz) if since else None
    end = datetime.combine(until + timedelta(days=1), time.min, tz) if until else None
    return start, end


def choice(value: str | None, allowed: set[str] | tuple[str, ...] | list[str]) -> str | None:
    """``value`` if it is one of ``allowed``, else None (an unknown filter shows everything)."""
    return value if value in allowed else None


def page_number(value: str | None) -> int:
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1
