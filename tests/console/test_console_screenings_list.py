"""The console's Screenings list: a contact-form lead's row (the study page's form, channel
``site_form``, status ``not_screened``) reads as the queue marks it, "not pre-screened", with no
answer count and no link to a transcript there is none of; a chat's screening keeps both."""

from __future__ import annotations

import re
import uuid

from bot import leads
from bot.leads import ContactDetails
from tests.console.support import T0, add_screening


def _row(listing: str, screening_id: str) -> str:
    found = re.search(rf'<tr id="screening-{screening_id}">(.*?)</tr>', listing, re.S)
    assert found, listing
    return found.group(1)


def test_a_contact_form_lead_is_not_pre_screened_and_has_no_transcript_link(
    coordinator, tracker
) -> None:
    leads.create_form_lead(
        uuid.uuid4().hex, "NCT06675422",
        ContactDetails("Ana", "Lopez", "ana.lopez@example.com", "+8613800138002", None),
        "You may contact me.", "en", "en-1",
    )
    tracker.say("conv-chat", "patient", "hello", T0)
    chat = add_screening("conv-chat", "not_eligible", last_question_id="treatment_duration",
                         answers={"treatment_duration": ("about a month", 30, "30 days")})
    listing = coordinator.get("/screenings").get_data(as_text=True)
    form_ids = re.findall(r'<tr id="screening-([^"]+)">', listing)
    assert chat in form_ids and len(form_ids) == 2
    form_id = next(i for i in form_ids if i != chat)
    form_row = _row(listing, form_id)
    assert "data-not-prescreened" in form_row and "not pre-screened" in form_row
    assert "(contact form)" in form_row and "Contact form" in form_row  # the channel too
    assert "/screenings/" not in form_row and "Transcript" not in form_row
    assert not re.search(r"<td>\s*0\s*</td>", form_row)  # no "0 answers"
    assert "In the queue" in form_row  # the lead is there, to be called
    chat_row = _row(listing, chat)
    assert f'href="/screenings/{chat}"' in chat_row and "data-not-prescreened" not in chat_row
    assert re.search(r"<td>\s*1\s*</td>", chat_row)  # its one answer
