"""Bad input and unwanted callers on the real stack (the trained model, the action server, the
tracker store): over-long messages on REST and on the chat socket while another patient is
mid-screening, odd answers at the questions that used to crash on them, malformed requests, the
REST token, forged chat sessions and a page from another origin. Each test prints its figures.
"""

from __future__ import annotations

import json
import queue
import statistics
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
import socketio
from sqlalchemy import create_engine, text

from bot.messages import msg
from tests.e2e.conftest import Stack
from tests.e2e.test_rest_screenings import FREE_TEXT, is_read_back, last_question, said

pytestmark = pytest.mark.e2e

TOO_LONG = msg("message_too_long")
HUNDRED_KB = "I have had lupus for years and " * 3300  # about 100 KB


def timed_talk(stack: Stack, sender: str, message: str) -> tuple[list[dict], float]:
    started = time.monotonic()
    replies = stack.talk(sender, message)
    return replies, time.monotonic() - started


def to_question(stack: Stack, sender: str, wanted: str) -> list[dict]:
    """Greets, consents and answers as FREE_TEXT until the bot asks ``wanted``."""
    stack.talk(sender, "hi")
    replies = stack.talk(sender, "yes")
    for _ in range(60):
        if is_read_back(replies):
            replies = stack.talk(sender, "yes")
            continue
        asked = last_question(replies)
        if asked == wanted:
            return replies
        assert asked is not None, said(replies)
        replies = stack.talk(sender, FREE_TEXT[asked])
    pytest.fail(f"the bot never asked {wanted}")


class Tab:
    """The study page's widget, as a real socket.io client on Rasa's socket."""

    def __init__(self, stack: Stack, origin: str | None = None) -> None:
        origin = origin or f"http://127.0.0.1:{stack.site_port}"
        self.client = socketio.Client(reconnection=False,
                                      websocket_extra_options={"origin": origin})
        self.confirmed: queue.Queue = queue.Queue()
        self.uttered: queue.Queue = queue.Queue()
        self.client.on("session_confirm", self.confirmed.put)
        self.client.on("bot_uttered", self.uttered.put)
        self.client.connect(stack.rasa_url, socketio_path="/socket.io", transports=["websocket"],
                            wait_timeout=10)
        self.session: dict[str, Any] = {}

    def start(self, **request: Any) -> dict[str, Any]:
        self.client.emit("session_request", request)
        self.session = self.confirmed.get(timeout=10)
        return self.session

    def say(self, message: str, session_id: str | None = None) -> None:
        self.client.emit("user_uttered", {"message": message,
                                          "session_id": session_id or self.session["session_id"]})

    def replies(self, quiet: float = 1.5, timeout: float = 30) -> list[str]:
        """The bot's messages until it has been quiet for ``quiet`` seconds."""
        texts: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                texts.append(self.uttered.get(timeout=quiet if texts else timeout)["text"])
            except queue.Empty:
                break
        return texts

    def first_reply(self, timeout: float = 10) -> str:
        return self.uttered.get(timeout=timeout)["text"]

    def close(self) -> None:
        self.client.disconnect()


def test_over_long_messages_are_answered_at_once_and_the_patient_beside_them_is_not_slowed(
        stack: Stack):
    bystander = "guard-bystander"
    to_question(stack, bystander, "age")
    baseline = [timed_talk(stack, bystander, "what is a clinical trial?")[1] for _ in range(5)]

    flooder = "guard-flooder"
    replies = to_question(stack, flooder, "lupus_meds")
    tab = Tab(stack)
    tab.start()
    tab.say("/greet")
    tab.replies()

    rest_times: list[float] = []
    socket_times: list[float] = []
    stop = threading.Event()

    def flood_rest() -> None:
        while not stop.is_set():
            replies, elapsed = timed_talk(stack, flooder, HUNDRED_KB)
            assert [m.get("text") for m in replies] == [TOO_LONG]
            rest_times.append(elapsed)

    def flood_socket() -> None:
        while not stop.is_set():
            started = time.monotonic()
            tab.say(HUNDRED_KB)
            assert tab.first_reply() == TOO_LONG
            socket_times.append(time.monotonic() - started)

    threads = [threading.Thread(target=flood_rest), threading.Thread(target=flood_socket)]
    for thread in threads:
        thread.start()
    try:
        during = [timed_talk(stack, bystander, "what is a clinical trial?")[1] for _ in range(10)]
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    tab.close()

    print(f"\nbystander's turn without the flood: median {statistics.median(baseline):.3f} s, "
          f"max {max(baseline):.3f} s; during it: median {statistics.median(during):.3f} s, "
          f"max {max(during):.3f} s; 100 KB over REST: {len(rest_times)} answered, max "
          f"{max(rest_times):.3f} s; over socket.io: {len(socket_times)} answered, max "
          f"{max(socket_times):.3f} s")
    assert len(rest_times) >= 5 and len(socket_times) >= 5
    assert max(rest_times) < 2 and max(socket_times) < 2
    assert max(during) < 2
    assert statistics.median(during) < statistics.median(baseline) + 0.5

    # The flooder's question is still open, and a short answer to it is read as usual.
    replies = stack.talk(flooder, FREE_TEXT["lupus_meds"])
    assert last_question(replies) != "lupus_meds" or is_read_back(replies), said(replies)


