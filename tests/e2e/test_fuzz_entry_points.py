"""Fuzzing the entry points patients' messages come in by, on the real running servers.

Generated messages (any Unicode, lone surrogates, control characters, the parsers' own words,
replies over the length cap) go through the REST channel and through socket.io as the study
page's widget sends them, to conversations at every stage; generated malformed requests and
events go to both. Every message gets at least one reply (no silent turn), no request gets a
5xx, and neither server logs an error or an exception while it runs.

``FUZZ_E2E_EXAMPLES`` scales the runs (default 300 REST messages, 150 malformed REST requests,
120 socket.io messages, 60 malformed socket.io events): about a minute and a half here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.e2e import conftest as e2e
from tests.test_fuzz_answers import KNOWN_HARD, VOCAB

pytestmark = pytest.mark.e2e

SCALE = float(os.environ.get("FUZZ_E2E_EXAMPLES", "300")) / 300


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=max(10, int(examples * SCALE)), deadline=None, database=None,
        suppress_health_check=list(HealthCheck), derandomize=False,
    )


anything = st.characters(codec=None, exclude_categories=("Cs",))
words = st.lists(st.sampled_from(VOCAB), min_size=1, max_size=12).map(" ".join)
messages = st.one_of(
    words,
    words,
    st.text(anything, min_size=1, max_size=120),
    st.sampled_from(KNOWN_HARD),
    st.text(anything, min_size=900, max_size=2500),  # around and over the length cap
    st.sampled_from(["hi", "yes", "no", "stop", "start over", "why do you ask?",
                     '/inform{"answer": "yes"}', "/inform{", "/nlu_fallback", "/stop",
                     '/inform{"answer": "' + "x" * 500 + '"}']),
).filter(lambda m: m.strip() != "")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12,
)


# ---- watching the servers' logs ---------------------------------------------------------------


ERRORS = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|\"level\": \"(?:error|critical)\"|"
                    r"Exception occurred|exception while")


@pytest.fixture
def quiet_logs(stack) -> Iterator[None]:
    """The test fails if either server logs an error or an exception while it runs."""
    before = {p: p.stat().st_size for p in stack.log_dir.glob("*.log")}
    yield
    found = []
    for path in sorted(stack.log_dir.glob("*.log")):
        text = path.read_text(errors="replace")[before.get(path, 0):]
        found += [f"{path.name}: {line[:300]}" for line in text.splitlines() if ERRORS.search(line)]
    assert found == [], "\n".join(found[:20])


# ---- REST ----------------------------------------------------------------------------------------


def rest_headers() -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    token = getattr(e2e, "REST_TOKEN", None)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def rest_post(stack, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(stack.rest_url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read()


STAGES = ["greeting", "consent", "screening", "late"]


def primed(stack, stage: str, number: int) -> str:
    """A conversation id at ``stage``: new, at the consent question, or answering questions."""
    sender = f"fuzz-rest-{stage}-{number}"
    if stage != "greeting":
        stack.talk(sender, "hi")
    if stage in ("screening", "late"):
        stack.talk(sender, "yes")
    if stage == "late":
        for answer in ("yes", "prednisone and cellcept", "10 mg a day", "a year"):
            stack.talk(sender, answer)
    return sender


@pytest.fixture(scope="module")
def rest_senders(stack) -> dict[str, list[str]]:
    return {stage: [primed(stack, stage, n) for n in range(3)] for stage in STAGES}


def test_rest_answers_every_generated_message(stack, rest_senders, quiet_logs):
    seen = {"messages": 0, "over_cap": 0}

    @fuzz(300)
    @given(messages, st.sampled_from(STAGES), st.integers(0, 2))
    def send(text: str, stage: str, n: int) -> None:
        sender = rest_senders[stage][n]
        body = json.dumps({"sender": sender, "message": text}).encode()
        status, replies = rest_post(stack, body, rest_headers())
        assert status == 200, (status, replies)
        assert isinstance(replies, list) and replies, "a silent turn"
        assert any((r.get("text") or r.get("buttons")) for r in replies)
        seen["messages"] += 1
        seen["over_cap"] += len(text) > 1000

    send()
    assert seen["messages"] >= 10
    print(f"\nREST: {seen['messages']} generated messages, {seen['over_cap']} over the cap")


malformed_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {},
        optional={"sender": json_values, "message": json_values, "metadata": json_values,
                  "input_channel": json_values},
    ).map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"", b"{", b'{"sender": "x", "message": "hi"', b"[]", b"null", b'"hi"',
                     b'{"sender": "", "message": "hi"}', b'{"sender": "x", "message": ""}',
                     b'{"sender": "x", "message": 5}', b'{"sender": ["x"], "message": "hi"}',
                     b'{"sender": "x", "message": "hi", "metadata": []}',
                     b'{"sender": "x", "message": "' + b"9" * 5000 + b'"}',
                     b'{"sender": "x", "message": ' + b"9" * 5000 + b"}",
                     b'{"sender": "' + b"s" * 500 + b'", "message": "hi"}',
                     b'{"sender": "x\\u0000", "message": "hi"}', b"[" * 5000,
                     b'{"sender": "x", "message": "\\ud800"}']),
)
content_types = st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-"
                                 "urlencoded", "application/json; charset=latin-1",
                                 "multipart/form-data; boundary=x"])


def test_rest_refuses_malformed_requests_with_a_4xx_never_a_5xx(stack, quiet_logs):
    statuses: dict[int, int] = {}

    @fuzz(150)
    @given(malformed_bodies, content_types)
    def send(body: bytes, content_type: str) -> None:
        headers = {**rest_headers(), "Content-Type": content_type}
        if not content_type:
            del headers["Content-Type"]
        status, replies = rest_post(stack, body, headers)
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, (status, body[:200], replies)
        if status == 200:  # a well-formed request after all: answered
            assert isinstance(replies, list) and replies, "a silent turn"

    send()
    assert any(400 <= s < 500 for s in statuses), statuses
    print(f"\nREST malformed requests by status: {dict(sorted(statuses.items()))}")


# ---- socket.io -----------------------------------------------------------------------------------


class Widget:
    """A socket.io client speaking as the study page's widget, on its own event loop thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = socketio.AsyncClient(reconnection=False)
        self.confirmed: asyncio.Queue = asyncio.Queue()
        self.uttered: asyncio.Queue = asyncio.Queue()

        async def on_confirm(data: Any) -> None:
            await self.confirmed.put(data)

        async def on_uttered(data: Any) -> None:
            await self.uttered.put(data)

        self.client.on("session_confirm", on_confirm)
        self.client.on("bot_uttered", on_uttered)

    def run(self, coro: Any, timeout: float = 90) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def open(self) -> Widget:
        async def make_queues() -> None:  # queues belong to the client's loop
            self.confirmed, self.uttered = asyncio.Queue(), asyncio.Queue()

        self.run(make_queues())
        self.run(self.client.connect(self.url, socketio_path="/socket.io",
                                     transports=["polling"]))
        return self

    def close(self) -> None:
        try:
            # Engine.IO's close is sent as disconnect() sends it; the client's own long poll,
            # which only the server's ping (25-30 s) would end, is not waited for.
            self.run(self.client.eio.disconnect(abort=True), 10)
        except concurrent.futures.TimeoutError:
            pass
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def new_session(self, after: float = 0.0) -> str:
        """A session the server issues now; ``after`` s first lets earlier events settle."""

        async def request() -> dict[str, Any]:
            await asyncio.sleep(after)
            for queue in (self.uttered, self.confirmed):
                while not queue.empty():
                    queue.get_nowait()
            await self.client.emit("session_request", {"session_id": None})
            return await asyncio.wait_for(self.confirmed.get(), 10)

        return str(self.run(request())["session_id"])

    def say(self, session_id: str, text: str, settle: float = 0.0,
            until_options: bool = False) -> list[dict[str, Any]]:
        """Send ``text``; the replies: the first within 45 s, then any within ``settle`` s, up to
        the first with options when ``until_options`` (a turn that asks a question with buttons
        ends with it: the greeting's consent question), so the wait is not always ``settle``."""

        def options(reply: dict[str, Any]) -> bool:
            return bool(reply.get("quick_replies") or reply.get("buttons"))

        async def exchange() -> list[dict[str, Any]]:
            await self.client.emit("user_uttered", {"message": text, "session_id": session_id})
            replies = [await asyncio.wait_for(self.uttered.get(), 45)]
            while settle and not (until_options and options(replies[-1])):
                try:
                    replies.append(await asyncio.wait_for(self.uttered.get(), settle))
                except asyncio.TimeoutError:
                    break
            return replies

        return self.run(exchange())

    def emit_raw(self, event: str, data: Any) -> None:
        self.run(self.client.emit(event, data))


