"""A stand-in for WeChat's API (api.weixin.qq.com): the access token and customer-service
messages, answering as WeChat does, with the errcodes the channel must handle.

- ``GET /cgi-bin/token``: a new token for the right app id and secret (expires_in 7200), else
  errcode 40013 / 40125; every fetch is recorded as ``token``.
- ``POST /cgi-bin/message/custom/send?access_token=...``: errcode 42001 for a token the test
  expired (:meth:`WeChatAPIStandIn.expire_token`), 40001 for one never issued, 45002 for a text
  over 2048 bytes, 0 otherwise; each accepted message is recorded as ``send``.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

from aiohttp import web

WECHAT_APP_ID = "wx00e2e0standin00"
WECHAT_APP_SECRET = "e2e-wechat-app-secret-0123456789"
WECHAT_TOKEN = "e2ewechattoken0123456789"
MAX_TEXT_BYTES = 2048


class WeChatAPIStandIn:
    """The routes of the stand-in (``StandIn(..., routes=WeChatAPIStandIn())``) and its state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self.valid: set[str] = set()
        self.expired: set[str] = set()

    def expire_token(self) -> None:
        """Every token issued so far expires, as WeChat's do after two hours."""
        with self._lock:
            self.expired |= self.valid
            self.valid = set()

    def __call__(self, stand_in: Any) -> list[web.RouteDef]:
        async def token(request: web.Request) -> web.Response:
            query = request.query
            granted = query.get("grant_type") == "client_credential"
            if not granted or query.get("appid") != WECHAT_APP_ID:
                stand_in.record("unauthorized", {"path": request.path})
                return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
            if query.get("secret") != WECHAT_APP_SECRET:
                stand_in.record("unauthorized", {"path": request.path})
                return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
            issued = f"ACCESS_TOKEN_{next(self._numbers)}"
            with self._lock:
                self.valid.add(issued)
            stand_in.record("token", {"access_token": issued})
            return web.json_response({"access_token": issued, "expires_in": 7200})

        async def send(request: web.Request) -> web.Response:
            sent = request.query.get("access_token", "")
            with self._lock:
                valid, expired = sent in self.valid, sent in self.expired
            if not valid:
                stand_in.record("refused", {"access_token": sent, "expired": expired})
                if expired:
                    return web.json_response(
                        {"errcode": 42001, "errmsg": "access_token expired"})
                return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
            body = json.loads(await request.read())
            content = (body.get("text") or {}).get("content", "")
            if body.get("msgtype") != "text" or not body.get("touser"):
                return web.json_response({"errcode": 40008, "errmsg": "invalid message type"})
            if len(content.encode()) > MAX_TEXT_BYTES:
                stand_in.record("too_long", {"touser": body["touser"]})
                return web.json_response({"errcode": 45002,
                                          "errmsg": "content size out of limit"})
            stand_in.record("send", {"touser": body["touser"], "content": content,
                                     "access_token": sent})
            return web.json_response({"errcode": 0, "errmsg": "ok"})

        return [web.get("/cgi-bin/token", token),
                web.post("/cgi-bin/message/custom/send", send)]
