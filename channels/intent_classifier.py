"""The intent classifier: Rasa's logistic regression, for messages with no words too, and
without building features it does not read.

Rasa 3.6's ``LogisticRegressionClassifier`` builds one row of features per message and fails the
whole graph (``GraphComponentException``, the turn gets no reply) when a message has none: an
empty or blank text, which a WhatsApp image, a WeChat sticker or a fuzzed socket.io message
carries. DIET, which it replaced, gave such a message no intent. This subclass does the same:
the message gets no intent with confidence 0, so the FallbackClassifier after it reads it as
``nlu_fallback`` and the conversation asks again.

The row itself: Rasa's ``_create_X`` asks the message for its combined sparse features, which
copies and joins the sequence features too (a matrix per token, per featurizer; the char n-gram
one is the largest) only to keep the sentence row, then joins that with an empty dense matrix.
That was a fifth of a parse. Here the row is the same sentence features joined in the same order
(the message's, as Rasa joins them), without the sequence features: the same matrix, so the same
training and the same predictions. The classification is Rasa's own code, unchanged.
"""

from __future__ import annotations

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from scipy.sparse import csr_matrix, hstack, spmatrix, vstack


def has_words(message: Message) -> bool:
    """Whether the message's text has sparse sentence features (what Rasa's classifier needs)."""
    return any(f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE and f.is_sparse()
               for f in message.features)


def sentence_row(message: Message) -> spmatrix:
    """The message's sentence features of its text as one sparse row: the sparse featurizers'
    in the order they ran, then the dense ones', as Rasa's ``_create_X`` joins them."""
    sentence = [f for f in message.features
                if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE]
    sparse = [f.features for f in sentence if f.is_sparse()]
    dense = [f.features for f in sentence if f.is_dense()]
    parts = [hstack(sparse) if len(sparse) > 1 else sparse[0]]
    if dense:
        parts.append(csr_matrix(np.concatenate(dense, axis=-1)))
    return hstack(parts) if len(parts) > 1 else parts[0]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntentClassifier(LogisticRegressionClassifier):
    """``LogisticRegressionClassifier`` that leaves a message without features unclassified and
    builds only the sentence row it reads."""

    def _create_X(self, messages: list[Message]) -> csr_matrix:
        return vstack([sentence_row(m) for m in messages], format="csr")

    def process(self, messages: list[Message]) -> list[Message]:
        with_words = []
        for message in messages:
            if not has_words(message):
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
            else:
                with_words.append(message)
        if with_words:
            super().process(with_words)
        return messages
