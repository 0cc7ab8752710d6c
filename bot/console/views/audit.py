"""The audit trail: who signed in, viewed, exported and changed what, when, and about whom.

Coordinators and monitors read it (clinical monitors review it). For a monitor, the patient a
record is about is named by initials, and anything shaped like contact details is masked: the
email typed at a failed sign-in, a detail's words."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from bot.console import audit, masking
from bot.console.accounts import staff_names
from bot.console.auth import current, settings
from bot.console.params import choice, day_range, page_number, parse_day
from bot.db import session_scope

bp = Blueprint("audit", __name__)


@bp.route("/audit")
def audit_log() -> ResponseReturnValue:
    args = request.args
    since, until = parse_day(args.get("since")), parse_day(args.get("until"))
    start, end = day_range(since, until, settings().timezone)
    actor = args.get("actor", "").strip()[:100]
    action = choice(args.get("action"), tuple(audit.Action.LABELS))
    sees = current().sees_contact_details
    with session_scope() as db:
        names = staff_names(db)
        wanted = actor.lower()
        by_name = tuple(e for e, n in names.items() if wanted and wanted in n.lower())
        page = audit.search(db, actor or None, by_name, action, start, end,
                            page_number(args.get("page")))
        about = audit.records(db, page.events, sees)
        entries = [
            {
                "at": e.at,
                "name": names.get(e.actor),
                # A monitor sees staff by name alone, and no email at all.
                "actor": e.actor if sees else ("" if e.actor in names
                                               else masking.scrub(e.actor)),
                "role": e.role,
                "action": e.action,
                "record": about.get(e.target) if e.target else None,
                "target": e.target,
                "detail": (e.detail or "") if sees else masking.scrub(e.detail),
                "ip": e.ip,
            }
            for e in page.events
        ]
        db.expunge_all()
    form = {
        "actor": actor, "action": action or "",
        "since": since.isoformat() if since else "", "until": until.isoformat() if until else "",
    }
    return render_template(
        "audit.html",
        page=page,
        entries=entries,
        staff=sorted(names.items(), key=lambda item: item[1]),
        form=form,
        query={k: v for k, v in form.items() if v},
        actions=audit.Action.LABELS,
    )
