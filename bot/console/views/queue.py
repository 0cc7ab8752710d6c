"""The queue page, its CSV export, one lead's page, and the changes staff make to a lead."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from bot import leads
from bot.console import trials
from bot.console.accounts import staff_names
from bot.console.audit import Action
from bot.console.auth import audit_here, coordinator_only, current, safe_next, settings
from bot.console.formatting import LEAD_STATUS
from bot.console.models import Role, StaffUser
from bot.console.params import choice, day_range, page_number, parse_day
from bot.console.queue import (
    Waiting,
    load_lead,
    load_queue,
    load_queue_page,
    person_shown,
    to_csv,
)
from bot.db import session_scope
from bot.leads import SORTS, QueueFilters, status_counts
from bot.models import Lead, LeadStatus

bp = Blueprint("queue", __name__)

MAX_NOTE = 2000


# The queue's views: what needs doing today (the default), the leads given to me, every lead.
VIEWS = {"todo": "To do", "mine": "Mine", "all": "All leads"}
# Columns a header link sorts by, and the way each sorts first (newest, A to Z).
SORT_FIRST_DESCENDING = {"received": True, "name": False, "status": False, "trial": False,
                         "assigned": False}


def _filters() -> tuple[QueueFilters, dict[str, str]]:
    """The queue filters from the query string, and the values to put back in the form.

    With no view chosen, the queue opens on the day's work: new leads and the open ones given to
    whoever is signed in. Choosing a status or searching looks through every lead.
    """
    args = request.args
    since, until = parse_day(args.get("since")), parse_day(args.get("until"))
    start, end = day_range(since, until, settings().timezone)
    search = args.get("q", "").strip()[:100]
    status = choice(args.get("status"), LeadStatus.ALL)
    view = choice(args.get("view"), tuple(VIEWS)) or ("all" if status or search else "todo")
    sort = choice(args.get("sort"), SORTS) or "received"
    direction = choice(args.get("dir"), ("asc", "desc"))
    descending = (direction == "desc") if direction else SORT_FIRST_DESCENDING[sort]
    me = current().email
    filters = QueueFilters(
        trial_id=args.get("trial") or None,
        status=status,
        since=start,
        until=end,
        search=search,
        todo_for=me if view == "todo" else None,
        assigned_to=me if view == "mine" else None,
        sort=sort,
        descending=descending,
    )
    form = {
        "view": view,
        "trial": filters.trial_id or "",
        "status": filters.status or "",
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
        "q": search,
        "sort": sort,
        "dir": "desc" if descending else "asc",
    }
    return filters, form


def _query(form: dict[str, str]) -> dict[str, str]:
    """The form's values for links (pages, sorting), leaving out those that are the default."""
    implied = "all" if form["status"] or form["q"] else "todo"
    default_dir = "desc" if SORT_FIRST_DESCENDING[form["sort"]] else "asc"
    return {
        k: v for k, v in form.items()
        if v and not (
            (k == "view" and v == implied)
            or (k == "sort" and v == "received" and form["dir"] == default_dir)
            or (k == "dir" and v == default_dir and form["sort"] == "received")
        )
    }


def _waiting() -> Waiting:
    return Waiting(overdue_days=settings().overdue_days)


@bp.route("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("queue.queue"))


@bp.route("/queue")
def queue() -> ResponseReturnValue:
    filters, form = _filters()
    staff = current()
    with session_scope() as db:
        page = load_queue_page(
            db, filters, staff.sees_contact_details, page_number(request.args.get("page")),
            waiting=_waiting(),
        )
        counts = status_counts(db, filters)
        stored_trials = list(db.execute(select(Lead.trial_id).distinct()).scalars())
    query = _query(form)
    return render_template(
        "queue.html",
        rows=page.rows,
        page=page,
        query=query,
        form=form,
        views=VIEWS,
        counts=counts,
        overdue_days=settings().overdue_days,
        trials=trials.trial_choices(stored_trials),
        statuses=LEAD_STATUS,
        sort_link=lambda column: _sort_link(column, form, query),
        here=request.full_path,
    )


def _sort_link(column: str, form: dict[str, str], query: dict[str, str]) -> dict[str, str]:
    """The header link for ``column``: its URL, the aria-sort of the column now, and what the
    link does, for a screen reader ("sort by name, A to Z")."""
    current_column = form["sort"] == column
    # A second click on the column sorted by turns its order round.
    descending = form["dir"] != "desc" if current_column else SORT_FIRST_DESCENDING[column]
    args = {k: v for k, v in query.items() if k not in ("sort", "dir", "page")}
    args.update(sort=column, dir="desc" if descending else "asc")
    state = "ascending" if form["dir"] == "asc" else "descending"
    if not current_column:
        state = "none"
    return {"url": url_for("queue.queue", **args), "aria_sort": state,
            "next": "descending" if descending else "ascending"}


@bp.route("/queue.csv")
def export_csv() -> ResponseReturnValue:
    filters, _ = _filters()
    staff = current()
    with session_scope() as db:
        rows = load_queue(db, filters, staff.sees_contact_details, _waiting())
        audit_here(
            Action.EXPORT_CSV,
            detail=f"{len(rows)} lead(s); filters: {filters.describe()}"
            + ("" if staff.sees_contact_details else "; contact details masked"),
            db=db,
        )
    body = "\ufeff" + to_csv(rows, settings().timezone)  # the BOM makes Excel read UTF-8
    stamp = datetime.now(settings().timezone).strftime("%Y%m%d-%H%M")
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="queue-{stamp}.csv"'},
    )


