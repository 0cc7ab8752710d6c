"""FAQs are one retrieval intent: the topic Rasa's ResponseSelector chose is the one answered, from
the trial's file, and every trial topic has training examples in each of the trial's languages."""

from __future__ import annotations

from pathlib import Path

import yaml

from actions.conversation import ActionAnswerFaq, faq_topic
from bot.faq_topics import topic_problems, trained_topics
from bot.messages import msg
from bot.protocol import all_protocols, get_protocol
from tests.trackers import PROJECT, run, texts, tracker_dict


def test_the_topic_is_the_sub_intent_the_response_selector_chose():
    # The shape of Rasa 3.6's parse data for "do I get paid?" (processor.py adds the full name).
    message = {
        "intent": {"name": "faq", "confidence": 0.98,
                   "full_retrieval_intent_name": "faq/compensation"},
        "response_selector": {
            "all_retrieval_intents": ["faq"],
            "faq": {"response": {"intent_response_key": "faq/compensation"}, "ranking": []},
        },
    }
    assert faq_topic(message) == "compensation"
    # Without the intent's full name, the selection itself.
    del message["intent"]["full_retrieval_intent_name"]
    assert faq_topic(message) == "compensation"
    message["response_selector"]["default"] = message["response_selector"].pop("faq")
    assert faq_topic(message) == "compensation"


def test_no_topic_when_the_message_is_no_faq_or_none_was_selected():
    assert faq_topic({"intent": {"name": "ask_why"}}) is None
    assert faq_topic({"intent": {"name": "faq"}}) is None
    assert faq_topic({"intent": {"name": "faq", "full_retrieval_intent_name": "faq"}}) is None
    # Another retrieval intent's selection is not an FAQ topic.
    assert faq_topic({"intent": {"name": "faq"}, "response_selector": {
        "default": {"response": {"intent_response_key": "chitchat/ask_weather"}}}}) is None


async def test_each_selected_topic_is_answered_from_the_trial_in_the_patients_language():
    protocol = get_protocol(None)
    for faq in protocol.faqs:
        for language in protocol.languages:
            _, messages = await run(ActionAnswerFaq(), tracker_dict(
                "faq-patient", "?", f"faq/{faq.topic}", slots={"language": language}))
            assert texts(messages) == faq.answer.get(language)


async def test_an_faq_with_no_topic_the_trial_answers_says_so():
    _, messages = await run(ActionAnswerFaq(), tracker_dict("faq-patient", "?", "faq/parking"))
    assert "I don't have an answer to that" in texts(messages)
    _, messages = await run(ActionAnswerFaq(), tracker_dict(
        "faq-patient", "?", "faq/parking", slots={"language": "zh"}))
    assert texts(messages) == msg("faq_unknown", "zh") != msg("faq_unknown", "en")


def test_every_trial_topic_is_trained_in_each_of_its_languages():
    assert topic_problems(all_protocols()) == []


def test_a_topic_missing_in_a_language_is_a_problem(tmp_path: Path):
    nlu = tmp_path / "nlu"
    (nlu / "zh").mkdir(parents=True)
    (nlu / "faq.yml").write_text(yaml.safe_dump({"nlu": [
        {"intent": f"faq/{f.topic}", "examples": "- a question\n"}
        for f in get_protocol(None).faqs
    ]}), encoding="utf-8")
    (nlu / "zh" / "faq.yml").write_text(yaml.safe_dump({"nlu": [
        {"intent": "faq/compensation", "examples": "- 有补偿吗\n"}]}), encoding="utf-8")
    assert trained_topics(nlu)["zh"] == {"compensation"}
    problems = topic_problems(all_protocols(), nlu)
    assert problems and all(" in zh " in p for p in problems)
    assert not any("'compensation'" in p for p in problems)


