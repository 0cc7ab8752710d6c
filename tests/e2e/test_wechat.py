"""Screenings in Chinese through a WeChat Official Account, as patients use it.

The real Rasa server runs the WeChat channel (channels/wechat.py); each message is posted to its
webhook as WeChat's servers post it (XML, signed in the query string), and what the bot says
comes back as customer-service messages to a stand-in of WeChat's API on loopback
(tests/e2e/wechat_standin.py), which also issues and expires the access token.
"""

from __future__ import annotations

import itertools
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.models import Screening
from bot.protocol import get_protocol
from channels.wechat import conversation_id, signature
from tests.e2e.conftest import Call, Stack
from tests.e2e.test_messaging import answers_of, screening_of
from tests.e2e.wechat_standin import MAX_TEXT_BYTES, WECHAT_APP_ID, WECHAT_TOKEN

pytestmark = pytest.mark.e2e

PROTOCOL = get_protocol("NCT06675422")
QUESTION_BY_ZH = {q.text.get("zh"): q.id for q in PROTOCOL.questions}
READ_BACK = "read back"
_ids = itertools.count(7_000_000_001)

# A patient who may qualify, answering in her own words (and a few numbers).
LEAD = {
    "diagnosis": "是的，2019年确诊的",
    "lupus_meds": "泼尼松和骁悉",
    "steroid_dose": "每天10毫克",
    "treatment_duration": "两个半月",
    "dose_stable": "是的",
    "age": "三十四岁",
    "sex": "女",
    "pregnant": "没有",
    "could_be_pregnant": "没有",
    "breastfeeding": "没有",
    "other_autoimmune": "2",  # the number of "否"
    "lupus_crisis": "没有",
    "brain_condition": "没有",
    "transplant": "从来没有",
    "heart_problem": "没有",
    "fluid_heart_lungs": "没有",
    "severe_lung": "没有",
    "cancer": "没有",
    "recurrent_infections": "没有",
    "active_infection": "没有",
    "hiv": "没有",
    "hepatitis_syphilis": "3",  # the number of "不确定"
    "live_vaccine": "没有",
    "high_dose_steroids": "没有",
    "dialysis": "没有",
    "substance_use": "没有",
    "suicidal_thoughts": "没有",
    "other_study_drug": "没有",
    "drug_allergy": "没有",
    "lupus_active": "是",
    "symptoms": "有，关节疼",
    "antibodies": "说不好",
}


class WeChatPatient:
    """A patient who follows the account and writes to it; WeChat signs what it forwards."""

    def __init__(self, stack: Stack, openid: str) -> None:
        self.stack = stack
        self.openid = openid
        self.received: list[Call] = []

    @property
    def conversation(self) -> str:
        return conversation_id(WECHAT_APP_ID, self.openid)

    def query(self, token: str = WECHAT_TOKEN, age: int = 0) -> dict[str, str]:
        timestamp, nonce = str(int(time.time()) - age), str(next(_ids))
        return {"signature": signature(token, timestamp, nonce), "timestamp": timestamp,
                "nonce": nonce}

    def xml(self, kind: str, msg_id: int | None, **fields: str) -> bytes:
        parts = ["<ToUserName><![CDATA[gh_e2e0account]]></ToUserName>",
                 f"<FromUserName><![CDATA[{self.openid}]]></FromUserName>",
                 f"<CreateTime>{int(time.time())}</CreateTime>",
                 f"<MsgType><![CDATA[{kind}]]></MsgType>"]
        parts += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
        if msg_id is not None:
            parts.append(f"<MsgId>{msg_id}</MsgId>")
        return ("<xml>" + "".join(parts) + "</xml>").encode()

    def deliver(self, body: bytes, query: dict[str, str] | None = None) -> tuple[int, bytes]:
        api = self.stack.providers.wechat
        assert api is not None
        mark = api.mark()
        url = f"{self.stack.wechat_webhook}?{urllib.parse.urlencode(query or self.query())}"
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "text/xml"})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, reply = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, reply = error.code, error.read()
        self.elapsed = time.monotonic() - started
        self.received = [c for c in api.since(mark, "send") if c.params["touser"] == self.openid]
        return status, reply

    def writes(self, text: str, msg_id: int | None = None) -> int:
        status, reply = self.deliver(self.xml("text", msg_id or next(_ids), Content=text))
        if status == 200:
            assert reply == b"success"
        return status

    def follows(self, scene: str | None = None) -> int:
        fields = {"Event": "subscribe"}
        if scene:
            fields["EventKey"] = f"qrscene_{scene}"
        return self.deliver(self.xml("event", None, **fields))[0]

    @property
    def texts(self) -> list[str]:
        return [c.params["content"] for c in self.received]

    def said(self) -> str:
        return "\n".join(self.texts)

    def option(self, label: str) -> str:
        """The number the bot's last message gives the option ``label``."""
        match = re.search(r"(\d+)（" + re.escape(label) + "）", self.texts[-1])
        assert match, f"no option {label!r} in {self.texts[-1]!r}"
        return match.group(1)


