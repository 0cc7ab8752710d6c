"""Staff see the language each patient was screened in, and a Chinese name family name first."""

from __future__ import annotations

from bot.db import session_scope
from bot.models import Screening
from tests.console.support import add_lead, add_screening


def chinese_screening(conversation_id: str) -> str:
    screening_id = add_screening(conversation_id, "may_qualify")
    with session_scope() as session:
        session.get(Screening, screening_id).language = "zh"
    return screening_id


def test_the_lead_page_shows_the_language_and_a_chinese_name_as_written(coordinator):
    lead = add_lead(chinese_screening("p-wang"), first="建华", last="王", email="wang@example.com")
    english = add_lead(add_screening("p-maria", "may_qualify"))
    page = coordinator.get(f"/leads/{lead}").get_data(as_text=True)
    assert '<dd class="language">Chinese (zh)</dd>' in page
    assert "<h1>王建华</h1>" in page
    page = coordinator.get(f"/leads/{english}").get_data(as_text=True)
    assert '<dd class="language">English (en)</dd>' in page and "<h1>Maria Garcia</h1>" in page


def test_the_screenings_page_has_a_language_column(coordinator):
    chinese_screening("p-wang")
    add_screening("p-maria", "not_eligible")
    page = coordinator.get("/screenings").get_data(as_text=True)
    assert '<th scope="col">Language</th>' in page
    assert page.count('<td class="language">Chinese (zh)</td>') == 1
    assert page.count('<td class="language">English (en)</td>') == 1
