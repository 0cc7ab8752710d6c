"""What every channel refuses, caps and limits, seen from outside: Rasa's own HTTP server with
this project's connectors (tests/site/rasa_channels_server.py: everything but the model), the
credentials file ``make run`` writes, a real socket.io client and the Telegram and Twilio
stand-ins of tests/e2e. A message that reaches Rasa's agent comes back as ``turn: <n>``; one that
is answered by the connector never does.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from twilio.request_validator import RequestValidator

from bot.deploy.credentials import write_credentials
from bot.deploy.services import free_port, wait_for_http
from bot.messages import msg
from bot.settings import PROJECT_ROOT
from tests.e2e.conftest import (
    TELEGRAM_SECRET,
    TWILIO_TOKEN,
    Providers,
    StandIn,
    messaging_environment,
    telegram_routes,
    twilio_routes,
)
from tests.site.rasa_channels_server import TURN

SITE = "https://trial.example.org"
FOREIGN = "https://evil.example.com"
REST_TOKEN = "r" * 40
PER_SENDER = 8
PER_ADDRESS = 20
TOO_LONG = msg("message_too_long")
TOO_FAST = msg("messages_too_fast")
_addresses = iter(f"10.0.{a}.{b}" for a in range(256) for b in range(1, 255))


def new_address() -> str:
    """A client address of its own (through X-Forwarded-For), so limits do not add up."""
    return next(_addresses)


@dataclass
class Server:
    url: str
    providers: Providers
    twilio_webhook: str

    def rest(self, body: Any, *, token: str | None = REST_TOKEN, address: str | None = None,
             content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": content_type, "X-Forwarded-For": address or new_address(),
                **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return requests.post(f"{self.url}/webhooks/rest/webhook", data=data, headers=sent,
                             timeout=30)


def start_server(base: Path, env: dict[str, str], port: int | None = None
                 ) -> tuple[subprocess.Popen, int]:
    port = port or free_port()
    credentials = base / f"credentials-{port}.yml"
    write_credentials(credentials, env)
    process_env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "DOTENV_DISABLED": "1",
        "RASA_TELEMETRY_ENABLED": "false",
        "LOG_LEVEL_LIBRARIES": "ERROR",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MAX_MESSAGE_CHARS": "1000",
        "RATE_LIMIT_PER_SENDER": str(PER_SENDER),
        "RATE_LIMIT_PER_ADDRESS": str(PER_ADDRESS),
        "RATE_LIMIT_WINDOW_SECONDS": "600",
        "SANIC_PROXIES_COUNT": "1",  # the tests speak for many clients through X-Forwarded-For
        "SOCKETIO_SESSION_KEY": "k" * 40,
    }
    log = open(base / f"rasa-{port}.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.site.rasa_channels_server", "--credentials",
         str(credentials), "--port", str(port), "--cors", SITE],
        cwd=PROJECT_ROOT, env=process_env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", 120, process)
    except Exception:
        process.kill()
        raise
    return process, port


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("channels")
    telegram = StandIn("telegram-api", telegram_routes).start()
    twilio = StandIn("twilio-api", twilio_routes).start()
    providers = Providers(telegram, twilio)
    port = free_port()  # the Twilio webhook URL is signed, so it is known before the start
    twilio_webhook = f"http://127.0.0.1:{port}/webhooks/twilio/webhook"
    env = {
        **messaging_environment(providers, twilio_webhook),
        "REST_CHANNEL": "token",
        "REST_CHANNEL_TOKEN": REST_TOKEN,
        "SITE_ORIGIN": SITE,
    }
    process, actual = start_server(base, env, port)
    try:
        url = f"http://127.0.0.1:{actual}"
        yield Server(url, providers, url + "/webhooks/twilio/webhook")
    finally:
        stop_server(process)
        telegram.stop()
        twilio.stop()


def texts(response: requests.Response) -> list[str]:
    return [m.get("text", "") for m in response.json()]


# ---- REST ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1001, 20_000, 100_000])
def test_an_over_long_rest_message_is_answered_kindly_and_never_becomes_a_turn(server, size):
    sender = f"long-{size}"
    started = time.monotonic()
    reply = server.rest({"sender": sender, "message": "7" * size})
    elapsed = time.monotonic() - started
    assert reply.status_code == 200
    assert texts(reply) == [TOO_LONG]
    assert elapsed < 2
    assert texts(server.rest({"sender": sender, "message": "no"}))[0].startswith(TURN)


@pytest.mark.parametrize("text", ["x" * 1000, "²", "①", "9" * 999])
def test_a_message_within_the_cap_is_a_turn(server, text):
    assert texts(server.rest({"sender": f"short-{len(text)}-{ord(text[0])}", "message": text})
                 )[0].startswith(TURN)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"", 400),
        (b"null", 400),
        (b"[1, 2]", 400),
        (b'"hello"', 400),
        (b"12", 400),
        (b'{"sender": "a", "message": ' + b"9" * 5000 + b"}", 400),
        ({"message": "hi"}, 400),  # no sender: never the shared conversation "default"
        ({"sender": "", "message": "hi"}, 400),
        ({"sender": "   ", "message": "hi"}, 400),
        ({"sender": 42, "message": "hi"}, 400),
        ({"sender": ["a"], "message": "hi"}, 400),
        ({"sender": "x" * 129, "message": "hi"}, 400),
        ({"sender": "a\nb", "message": "hi"}, 400),
        ({"sender": "a"}, 400),
        ({"sender": "a", "message": ""}, 400),
        ({"sender": "a", "message": 5}, 400),
        ({"sender": "a", "message": {"text": "hi"}}, 400),
        ({"sender": "a", "message": "hi", "metadata": "x"}, 400),
    ],
)
def test_a_malformed_rest_request_gets_a_4xx(server, body, status):
    reply = server.rest(body)
    assert reply.status_code == status


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data", ""])
def test_a_rest_body_that_is_not_json_gets_415(server, content_type):
    body = b'{"sender": "ct", "message": "hi"}'
    assert server.rest(body, content_type=content_type).status_code == 415


def test_the_rest_channel_takes_only_requests_with_its_token(server):
    body = {"sender": "token-check", "message": "hi"}
    assert server.rest(body, token=None).status_code == 401
    assert server.rest(body, token="wrong").status_code == 401
    assert server.rest(body, token=REST_TOKEN[:-1]).status_code == 401
    assert server.rest(body, token=None, headers={"Authorization": REST_TOKEN}).status_code == 401
    assert texts(server.rest(body))[0].startswith(TURN)


def test_the_rest_channel_records_its_own_name_whatever_the_body_says(server):
    reply = server.rest({"sender": "claims", "message": "hi", "input_channel": "telegram"})
    assert reply.status_code == 200  # the channel name is checked in test_deploy_credentials


def test_a_rest_sender_over_its_rate_limit_gets_429_and_others_carry_on(server):
    address = new_address()
    for _ in range(PER_SENDER):
        assert server.rest({"sender": "flood", "message": "hi"}, address=address).ok
    refused = server.rest({"sender": "flood", "message": "hi"}, address=address)
    assert refused.status_code == 429
    assert texts(refused) == [TOO_FAST]
    assert int(refused.headers["Retry-After"]) >= 1
    assert server.rest({"sender": "flood", "message": "hi"}).status_code == 429  # any address
    assert texts(server.rest({"sender": "calm", "message": "hi"}, address=address)
                 )[0].startswith(TURN)


def test_a_rest_client_address_over_its_rate_limit_gets_429(server):
    address = new_address()
    for n in range(PER_ADDRESS):
        assert server.rest({"sender": f"addr-{n}", "message": "hi"}, address=address).ok
    assert server.rest({"sender": "addr-new", "message": "hi"}, address=address
                       ).status_code == 429
    assert server.rest({"sender": "addr-new", "message": "hi"}).ok  # another address


def test_the_rest_channel_can_be_off(tmp_path):
    process, port = start_server(tmp_path, {"REST_CHANNEL": "off", "SITE_ORIGIN": SITE})
    try:
        reply = requests.post(f"http://127.0.0.1:{port}/webhooks/rest/webhook",
                              json={"sender": "a", "message": "hi"}, timeout=10)
        assert reply.status_code == 404
    finally:
        stop_server(process)


# ---- CORS ----------------------------------------------------------------------------------------


def test_only_the_study_page_may_call_rasa_from_a_browser(server):
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    url = f"{server.url}/webhooks/rest/webhook"
    foreign = requests.options(url, headers={"Origin": FOREIGN, **preflight}, timeout=10)
    assert "Access-Control-Allow-Origin" not in foreign.headers
    assert "Access-Control-Allow-Credentials" not in foreign.headers
    site = requests.options(url, headers={"Origin": SITE, **preflight}, timeout=10)
    assert site.headers.get("Access-Control-Allow-Origin") == SITE
    reply = server.rest({"sender": "cors", "message": "hi"}, headers={"Origin": FOREIGN})
    assert "Access-Control-Allow-Origin" not in reply.headers


def test_a_browser_may_read_the_chat_socket_only_from_the_study_page(server):
    handshake = f"{server.url}/socket.io/?EIO=4&transport=polling"
    foreign = requests.get(handshake, headers={"Origin": FOREIGN}, timeout=10)
    assert "Access-Control-Allow-Origin" not in foreign.headers
    site = requests.get(handshake, headers={"Origin": SITE}, timeout=10)
    assert site.status_code == 200
    assert site.headers.get("Access-Control-Allow-Origin") == SITE  # once: browsers refuse two



# ---- socket.io -----------------------------------------------------------------------------------


class Browser:
    """One tab of the study page: a real socket.io client on Rasa's socket (WebSocket, as the
    widget ends up on; or long-polling, where it starts)."""

    def __init__(self, server: Server, address: str | None = None) -> None:
        self.server = server
        self.address = address or new_address()
        self.client = socketio.Client(reconnection=False)
        self.confirmed: queue.Queue = queue.Queue()
        self.uttered: queue.Queue = queue.Queue()

    def open(self, origin: str = SITE, transports: list[str] | None = None) -> Browser:
        transports = transports or ["websocket"]
        headers = {"X-Forwarded-For": self.address}
        if transports == ["websocket"]:  # websocket-client sends its own Origin header
            self.client = socketio.Client(reconnection=False,
                                          websocket_extra_options={"origin": origin})
        else:
            headers["Origin"] = origin
        # A refused connection hangs up at once: socketio's connect() disconnects with Engine.IO
        # waiting for its own long poll, which only the server's ping ends (30 s measured).
        self.client.eio.disconnect = functools.partial(self.client.eio.disconnect, abort=True)
        self.client.on("session_confirm", self.confirmed.put)
        self.client.on("bot_uttered", self.uttered.put)
        self.client.connect(self.server.url, socketio_path="/socket.io",
                            transports=transports, wait_timeout=5, headers=headers)
        return self

    def session(self, **request: Any) -> dict[str, Any]:
        self.client.emit("session_request", request)
        return self.confirmed.get(timeout=5)

    def say(self, data: Any) -> None:
        self.client.emit("user_uttered", data)

    def reply(self, timeout: float = 5) -> str | None:
        try:
            return self.uttered.get(timeout=timeout)["text"]
        except queue.Empty:
            return None

    def close(self) -> None:
        self.client.disconnect()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_page_from_another_origin_cannot_open_the_chat_socket(server, transport):
    with pytest.raises(socketio.exceptions.ConnectionError):
        Browser(server).open(FOREIGN, transports=[transport])
    tab = Browser(server).open(SITE, transports=[transport])
    assert tab.session()["session_id"]
    tab.client.eio.disconnect(abort=True)  # a long-poll would otherwise wait for its ping


def test_a_session_is_issued_with_a_token_and_a_reload_with_both_carries_on(server):
    tab = Browser(server).open()
    issued = tab.session()
    assert set(issued) == {"session_id", "session_token"}
    tab.say({"message": "hello", "session_id": issued["session_id"]})
    assert tab.reply().startswith(TURN)
    tab.close()

    reloaded = Browser(server).open()
    again = reloaded.session(**issued)
    assert again == issued
    reloaded.say({"message": "yes", "session_id": issued["session_id"]})
    assert reloaded.reply().startswith(TURN)
    reloaded.close()


def test_a_forged_or_guessed_session_id_gets_a_new_session(server):
    tab = Browser(server).open()
    victim = tab.session()
    tab.close()
    attempts = [
        {"session_id": victim["session_id"]},  # the id without its token
        {"session_id": victim["session_id"], "session_token": "0" * 64},
        {"session_id": victim["session_id"], "session_token": victim["session_token"][:-1]},
        {"session_id": "0" * 32, "session_token": victim["session_token"]},
        {"session_id": "+8613800138000"},  # another channel's conversation
        {"session_id": "default"},
    ]
    attacker = Browser(server).open()
    for attempt in attempts:
        given = attacker.session(**attempt)
        assert given["session_id"] != victim["session_id"]
        assert given["session_id"] != attempt["session_id"]
    attacker.close()


def test_a_message_naming_another_session_or_sent_before_one_is_dropped(server):
    victim_tab = Browser(server).open()
    victim = victim_tab.session()
    attacker = Browser(server).open()
    attacker.say({"message": "hello", "session_id": victim["session_id"]})  # no session yet
    own = attacker.session()
    attacker.say({"message": "hello", "session_id": victim["session_id"]})
    assert attacker.reply(1) is None
    assert victim_tab.reply(0.2) is None
    attacker.say({"message": "hello", "session_id": own["session_id"]})
    assert attacker.reply().startswith(TURN)
    attacker.close()
    victim_tab.close()


def test_socket_io_data_that_is_not_a_message_is_dropped_and_the_chat_carries_on(server):
    tab = Browser(server).open()
    tab.client.emit("session_request", "not an object")
    issued = tab.confirmed.get(timeout=5)
    for data in (None, "hello", 42, ["hello"], {"text": "hello"}, {"message": 5},
                 {"message": ""}, {"message": ["a"]}, {"message": "hi", "session_id": 7}):
        tab.say(data)
    tab.client.emit("session_request", [1, 2])
    tab.confirmed.get(timeout=5)  # a new session for data that is not an object
    issued = tab.session(**issued)
    assert tab.reply(1) is None
    tab.say({"message": "hi", "session_id": issued["session_id"], "metadata": "not an object"})
    assert tab.reply().startswith(TURN)
    tab.close()


@pytest.mark.parametrize("size", [1001, 20_000, 100_000])
def test_an_over_long_socket_io_message_is_answered_kindly_without_a_turn(server, size):
    tab = Browser(server).open()
    issued = tab.session()
    started = time.monotonic()
    tab.say({"message": "x" * size, "session_id": issued["session_id"]})
    assert tab.reply() == TOO_LONG
    assert time.monotonic() - started < 2
    tab.say({"message": "no", "session_id": issued["session_id"]})
    assert tab.reply().startswith(TURN)
    tab.close()


def test_a_chat_session_over_its_rate_limit_is_told_once_then_dropped(server):
    tab = Browser(server).open()
    issued = tab.session()
    for _ in range(PER_SENDER):
        tab.say({"message": "hi", "session_id": issued["session_id"]})
        assert tab.reply().startswith(TURN)
    tab.say({"message": "hi", "session_id": issued["session_id"]})
    assert tab.reply() == TOO_FAST
    tab.say({"message": "hi", "session_id": issued["session_id"]})
    assert tab.reply(1) is None
    tab.close()


def test_a_client_address_over_its_rate_limit_cannot_open_more_sockets(server):
    address = new_address()
    for _ in range(PER_ADDRESS):
        Browser(server, address).open().close()
    with pytest.raises(socketio.exceptions.ConnectionError):
        Browser(server, address).open()
    Browser(server).open().close()  # another address


# ---- Telegram and Twilio -------------------------------------------------------------------------


def telegram(server: Server, body: Any, secret: str | None = TELEGRAM_SECRET) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return requests.post(f"{server.url}/webhooks/telegram/webhook", data=data, headers=headers,
                         timeout=30)


def telegram_text(chat_id: int, text: str) -> dict[str, Any]:
    chat = {"id": chat_id, "type": "private", "first_name": "Ann"}
    return {"update_id": chat_id, "message": {"message_id": 1, "date": int(time.time()),
                                              "chat": chat, "text": text,
                                              "from": {"id": chat_id, "is_bot": False,
                                                       "first_name": "Ann"}}}


def sent_to(stand_in: StandIn, mark: int, method: str, key: str, value: str) -> list[str]:
    return [str(c.params.get("text") or c.params.get("Body")) for c in stand_in.since(mark, method)
            if str(c.params.get(key)) == value]


@pytest.mark.parametrize("body", [b"", b"{", b"null", b"[]", b'"update"', b"7",
                                  b'{"message": {"text": "hi"}}', b'{"update_id": "1"}'])
def test_garbage_on_the_telegram_webhook_gets_400(server, body):
    assert telegram(server, body).status_code == 400


@pytest.mark.parametrize("update", [
    {"update_id": 5},
    {"update_id": 6, "message": {"chat": {"id": 99}, "photo": [{"file_id": "x"}]}},
    {"update_id": 7, "message": "hello"},
    {"update_id": 8, "message": {"chat": {"id": "99"}, "text": "hi"}},
    {"update_id": 9, "my_chat_member": {"chat": {"id": 99}}},
    {"update_id": 10, "edited_message": {"chat": {"id": 99}, "caption": "x"}},
    {"update_id": 11, "callback_query": {"id": "1", "data": "/affirm"}},
])
def test_a_telegram_update_without_a_message_is_acknowledged_without_a_turn(server, update):
    mark = server.providers.telegram.mark()
    assert telegram(server, update).status_code == 200
    assert server.providers.telegram.since(mark, "sendMessage") == []


def test_an_over_long_telegram_message_is_answered_kindly_without_a_turn(server):
    mark = server.providers.telegram.mark()
    started = time.monotonic()
    assert telegram(server, telegram_text(4242, "x" * 100_000)).status_code == 200
    assert time.monotonic() - started < 2
    assert sent_to(server.providers.telegram, mark, "sendMessage", "chat_id", "4242") == [TOO_LONG]
    mark = server.providers.telegram.mark()
    assert telegram(server, telegram_text(4242, "no")).status_code == 200
    assert sent_to(server.providers.telegram, mark, "sendMessage", "chat_id", "4242"
                   )[0].startswith(TURN)


def test_a_telegram_chat_over_its_rate_limit_is_told_once(server):
    mark = server.providers.telegram.mark()
    for _ in range(PER_SENDER + 3):
        assert telegram(server, telegram_text(5151, "hi")).status_code == 200
    said = sent_to(server.providers.telegram, mark, "sendMessage", "chat_id", "5151")
    assert said[:PER_SENDER] == [s for s in said[:PER_SENDER] if s.startswith(TURN)]
    assert said[PER_SENDER:] == [TOO_FAST]


def twilio(server: Server, form: dict[str, str], signed: bool = True) -> requests.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signed:
        headers["X-Twilio-Signature"] = RequestValidator(TWILIO_TOKEN).compute_signature(
            server.twilio_webhook, form)
    return requests.post(server.twilio_webhook, data=urllib.parse.urlencode(form),
                         headers=headers, timeout=30)


@pytest.mark.parametrize("form", [{}, {"Body": "hi"}, {"From": "+8613800000001"}])
def test_a_signed_twilio_webhook_without_a_message_gets_400(server, form):
    assert twilio(server, form).status_code == 400
    assert twilio(server, form, signed=False).status_code == 403


def test_garbage_on_the_twilio_webhook_is_refused(server):
    for body in (b"\x00\xff" * 100, b"{", b'{"From": "+1", "Body": "hi"}'):
        reply = requests.post(server.twilio_webhook, data=body, timeout=10,
                              headers={"Content-Type": "application/json"})
        assert reply.status_code == 403


def test_an_over_long_sms_is_answered_kindly_and_a_number_over_its_limit_is_told_once(server):
    number = "+8613800000002"
    mark = server.providers.twilio.mark()
    started = time.monotonic()
    assert twilio(server, {"From": number, "Body": "1" * 5000}).status_code == 204
    assert time.monotonic() - started < 2
    assert sent_to(server.providers.twilio, mark, "Messages", "To", number) == [TOO_LONG]
    mark = server.providers.twilio.mark()
    for _ in range(PER_SENDER + 2):
        assert twilio(server, {"From": number, "Body": "²"}).status_code == 204
    said = sent_to(server.providers.twilio, mark, "Messages", "To", number)
    assert [s.startswith(TURN) for s in said] == [True] * PER_SENDER + [False]
    assert said[-1] == TOO_FAST