@pytest.fixture
def widget(stack) -> Iterator[Widget]:
    w = Widget(stack.rasa_url).open()
    try:
        yield w
    finally:
        w.close()


def test_socketio_answers_every_generated_message(widget, quiet_logs):
    counted = {"fresh": 0, "consenting": 0}
    silent: list[str] = []

    # Generated only, neither replayed nor shrunk: a reply that is late on a loaded machine
    # would make the replay disagree; every silent message is listed instead.
    @settings(fuzz(120), phases=[Phase.generate])
    @given(messages, st.booleans())
    def send(text: str, consenting: bool) -> None:
        session = widget.new_session()  # replies to an earlier session cannot be taken for these
        if consenting:
            widget.say(session, "hi", settle=1.0, until_options=True)
        try:
            replies = widget.say(session, text)
        except (concurrent.futures.TimeoutError, asyncio.TimeoutError):
            replies = []
        if not any(r.get("text") or r.get("quick_replies") or r.get("buttons") for r in replies):
            silent.append(text[:80])
        counted["consenting" if consenting else "fresh"] += 1

    send()
    print(f"\nsocket.io: {sum(counted.values())} generated messages ({counted})")
    assert silent == [], f"silent turns for {silent}"


def test_socketio_drops_malformed_events_without_an_error(stack, widget, quiet_logs):

    @fuzz(60)
    @given(st.sampled_from(["user_uttered", "session_request"]), json_values)
    def send(event: str, data: Any) -> None:
        widget.emit_raw(event, data)

    send()
    # The socket still works afterwards, for its own session.
    session = widget.new_session(after=2.0)
    assert widget.say(session, "hi")


# ---- gaps the fuzzing found, fixed: Rasa's own commands, and half a UTF-16 pair ------------


@pytest.mark.parametrize("command", ["/restart", "/session_start"])
def test_a_typed_rasa_command_gets_a_reply(stack, command):
    sender = f"fuzz-command-{command[1:]}"
    stack.talk(sender, "hi")
    assert stack.talk(sender, command), "a silent turn"


def test_a_lone_surrogate_in_an_answer_is_stored_and_answered(stack):
    sender = "fuzz-surrogate-1"
    stack.talk(sender, "hi")
    stack.talk(sender, "yes")
    before = {p: p.stat().st_size for p in stack.log_dir.glob("*.log")}
    body = b'{"sender": "fuzz-surrogate-1", "message": "yes \\ud800"}'
    status, replies = rest_post(stack, body, rest_headers())
    assert status == 200 and replies
    for path in stack.log_dir.glob("*.log"):
        new = path.read_text(errors="replace")[before.get(path, 0):]
        assert "Traceback" not in new, path.name
