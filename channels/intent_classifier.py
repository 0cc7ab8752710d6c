"""The intent classifier: Rasa's logistic regression, for messages with no words too.

Rasa 3.6's ``LogisticRegressionClassifier`` builds one row of features per message and fails the
whole graph (``GraphComponentException``, the turn gets no reply) when a message has none: an
empty or blank text, which a WhatsApp image, a WeChat sticker or a fuzzed socket.io message
carries. DIET, which it replaced, gave such a message no intent. This subclass does the same:
the message gets no intent with confidence 0, so the FallbackClassifier after it reads it as
``nlu_fallback`` and the conversation asks again. Messages with words are classified by Rasa's
own code, unchanged.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntentClassifier(LogisticRegressionClassifier):
    """``LogisticRegressionClassifier`` that leaves a message without features unclassified."""

    def process(self, messages: list[Message]) -> list[Message]:
        with_words = []
        for message in messages:
            if message.get_sparse_features(attribute=TEXT)[1] is None:
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
            else:
                with_words.append(message)
        if with_words:
            super().process(with_words)
        return messages
