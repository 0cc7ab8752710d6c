"""The audit trail, for coordinators: who signed in, viewed, exported and changed what, when."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from bot.console import audit
from bot.console.accounts import staff_names
from bot.console.auth import coordinator_only, settings
from bot.console.params import choice, day_range, page_number, parse_day
from bot.db import session_scope

bp = Blueprint("audit", __name__)


@bp.route("/audit")
@coordinator_only
def audit_log() -> ResponseReturnValue:
    args = request.args
    since, until = parse_day(args.get("since")), parse_day(args.get("until"))
    start, end = day_range(since, until, settings().timezone)
    actor = args.get("actor", "").strip()[:100]
    action = choice(args.get("action"), tuple(audit.Action.LABELS))
    with session_scope() as db:
        page = audit.search(db, actor or None, action, start, end, page_number(args.get("page")))
        names = staff_names(db)
        db.expunge_all()
    form = {
        "actor": actor, "action": action or "",
        "since": since.isoformat() if since else "", "until": until.isoformat() if until else "",
    }
    return render_template(
        "audit.html",
        page=page,
        names=names,
        form=form,
        query={k: v for k, v in form.items() if v},
        actions=audit.Action.LABELS,
    )
