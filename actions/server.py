"""The action server: rasa_sdk's own Sanic app, reachable by Rasa alone.

``python -m actions.server --port 5055`` replaces ``rasa run actions``. It is the smallest wrapper
around ``rasa_sdk.endpoint.create_app``, because rasa_sdk has no way to authenticate its caller
or to choose its interface other than the global ``SANIC_HOST``:

- it listens on ``ACTION_SERVER_HOST`` (127.0.0.1 unless a setting says otherwise);
- a request middleware answers 401 to every call but ``/health`` that lacks the shared secret
  (``X-Action-Server-Secret``, compared with ``hmac.compare_digest``), so a request from anyone
  but Rasa can neither run an action nor list them;
- CORS is off: only Rasa, a server, calls it;
- rasa_sdk's exception handler is replaced: it logs the request and sends the whole request
  body (the patient's tracker, contact details included) back to Rasa, which then logs it. Ours
  logs the action's name and the exception's type and stack only, and answers a bare 500.

Logging is configured from ``logging.yml`` like the Rasa server's (``bot.logs``), so no patient
text reaches the log on either side.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import logging.config
import time
from typing import Any

from rasa_sdk import utils as sdk_utils
from rasa_sdk.endpoint import create_app as create_sdk_app
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.deploy.action_server import SECRET_HEADER, load_action_server_settings
from bot.logs import LOGGING_CONFIG, configure_private_logging

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health"})

# Replies the warm-up reads with every question, in every language: words of the bot's own,
# never a patient's.
WARM_UP_REPLIES = ("yes", "no", "not sure", "34", "prednisone 10 mg", "4 months")


def warm_up() -> None:
    """Build what the first answer would, before the server listens: every trial's protocol
    (its YAML read and checked, about a second), the medicines, the answer readers' word lists
    and patterns, and the engine's question order. Without it the first patient after a start
    waited for all of it (py-spy: the protocol's YAML alone 11% of the action server's busy
    time over a whole bench run). A trial that fails to load is logged and left to fail as it
    did, at its first call."""
    from bot.engine import evaluate
    from bot.protocol import get_protocol, trials_dir
    from bot.questions import interpret

    started = time.perf_counter()
    for path in sorted(trials_dir().glob("*.yml")):
        try:
            protocol = get_protocol(path.stem)
        except Exception:  # noqa: BLE001 - reported, and raised again at the trial's first call
            log.warning("warm-up: trial %s did not load", path.stem, exc_info=True)
            continue
        evaluate(protocol, {})
        for question in protocol.questions:
            for language in protocol.languages:
                for reply in WARM_UP_REPLIES:
                    interpret(question, reply, language)
    log.info("action server warmed up in %.1f s", time.perf_counter() - started)


def _secret_matches(given: str | None, secret: bytes) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret)


def create_app(secret: str, actions_package: str = "actions") -> Sanic:
    """rasa_sdk's app for ``actions_package``, refusing every call without ``secret``."""
    if not secret:
        raise ValueError("the action server needs a shared secret")
    app = create_sdk_app(actions_package, cors_origins="")
    expected = secret.encode("utf-8")

    @app.middleware("request")
    async def require_secret(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        if _secret_matches(request.headers.get(SECRET_HEADER), expected):
            return None
        log.warning("refused a call to %s without the action server's secret", request.path)
        return response.json({"error": "unauthorized"}, status=401)

    async def private_exception_handler(request: Request, exception: Exception) -> HTTPResponse:
        action = None
        try:
            body: Any = request.json
            if isinstance(body, dict) and isinstance(body.get("next_action"), str):
                action = body["next_action"][:100]
        except Exception:  # noqa: BLE001 - an unreadable body has no action name
            action = None
        log.error("action %s failed", action or "(unknown)", exc_info=exception)
        return response.json({"error": "the action failed", "action_name": action}, status=500)

    app.error_handler.add(Exception, private_exception_handler)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the pre-screener's action server")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument("--actions", default="actions", help="package to load actions from")
    parser.add_argument(
        "--logging-config-file", default=str(LOGGING_CONFIG),
        help="logging configuration (the same file the Rasa server reads)",
    )
    args = parser.parse_args(argv)
    configure_private_logging(args.logging_config_file)
    sdk_utils.update_sanic_log_level()
    settings = load_action_server_settings()
    app = create_app(settings.secret, args.actions)
    warm_up()
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    if not settings.loopback:
        log.warning(
            "the action server listens on %s, beyond this machine: only callers with the shared "
            "secret are served; put it behind TLS on an untrusted network", settings.host,
        )
    log.info("action server on http://%s:%d", settings.host, args.port)
    app.run(settings.host, args.port, workers=sdk_utils.number_of_sanic_workers(),
            access_log=False)


if __name__ == "__main__":
    main()
