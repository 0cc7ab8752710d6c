"""Staff accounts: creating them, hashing and checking their passwords (argon2id)."""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console.models import Role, StaffSession, StaffUser
from bot.db import session_scope

MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()  # argon2id with the RFC 9106 low-memory profile
_dummy_hashes: dict[int, str] = {}


def _dummy_hash() -> str:
    """Checked when the email is unknown, so a wrong email costs as long as a wrong password."""
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash("an account that does not exist")
    return _dummy_hashes[key]


class AccountError(ValueError):
    """A staff account that cannot be created or changed as asked, with the reason."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password_rules(password: str, email: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if normalise_email(password) == normalise_email(email):
        raise AccountError("the password cannot be the email address")


def add_staff(email: str, name: str, role: str, password: str) -> StaffUser:
    email = normalise_email(email)
    if "@" not in email or len(email) > 255:
        raise AccountError("give the staff member's email address")
    if not name.strip():
        raise AccountError("give the staff member's name")
    if role not in Role.ALL:
        raise AccountError(f"the role is one of {', '.join(Role.ALL)}")
    check_password_rules(password, email)
    with session_scope() as session:
        if find_staff(session, email) is not None:
            raise AccountError(f"there is already an account for {email}")
        user = StaffUser(
            email=email, name=name.strip(), role=role, password_hash=_hasher.hash(password)
        )
        session.add(user)
        session.flush()
        session.expunge(user)
        return user


def set_active(email: str, active: bool) -> None:
    """Disable (or re-enable) an account; disabling also ends its sessions."""
    with session_scope() as session:
        user = find_staff(session, normalise_email(email))
        if user is None:
            raise AccountError(f"no account for {email}")
        user.active = active
        if not active:
            session.query(StaffSession).filter(StaffSession.staff_id == user.id).delete()


def set_password(email: str, password: str) -> None:
    """A new password for someone who forgot theirs; sessions signed in with the old one end."""
    with session_scope() as session:
        user = find_staff(session, normalise_email(email))
        if user is None:
            raise AccountError(f"no account for {email}")
        check_password_rules(password, user.email)
        user.password_hash = _hasher.hash(password)
        session.query(StaffSession).filter(StaffSession.staff_id == user.id).delete()


def list_staff() -> list[StaffUser]:
    with session_scope() as session:
        users = list(session.execute(select(StaffUser).order_by(StaffUser.email)).scalars())
        session.expunge_all()
        return users


def staff_names(session: Session) -> dict[str, str]:
    """Email to name, to show people by name (a monitor never sees an email address)."""
    return dict(session.execute(select(StaffUser.email, StaffUser.name)).all())


def find_staff(session: Session, email: str) -> StaffUser | None:
    return session.execute(
        select(StaffUser).where(func.lower(StaffUser.email) == normalise_email(email))
    ).scalar_one_or_none()


def verify_password(session: Session, email: str, password: str) -> StaffUser | None:
    """The active account if the password is right, else None. Upgrades an old hash in place."""
    user = find_staff(session, email)
    if user is None or not user.active:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_dummy_hash(), password)
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user