def question_of(texts: list[str]) -> str | None:
    for text in reversed(texts):
        body = text.split("\n请回复")[0].rstrip()
        if body.endswith("对吗？"):
            return READ_BACK
        if body.split("\n")[-1] in QUESTION_BY_ZH:
            return QUESTION_BY_ZH[body.split("\n")[-1]]
    return None


def starts(stack: Stack, openid: str) -> WeChatPatient:
    patient = WeChatPatient(stack, openid)
    assert patient.writes("你好") == 200
    assert "不是诊断" in patient.said()
    assert patient.texts[-1].endswith("请回复1（可以，开始吧），2（不用了，谢谢）。")
    patient.writes("1")  # the typed number picks "可以，开始吧"
    assert question_of(patient.texts) == "diagnosis"
    return patient


def answer_all(patient: WeChatPatient, answers: dict[str, str]) -> list[str]:
    asked: list[str] = []
    while (qid := question_of(patient.texts)) is not None:
        assert len(asked) < 60, f"the screening did not end: {asked} {patient.texts}"
        asked.append(qid)
        patient.writes(patient.option("对，没有问题") if qid == READ_BACK else answers[qid])
    return asked


def test_the_server_url_is_verified_with_the_token(stack):
    patient = WeChatPatient(stack, "o-e2e-verify")
    for token, status in ((WECHAT_TOKEN, 200), ("guessed", 403)):
        query = {**patient.query(token), "echostr": "4711815891734585"}
        url = f"{stack.wechat_webhook}?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                got, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            got, body = error.code, b""
        assert got == status
        if status == 200:
            assert body == b"4711815891734585"


def test_unsigned_stale_or_forged_messages_are_refused(stack):
    patient = WeChatPatient(stack, "o-e2e-mallory")
    body = patient.xml("text", next(_ids), Content="你好")
    assert patient.deliver(body, patient.query("guessed"))[0] == 403
    assert patient.deliver(body, patient.query(age=600))[0] == 403  # a replay, ten minutes on
    assert patient.deliver(body, {"timestamp": str(int(time.time())), "nonce": "1"})[0] == 403
    assert patient.deliver(b"<xml>not a message</xml>")[0] == 400
    assert patient.received == []
    with session_scope(stack.database_url) as session:
        assert session.execute(select(Screening).where(
            Screening.conversation_id == patient.conversation)).scalar_one_or_none() is None


def test_a_whole_screening_in_chinese_ends_in_the_queue(stack):
    api = stack.providers.wechat
    patient = starts(stack, "oE2E_lead_0000000000000000001")
    asked = answer_all(patient, LEAD)
    assert "您有可能参加这项研究" in patient.said(), (asked, patient.texts)
    assert len(asked) > 20
    patient.writes(patient.option("是"))  # to being contacted
    for text in ["建华", "王", "jianhua.wang@example.com", "138 0013 8000"]:
        patient.writes(text)
    patient.writes(patient.option("不用，普通话就可以"))
    patient.writes(patient.option("对，没有问题"))
    patient.writes(patient.option("同意"))
    assert "已经把您提供的联系方式提交给" in patient.said()

    screening, lead = screening_of(stack, patient.conversation)
    assert screening.channel == "wechat"
    assert screening.language == "zh"
    # Two criteria answered "not sure" are left for the site to confirm with her.
    assert screening.status == "may_qualify_confirm"
    assert lead is not None and lead.phone == "+8613800138000"
    assert (lead.first_name, lead.last_name) == ("建华", "王")
    answers = answers_of(stack, patient.conversation)
    assert answers["other_autoimmune"].raw_text == "2" and answers["other_autoimmune"].value == "no"
    assert answers["hepatitis_syphilis"].raw_text == "3" and answers["hepatitis_syphilis"].unsure
    assert answers["antibodies"].unsure
    assert answers["steroid_dose"].raw_text == "每天10毫克"
    # Every message went as customer-service text under WeChat's limit, to this patient's
    # OpenID; the conversation is not named by it.
    assert all(len(c.params["content"].encode()) <= MAX_TEXT_BYTES for c in api.since(0, "send"))
    assert api.since(0, "too_long") == [] and api.since(0, "unauthorized") == []
    assert patient.openid not in patient.conversation


