"""Slowing down password guessing: failed sign-ins counted per account and per IP address.

After ``threshold`` failures in a row a key is locked for a delay that doubles with each further
failure, up to ``MAX_LOCK``. While a key is locked, sign-ins are refused before the password is
even checked. The counts live in the database, so every console process enforces the same limits.
A success clears the account's count; an IP address's count fades after ``FORGET_AFTER``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from bot.console.models import SignInThrottle
from bot.models import utcnow

FIRST_LOCK = timedelta(seconds=30)
MAX_LOCK = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Limit:
    prefix: str
    threshold: int


ACCOUNT = Limit("account", 5)
# Higher than an account's: colleagues can share an address, and one person may mistype twice.
IP = Limit("ip", 20)


def keys(email: str, ip: str | None) -> list[tuple[Limit, str]]:
    found = [(ACCOUNT, f"account:{email.strip().lower()[:255]}")]
    if ip:
        found.append((IP, f"ip:{ip[:64]}"))
    return found


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def locked_for(session: Session, email: str, ip: str | None, now: datetime | None = None) -> int:
    """Seconds until a sign-in for this account from this address may be tried; 0 if now."""
    now = now or utcnow()
    wait = timedelta(0)
    for _limit, key in keys(email, ip):
        row = session.get(SignInThrottle, key)
        until = _aware(row.locked_until) if row else None
        if until and until > now:
            wait = max(wait, until - now)
    return int(wait.total_seconds() + 0.999)


def record_failure(
    session: Session, email: str, ip: str | None, now: datetime | None = None
) -> int:
    """Count one failure; the seconds the caller must now wait (0 if not locked yet)."""
    now = now or utcnow()
    for limit, key in keys(email, ip):
        row = session.get(SignInThrottle, key)
        if row is None:
            row = SignInThrottle(key=key, failures=0, last_failure_at=now)
            session.add(row)
        elif now - _aware(row.last_failure_at) > FORGET_AFTER:
            row.failures = 0
            row.locked_until = None
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= limit.threshold:
            delay = FIRST_LOCK * 2 ** min(row.failures - limit.threshold, 10)
            row.locked_until = now + min(delay, MAX_LOCK)
    session.flush()
    return locked_for(session, email, ip, now)


def record_success(session: Session, email: str) -> None:
    row = session.get(SignInThrottle, keys(email, None)[0][1])
    if row is not None:
        session.delete(row)
