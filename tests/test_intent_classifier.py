"""The intent classifier on a message with no words: no intent, never a failed turn."""

from __future__ import annotations

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message

from channels.intent_classifier import IntentClassifier


def test_a_message_without_words_gets_no_intent_for_the_fallback_to_read(tmp_path):
    classifier = IntentClassifier.create(
        {**IntentClassifier.get_default_config(), "solver": "liblinear"},
        LocalModelStorage(tmp_path),
        Resource("intent_classifier"),
        ExecutionContext(GraphSchema({}), "test"),
    )
    blank = Message(data={"text": "  "})  # no tokens, so no features: Rasa's classifier failed
    classifier.process([blank])
    assert blank.get("intent") == {"name": None, "confidence": 0.0}
    assert blank.get("intent_ranking") == []
