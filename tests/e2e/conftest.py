"""The real stack for end-to-end tests: the action server and the Rasa server with the trained
model, on free ports, with their own SQLite databases and outbox in a temporary folder.

Rasa opens every channel a site can have: REST, socket.io (the study page's widget), Telegram,
Twilio and WeChat. The messaging connectors are Rasa's own (``channels/``), pointed at stand-ins
for the providers' APIs on loopback, which answer as the providers do and record what the bot sends.
The study page (``python -m bot site``) is started on demand by the ``site_url`` fixture.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.deploy.credentials import write_credentials
from bot.deploy.services import (
    Services,
    free_port,
    latest_model,
    rasa_environment,
    site_process,
)
from bot.settings import PROJECT_ROOT
from tests.e2e.wechat_standin import (
    WECHAT_APP_ID,
    WECHAT_APP_SECRET,
    WECHAT_TOKEN,
    WeChatAPIStandIn,
)

TELEGRAM_TOKEN = "1234567890:stand-in-token"
TELEGRAM_BOT = "prescreen_test_bot"
TELEGRAM_SECRET = "e2e-webhook-secret"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "stand-in-auth-token"
TWILIO_NUMBER = "+15550001111"
TWILIO_WHATSAPP = "whatsapp:+14155238886"
REST_TOKEN = "e2e-rest-channel-token-0123456789abcdef"


# ---- stand-ins for the providers' APIs ------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request the bot made to a provider's API."""

    method: str  # Telegram's API method, or the Twilio resource
    params: dict[str, Any]