def test_a_knockout_in_chinese(stack):
    patient = starts(stack, "oE2E_knockout_000000000000002")
    patient.writes("没有，医生没说过")
    if question_of(patient.texts) == READ_BACK:  # an answer that ends the screening is read back
        patient.writes(patient.option("对，没有问题"))
    assert "很抱歉，您不能参加这项研究" in patient.said()
    screening, lead = screening_of(stack, patient.conversation)
    assert screening.status == "not_eligible" and lead is None
    assert screening.language == "zh"


def test_not_sure_answers_go_on_to_the_next_question(stack):
    patient = starts(stack, "oE2E_unsure_00000000000000003")
    patient.writes("不确定")
    assert question_of(patient.texts) not in (None, "diagnosis")
    assert answers_of(stack, patient.conversation)["diagnosis"].unsure


def test_a_retried_message_is_answered_once(stack):
    patient = WeChatPatient(stack, "oE2E_retry_000000000000000004")
    msg_id = next(_ids)
    assert patient.writes("你好", msg_id) == 200
    first = len(patient.received)
    assert first >= 1
    # WeChat sends the same message again when it thinks the server was slow.
    for _ in range(3):
        assert patient.writes("你好", msg_id) == 200
        assert patient.received == []
    time.sleep(1.0)
    api = stack.providers.wechat
    sent = [c for c in api.calls if c.method == "send" and c.params["touser"] == patient.openid]
    assert len(sent) == first


def test_a_long_reply_is_split_into_several_messages(stack):
    patient = starts(stack, "oE2E_long_0000000000000000005")
    patient.writes(LEAD["diagnosis"])
    assert question_of(patient.texts) == "lupus_meds"
    medicines = "、".join([
        "泼尼松", "甲泼尼龙", "地塞米松", "吗替麦考酚酯", "硫唑嘌呤", "甲氨蝶呤", "环磷酰胺",
        "他克莫司", "环孢素", "来氟米特", "羟氯喹", "贝利尤单抗", "泰它西普", "雷公藤",
        "艾拉莫德", "沙利度胺", "白芍总苷", "钙尔奇D", "阿法骨化醇", "奥美拉唑", "氯化钾",
        "阿司匹林", "硝苯地平", "缬沙坦", "叶酸", "维生素D", "碳酸钙", "雷贝拉唑", "泮托拉唑",
        "阿托伐他汀", "辅酶Q10", "复合维生素B", "鱼油", "益生菌", "葡萄糖酸锌", "氨氯地平",
        "呋塞米", "螺内酯", "骨化三醇", "达格列净",
    ])
    patient.writes(f"我在吃{medicines}")
    readback = [t for t in patient.texts if "跟您确认" in t or "对吗？" in t]
    assert len(patient.texts) >= 2 and len("".join(patient.texts)) > 600, patient.texts
    assert all(len(t) <= 600 and len(t.encode()) <= MAX_TEXT_BYTES for t in patient.texts)
    assert readback and question_of(patient.texts) == READ_BACK


def test_a_photo_or_voice_message_gets_a_kind_reply_and_no_turn(stack):
    patient = starts(stack, "oE2E_photo_000000000000000006")
    status, _ = patient.deliver(patient.xml("image", next(_ids), PicUrl="http://x/y.jpg"))
    assert status == 200
    assert patient.texts == ["我只能读懂文字消息。请直接打字回复您的答案。"]
    patient.writes("是的")
    assert question_of(patient.texts) not in (None, "diagnosis")  # the question was still open


def test_following_from_a_qr_code_greets_for_its_trial_in_chinese(stack):
    patient = WeChatPatient(stack, "oE2E_follow_00000000000000007")
    assert patient.follows("NCT06675422") == 200
    assert "JY231 治疗活动性狼疮研究" in patient.said()
    assert patient.texts[-1].endswith("请回复1（可以，开始吧），2（不用了，谢谢）。")


def test_the_access_token_is_fetched_once_and_again_when_it_expires(stack):
    api = stack.providers.wechat
    assert len(api.since(0, "token")) == 1  # every message so far, on one token
    api.routes.expire_token()
    patient = WeChatPatient(stack, "oE2E_expiry_00000000000000008")
    patient.writes("你好")
    assert "不是诊断" in patient.said()  # not lost to the expired token
    assert len(api.since(0, "token")) == 2
    refused = api.since(0, "refused")
    assert refused and all(c.params["expired"] for c in refused)
    assert len(refused) == 1  # the first message, then the new token for the rest
