"""The recruitment funnel: how far patients get, by trial, channel and week, and where they stop.

A patient's screening counts once, at every stage it reached: started, consented to the health
questions, finished them, may qualify, left contact details, was contacted by the site, enrolled.
A screening the patient started over is left out (its successor counts). The drop-off is the
question a patient was at when they stopped (or went quiet for a day) or that ruled them out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Lead, LeadEvent, LeadStatus, Screening, ScreeningStatus, utcnow

STAGES: tuple[tuple[str, str], ...] = (
    ("started", "Started"),
    ("consented", "Consented"),
    ("finished", "Finished the questions"),
    ("may_qualify", "May qualify"),
    ("left_details", "Left contact details"),
    ("contacted", "Contacted by the site"),
    ("enrolled", "Enrolled"),
)
STAGE_IDS = tuple(s for s, _ in STAGES)

K = TypeVar("K", bound=Hashable)

# An open screening with no reply for this long is counted as left where it stood.
GONE_QUIET_AFTER = timedelta(hours=24)
_REACHED_CONTACT = (LeadStatus.CONTACTED, LeadStatus.SCHEDULED, LeadStatus.ENROLLED)


def _aware(value: datetime) -> datetime:
    """Stored times are UTC; SQLite returns them without a time zone."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Filters:
    trial_id: str | None = None
    channel: str | None = None
    since: datetime | None = None  # on the screening's start, inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class ScreeningFacts:
    """What the funnel needs to know about one screening."""

    trial_id: str
    channel: str
    started_at: datetime
    stages: frozenset[str]
    # Where the patient stopped or went quiet, or what ruled them out (a question id, or None
    # when it happened before the first question).
    left_at: str | None = None
    ruled_out_at: str | None = None
    left: bool = False
    ruled_out: bool = False
    declined: bool = False


def _facts(row: Screening, lead: Lead | None, contacted: bool, now: datetime) -> ScreeningFacts:
    status = row.status
    stages = {"started"}
    if row.consented_at is not None:
        stages.add("consented")
    if status in ScreeningStatus.FINISHED:
        stages.add("finished")
    if status in (ScreeningStatus.MAY_QUALIFY, ScreeningStatus.MAY_QUALIFY_CONFIRM):
        stages.add("may_qualify")
    if lead is not None:
        stages |= {"may_qualify", "finished", "left_details"}
        if contacted or lead.status in _REACHED_CONTACT:
            stages.add("contacted")
        if lead.status == LeadStatus.ENROLLED:
            stages.add("enrolled")
    gone_quiet = (
        status in ScreeningStatus.OPEN and now - _aware(row.updated_at) > GONE_QUIET_AFTER
    )
    left = status == ScreeningStatus.STOPPED or gone_quiet
    ruled_out = status == ScreeningStatus.NOT_ELIGIBLE
    return ScreeningFacts(
        trial_id=row.trial_id,
        channel=row.channel or "unknown",
        started_at=_aware(row.started_at),
        stages=frozenset(stages),
        left_at=row.last_question_id if left and row.consented_at is not None else None,
        ruled_out_at=row.last_question_id if ruled_out else None,
        left=left,
        ruled_out=ruled_out,
        declined=status == ScreeningStatus.DECLINED,
    )


def load_facts(
    session: Session, filters: Filters = Filters(), now: datetime | None = None
) -> list[ScreeningFacts]:
    now = now or utcnow()
    query = (
        select(Screening, Lead)
        .outerjoin(Lead, Lead.screening_id == Screening.id)
        # A lead from the study page's contact form was never screened: not in the funnel.
        .where(Screening.status.not_in((ScreeningStatus.RESTARTED,
                                        ScreeningStatus.NOT_SCREENED)))
    )
    if filters.trial_id:
        query = query.where(Screening.trial_id == filters.trial_id)
    if filters.channel:
        query = query.where(Screening.channel == filters.channel)
    if filters.since:
        query = query.where(Screening.started_at >= filters.since)
    if filters.until:
        query = query.where(Screening.started_at < filters.until)
    rows = session.execute(query).all()
    contacted = set(
        session.execute(
            select(LeadEvent.lead_id).where(
                LeadEvent.kind == "status", LeadEvent.new_value.in_(_REACHED_CONTACT)
            )
        ).scalars()
    )
    return [_facts(s, lead, lead is not None and lead.id in contacted, now) for s, lead in rows]


