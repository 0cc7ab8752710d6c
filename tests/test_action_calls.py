"""Rasa's action calls with the guard of ``channels/action_calls.py``: a dead action server and a
hung one get the patient a kind reply at once (not after Rasa's 300 s), and the turn ends by
listening. Rasa's own ``MessageProcessor._run_action`` and ``RemoteAction`` run for real; only
the model is left out (no prediction is needed to run one action)."""

from __future__ import annotations

import socket
import time

import pytest

pytest.importorskip("rasa")

from rasa.core.actions.action import RemoteAction  # noqa: E402
from rasa.core.channels.channel import CollectingOutputChannel  # noqa: E402
from rasa.core.policies.policy import PolicyPrediction  # noqa: E402
from rasa.core.processor import MessageProcessor  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402
from rasa.utils.endpoints import EndpointConfig  # noqa: E402

from bot.deploy.services import free_port  # noqa: E402
from bot.settings import PROJECT_ROOT  # noqa: E402
from channels import action_calls  # noqa: E402

SORRY = "something went wrong on our side"


@pytest.fixture(scope="module")
def domain() -> Domain:
    action_calls.install()
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))


def processor(domain: Domain) -> MessageProcessor:
    """A processor with the project's domain: all ``_run_action`` needs."""
    proc = MessageProcessor.__new__(MessageProcessor)
    proc.domain = domain
    return proc


def mid_screening(domain: Domain) -> DialogueStateTracker:
    tracker = DialogueStateTracker.from_events("patient-1", [
        ActionExecuted("action_listen"),
        UserUttered("yes", {"name": "affirm", "confidence": 1.0}),
        SlotSet("language", "en"),
    ], slots=domain.slots)
    return tracker


async def call(domain: Domain, url: str) -> tuple[bool, list[dict], DialogueStateTracker, float]:
    tracker = mid_screening(domain)
    output = CollectingOutputChannel()
    action = RemoteAction("action_screening_outcome", EndpointConfig(url))
    prediction = PolicyPrediction.for_action_name(domain, "action_screening_outcome")
    started = time.monotonic()
    carry_on = await processor(domain)._run_action(action, tracker, output, None, prediction)
    return carry_on, output.messages, tracker, time.monotonic() - started


async def test_a_dead_action_server_gets_the_patient_a_kind_reply_at_once(domain):
    carry_on, messages, tracker, took = await call(domain, f"http://127.0.0.1:{free_port()}/webhook")
    assert took < 2
    assert len(messages) == 1 and SORRY in messages[0]["text"]
    assert "Your earlier answers are kept" in messages[0]["text"]
    assert carry_on and tracker.followup_action == "action_listen"  # the turn ends, listening
    assert tracker.get_slot("language") == "en"  # what the tracker had is kept


async def test_a_hung_action_server_is_given_up_on_after_the_timeout(domain, monkeypatch):
    import rasa.core.actions.action as action_module

    monkeypatch.setattr(action_module, "DEFAULT_REQUEST_TIMEOUT", 1.0)
    with socket.socket() as hung:  # accepts connections, never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        port = hung.getsockname()[1]
        carry_on, messages, tracker, took = await call(domain, f"http://127.0.0.1:{port}/webhook")
    assert 0.9 < took < 3
    assert len(messages) == 1 and SORRY in messages[0]["text"]
    assert tracker.followup_action == "action_listen"


def test_the_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("ACTION_CALL_TIMEOUT", "4.5")
    assert action_calls.call_timeout() == 4.5
    monkeypatch.delenv("ACTION_CALL_TIMEOUT")
    assert action_calls.call_timeout() == 6.0


async def test_a_hung_server_fails_once_per_message_as_an_error_rasa_catches(domain, monkeypatch):
    """Slot extraction (a custom slot mapping's action) lets only RasaException through: a hung
    call must become one, and the message's later calls must not wait again."""
    import rasa.core.actions.action as action_module
    from rasa.shared.exceptions import RasaException

    monkeypatch.setattr(action_module, "DEFAULT_REQUEST_TIMEOUT", 1.0)
    token = action_calls._turn.set({})
    try:
        with socket.socket() as hung:
            hung.bind(("127.0.0.1", 0))
            hung.listen(8)
            url = f"http://127.0.0.1:{hung.getsockname()[1]}/webhook"
            # A first message (no language yet): one the guard does call the action for.
            tracker = DialogueStateTracker.from_events("patient-1", [
                ActionExecuted("action_listen"),
                UserUttered("hello", {"name": "greet", "confidence": 1.0}),
            ], slots=domain.slots)
            for expected_at_most in (3.0, 0.5):
                started = time.monotonic()
                with pytest.raises(RasaException):
                    await RemoteAction("action_detect_language", EndpointConfig(url)).run(
                        CollectingOutputChannel(), None, tracker, domain)
                assert time.monotonic() - started < expected_at_most
    finally:
        action_calls._turn.reset(token)