@bp.route("/leads/<lead_id>")
def lead(lead_id: str) -> ResponseReturnValue:
    staff = current()
    with session_scope() as db:
        row = load_lead(db, lead_id, staff.sees_contact_details, _waiting())
        if row is None:
            abort(404)
        record = db.get(Lead, lead_id)
        names = staff_names(db)

        def person(email: str | None) -> str | None:
            return person_shown(names, email, staff.sees_contact_details)

        history = [
            {
                "at": e.at,
                "by": person(e.actor),
                "kind": e.kind,
                "old": person(e.old_value) if e.kind == "assign" else e.old_value,
                "new": person(e.new_value) if e.kind == "assign" else e.new_value,
            }
            for e in reversed(record.events)
            if e.kind != "note"
        ]
        consent = {"at": record.consented_at, "text": record.consent_text}
        coordinators = list(
            db.execute(
                select(StaffUser.email, StaffUser.name)
                .where(StaffUser.role == Role.COORDINATOR, StaffUser.active.is_(True))
                .order_by(StaffUser.name)
            ).all()
        )
        audit_here(Action.VIEW_LEAD, target=lead_id, db=db)
    return render_template(
        "lead.html",
        lead=row,
        history=history,
        consent=consent,
        coordinators=coordinators,
        statuses=LEAD_STATUS,
        here=request.path,
    )


def _back(lead_id: str) -> ResponseReturnValue:
    return redirect(safe_next(request.form.get("next"), url_for("queue.lead", lead_id=lead_id)))


@bp.route("/leads/<lead_id>/status", methods=["POST"])
@coordinator_only
def set_status(lead_id: str) -> ResponseReturnValue:
    status = request.form.get("status", "")
    if status not in LeadStatus.ALL:
        abort(400)
    staff = current()
    with session_scope() as db:
        record = db.get(Lead, lead_id)
        if record is None:
            abort(404)
        old = record.status
    if old != status:
        leads.set_status(lead_id, status, actor=staff.email)
        audit_here(Action.SET_STATUS, target=lead_id, detail=f"{old} → {status}")
        flash(f"Status changed from {LEAD_STATUS[old]} to {LEAD_STATUS[status]}.", "success")
    return _back(lead_id)


@bp.route("/leads/<lead_id>/notes", methods=["POST"])
@coordinator_only
def add_note(lead_id: str) -> ResponseReturnValue:
    note = request.form.get("note", "").strip()
    if not note:
        flash("Write the note first.", "error")
        return _back(lead_id)
    if len(note) > MAX_NOTE:
        flash(f"A note can have up to {MAX_NOTE} characters.", "error")
        return _back(lead_id)
    try:
        leads.add_note(lead_id, note, actor=current().email)
    except LookupError:
        abort(404)
    audit_here(Action.ADD_NOTE, target=lead_id, detail=f"{len(note)} characters")
    flash("Note added.", "success")
    return _back(lead_id)


@bp.route("/leads/<lead_id>/assign", methods=["POST"])
@coordinator_only
def assign(lead_id: str) -> ResponseReturnValue:
    assignee = request.form.get("assignee", "").strip().lower() or None
    with session_scope() as db:
        if db.get(Lead, lead_id) is None:
            abort(404)
        names = staff_names(db)
    if assignee is not None and assignee not in names:
        abort(400)
    leads.assign(lead_id, assignee, actor=current().email)
    audit_here(Action.ASSIGN, target=lead_id, detail=f"to {assignee or 'nobody'}")
    flash(f"Assigned to {names[assignee]}." if assignee else "Unassigned.", "success")
    return _back(lead_id)
