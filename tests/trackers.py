"""Builds the JSON trackers Rasa sends the action server, to call actions as Rasa would.

As in RasaHQ/financial-demo, an action test is: a tracker (JSON), the action, and what it said
and set. The dict below has the shape of the ``tracker`` field of Rasa's action request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

PROJECT = Path(__file__).resolve().parent.parent
DOMAIN: dict[str, Any] = yaml.safe_load((PROJECT / "domain.yml").read_text(encoding="utf-8"))
FIXTURES = Path(__file__).resolve().parent / "data"


def tracker_dict(
    sender: str = "patient-1",
    text: str = "",
    intent: str = "inform",
    slots: dict[str, Any] | None = None,
    active_loop: str | None = None,
    channel: str = "rest",
    set_slots: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A tracker whose latest message is ``text``; ``set_slots`` are SlotSet events after it,
    as the slot mappings would have filled them. A retrieval intent ("faq/safety") is given as
    the response selector gives it: the base intent, and the sub-intent it selected."""
    all_slots = {name: None for name in DOMAIN["slots"]}
    all_slots["attempts"] = 0.0
    all_slots.update(slots or {})
    all_slots.update(set_slots or {})
    message: dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": [],
    }
    base, _, sub = intent.partition("/")
    if sub:
        message["intent"] = {"name": base, "confidence": 1.0,
                             "full_retrieval_intent_name": intent}
        message["response_selector"] = {
            "all_retrieval_intents": [base],
            base: {"response": {"intent_response_key": intent, "confidence": 1.0,
                                "responses": None, "utter_action": f"utter_{intent}"},
                   "ranking": []},
        }
    events: list[dict[str, Any]] = [
        {"event": "action", "name": "action_session_start"},
        {"event": "user", "text": text, "parse_data": message, "input_channel": channel},
    ]
    events += [{"event": "slot", "name": k, "value": v} for k, v in (set_slots or {}).items()]
    return {
        "sender_id": sender,
        "slots": all_slots,
        "latest_message": message,
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": "action_listen",
    }


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


async def run(action: Action, state: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """Run an action on a tracker; (events it returned, messages it sent)."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, Tracker.from_dict(state), DOMAIN)
    return events, dispatcher.messages


def slot_events(events: list[dict]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)