@pytest.mark.parametrize("question", ["diagnosis", "lupus_meds"])
@pytest.mark.parametrize("answer", ["²", "①", "7" * 5000, "9" * 999])
def test_odd_answers_get_a_sensible_reply_within_two_seconds(stack: Stack, question, answer):
    sender = f"guard-odd-{question}-{ord(answer[0])}-{len(answer)}"
    to_question(stack, sender, question)
    replies, elapsed = timed_talk(stack, sender, answer)
    print(f"\n{answer[:8]!r} ({len(answer)} characters) at {question}: {elapsed:.3f} s")
    assert elapsed < 2
    assert said(replies).strip(), "no reply"
    assert last_question(replies) == question or is_read_back(replies) or (
        [m.get("text") for m in replies] == [TOO_LONG])
    replies = stack.talk(sender, FREE_TEXT[question])
    if is_read_back(replies):
        replies = stack.talk(sender, "yes")
    assert last_question(replies) not in (None, question), said(replies)


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_malformed_rest_requests_get_a_4xx_and_no_shared_conversation(stack: Stack):
    from tests.e2e.conftest import REST_TOKEN

    auth = {"Authorization": f"Bearer {REST_TOKEN}"}
    as_json = {"Content-Type": "application/json", **auth}
    cases = [
        (b"{", as_json), (b"[]", as_json), (b"null", as_json), (b"", as_json),
        (json.dumps({"message": "hi"}).encode(), as_json),
        (json.dumps({"sender": "", "message": "hi"}).encode(), as_json),
        (json.dumps({"sender": 1, "message": "hi"}).encode(), as_json),
        (json.dumps({"sender": "x", "message": None}).encode(), as_json),
        (json.dumps({"sender": "x", "message": "hi"}).encode(), {"Content-Type": "text/plain",
                                                                  **auth}),
        (json.dumps({"sender": "x", "message": "hi"}).encode(),
         {"Content-Type": "application/json"}),  # no token
    ]
    statuses = [post(stack.rest_url, body, headers) for body, headers in cases]
    print(f"\nmalformed REST requests: statuses {statuses}")
    assert all(400 <= s < 500 for s in statuses)
    engine = create_engine(stack.tracker_store_url)
    with engine.connect() as connection:
        defaults = connection.execute(
            text("SELECT count(*) FROM events WHERE sender_id = 'default'")).scalar()
    engine.dispose()
    assert defaults == 0


def test_a_forged_chat_session_is_refused_and_a_reload_with_its_token_carries_on(stack: Stack):
    patient = Tab(stack)
    issued = patient.start()
    patient.say("/greet")
    assert any("not a diagnosis" in t for t in patient.replies())
    patient.close()

    attacker = Tab(stack)
    stolen = attacker.start(session_id=issued["session_id"])  # the id without its token
    assert stolen["session_id"] != issued["session_id"]
    attacker.say("yes", session_id=issued["session_id"])  # naming the patient's session
    assert attacker.replies(quiet=1, timeout=3) == []
    attacker.close()

    reloaded = Tab(stack)
    assert reloaded.start(**issued) == issued
    reloaded.say("yes")
    texts = reloaded.replies()
    assert last_question([{"text": t} for t in texts]) == "diagnosis", texts
    reloaded.close()


def test_a_page_from_another_origin_cannot_open_the_chat_socket(stack: Stack):
    with pytest.raises(socketio.exceptions.ConnectionError):
        Tab(stack, origin="https://evil.example.com")
    preflight = urllib.request.Request(
        stack.rest_url, method="OPTIONS",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
    with urllib.request.urlopen(preflight, timeout=10) as response:
        assert response.headers.get("Access-Control-Allow-Origin") is None
        assert response.headers.get("Access-Control-Allow-Credentials") is None
