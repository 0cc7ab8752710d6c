"""Every screening, lead or not, and one screening's transcript beside its criteria."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from bot.console import trials
from bot.console.audit import Action
from bot.console.auth import audit_here, current, settings
from bot.console.formatting import SCREENING_STATUS
from bot.console.paging import count_rows, one_page, page_count
from bot.console.params import choice, day_range, page_number, parse_day
from bot.console.review import load_review
from bot.db import session_scope
from bot.funnel import known_values
from bot.models import AnswerRow, Lead, Screening, ScreeningStatus

bp = Blueprint("screenings", __name__)

PER_PAGE = 100


@bp.route("/screenings")
def screenings() -> ResponseReturnValue:
    args = request.args
    since, until = parse_day(args.get("since")), parse_day(args.get("until"))
    start, end = day_range(since, until, settings().timezone)
    page = page_number(args.get("page"))
    with session_scope() as db:
        trial_ids, channels = known_values(db)
        trial = choice(args.get("trial"), trial_ids)
        channel = choice(args.get("channel"), channels)
        status = choice(args.get("status"), tuple(SCREENING_STATUS))
        answered = (
            select(AnswerRow.screening_id, func.count().label("n"))
            .where(AnswerRow.superseded_at.is_(None))
            .group_by(AnswerRow.screening_id)
            .subquery()
        )
        query = (
            select(Screening, Lead.id, func.coalesce(answered.c.n, 0))
            .outerjoin(Lead, Lead.screening_id == Screening.id)
            .outerjoin(answered, answered.c.screening_id == Screening.id)
        )
        if trial:
            query = query.where(Screening.trial_id == trial)
        if channel:
            query = query.where(Screening.channel == channel)
        if status:
            query = query.where(Screening.status == status)
        if start:
            query = query.where(Screening.started_at >= start)
        if end:
            query = query.where(Screening.started_at < end)
        total = count_rows(db, query)
        rows = [
            {
                "screening": s,
                "trial_code": trials.trial_code(s.trial_id),
                "last_question": trials.question_text(s.trial_id, s.last_question_id)
                if s.last_question_id else "",
                "lead_id": lead_id,
                "answered": answered_count,
                # A contact-form lead's row (the study page's form): no question was asked and
                # there is no conversation, so neither answers nor a transcript to open.
                "pre_screened": s.status != ScreeningStatus.NOT_SCREENED,
            }
            for s, lead_id, answered_count in db.execute(
                one_page(query.order_by(Screening.started_at.desc(), Screening.id), page, PER_PAGE)
            ).all()
        ]
    form = {
        "trial": trial or "", "channel": channel or "", "status": status or "",
        "since": since.isoformat() if since else "", "until": until.isoformat() if until else "",
    }
    return render_template(
        "screenings.html",
        rows=rows,
        form=form,
        query={k: v for k, v in form.items() if v},
        trials=trials.trial_choices(trial_ids),
        channels=channels,
        statuses=SCREENING_STATUS,
        page=page,
        pages=page_count(total, PER_PAGE),
        total=total,
    )


@bp.route("/screenings/<screening_id>")
def transcript(screening_id: str) -> ResponseReturnValue:
    staff = current()
    with session_scope() as db:
        review = load_review(
            db, screening_id, staff.sees_contact_details, settings().tracker_store_url
        )
        if review is None:
            abort(404)
        audit_here(Action.VIEW_TRANSCRIPT, target=screening_id, db=db)
    return render_template("transcript.html", review=review)
