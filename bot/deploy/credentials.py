"""The channels file Rasa is started with, written from the environment (``.env``).

Rasa fails on a ``${VARIABLE}`` in ``credentials.yml`` that is not set, so a site that has no
Telegram bot could not start from a file that names one. The launcher writes the file instead:
socket.io (the study page's widget) always, answering pages from ``SITE_ORIGIN`` only; REST as
``REST_CHANNEL`` says: ``off`` (the default: its webhook answers 404), ``token`` (every request
carries ``REST_CHANNEL_TOKEN``) or ``open`` (development only); Telegram when
``TELEGRAM_TOKEN`` is set; Twilio (SMS and WhatsApp) when ``TWILIO_ACCOUNT_SID`` is set; a WeChat
Official Account when ``WECHAT_APP_ID`` is set. A
channel that is half configured is an error that names the missing variables, not a channel that
silently stays off.

The committed ``credentials.yml`` documents every channel; this module is what runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REST = "channels.rest.RestInput"
SOCKETIO = "channels.socketio.SocketIOInput"
TELEGRAM = "channels.telegram.TelegramInput"
TWILIO = "channels.twilio.TwilioInput"
WECHAT = "channels.wechat.WeChatInput"

SOCKETIO_SETTINGS: dict[str, Any] = {
    "user_message_evt": "user_uttered",
    "bot_message_evt": "bot_uttered",
    "session_persistence": True,
}


class CredentialsError(ValueError):
    """A messaging channel whose settings are incomplete."""


def _require(env: Mapping[str, str], channel: str, names: tuple[str, ...]) -> None:
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise CredentialsError(
            f"{channel} needs {', '.join(missing)} in .env (see docs/channels.md)"
        )


def _optional(env: Mapping[str, str], **keys: str) -> dict[str, str]:
    return {key: env[var] for key, var in keys.items() if env.get(var)}


def rest(env: Mapping[str, str]) -> dict[str, Any]:
    mode = (env.get("REST_CHANNEL") or "off").strip().lower()
    if mode not in ("off", "token", "open"):
        raise CredentialsError(f"REST_CHANNEL must be off, token or open, not {mode!r}")
    if mode != "token":
        return {"mode": mode}
    token = (env.get("REST_CHANNEL_TOKEN") or "").strip()
    if len(token) < 32:
        raise CredentialsError(
            "REST_CHANNEL=token needs REST_CHANNEL_TOKEN of 32 or more characters in .env"
        )
    return {"mode": "token", "token": token}


def site_origins(env: Mapping[str, str]) -> list[str]:
    """The study page's origins (``SITE_ORIGIN``, comma-separated), which alone may use Rasa
    from a browser; by default the page on this host at ``SITE_PORT``."""
    configured = [o.strip().rstrip("/") for o in (env.get("SITE_ORIGIN") or "").split(",")]
    origins = [o for o in configured if o]
    if origins:
        if "*" in origins:
            raise CredentialsError("SITE_ORIGIN must name the study page's origin, not *")
        return origins
    port = (env.get("SITE_PORT") or "8000").strip()
    return [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]


def telegram(env: Mapping[str, str]) -> dict[str, Any] | None:
    if not env.get("TELEGRAM_TOKEN"):
        return None
    _require(env, "Telegram", ("TELEGRAM_BOT_USERNAME", "TELEGRAM_WEBHOOK_URL"))
    return {
        "access_token": env["TELEGRAM_TOKEN"],
        "verify": env["TELEGRAM_BOT_USERNAME"].lstrip("@"),
        "webhook_url": env["TELEGRAM_WEBHOOK_URL"],
        **_optional(env, secret_token="TELEGRAM_WEBHOOK_SECRET", api_url="TELEGRAM_API_URL"),
    }


def twilio(env: Mapping[str, str]) -> dict[str, Any] | None:
    if not env.get("TWILIO_ACCOUNT_SID"):
        return None
    _require(env, "Twilio", ("TWILIO_AUTH_TOKEN",))
    if not (env.get("TWILIO_NUMBER") or env.get("TWILIO_WHATSAPP_NUMBER")):
        raise CredentialsError("Twilio needs TWILIO_NUMBER or TWILIO_WHATSAPP_NUMBER in .env")
    return {
        "account_sid": env["TWILIO_ACCOUNT_SID"],
        "auth_token": env["TWILIO_AUTH_TOKEN"],
        "twilio_number": env.get("TWILIO_NUMBER") or env["TWILIO_WHATSAPP_NUMBER"],
        **_optional(
            env,
            whatsapp_number="TWILIO_WHATSAPP_NUMBER",
            webhook_url="TWILIO_WEBHOOK_URL",
            api_url="TWILIO_API_URL",
        ),
    }


def wechat(env: Mapping[str, str]) -> dict[str, Any] | None:
    if not env.get("WECHAT_APP_ID"):
        return None
    _require(env, "WeChat", ("WECHAT_APP_SECRET", "WECHAT_TOKEN"))
    if env.get("WECHAT_ENCODING_AES_KEY"):
        raise CredentialsError(
            "WeChat's safe mode (WECHAT_ENCODING_AES_KEY) is not supported: empty it and set "
            "the account to plaintext or compatible mode (see docs/channels.md)")
    token = env["WECHAT_TOKEN"]
    if not (3 <= len(token) <= 32 and token.isascii() and token.isalnum()):
        raise CredentialsError("WECHAT_TOKEN must be 3 to 32 letters or digits, as WeChat asks")
    return {
        "app_id": env["WECHAT_APP_ID"],
        "app_secret": env["WECHAT_APP_SECRET"],
        "token": token,
        "language": (env.get("WECHAT_LANGUAGE") or "zh").strip(),
        **_optional(env, api_url="WECHAT_API_URL"),
    }


def channel_credentials(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Rasa's credentials for every channel the environment configures."""
    env = os.environ if env is None else env
    credentials: dict[str, Any] = {
        REST: rest(env),
        SOCKETIO: {**SOCKETIO_SETTINGS, "allowed_origins": site_origins(env)},
    }
    for name, build in ((TELEGRAM, telegram), (TWILIO, twilio), (WECHAT, wechat)):
        config = build(env)
        if config is not None:
            credentials[name] = config
    return credentials


def write_credentials(path: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """Write the credentials file (readable by its owner only: it holds tokens); the channels."""
    credentials = channel_credentials(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# Written by `python -m bot run` from .env; edit .env, not this file.\n")
        yaml.safe_dump(credentials, out, sort_keys=False, allow_unicode=True)
    os.chmod(path, 0o600)
    return [channel_name(key) for key in credentials]


def channel_name(key: str) -> str:
    """``channels.telegram.TelegramInput`` -> ``telegram``: the name Rasa's channel reports."""
    return {REST: "rest", SOCKETIO: "socketio", TELEGRAM: "telegram", TWILIO: "twilio",
            WECHAT: "wechat"}.get(key, key)
