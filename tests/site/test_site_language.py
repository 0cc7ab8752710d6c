"""The study page in each of the trial's languages, with a switch, passing its language to the
bot with the greeting."""

from __future__ import annotations

import json
import re

from tests.site.test_site_page import client, page, vendor, visible  # noqa: F401 - fixtures


def widget_config(client, path: str) -> dict:  # noqa: F811 - the fixture
    body = client.get(path, headers={"Host": "127.0.0.1:8000"}).get_data(as_text=True)
    found = re.search(r'id="chat-config">(.*?)</script>', body, re.S)
    assert found
    return json.loads(found.group(1))


def test_the_chinese_page_is_in_chinese_and_greets_the_bot_in_chinese(client):  # noqa: F811
    parsed = page(client, "/?lang=zh")
    assert parsed.find("html", lang="zh")
    words = visible(parsed)
    assert "JY231注射液治疗活动性系统性红斑狼疮的早期探索性临床研究" in words
    assert "看看我能否参加" in words and "常见问题" in words and "什么是临床试验？" in words
    config = widget_config(client, "/?lang=zh")
    assert config["initPayload"] == '/greet{"trial": "NCT06675422", "language": "zh"}'
    assert config["strings"]["typing"] == "助手正在输入…"


def test_the_page_offers_its_other_languages_each_named_in_itself(client):  # noqa: F811
    parsed = page(client, "/")
    links = parsed.find("a", hreflang="zh")
    assert links and links[0]["href"] == "?lang=zh" and links[0]["lang"] == "zh"
    assert parsed.find("a", hreflang="en")[0].get("aria-current") == "page"
    assert "中文" in visible(parsed)
    assert widget_config(client, "/")["initPayload"].endswith('"language": "en"}')


def test_a_language_the_trial_is_not_in_shows_the_default_page(client):  # noqa: F811
    parsed = page(client, "/?lang=fr")
    assert parsed.find("html", lang="en")
    assert "Check whether you may take part" in visible(parsed)
