"""Protocol files: the real ones load, and a wrong one is refused with the place of the mistake."""

from __future__ import annotations

import copy

import pytest
import yaml

from bot.protocol import TRIALS_DIR, ProtocolError, all_protocols, parse_protocol


@pytest.fixture()
def raw():
    return yaml.safe_load((TRIALS_DIR / "NCT06675422.yml").read_text(encoding="utf-8"))


def test_every_trial_file_loads():
    protocols = all_protocols()
    assert "NCT06675422" in {p.id for p in protocols}


def test_the_lupus_trial_facts_come_from_the_listing(protocol):
    assert protocol.code == "JY231"
    assert protocol.phase == "Phase 1/2"
    assert protocol.is_recruiting
    assert protocol.site.name.startswith("920th Hospital")
    topics = {f.topic for f in protocol.faqs}
    assert {"what_is_trial", "why_take_part", "trial_length", "compensation", "safety"} <= topics


def test_every_question_has_plain_help_and_a_reason(protocol):
    for q in protocol.questions:
        assert q.text.get() and q.why.get() and q.help.get()
        assert len(q.text.get()) < 320, f"{q.id} is too long for a phone screen"


def test_a_duration_in_a_rule_is_read_with_its_unit(protocol):
    inc2 = protocol.criterion("inc2_background_treatment")
    durations = [p.value for p in inc2.not_met_if.parts if getattr(p, "question_id", "") ==
                 "treatment_duration"]
    assert durations == [56.0]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["criteria"][0]["not_met_if"]["any"][0].update(answer="height"),
         "'answer' must name a question"),
        (lambda r: r["questions"][0].update(type="essay"), "type must be one of"),
        (lambda r: r["criteria"][2].update(not_met_if={"answer": "diagnosis", "eq": "maybe"}),
         "compares with 'yes' or 'no'"),
        (lambda r: r["criteria"].append(copy.deepcopy(r["criteria"][0])), "used twice"),
        (lambda r: r["questions"].append({**r["questions"][0], "id": "orphan"}),
         "questions no criterion or follow-up reads"),
        (lambda r: r["criteria"][3]["not_met_if"]["any"][3].update(lt="soon"),
         "duration with its unit"),
        (lambda r: r.pop("site"), "missing 'site'"),
    ],
)
def test_a_wrong_protocol_is_refused_with_a_clear_message(raw, mutate, message):
    mutate(raw)
    with pytest.raises(ProtocolError, match=message):
        parse_protocol(raw)
