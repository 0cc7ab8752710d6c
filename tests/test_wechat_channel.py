"""The WeChat channel's own rules, without Rasa: signatures, messages, splitting, retries, the
access token (against the stand-in of WeChat's API the end-to-end tests use)."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from channels.wechat import (
    MAX_TEXT_BYTES,
    RecentIds,
    WeChatAPI,
    WeChatInput,
    conversation_id,
    greeting,
    parse_message,
    signature,
    signed,
    split_bytes,
    typed_number,
)
from tests.e2e.conftest import StandIn
from tests.e2e.wechat_standin import WECHAT_APP_ID, WECHAT_APP_SECRET, WeChatAPIStandIn

TOKEN = "e2ewechattoken"


def test_signature_is_sha1_of_the_sorted_token_timestamp_and_nonce():
    # Sorted as strings: "1700000000" < "42" < "e2ewechattoken".
    expected = hashlib.sha1(b"170000000042e2ewechattoken").hexdigest()
    assert signature(TOKEN, "1700000000", "42") == expected


def test_only_a_fresh_request_signed_with_the_token_is_accepted():
    now = time.time()
    ts = str(int(now))
    good = {"signature": signature(TOKEN, ts, "n1"), "timestamp": ts, "nonce": "n1"}
    assert signed(TOKEN, good, now)
    assert not signed("another", good, now)
    assert not signed(TOKEN, {**good, "nonce": "n2"}, now)
    assert not signed(TOKEN, {k: v for k, v in good.items() if k != "signature"}, now)
    old = str(int(now) - 301)
    assert not signed(TOKEN, {"signature": signature(TOKEN, old, "n1"), "timestamp": old,
                              "nonce": "n1"}, now)
    assert not signed(TOKEN, {**good, "timestamp": "１２"}, now)


def test_a_message_is_read_and_anything_else_refused():
    body = ("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oABC]]>"
            "</FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]>"
            "</MsgType><Content><![CDATA[我有狼疮 <是的>]]></Content><MsgId>1234</MsgId></xml>")
    fields = parse_message(body.encode())
    assert fields is not None
    assert fields["Content"] == "我有狼疮 <是的>" and fields["MsgId"] == "1234"
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><a>&a;</a></xml>'
    assert parse_message(bomb) is None
    assert parse_message(b"not xml") is None
    assert parse_message(b"<xml><MsgType>text</MsgType></xml>") is None  # from no one
    assert parse_message(b"<xml>" + b"<a>x</a>" * 20_000 + b"</xml>") is None


def test_the_conversation_id_is_stable_and_is_not_the_openid():
    openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    cid = conversation_id(WECHAT_APP_ID, openid)
    assert cid == conversation_id(WECHAT_APP_ID, openid)
    assert openid not in cid and cid.startswith("wx-")
    assert cid != conversation_id(WECHAT_APP_ID, openid + "x")
    assert cid != conversation_id("wxanotherapp", openid)


def test_a_qr_scene_names_a_trial_only_if_the_site_has_it():
    assert greeting({"EventKey": "qrscene_NCT06675422"}) == '/greet{"trial": "NCT06675422"}'
    assert greeting({"EventKey": "NCT06675422"}) == '/greet{"trial": "NCT06675422"}'  # SCAN
    assert greeting({"EventKey": "qrscene_NCT00000000"}) == "/greet"
    assert greeting({"EventKey": "qrscene_../../etc"}) == "/greet"
    assert greeting({}) == "/greet"


def test_numbers_as_a_chinese_keyboard_types_them():
    assert typed_number("2") == "2"
    assert typed_number("２") == "2"
    assert typed_number(" ２。") == "2"
    assert typed_number("²") is None
    assert typed_number("①") is None
    assert typed_number("二") is None


def test_long_texts_are_split_under_2048_bytes_at_sentence_ends():
    sentence = "请您回忆一下过去六个月里是否用过激素类药物。"
    text = sentence * 200
    parts = split_bytes(text)
    assert len(parts) > 1
    assert all(len(p.encode()) <= MAX_TEXT_BYTES for p in parts)
    assert "".join(parts) == text
    assert all(p.endswith("。") for p in parts)
    unbroken = "狼" * 1000  # no sentence end at all: cut between characters
    assert "".join(split_bytes(unbroken)) == unbroken
    assert split_bytes("短消息") == ["短消息"]


def test_a_retry_is_recognised():
    seen = RecentIds(seconds=60)
    assert seen.first_time("1234")
    assert not seen.first_time("1234")
    assert seen.first_time("1235")
    small = RecentIds(seconds=60, max_ids=2)
    for key in ("a", "b", "c", "d"):
        small.first_time(key)
    assert small.first_time("a")  # forgotten: memory stays bounded


def test_safe_mode_is_refused_rather_than_unreadable():
    with pytest.raises(ValueError, match="safe mode"):
        WeChatInput.from_credentials({"app_id": "wx1", "app_secret": "s", "token": "t",
                                      "encoding_aes_key": "k" * 43})


@pytest.fixture()
def wechat_api():
    routes = WeChatAPIStandIn()
    stand_in = StandIn("wechat-api", routes).start()
    try:
        yield stand_in, routes
    finally:
        stand_in.stop()


def test_concurrent_senders_share_one_token_fetch_and_refresh_it_on_expiry(wechat_api):
    stand_in, routes = wechat_api

    async def scenario() -> None:
        api = WeChatAPI(WECHAT_APP_ID, WECHAT_APP_SECRET, stand_in.url)
        try:
            await asyncio.gather(*(api.send_text(f"o{i}", f"消息{i}") for i in range(20)))
            assert len(stand_in.since(0, "token")) == 1
            routes.expire_token()
            await asyncio.gather(*(api.send_text(f"o{i}", "又一条") for i in range(10)))
        finally:
            await api.close()

    asyncio.run(scenario())
    assert len(stand_in.since(0, "token")) == 2
    assert len(stand_in.since(0, "send")) == 30  # none lost to the expired token
    assert stand_in.since(0, "unauthorized") == []
