"""The study team's morning: the queue opens on the day's work, sorts by any column, says how long
each lead has waited and which are overdue, counts each status; each lead has a summary and one
list of what the site must confirm (the transcript's); phones and emails are links; notes take
several lines; transcripts hide system payloads and name channels as people do; the audit trail
names what each entry is about, filters by who, what and when, and a monitor reads it masked."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.console.app import create_app
from bot.console.settings import ConsoleSettings
from bot.leads import assign, queue_as_dicts
from tests.console.support import (
    COORDINATOR,
    T0,
    add_lead,
    add_screening,
    post_form,
    sign_in,
)

NOW = datetime.now(timezone.utc)

ANSWERS = {
    "age": ("I'm 34", 34, "34 years"),
    "sex": ("woman", "female", "Female"),
    "lupus_meds": ("cellcept", ["mycophenolate"], "mycophenolate (CellCept)"),
    "steroid_dose": ("10mg pred", 10, "prednisone 10 mg a day"),
    "antibodies": ("not sure", None, "Not sure"),
}
VERDICTS = {
    "age_range": ("met", False),
    "inc1_sle_diagnosis": ("needs_confirmation", False),
    "inc3_serology": ("needs_confirmation", True),
    "inc4_sledai": ("needs_confirmation", False),
    "inc5_bilag": ("needs_confirmation", False),
    "inc6_pga": ("needs_confirmation", False),
    "exc12_viral_infections": ("needs_confirmation", False),
    "exc2_lupus_crisis": ("needs_confirmation", True),
    "exc1_other_autoimmune": ("met", False),
}
MARKED = [c for c, (v, _) in VERDICTS.items() if v == "needs_confirmation"]


def rows_of(page: str) -> list[str]:
    return re.findall(r'<tr id="lead-([0-9a-f]+)"', page)


def leads_of_a_morning() -> dict[str, str]:
    """A new lead from 3 days ago (overdue), one from today, one contacted and given to Cora,
    one contacted and given to nobody, one enrolled."""
    old = add_lead(add_screening("p-old", answers=ANSWERS, verdicts=VERDICTS,
                                 channel="socketio", started_at=NOW - timedelta(days=3)),
                   first="Ann", last="Zeller", phone="+14155550134", email="ann@example.com",
                   created_at=NOW - timedelta(days=3), to_confirm=["inc3_serology"])
    today = add_lead(add_screening("p-today", channel="telegram"), first="Bea", last="Adams",
                     email="bea@example.com", phone="+442079460958",
                     created_at=NOW - timedelta(hours=2))
    mine = add_lead(add_screening("p-mine"), first="Cy", last="Moss", status="contacted",
                    created_at=NOW - timedelta(days=5))
    assign(mine, COORDINATOR, actor=COORDINATOR)
    theirs = add_lead(add_screening("p-theirs"), first="Di", last="Baker", status="contacted",
                      created_at=NOW - timedelta(days=4))
    done = add_lead(add_screening("p-done"), first="Ed", last="Hall", status="enrolled",
                    created_at=NOW - timedelta(days=9))
    return {"old": old, "today": today, "mine": mine, "theirs": theirs, "done": done}


def test_the_queue_opens_on_new_leads_and_mine_with_counts_per_status(coordinator):
    ids = leads_of_a_morning()
    page = coordinator.get("/queue").get_data(as_text=True)
    assert rows_of(page) == [ids["today"], ids["old"], ids["mine"]]  # newest first
    assert "Today’s work" in page
    assert re.search(r'data-status="new"[^>]*>New: <strong>2</strong>', page)
    assert re.search(r'data-status="contacted"[^>]*>Contacted: <strong>2</strong>', page)
    assert re.search(r'data-status="enrolled"[^>]*>Enrolled: <strong>1</strong>', page)
    mine = coordinator.get("/queue?view=mine").get_data(as_text=True)
    assert rows_of(mine) == [ids["mine"]]
    every = coordinator.get("/queue?view=all").get_data(as_text=True)
    assert len(rows_of(every)) == 5


def test_columns_sort_both_ways_with_aria_sort_on_the_sorted_column(coordinator):
    ids = leads_of_a_morning()

    def shown(query: str) -> list[str]:
        return rows_of(coordinator.get(f"/queue?view=all&{query}").get_data(as_text=True))

    by_name = [ids[k] for k in ("today", "theirs", "done", "mine", "old")]  # Adams .. Zeller
    assert shown("sort=name") == by_name
    assert shown("sort=name&dir=desc") == by_name[::-1]
    assert shown("sort=received&dir=asc") == [ids[k] for k in
                                               ("done", "mine", "theirs", "old", "today")]
    by_status = shown("sort=status")  # by the stored status: contacted, enrolled, new
    assert set(by_status[:2]) == {ids["mine"], ids["theirs"]} and by_status[2] == ids["done"]
    page = coordinator.get("/queue?view=all&sort=name").get_data(as_text=True)
    name_header = re.search(r'<th scope="col" aria-sort="(\w+)"><a class="sort" href="([^"]+)"'
                            r' data-sort="name"', page)
    assert name_header.group(1) == "ascending"
    assert "dir=desc" in name_header.group(2)  # the link turns the order round
    assert re.search(r'aria-sort="none"><a class="sort" href="[^"]+" data-sort="received"', page)
    assert ", sort descending</span>" in page  # what the link does, for a screen reader


def test_days_waiting_and_overdue_past_the_sites_threshold(coordinator, database_url, settings):
    ids = leads_of_a_morning()
    page = coordinator.get("/queue?view=all").get_data(as_text=True)

    def row(key: str) -> str:
        return re.search(rf'<tr id="lead-{ids[key]}".*?</tr>', page, re.S).group(0)

    assert 'class="overdue"' in row("old") and "3 days waiting" in row("old")
    assert "overdue</span>" not in row("today") and "0 days waiting" in row("today")
    assert "overdue</span>" not in row("mine")  # contacted already: not overdue
    assert "more than 2 days is marked overdue" in page
    # Another site waits four days.
    lenient = create_app(ConsoleSettings(**{**settings.__dict__, "overdue_days": 4}))
    client = lenient.test_client()
    sign_in(client, COORDINATOR)
    page = client.get("/queue?view=all").get_data(as_text=True)
    assert "overdue</span>" not in page


def test_a_leads_summary_and_list_to_confirm_match_its_transcript_everywhere(coordinator):
    ids = leads_of_a_morning()
    lead_page = coordinator.get(f"/leads/{ids['old']}").get_data(as_text=True)
    summary = re.search(r'<section class="card" id="lead-summary".*?</section>', lead_page,
                        re.S).group(0)
    assert '<dd class="age">34 years</dd>' in summary
    assert '<dd class="sex">Female</dd>' in summary
    assert "mycophenolate (CellCept); prednisone 10 mg a day" in summary
    assert "Not sure" in summary  # the antibodies answer behind I3
    summary_list = re.findall(r'<li data-criterion="(\w+)"', summary)
    sid = re.search(r'href="/screenings/(\w+)"', lead_page).group(1)
    transcript = coordinator.get(f"/screenings/{sid}").get_data(as_text=True)
    marked = re.findall(r'<tbody class="criterion verdict-needs_confirmation" id="criterion-(\w+)"',
                        transcript)
    assert sorted(summary_list) == sorted(marked) == sorted(MARKED)  # seven, not one
    queue = coordinator.get("/queue").get_data(as_text=True)
    row = re.search(rf'<tr id="lead-{ids["old"]}".*?</tr>', queue, re.S).group(0)
    assert re.findall(r'<li data-criterion="(\w+)"', row) == summary_list
    assert row.count("for this patient") == 2  # I3 and E2, not the routine checks
    exported = coordinator.get("/queue.csv?view=all&sort=name&dir=desc").get_data(as_text=True)
    first = next(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
    assert first["to_confirm"].count(";") == len(MARKED) - 1
    assert (first["age"], first["sex"]) == ("34 years", "Female")
    printed = next(d for d in queue_as_dicts() if d["id"] == ids["old"])
    assert [c["criterion"] for c in printed["to_confirm"]] == summary_list


def test_phones_are_formatted_for_their_country_and_are_links(coordinator):
    ids = leads_of_a_morning()
    page = coordinator.get(f"/leads/{ids['today']}").get_data(as_text=True)
    assert '<a class="phone" href="tel:+442079460958">+44 20 7946 0958</a>' in page
    assert '<a class="email" href="mailto:bea@example.com">bea@example.com</a>' in page
    page = coordinator.get(f"/leads/{ids['old']}").get_data(as_text=True)
    assert '<a class="phone" href="tel:+14155550134">+1 415-555-0134</a>' in page


def test_a_monitor_gets_no_links_to_masked_contact_details(monitor):
    ids = leads_of_a_morning()
    page = monitor.get(f"/leads/{ids['today']}").get_data(as_text=True)
    assert "tel:" not in page and "mailto:" not in page and "bea@example.com" not in page


def test_a_note_takes_several_lines_and_is_shown_with_them_escaped(coordinator):
    ids = leads_of_a_morning()
    page = coordinator.get(f"/leads/{ids['today']}").get_data(as_text=True)
    assert f'<textarea id="note-{ids["today"]}" name="note" rows="3"' in page
    note = "Called at 9, no answer.\n<b>Try</b> again after 5\nVoicemail left"
    post_form(coordinator, f"/leads/{ids['today']}", f"/leads/{ids['today']}/notes",
              {"note": note})
    page = coordinator.get(f"/leads/{ids['today']}").get_data(as_text=True)
    assert ('<span class="note-text">Called at 9, no answer.\n&lt;b&gt;Try&lt;/b&gt; again '
            "after 5\nVoicemail left</span>") in page


def test_csv_times_carry_the_console_time_zone(coordinator, database_url, settings):
    lead = add_lead(add_screening("p-1"), created_at=T0)  # 09:00 UTC on 3 November 2025
    paris = create_app(ConsoleSettings(**{**settings.__dict__,
                                          "timezone": ZoneInfo("Europe/Paris")}))
    client = paris.test_client()
    sign_in(client, COORDINATOR)
    post_form(client, f"/leads/{lead}", f"/leads/{lead}/notes", {"note": "first call"})
    row = next(csv.DictReader(io.StringIO(
        client.get("/queue.csv?view=all").get_data(as_text=True).lstrip("\ufeff"))))
    assert row["received_at"] == "2025-11-03T10:00:00+01:00"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00 Cora Coordinator: first call",
                    row["notes"])


@pytest.mark.parametrize(("stored", "shown"), [
    ("socketio", "Web chat"), ("telegram", "Telegram"), ("twilio", "SMS"),
    ("whatsapp", "WhatsApp"), ("wechat", "WeChat"), ("rest", "API"),
])
def test_channels_are_named_as_people_know_them(coordinator, stored, shown):
    sid = add_screening(f"p-{stored}", channel=stored)
    add_lead(sid)
    page = coordinator.get(f"/screenings/{sid}").get_data(as_text=True)
    assert f'<dd class="channel">{shown}</dd>' in page
    assert f'<span class="small channel">{shown}</span>' in coordinator.get(
        "/queue").get_data(as_text=True)


def test_the_transcript_hides_system_payloads_and_shows_what_was_tapped(coordinator, tracker):
    sid = add_screening("conv-t")
    at = T0
    for who, text, buttons in [
        ("patient", '/greet{"trial_id": "NCT06675422", "language": "en"}', None),
        ("bot", "Hello! This is a pre-screening for the JY231 study.", None),
        ("bot", "Has a doctor told you that you have lupus?",
         [{"title": "Yes, I do", "payload": '/inform{"answer": "yes"}'}]),
        ("bot", "(You can also type your answer.)", None),
        ("patient", '/inform{"answer": "yes"}', None),
        ("patient", '/inform{"answer": "no"}', None),  # no button with it: the answer
        ("patient", "/session_start", None),
    ]:
        at += timedelta(seconds=10)
        tracker.say("conv-t", who, text, at, buttons)
    page = coordinator.get(f"/screenings/{sid}").get_data(as_text=True)
    chat = re.search(r'<ol class="chat" id="chat">.*?</ol>', page, re.S).group(0)
    assert "/greet" not in chat and "/inform" not in chat and "session_start" not in chat
    assert '<p class="text">Yes, I do</p>' in chat  # the button's title, as the patient saw it
    assert '<p class="text">no</p>' in chat
    assert chat.count("tapped a button") == 2


def test_the_audit_trail_names_the_patient_and_filters_by_who_what_and_when(coordinator):
    ids = leads_of_a_morning()
    coordinator.get(f"/leads/{ids['old']}")
    sid = re.search(r'href="/screenings/(\w+)"',
                    coordinator.get(f"/leads/{ids['old']}").get_data(as_text=True)).group(1)
    coordinator.get(f"/screenings/{sid}")
    page = coordinator.get("/audit").get_data(as_text=True)
    assert f'<a href="/leads/{ids["old"]}">Lead: Ann Zeller</a>' in page
    assert f'<a href="/screenings/{sid}">Screening: Ann Zeller · JY231</a>' in page
    by_name = coordinator.get("/audit?actor=cora&action=view_lead").get_data(as_text=True)
    table = by_name.split('<table id="audit">')[1]
    assert table.count("Lead: Ann Zeller") == 2 and "Viewed transcript" not in table
    assert "Nothing recorded" in coordinator.get("/audit?actor=nobody").get_data(as_text=True)
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    later = coordinator.get(f"/audit?since={tomorrow}").get_data(as_text=True)
    assert "Nothing recorded" in later


def test_a_monitor_reads_the_audit_trail_with_patients_masked(app, staff, coordinator, monitor):
    ids = leads_of_a_morning()
    coordinator.get(f"/leads/{ids['old']}")
    stranger = app.test_client()
    sign_in(stranger, "ann@example.com", password="wrong password entirely")
    coordinator.get("/queue.csv?q=ann%40example.com")
    response = monitor.get("/audit")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'<a href="/leads/{ids["old"]}">Lead: A. Z.</a>' in page
    assert "Ann Zeller" not in page and "ann@example.com" not in page
    assert "Failed sign-in" in page and "•••@•••" in page
    assert 'href="/audit"' in monitor.get("/queue").get_data(as_text=True)  # in the menu
