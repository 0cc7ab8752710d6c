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


def test_the_row_is_the_matrix_rasas_classifier_built_from_the_combined_features():
    import numpy as np
    from rasa.nlu.classifiers.logistic_regression_classifier import (
        LogisticRegressionClassifier,
    )
    from rasa.shared.nlu.training_data.features import Features
    from scipy.sparse import coo_matrix

    message = Message(data={"text": "two words"})
    for origin, width, columns in (("words", 3, [0, 2]), ("chars", 5, [1, 4])):
        # Each featurizer's sequence features (a row per token) and its sentence row.
        sequence = coo_matrix((np.ones(2), ([0, 1], columns)), shape=(2, width))
        sentence = coo_matrix((np.array([1.0, 2.0]), ([0, 0], columns)), shape=(1, width))
        message.add_features(Features(sequence, "sequence", "text", origin))
        message.add_features(Features(sentence, "sentence", "text", origin))
    ours = IntentClassifier._create_X(None, [message, message])  # reads no attribute
    rasas = LogisticRegressionClassifier._create_X(None, [message, message]).tocsr()
    assert ours.shape == rasas.shape == (2, 8)
    assert (ours != rasas).nnz == 0
    assert ours.toarray()[0].tolist() == [1, 0, 2, 0, 1, 0, 0, 2]