def test_held_out_faq_lines_are_labelled_with_trained_sub_intents():
    trained = trained_topics()
    for name, language in (("heldout.yml", "en"), ("heldout_zh.yml", "zh")):
        data = yaml.safe_load((PROJECT / "tests" / "nlu" / name).read_text(encoding="utf-8"))
        intents = {block["intent"] for block in data["nlu"]}
        faq = {i for i in intents if i.startswith("faq")}
        assert faq == {f"faq/{t}" for t in trained[language]}, name


def _selector(tmp_path: Path):
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource

    from channels.response_selector import FaqTopicSelector

    return FaqTopicSelector.create(
        {**FaqTopicSelector.get_default_config(), "solver": "liblinear"},
        LocalModelStorage(tmp_path), Resource("faq_topics"),
        ExecutionContext(GraphSchema({}), "test"),
    )


def _featurised(column: int | None, **data: object):
    """A message whose text has one sparse sentence feature: a 1 in ``column`` of 4."""
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.training_data.message import Message
    from scipy.sparse import coo_matrix

    message = Message(data={"text": "words", **data})
    if column is not None:
        message.add_features(Features(coo_matrix(([1.0], ([0], [column])), shape=(1, 4)),
                                      "sentence", "text", "counts"))
    return message


def test_the_topic_selector_selects_for_faq_messages_only_as_rasa_reads_it(tmp_path: Path):
    from rasa.core.processor import MessageProcessor
    from rasa.shared.nlu.training_data.training_data import TrainingData

    selector = _selector(tmp_path)
    training = [_featurised(0, intent="faq", intent_response_key="faq/compensation"),
                _featurised(1, intent="faq", intent_response_key="faq/visits"),
                _featurised(2, intent="ask_why")]  # not an FAQ: no label of the selector
    selector.train(TrainingData(training))
    assert sorted(selector.clf.classes_) == ["faq/compensation", "faq/visits"]

    faq = _featurised(1, intent={"name": "faq", "confidence": 0.9})
    other = _featurised(1, intent={"name": "ask_why", "confidence": 0.9})
    blank = _featurised(None, intent={"name": "faq", "confidence": 0.0})
    selector.process([faq, other, blank])
    assert other.get("response_selector") is None and blank.get("response_selector") is None

    # What the processor gets from the graph: the output properties (the intent is the intent
    # classifier's, one of them in a real parse).
    parse_data = {**faq.as_dict(only_output_properties=True), "intent": faq.get("intent")}
    assert set(parse_data) == {"text", "intent", "response_selector"}
    selection = parse_data["response_selector"]
    assert selection["all_retrieval_intents"] == ["faq"]
    assert selection["faq"]["response"]["intent_response_key"] == "faq/visits"
    assert selection["faq"]["response"]["utter_action"] == "utter_faq/visits"
    ranking = selection["faq"]["ranking"]
    assert [r["intent_response_key"] for r in ranking] == ["faq/visits", "faq/compensation"]
    assert ranking[0]["confidence"] == selection["faq"]["response"]["confidence"] > 0.5
    # Rasa's processor copies the selection into the intent as it did from its ResponseSelector,
    # and the action answers that topic.
    MessageProcessor._update_full_retrieval_intent(None, parse_data)  # reads no attribute
    assert parse_data["intent"]["full_retrieval_intent_name"] == "faq/visits"
    assert faq_topic(parse_data) == "visits"


def test_the_topic_selector_survives_persist_and_load(tmp_path: Path):
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from channels.response_selector import FaqTopicSelector

    selector = _selector(tmp_path)
    selector.train(TrainingData([
        _featurised(0, intent="faq", intent_response_key="faq/compensation"),
        _featurised(1, intent="faq", intent_response_key="faq/visits")]))
    loaded = FaqTopicSelector.load(
        selector.config, LocalModelStorage(tmp_path), Resource("faq_topics"),
        ExecutionContext(GraphSchema({}), "test"))
    message = _featurised(0, intent={"name": "faq", "confidence": 0.9})
    loaded.process([message])
    assert message.get("response_selector")["faq"]["response"]["intent_response_key"] == (
        "faq/compensation")
