"""The queue: who is waiting, why, what the site must confirm; filters, search, one-step changes
kept with who and when, CSV export, and a monitor who never sees a contact detail."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import select

from bot.console.audit import Action
from bot.console.models import AuditEvent
from bot.console.queue import PER_PAGE
from bot.db import session_scope
from bot.models import Lead, LeadEvent
from tests.console.support import COORDINATOR, T0, add_lead, add_screening, post_form

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.\w+")
PHONES = ("13800138000", "13900139000", "138 0013 9999", "0013")


def contact_details_in(body: str) -> list[str]:
    return EMAIL.findall(body) + [p for p in PHONES if p in body]


def two_leads() -> tuple[str, str]:
    maria = add_lead(
        add_screening("p-maria", "may_qualify_confirm"),
        to_confirm=["inc3_serology", "exc12_viral_infections"], other_language="Mandarin",
    )
    wei = add_lead(
        add_screening("p-wei", "may_qualify", channel="socketio",
                      started_at=T0 + timedelta(days=8)),
        first="Wei", last="Li", email="li.wei@example.com", phone="+8613900139000",
        status="contacted", created_at=T0 + timedelta(days=8),
    )
    return maria, wei


def rows_of(page: str) -> list[str]:
    return re.findall(r'<tr id="lead-([0-9a-f]+)"', page)


def audit_entries(action: str) -> list[AuditEvent]:
    with session_scope() as session:
        found = list(session.execute(
            select(AuditEvent).where(AuditEvent.action == action)).scalars())
        session.expunge_all()
        return found


def test_the_queue_shows_who_waits_with_trial_outcome_and_what_to_confirm(coordinator):
    maria, wei = two_leads()
    page = coordinator.get("/queue?view=all").get_data(as_text=True)
    assert rows_of(page) == [wei, maria]  # newest first
    assert "Maria Garcia" in page
    assert '<a class="email" href="mailto:maria.garcia@example.com">' in page
    assert '<a class="phone" href="tel:+8613800138000">+86 138 0013 8000</a>' in page
    assert "JY231" in page and "Web chat" in page and "socketio" not in page
    assert "May qualify, site to confirm" in page
    assert ">I3</abbr> have lupus antibodies" in page and ">E12</abbr>" in page
    assert "speaks Mandarin" in page
    assert 'data-status="contacted"' in page


def test_filters_by_status_trial_and_date_and_search_by_name_or_email(coordinator):
    maria, wei = two_leads()

    def shown(query: str) -> list[str]:
        return rows_of(coordinator.get(f"/queue?{query}").get_data(as_text=True))

    assert shown("status=new") == [maria]
    assert shown("status=contacted") == [wei]
    assert shown("view=all&trial=NCT06675422") == [wei, maria]
    assert shown("view=all&trial=NCT00000000") == []
    assert shown("view=all&since=2025-11-10") == [wei]
    assert shown("view=all&until=2025-11-03") == [maria]
    assert shown("q=garcia") == [maria]
    assert shown("q=maria+garcia") == [maria]
    assert shown("q=li.wei%40example") == [wei]
    assert shown("q=nobody") == []
    assert shown("view=all&status=bogus") == [wei, maria]  # an unknown filter: everything


def test_a_status_change_is_one_step_and_kept_with_who_and_when(coordinator):
    maria, _ = two_leads()
    response = post_form(coordinator, "/queue", f"/leads/{maria}/status",
                         {"status": "scheduled", "next": "/queue?status=new"})
    assert response.status_code == 302 and response.headers["Location"] == "/queue?status=new"
    page = coordinator.get("/queue").get_data(as_text=True)
    assert "Status changed from New to Scheduled." in page
    with session_scope() as session:
        assert session.get(Lead, maria).status == "scheduled"
        event = session.execute(select(LeadEvent).where(LeadEvent.lead_id == maria)).scalar_one()
        assert (event.actor, event.kind, event.old_value, event.new_value) == (
            COORDINATOR, "status", "new", "scheduled")
        assert event.at is not None
    [entry] = audit_entries(Action.SET_STATUS)
    assert (entry.actor, entry.target, entry.detail) == (COORDINATOR, maria, "new → scheduled")
    history = coordinator.get(f"/leads/{maria}").get_data(as_text=True)
    assert "Cora Coordinator" in history and "Status: New → Scheduled" in history


def test_after_a_change_staff_are_back_on_the_queue_as_they_filtered_it(coordinator):
    two_leads()
    page = coordinator.get("/queue?status=new&q=maria").get_data(as_text=True)
    forms = re.findall(r'name="next" value="([^"]*)"', page)
    assert forms and set(forms) == {"/queue?status=new&amp;q=maria"}


def test_a_note_is_added_in_one_step_and_shown_with_its_author(coordinator):
    maria, _ = two_leads()
    post_form(coordinator, "/queue", f"/leads/{maria}/notes",
              {"note": "Called, <b>voicemail</b>; try Tuesday", "next": "/queue"})
    page = coordinator.get("/queue").get_data(as_text=True)
    assert "Called, &lt;b&gt;voicemail&lt;/b&gt;; try Tuesday" in page
    assert "Cora Coordinator" in page
    [entry] = audit_entries(Action.ADD_NOTE)
    assert "voicemail" not in (entry.detail or "")  # the audit names the change, not the words
    empty = post_form(coordinator, "/queue", f"/leads/{maria}/notes", {"note": "  "})
    assert empty.status_code == 302
    assert "Write the note first." in coordinator.get("/queue").get_data(as_text=True)


def test_a_lead_can_be_given_to_a_coordinator(coordinator):
    maria, _ = two_leads()
    post_form(coordinator, f"/leads/{maria}", f"/leads/{maria}/assign",
              {"assignee": COORDINATOR})
    with session_scope() as session:
        assert session.get(Lead, maria).assigned_to == COORDINATOR
    queue = coordinator.get("/queue").get_data(as_text=True)
    row = queue[queue.index(f'id="lead-{maria}"'):]
    assert "Cora Coordinator" in row[: row.index("</tr>")]
    assert audit_entries(Action.ASSIGN)[0].detail == f"to {COORDINATOR}"
    refused = post_form(coordinator, f"/leads/{maria}", f"/leads/{maria}/assign",
                        {"assignee": "stranger@evil.example"})
    assert refused.status_code == 400


def test_the_lead_page_has_contact_consent_and_criteria_and_is_audited(coordinator):
    maria, _ = two_leads()
    page = coordinator.get(f"/leads/{maria}").get_data(as_text=True)
    assert "maria.garcia@example.com" in page and "You may contact me." in page
    assert "anti-dsDNA" in page  # the protocol's own wording for I3
    assert audit_entries(Action.VIEW_LEAD)[0].target == maria
    assert coordinator.get("/leads/nope").status_code == 404


def test_the_csv_export_has_the_filtered_queue_and_is_audited(coordinator):
    maria, wei = two_leads()
    response = coordinator.get("/queue.csv?status=new")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="queue-')
    assert response.headers["Cache-Control"].startswith("no-store")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["lead_id"] for r in rows] == [maria]
    row = rows[0]
    assert (row["first_name"], row["email"], row["phone"]) == (
        "Maria", "maria.garcia@example.com", "+86 138 0013 8000")
    assert row["status"] == "New" and row["trial_code"] == "JY231"
    assert row["to_confirm"].startswith("I3 have lupus antibodies")
    [entry] = audit_entries(Action.EXPORT_CSV)
    assert entry.detail == "1 lead(s); filters: status=new"


def test_a_long_queue_comes_in_pages_that_keep_the_filters_and_the_csv_has_every_lead(
    coordinator,
):
    leads = [
        add_lead(add_screening(f"p-{i}"), first=f"Pat{i}", created_at=T0 + timedelta(hours=i))
        for i in range(PER_PAGE + 3)
    ]
    newest_first = leads[::-1]
    first = coordinator.get("/queue?status=new").get_data(as_text=True)
    assert rows_of(first) == newest_first[:PER_PAGE]
    assert f"{PER_PAGE + 3} leads · page 1 of 2" in first
    assert 'href="/queue?page=2&amp;status=new"' in first
    second = coordinator.get("/queue?status=new&page=2").get_data(as_text=True)
    assert rows_of(second) == newest_first[PER_PAGE:]
    assert rows_of(coordinator.get("/queue?page=99").get_data(as_text=True)) == rows_of(second)
    exported = coordinator.get("/queue.csv?status=new").get_data(as_text=True).lstrip("\ufeff")
    assert len(list(csv.DictReader(io.StringIO(exported)))) == PER_PAGE + 3


def test_the_csv_cannot_carry_a_spreadsheet_formula(coordinator):
    add_lead(add_screening("p-x"), first='=HYPERLINK("http://evil.example","x")', last="@SUM(A1)")
    rows = list(csv.DictReader(io.StringIO(
        coordinator.get("/queue.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0]["first_name"].startswith("'=")
    assert rows[0]["last_name"] == "'@SUM(A1)"
    assert rows[0]["phone"] == "+86 138 0013 8000"  # a plain number is left as it is


def test_a_monitor_sees_the_queue_with_contact_details_masked_and_cannot_change_it(monitor):
    maria, wei = two_leads()
    with session_scope() as session:
        session.add(LeadEvent(lead_id=maria, actor=COORDINATOR, kind="note",
                              note="Her sister's number is 138 0013 9999, mail sis@example.org"))
    for path in ("/queue", f"/leads/{maria}", f"/leads/{wei}", "/queue.csv"):
        body = monitor.get(path).get_data(as_text=True)
        assert "Maria" in body or "Wei" in body  # names are shown; contact details are not
        assert contact_details_in(body) == [], path
    page = monitor.get("/queue").get_data(as_text=True)
    assert "•••@•••" in page and "Her sister" in page
    assert 'id="status-' not in page and "Add a note" not in page
    assert rows_of(monitor.get("/queue?q=maria.garcia").get_data(as_text=True)) == []
    assert rows_of(monitor.get("/queue?q=maria").get_data(as_text=True)) == [maria]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    refused = monitor.post(f"/leads/{maria}/status", data={"status": "enrolled",
                                                            "csrf_token": csrf})
    assert refused.status_code == 403
    with session_scope() as session:
        assert session.get(Lead, maria).status == "new"
    assert "masked" in audit_entries(Action.EXPORT_CSV)[0].detail


def test_a_monitor_reads_the_audit_trail(monitor):
    assert monitor.get("/audit").status_code == 200  # masked: see test_console_morning.py
