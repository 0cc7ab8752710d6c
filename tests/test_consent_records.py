"""Each consent is its own, stored with its time, its words and the words' approved version;
nothing a patient gave in an earlier session is sent on without asking again."""

from __future__ import annotations

from sqlalchemy import select

from actions.contact import ActionSaveOptin, ActionSubmitLead
from actions.session import ActionSessionStart
from bot import consent
from bot.cli import main as cli
from bot.db import session_scope
from bot.messages import catalogue, languages
from bot.models import Lead, OptIn, Screening
from tests.test_actions import SENDER, may_qualify, start
from tests.trackers import run, texts, tracker_dict

DETAILS = {"first_name": "Maria", "last_name": "Garcia", "email": "maria@example.com",
           "phone": "+8613800138000", "other_language": "", "details_confirmed": "yes"}


def test_every_consent_in_every_language_has_an_approved_version():
    assert languages() == ["en", "zh"]
    assert consent.unregistered(languages()) == []
    # en-2/zh-2: the introduction in short messages (the words of en-1/zh-1, split).
    assert consent.wording("screening", "en", trial_code="JY231", trial_id="N").version == "en-2"
    assert consent.wording("screening", "zh", trial_code="JY231", trial_id="N").version == "zh-2"
    assert consent.wording("form_contact", "en", trial_code="JY231", trial_id="N",
                           site_name="S").version == "en-1"
    assert consent.wording("form_contact", "zh", trial_code="JY231", trial_id="N",
                           site_name="S").version == "zh-1"


def test_changed_words_without_a_new_version_fail_the_trial_check(monkeypatch, capsys):
    edited = {**catalogue("en"), "consent_ask": "May I ask you about your health and your job?"}
    monkeypatch.setattr(consent, "catalogue", lambda language: edited)
    assert consent.version("screening", "en") is None
    assert consent.version("contact", "en") == "en-1"  # other consents are untouched
    words = consent.wording("screening", "en", trial_code="JY231", trial_id="N")
    assert words.version == f"unregistered-{words.fingerprint}"  # recorded, never lost
    assert cli(["check-trials"]) == 1
    error = capsys.readouterr().err
    assert "consent words 'screening' in en changed" in error and words.fingerprint in error


async def test_the_screening_consent_keeps_its_words_version_and_time(database_url):
    await start()  # the greeting, then "yes" to the health questions
    with session_scope() as session:
        screening = session.execute(select(Screening)).scalar_one()
        assert screening.consent_version == "en-2" and screening.consented_at is not None
        assert "answer health questions for a pre-screen for JY231" in screening.consent_text


async def test_the_lead_and_the_opt_in_each_keep_their_own_consent(database_url):
    await may_qualify()
    await run(ActionSubmitLead(), tracker_dict(
        SENDER, "yes", set_slots={**DETAILS, "contact_consent": "yes"}))
    await run(ActionSaveOptin(), tracker_dict(
        SENDER, "yes", set_slots={"optin_email": "maria@example.com", "optin_consent": "yes"}))
    with session_scope() as session:
        lead = session.execute(select(Lead)).scalar_one()
        optin = session.execute(select(OptIn)).scalar_one()
        screening = session.execute(select(Screening)).scalar_one()
    assert (lead.consent_version, optin.consent_version) == ("en-1", "en-1")
    assert "who may contact them about the study" in lead.consent_text
    assert "unsubscribe" in optin.consent_text
    assert lead.consented_at > screening.consented_at


async def test_a_new_session_carries_over_the_trial_and_nothing_personal():
    state = tracker_dict(SENDER, "", slots={
        **DETAILS, "contact_consent": "yes", "optin_email": "maria@example.com",
        "optin_consent": "yes", "trial_id": "NCT06675422", "screening_outcome": "may_qualify"})
    events, _ = await run(ActionSessionStart(), state)
    assert [(e["event"], e.get("name")) for e in events] == [
        ("session_started", None), ("slot", "trial_id"), ("action", "action_listen")]
    assert (events[1]["name"], events[1]["value"]) == ("trial_id", "NCT06675422")


def _returning(slots: dict, user_text: str) -> dict:
    """A tracker where ``slots`` were given in an earlier session and are still set."""
    state = tracker_dict(SENDER, user_text, slots=slots)
    earlier = [{"event": "slot", "name": k, "value": v} for k, v in slots.items()]
    state["events"] = [*earlier, {"event": "action", "name": "action_session_start"},
                       {"event": "session_started"}, *state["events"]]
    return state


async def test_details_and_consent_from_an_earlier_session_are_asked_for_again(database_url):
    await may_qualify()
    events, messages = await run(ActionSubmitLead(), _returning(
        {**DETAILS, "contact_consent": "yes"}, "yes"))
    assert "I'll ask for your details and your agreement again" in texts(messages)
    assert ("followup", "contact_form") in [(e["event"], e.get("name")) for e in events]
    assert all(e.get("value") is None for e in events if e["event"] == "slot")
    with session_scope() as session:
        assert session.execute(select(Lead)).scalars().all() == []


async def test_an_opt_in_from_an_earlier_session_is_not_saved_without_asking(database_url):
    await start()
    events, _ = await run(ActionSaveOptin(), _returning(
        {"optin_email": "me@example.org", "optin_consent": "yes"}, "yes"))
    assert ("followup", "optin_form") in [(e["event"], e.get("name")) for e in events]
    with session_scope() as session:
        assert session.execute(select(OptIn)).scalars().all() == []