def stage_counts(facts: Iterable[ScreeningFacts]) -> dict[str, int]:
    counts = Counter(stage for f in facts for stage in f.stages)
    return {stage: counts.get(stage, 0) for stage in STAGE_IDS}


def counts_by(
    facts: Iterable[ScreeningFacts], key: Callable[[ScreeningFacts], K]
) -> dict[K, dict[str, int]]:
    groups: dict[K, list[ScreeningFacts]] = defaultdict(list)
    for f in facts:
        groups[key(f)].append(f)
    return {k: stage_counts(groups[k]) for k in sorted(groups, key=str)}


def week_of(moment: datetime, tz: tzinfo) -> date:
    """The Monday of the week ``moment`` falls in, in the site's time zone."""
    day = moment.astimezone(tz).date()
    return day - timedelta(days=day.weekday())


def by_week(facts: Iterable[ScreeningFacts], tz: tzinfo) -> dict[date, dict[str, int]]:
    """Counts per week, with empty weeks between the first and the last filled in."""
    weekly = counts_by(facts, lambda f: week_of(f.started_at, tz))
    if not weekly:
        return {}
    first, last = min(weekly), max(weekly)
    empty = dict.fromkeys(STAGE_IDS, 0)
    weeks: dict[date, dict[str, int]] = {}
    week = first
    while week <= last:
        weeks[week] = weekly.get(week, empty)
        week += timedelta(days=7)
    return weeks


@dataclass(frozen=True)
class DropOff:
    trial_id: str
    question_id: str | None  # None: before the first question
    left: int
    ruled_out: int

    @property
    def total(self) -> int:
        return self.left + self.ruled_out


def drop_offs(facts: Iterable[ScreeningFacts]) -> list[DropOff]:
    """Where consented screenings ended without a 'may qualify', most frequent first."""
    left: Counter[tuple[str, str | None]] = Counter()
    ruled_out: Counter[tuple[str, str | None]] = Counter()
    for f in facts:
        if f.ruled_out:
            ruled_out[f.trial_id, f.ruled_out_at] += 1
        elif f.left and "consented" in f.stages:
            left[f.trial_id, f.left_at] += 1
    found = [DropOff(t, q, left[t, q], ruled_out[t, q]) for t, q in set(left) | set(ruled_out)]
    return sorted(found, key=lambda d: (-d.total, -d.ruled_out, d.trial_id, d.question_id or ""))


@dataclass(frozen=True)
class Funnel:
    overall: dict[str, int]
    by_trial: dict[str, dict[str, int]]
    by_channel: dict[str, dict[str, int]]
    by_week: dict[date, dict[str, int]]
    drop_offs: list[DropOff]
    declined: int = 0  # did not agree to the health questions
    left_before_questions: int = 0  # agreed, or not, then stopped before the first question
    trials: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)


def funnel(
    session: Session, filters: Filters = Filters(), tz: tzinfo = timezone.utc,
    now: datetime | None = None,
) -> Funnel:
    facts = load_facts(session, filters, now)
    return Funnel(
        overall=stage_counts(facts),
        by_trial=counts_by(facts, lambda f: f.trial_id),
        by_channel=counts_by(facts, lambda f: f.channel),
        by_week=by_week(facts, tz),
        drop_offs=drop_offs(facts),
        declined=sum(1 for f in facts if f.declined),
        left_before_questions=sum(1 for f in facts if f.left and "consented" not in f.stages),
        trials=sorted({f.trial_id for f in facts}),
        channels=sorted({f.channel for f in facts}),
    )


def known_values(session: Session) -> tuple[list[str], list[str]]:
    """Every trial id and channel in the store, for the filters."""
    trials = session.execute(select(Screening.trial_id).distinct()).scalars()
    channels = session.execute(select(Screening.channel).distinct()).scalars()
    return sorted(set(trials)), sorted(set(channels))
