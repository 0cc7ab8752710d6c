"""The FAQ topic: a logistic regression on the count vectors, run only on the FAQ messages.

Rasa 3.6's ``ResponseSelector`` (a DIET model in TensorFlow) picked the topic of a ``faq``
message (``faq/<topic>``). It cost three ways, for ten topics told apart on sparse counts:

* every parse ran its model, whatever the intent: about half of a parse's time (15 to 20 ms of
  28 to 38 ms per held-out message, per component with the model in process);
* its training (30 epochs) was most of ``rasa train``'s 47 to 55 s;
* its load builds the network by fitting one batch (tracing TensorFlow's training graph),
  then loads the weights and traces the prediction graph: seconds of every server start.

Its selection is read only when the message's intent is the retrieval intent: the processor
copies the selected sub-intent into the intent's ``full_retrieval_intent_name`` only then, and
so does ``rasa test``; ``action_answer_faq`` (``actions.conversation.faq_topic``) reads it for an
``faq`` message only; the policies read intents, never the selection; the action calls drop it
from the tracker they send. The intent is final when this component runs: the intent classifier
comes before it, and the FallbackClassifier after it can only turn an intent into
``nlu_fallback``, never into ``faq``.

So this component is the intent classifier's logistic regression (:mod:`channels.intent_classifier`,
scikit-learn, the same sentence count vectors), trained on the retrieval intent's examples with
their sub-intents as the labels, and run only on messages whose intent is that retrieval intent.
On the held-out FAQ lines it picks the same share of topics right as the ResponseSelector did
(English 120 of 120, Chinese 119 of 121; docs/benchmarks.md). It writes the selection where and
as Rasa's ResponseSelector does (``response_selector.<intent>.response.intent_response_key``,
its confidence, and the ranking), so Rasa's processor, ``rasa test`` and the action read it
unchanged. ``responses`` is empty: the answers are the trial file's, not domain responses, and
no ``utter_faq`` action runs.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RESPONSES_KEY,
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
    RESPONSE_SELECTOR_UTTER_ACTION_KEY,
)
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.utils.io import raise_warning
from rasa.utils.tensorflow.constants import RANKING_LENGTH
from scipy.sparse import csr_matrix

from channels.intent_classifier import IntentClassifier, has_words

RETRIEVAL_INTENT = "retrieval_intent"

# Rasa's recipe validator looks for its ResponseSelector class itself when the data has
# retrieval-intent examples, and would warn at every training that nothing trains on them.
# This component does.
warnings.filterwarnings(
    "ignore",
    message="You have defined training data with examples for training a response selector",
)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class FaqTopicSelector(IntentClassifier):
    """Selects the sub-intent of a retrieval intent's messages with a logistic regression."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**IntentClassifier.get_default_config(), RETRIEVAL_INTENT: "faq"}

    @property
    def retrieval_intent(self) -> str:
        return str(self.config[RETRIEVAL_INTENT])

    def _create_training_matrix(self, training_data: TrainingData) -> tuple[csr_matrix, list[str]]:
        examples = [
            e for e in training_data.intent_examples
            if e.get(INTENT) == self.retrieval_intent and e.get(INTENT_RESPONSE_KEY)
            and e.get(TEXT)
        ]
        if not examples:
            return csr_matrix((0, 0)), []
        return self._create_X(examples), [e.get(INTENT_RESPONSE_KEY) for e in examples]

    def train(self, training_data: TrainingData) -> Resource:
        labels = {e.get(INTENT_RESPONSE_KEY) for e in training_data.intent_examples
                  if e.get(INTENT) == self.retrieval_intent}
        if len(labels - {None}) < 2:  # scikit-learn cannot fit a single class
            raise_warning(f"{type(self).__name__}: fewer than two sub-intents of "
                          f"'{self.retrieval_intent}' to train on; it will select none.")
            return self._resource
        return super().train(training_data)

    def process(self, messages: list[Message]) -> list[Message]:
        chosen = [m for m in messages
                  if (m.get(INTENT) or {}).get(INTENT_NAME_KEY) == self.retrieval_intent
                  and has_words(m)]
        if not chosen or not hasattr(self.clf, "classes_"):  # nothing to select, or untrained
            return messages
        probabilities = self.clf.predict_proba(self._create_X(chosen))
        keys = [str(k) for k in self.clf.classes_]
        ranking_length = self.config[RANKING_LENGTH] or len(keys)
        for message, row in zip(chosen, probabilities, strict=True):
            order = np.argsort(-row, kind="stable")[:ranking_length]
            ranking = [{PREDICTED_CONFIDENCE_KEY: float(row[i]), INTENT_RESPONSE_KEY: keys[i]}
                       for i in order]
            top = ranking[0]
            selection = {
                RESPONSE_SELECTOR_PREDICTION_KEY: {
                    RESPONSE_SELECTOR_RESPONSES_KEY: [],
                    PREDICTED_CONFIDENCE_KEY: top[PREDICTED_CONFIDENCE_KEY],
                    INTENT_RESPONSE_KEY: top[INTENT_RESPONSE_KEY],
                    RESPONSE_SELECTOR_UTTER_ACTION_KEY: f"utter_{top[INTENT_RESPONSE_KEY]}",
                },
                RESPONSE_SELECTOR_RANKING_KEY: ranking,
            }
            properties = dict(message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {})
            retrieval_intents = list(properties.get(RESPONSE_SELECTOR_RETRIEVAL_INTENTS) or [])
            if self.retrieval_intent not in retrieval_intents:
                retrieval_intents.append(self.retrieval_intent)
            properties[RESPONSE_SELECTOR_RETRIEVAL_INTENTS] = retrieval_intents
            properties[self.retrieval_intent] = selection
            message.set(RESPONSE_SELECTOR_PROPERTY_NAME, properties, add_to_output=True)
        return messages
