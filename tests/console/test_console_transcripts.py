"""The transcript: the conversation from Rasa's tracker store as a chat with times, beside the
criteria with each answer as typed, as understood, and the verdict. Patient text stays text."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot import transcripts
from bot.console.audit import Action
from bot.console.models import AuditEvent
from bot.db import session_scope
from tests.console.support import T0, add_lead, add_screening

YES_NO = [{"title": "Yes", "payload": '/inform{"answer": "yes"}'},
          {"title": "No", "payload": '/inform{"answer": "no"}'},
          {"title": "Not sure", "payload": '/inform{"answer": "unsure"}'}]
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def chat(tracker, sender: str) -> None:
    at = T0
    for who, text, buttons in [
        ("patient", "hi", None),
        ("bot", "Hello! This is a pre-screening for the JY231 study.", None),
        ("bot", "Has a doctor told you that you have lupus?", YES_NO),
        ("patient", '/inform{"answer": "yes"}', None),
        ("bot", "How old are you?", None),
        ("patient", SCRIPT, None),
        ("bot", "Sorry, I didn't get that. How old are you?", None),
        ("patient", f"{IMG} thirty-four", None),
        ("bot", "Please check your details: Maria Garcia, maria.garcia@example.com, "
                "+86 138 0013 8000", None),
    ]:
        at += timedelta(seconds=20)
        tracker.say(sender, who, text, at, buttons)


def screening_with_answers(status: str = "may_qualify_confirm") -> str:
    return add_screening(
        "conv-1", status,
        answers={
            "diagnosis": ('/inform{"answer": "yes"}', "yes", "Yes"),
            "age": (f"{IMG} thirty-four", 34, "34 years"),
            "antibodies": ("I'm not sure", None, "Not sure"),
            "sex": ("I'm a woman", "female", "Female"),
        },
        verdicts={
            "age_range": ("met", False),
            "inc1_sle_diagnosis": ("needs_confirmation", False),
            "inc3_serology": ("needs_confirmation", True),
            "exc1_other_autoimmune": ("not_asked", False),
        },
    )


def test_the_reader_returns_the_conversation_in_order_with_taps_resolved(tracker):
    chat(tracker, "conv-1")
    tracker.say("someone-else", "patient", "not this one", T0)
    read = transcripts.read("conv-1", tracker.url)
    assert read.available
    assert [m.sender for m in read.messages[:4]] == ["patient", "bot", "bot", "patient"]
    assert read.messages[2].buttons == ("Yes", "No", "Not sure")
    assert read.messages[3].tapped == "Yes" and read.messages[3].intent == "inform"
    assert read.messages[5].text == SCRIPT and read.messages[5].tapped is None
    assert read.messages[0].at == T0 + timedelta(seconds=20)
    assert all(m.text != "not this one" for m in read.messages)


def test_a_missing_tracker_store_reads_as_unavailable(tmp_path):
    read = transcripts.read("conv-1", f"sqlite:///{tmp_path / 'nothing-here.db'}")
    assert read.messages == [] and not read.available
    assert not (tmp_path / "nothing-here.db").exists()  # read-only: nothing was created


def test_the_transcript_page_lays_out_the_chat_beside_the_criteria(coordinator, tracker):
    chat(tracker, "conv-1")
    screening = screening_with_answers()
    page = coordinator.get(f"/screenings/{screening}").get_data(as_text=True)
    assert 'class="msg msg-patient"' in page and 'class="msg msg-bot"' in page
    assert "09:00:20" in page  # each message with its time
    assert "tapped a button" in page
    # The criteria: question, the answer as typed, as understood, the verdict.
    i3 = page[page.index('id="criterion-inc3_serology"'):]
    i3 = i3[: i3.index("</tbody>")]
    assert "Has a blood test ever shown lupus antibodies" in i3
    assert "I&#39;m not sure" in i3 and "Not sure" in i3 and "Site to confirm" in i3
    assert "for this patient" in i3
    s1 = page[page.index('id="criterion-age_range"'):]
    assert "34 years" in s1[: s1.index("</tbody>")] and "Met" in s1[: s1.index("</tbody>")]
    i6 = page[page.index('id="criterion-inc6_pga"'):]
    assert "Checked by the site" in i6[: i6.index("</tbody>")]
    assert "Other answers" in page and "I&#39;m a woman" in page  # sex: read by no criterion


def test_html_and_script_typed_by_a_patient_are_shown_as_text(coordinator, tracker):
    chat(tracker, "conv-1")
    screening = screening_with_answers()
    page = coordinator.get(f"/screenings/{screening}").get_data(as_text=True)
    assert SCRIPT not in page and IMG not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert not re.search(r"<img|<script", page)  # no element, only text


def test_a_screening_that_is_not_a_lead_has_a_transcript_too(coordinator, tracker):
    tracker.say("conv-2", "patient", "hello", T0)
    screening = add_screening("conv-2", "not_eligible", last_question_id="treatment_duration",
                              answers={"treatment_duration": ("about a month", 30, "30 days")},
                              verdicts={"inc2_background_treatment": ("not_met", False)})
    page = coordinator.get(f"/screenings/{screening}").get_data(as_text=True)
    assert "Ruled out" in page and "Not in the queue" in page
    assert "How long have you been taking your steroid" in page
    assert "about a month" in page and "Not met" in page
    listing = coordinator.get("/screenings").get_data(as_text=True)
    assert f'id="screening-{screening}"' in listing


def test_reading_a_transcript_is_audited(coordinator, tracker):
    screening = screening_with_answers()
    coordinator.get(f"/screenings/{screening}")
    with session_scope() as session:
        entry = session.execute(
            select(AuditEvent).where(AuditEvent.action == Action.VIEW_TRANSCRIPT)
        ).scalar_one()
        assert entry.target == screening and entry.actor == "cora@site.example"


def test_a_monitor_reads_the_transcript_without_email_or_phone(monitor, tracker):
    chat(tracker, "conv-1")
    screening = screening_with_answers()
    add_lead(screening)
    page = monitor.get(f"/screenings/{screening}").get_data(as_text=True)
    assert "Please check your details: Maria Garcia" in page
    assert "maria.garcia@example.com" not in page and "0013" not in page
    assert "•••@•••" in page
    assert "&lt;script&gt;" in page  # masking leaves the rest of what was said as it was


def test_an_unknown_screening_is_not_found(coordinator):
    assert coordinator.get("/screenings/nope").status_code == 404


def test_without_a_tracker_store_the_page_says_so(coordinator, tracker, monkeypatch):
    screening = screening_with_answers()
    config = coordinator.application.config["CONSOLE"]
    monkeypatch.setitem(
        coordinator.application.config, "CONSOLE",
        type(config)(**{**config.__dict__, "tracker_store_url": "sqlite:////nonexistent/x.db"}),
    )
    page = coordinator.get(f"/screenings/{screening}").get_data(as_text=True)
    assert "The transcript store cannot be read" in page