@dataclass
class StandIn:
    """An aiohttp app on 127.0.0.1 in its own thread, recording the calls it answers."""

    name: str
    routes: Callable[[StandIn], list[web.RouteDef]]
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    def record(self, method: str, params: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append(Call(method, params))

    def mark(self) -> int:
        with self._lock:
            return len(self.calls)

    def since(self, mark: int, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls[mark:] if method is None or c.method == method]

    def start(self) -> StandIn:
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.add_routes(self.routes(self))
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = self._runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"
            ready.set()

        self._loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._loop.run_forever, name=self.name, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(serve(), self._loop)
        if not ready.wait(10):
            raise RuntimeError(f"the {self.name} stand-in did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


def telegram_routes(stand_in: StandIn) -> list[web.RouteDef]:
    """The Bot API methods the connector calls: getMe, setWebhook, sendMessage,
    answerCallbackQuery."""
    message_ids = itertools.count(1)

    async def method(request: web.Request) -> web.Response:
        if request.match_info["token"] != TELEGRAM_TOKEN:
            stand_in.record("unauthorized", {"path": request.path})
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        name = request.match_info["method"]
        params: dict[str, Any] = dict(await request.post())
        if request.content_type == "application/json":
            params = await request.json()
        if isinstance(params.get("reply_markup"), str):
            params["reply_markup"] = json.loads(params["reply_markup"])
        stand_in.record(name, params)
        if name == "getMe":
            result: Any = {"id": 1234567890, "is_bot": True, "first_name": "Prescreen",
                           "username": TELEGRAM_BOT}
        elif name in ("setWebhook", "answerCallbackQuery"):
            result = True
        elif name == "sendMessage":
            chat_id = int(params["chat_id"])
            result = {
                "message_id": next(message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": params.get("text", ""),
            }
        else:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.json_response({"ok": True, "result": result})

    return [web.route("*", "/bot{token}/{method}", method)]


def twilio_routes(stand_in: StandIn) -> list[web.RouteDef]:
    """Twilio's Messages resource, with its Basic authentication."""
    sids = itertools.count(1)
    expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()

    async def create_message(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            stand_in.record("unauthorized", {"path": request.path})
            return web.json_response(
                {"code": 20003, "message": "Authenticate", "status": 401}, status=401
            )
        form = dict(await request.post())
        stand_in.record("Messages", form)
        sid = f"SM{next(sids):032d}"
        return web.json_response(
            {
                "sid": sid,
                "account_sid": request.match_info["sid"],
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json",
            },
            status=201,
        )

    return [web.post("/2010-04-01/Accounts/{sid}/Messages.json", create_message)]


@dataclass
class Providers:
    telegram: StandIn
    twilio: StandIn
    wechat: StandIn | None = None  # its routes are a WeChatAPIStandIn (tests/e2e/wechat_standin.py)


@pytest.fixture(scope="session")
def providers() -> Iterator[Providers]:
    telegram = StandIn("telegram-api", telegram_routes).start()
    twilio = StandIn("twilio-api", twilio_routes).start()
    wechat = StandIn("wechat-api", WeChatAPIStandIn()).start()
    try:
        yield Providers(telegram, twilio, wechat)
    finally:
        telegram.stop()
        twilio.stop()
        wechat.stop()


def stop_waitress(server: Any, thread: threading.Thread) -> None:
    """Stop a waitress server run in ``thread``. ``close()`` alone leaves its loop serving the
    connections a browser keeps alive, so the thread went on and a ``join(5)`` waited all 5 s
    (measured); its connections are closed too, and the loop ends within its 1 s poll."""
    server.close()
    for channel in list(server._map.values()):
        channel.close()
    thread.join(timeout=5)


# ---- the stack --------------------------------------------------------------------------------


@dataclass
class Stack:
    services: Services
    database_url: str
    tracker_store_url: str
    outbox_dir: Path
    log_dir: Path
    providers: Providers
    site_port: int = 0

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.services.rasa_port}"

    @property
    def rest_url(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"

    @property
    def telegram_webhook(self) -> str:
        return f"{self.rasa_url}/webhooks/telegram/webhook"

    @property
    def twilio_webhook(self) -> str:
        return f"{self.rasa_url}/webhooks/twilio/webhook"

    @property
    def wechat_webhook(self) -> str:
        return f"{self.rasa_url}/webhooks/wechat/webhook"

    def talk(self, sender: str, text: str) -> list[dict]:
        """Send one message through the REST channel; the bot's replies."""
        body = json.dumps({"sender": sender, "message": text}).encode()
        request = urllib.request.Request(
            self.rest_url, data=body, headers={"Content-Type": "application/json",
                                               "Authorization": f"Bearer {REST_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())


def messaging_environment(providers: Providers, twilio_webhook: str) -> dict[str, str]:
    """The .env settings of a site with a Telegram bot and a Twilio number, on the stand-ins,
    and the REST channel behind a token (the tests' scripted patients use it)."""
    wechat = {} if providers.wechat is None else {
        "WECHAT_APP_ID": WECHAT_APP_ID,
        "WECHAT_APP_SECRET": WECHAT_APP_SECRET,
        "WECHAT_TOKEN": WECHAT_TOKEN,
        "WECHAT_API_URL": providers.wechat.url,
    }
    return {
        **wechat,
        "REST_CHANNEL": "token",
        "REST_CHANNEL_TOKEN": REST_TOKEN,
        "TELEGRAM_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_BOT_USERNAME": TELEGRAM_BOT,
        "TELEGRAM_WEBHOOK_URL": "https://prescreen.example.org/webhooks/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "TELEGRAM_API_URL": providers.telegram.url,
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_NUMBER": TWILIO_NUMBER,
        "TWILIO_WHATSAPP_NUMBER": TWILIO_WHATSAPP,
        "TWILIO_WEBHOOK_URL": twilio_webhook,
        "TWILIO_API_URL": providers.twilio.url,
    }


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, providers: Providers) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    database_url = f"sqlite:///{base / 'prescreen.db'}"
    tracker_url = f"sqlite:///{base / 'rasa.db'}"
    outbox = base / "outbox"
    rasa_port, action_port, site_port = free_port(), free_port(), free_port()
    messaging = messaging_environment(
        providers, f"http://127.0.0.1:{rasa_port}/webhooks/twilio/webhook"
    )
    # The study page (site_url) is the one origin a browser may use Rasa from.
    messaging["SITE_ORIGIN"] = f"http://127.0.0.1:{site_port},http://localhost:{site_port}"
    credentials = base / "credentials.yml"
    write_credentials(credentials, messaging)
    env = rasa_environment(
        rasa_port,
        action_port,
        {
            "DATABASE_URL": database_url,
            "TRACKER_STORE_URL": tracker_url,
            "OUTBOX_DIR": str(outbox),
            "SPOOL_DIR": str(base / "spool"),
            "SMTP_HOST": "",
            "DOTENV_DISABLED": "1",
            "SITE_ORIGIN": messaging["SITE_ORIGIN"],
            "SOCKETIO_SESSION_KEY": "e2e-socketio-session-key-0123456789abcdef",
            # Scripted patients answer as fast as the bot replies, all from 127.0.0.1.
            "RATE_LIMIT_PER_SENDER": "100000",
            "RATE_LIMIT_PER_ADDRESS": "100000",
        },
    )
    from bot.db import init_db

    init_db(database_url)
    services = Services(
        rasa_port=rasa_port,
        action_port=action_port,
        model=latest_model(PROJECT_ROOT / "models"),
        env=env,
        log_dir=base / "log",
        credentials=credentials,
    )
    services.start(timeout=300)
    try:
        yield Stack(services, database_url, tracker_url, outbox, base / "log", providers,
                    site_port)
    finally:
        services.stop()


@pytest.fixture(scope="session")
def site_url(stack: Stack) -> str:
    """The study page, served by ``python -m bot site`` beside the stack's Rasa."""
    process = stack.services.start_web(site_process(stack.site_port, stack.services.rasa_port))
    return process.health_url.removesuffix("/healthz")