async def test_action_calls_reuse_one_connection_and_drop_it_before_the_server_would(
    monkeypatch,
):
    """Rasa opened a new session and connection per call; the kept-alive endpoint reuses one,
    and closes it itself when idle longer than KEEPALIVE_SECONDS (before Sanic's 5 s)."""
    import asyncio

    monkeypatch.setattr(action_calls, "KEEPALIVE_SECONDS", 0.3)
    action_calls.KeptAliveEndpoint._sessions.clear()
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), 0)
            await reader.readexactly(length)
            body = b'{"events": [], "responses": []}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    endpoint = action_calls.KeptAliveEndpoint.of(EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
    try:
        for _ in range(3):
            assert await endpoint.request(json={"next_action": "x"}, method="post") == {
                "events": [], "responses": []}
        assert connections == 1
        await asyncio.sleep(0.6)  # idle past the client's keep-alive: it closed the connection
        assert await endpoint.request(json={"next_action": "x"}, method="post")
        assert connections == 2
    finally:
        for session in action_calls.KeptAliveEndpoint._sessions.values():
            await session.close()
        action_calls.KeptAliveEndpoint._sessions.clear()
        server.close()
        await server.wait_closed()


def test_replies_are_checked_against_rasas_schema_without_checking_the_schema_each_time(
    domain, monkeypatch,
):
    """The schema is checked once, at install; a reply is still validated on every call, and a
    bad one raises the error Rasa's own validation raises."""
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for

    kind = validator_for(RemoteAction.action_response_format_spec())
    checks = 0
    real_check = kind.check_schema.__func__

    def counted(cls, schema):  # noqa: ANN001, ANN202
        nonlocal checks
        checks += 1
        return real_check(cls, schema)

    monkeypatch.setattr(kind, "check_schema", classmethod(counted))
    action = RemoteAction("action_ask_answer", None)
    good = {"events": [{"event": "slot", "name": "answer", "value": None}],
            "responses": [{"text": "Question 2"}]}
    for _ in range(3):
        assert action._validate_action_result(good) is True
    assert checks == 0
    for bad in ({"events": [{"event": "slot", "name": 3}]}, {"events": "none"},
                {"responses": [1]}, {"events": [{"event": "no such event"}]}):
        with pytest.raises(ValidationError, match="Failed to validate Action server response"):
            action._validate_action_result(bad)
    assert checks == 4  # a bad reply went through Rasa's jsonschema.validate
    assert action._validate_action_result(good) is True  # the kept validator still works


def test_call_bodies_are_the_same_json_whichever_encoder_writes_them():
    import json
    import math

    body = {"next_action": "validate_screening_form", "sender_id": "p/1",
            "tracker": {"events": [{"event": "user", "text": "我 46 岁 \u00e9 \"x\" </b>",
                                    "timestamp": 1764612345.123456789,
                                    "parse_data": {"intent": {"confidence": 0.9731234567}}}],
                        "slots": {"attempts": 0.0, "lead_submitted": None, "n": 3}}}
    assert json.loads(action_calls.dumps(body)) == body
    assert action_calls.dumps(body) == json.dumps(body, separators=(",", ":"))
    for odd in ({"metadata": {"n": 10 ** 30, "m": -(10 ** 30)}}, {"x": math.inf},
                {"text": "\ud800 \u2028 \x00"}, {1: "one", None: "none"}, {"t": (1, 2)}):
        assert json.loads(action_calls.dumps(odd)) == json.loads(json.dumps(odd))
    assert math.isnan(json.loads(action_calls.dumps({"x": math.nan}))["x"])
    # What neither can write fails as it did in Rasa (a TypeError from json.dumps).
    with pytest.raises(TypeError, match="not JSON serializable"):
        action_calls.dumps({"x": object()})
