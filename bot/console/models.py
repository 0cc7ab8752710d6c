"""The staff console's own tables: staff accounts, their sessions, failed sign-ins, the audit log.

They share :data:`bot.models.Base`, so ``bot.db.init_db()`` creates them with the screening store.
None of them holds health data or a patient's contact details: the audit log names what was done
to which record, never what the record says.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, relationship

from bot.models import Base, utcnow


class Role:
    COORDINATOR = "coordinator"  # runs the queue; sees contact details
    MONITOR = "monitor"  # reviews; the same pages with contact details masked, read-only
    ALL = (COORDINATOR, MONITOR)


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = Column(String(255), nullable=False, unique=True)  # lower-cased
    name: Mapped[str] = Column(String(255), nullable=False)
    role: Mapped[str] = Column(String(16), nullable=False)
    password_hash: Mapped[str] = Column(String(255), nullable=False)  # argon2id, PHC string
    active: Mapped[bool] = Column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = Column(DateTime(timezone=True))

    @property
    def sees_contact_details(self) -> bool:
        return self.role == Role.COORDINATOR

    @property
    def can_change_leads(self) -> bool:
        return self.role == Role.COORDINATOR


class StaffSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored here, so
    signing out (or an idle timeout) ends the session for good, whatever the browser kept."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = Column(String(64), primary_key=True)
    staff_id: Mapped[int] = Column(
        Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_seen_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False, default=utcnow)

    staff: Mapped[StaffUser] = relationship("StaffUser")


class SignInThrottle(Base):
    """Failed sign-ins for one key ("account:<email>" or "ip:<address>"), kept in the database so
    that every console process sees the same count."""

    __tablename__ = "staff_sign_in_throttle"

    key: Mapped[str] = Column(String(300), primary_key=True)
    failures: Mapped[int] = Column(Integer, nullable=False, default=0)
    last_failure_at: Mapped[datetime] = Column(DateTime(timezone=True), nullable=False)
    locked_until: Mapped[datetime | None] = Column(DateTime(timezone=True))


class AuditEvent(Base):
    """Who did what, to which record, when: sign-ins, views of patient data, exports, changes."""

    __tablename__ = "audit_events"

    id: Mapped[int] = Column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = Column(
        DateTime(timezone=True), nullable=False, default=utcnow, index=True
    )
    actor: Mapped[str] = Column(String(255), nullable=False, index=True)  # staff email as typed
    role: Mapped[str | None] = Column(String(16))
    action: Mapped[str] = Column(String(32), nullable=False, index=True)
    target: Mapped[str | None] = Column(String(64))  # a lead or screening id
    detail: Mapped[str | None] = Column(Text)  # never contact details or health data
    ip: Mapped[str | None] = Column(String(64))
