"""The study page as a patient's browser gets it: the trial from its protocol file, a chat widget
with labels and a live region, and nothing loaded from another origin."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.protocol import ProtocolError
from bot.site.app import SiteError, create_app

TRIAL = "NCT06675422"


class Elements(HTMLParser):
    """Every element's tag and attributes, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.scripts: dict[str, str] = {}
        self._script_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if tag == "script":
            self._script_id = attributes.get("id")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script_id = None

    def handle_data(self, data: str) -> None:
        if self._script_id:
            self.scripts[self._script_id] = data
        elif data.strip():
            self.text.append(" ".join(data.split()))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        """Elements by tag and attributes (``data_chat_restart`` means ``data-chat-restart``,
        ``for_`` means ``for``)."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [a for t, a in self.elements
                if t == tag and all(a.get(k) == v for k, v in wanted.items())]


@pytest.fixture()
def vendor(tmp_path: Path) -> Path:
    """Stands in for node_modules/socket.io-client/dist (installed by `make node-modules`)."""
    (tmp_path / "socket.io.min.js").write_text("/* socket.io client */")
    return tmp_path


@pytest.fixture()
def client(vendor: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SITE_NAME", raising=False)
    monkeypatch.setenv("DEFAULT_TRIAL", TRIAL)
    return create_app({"VENDOR_DIR": vendor, "RASA_PORT": 5005}).test_client()


def page(client, path: str = "/", host: str = "127.0.0.1:8000") -> Elements:
    response = client.get(path, headers={"Host": host})
    assert response.status_code == 200
    parsed = Elements()
    parsed.feed(response.get_data(as_text=True))
    return parsed


def visible(parsed: Elements) -> str:
    return " ".join(parsed.text)


def test_the_page_presents_the_trial_from_its_protocol(client, protocol):
    text = visible(page(client))
    assert protocol.title in text
    assert "Recruiting" in text
    assert protocol.phase in text
    assert f"{protocol.min_age} to {protocol.max_age} years" in text
    assert protocol.overview.get() in text
    assert protocol.description.get() in text
    for faq in protocol.faqs:
        assert faq.question.get() in text
        assert faq.answer.get() in text
    assert protocol.site.name in text
    assert "Kunming, China" in text


def test_a_trial_has_its_own_address_and_unknown_ones_are_not_found(client, protocol):
    assert protocol.title in visible(page(client, f"/trials/{TRIAL}"))
    for path in ("/trials/NCT00000000", "/trials/..%2Fsecrets", "/nothing-here"):
        response = client.get(path)
        assert response.status_code == 404
        assert "There is no study page at this address" in response.get_data(as_text=True)


def test_the_site_name_from_the_environment_wins(client, monkeypatch):
    monkeypatch.setenv("SITE_NAME", "Kunming Lupus Centre")
    assert "Kunming Lupus Centre" in visible(page(client))


def test_the_widget_opens_the_chat_for_this_trial_on_rasas_socket(client):
    parsed = page(client, host="127.0.0.1:8000")
    config = json.loads(parsed.scripts["chat-config"])
    assert config["socketUrl"] == "http://127.0.0.1:5005"
    assert config["socketPath"] == "/socket.io"
    assert config["initPayload"] == '/greet{"trial": "NCT06675422", "language": "en"}'
    assert config["strings"]["typing"] == "The assistant is typing…"
    # Reached as localhost, the widget finds Rasa on localhost too.
    assert json.loads(page(client, host="localhost:8000").scripts["chat-config"])[
        "socketUrl"] == "http://localhost:5005"


def test_a_public_rasa_url_is_used_as_configured(vendor):
    client = create_app({"VENDOR_DIR": vendor, "RASA_URL": "https://chat.example.org/"}).test_client()
    config = json.loads(page(client).scripts["chat-config"])
    assert config["socketUrl"] == "https://chat.example.org"
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "connect-src 'self' https://chat.example.org wss://chat.example.org;" in policy


def test_nothing_is_loaded_from_another_origin(client):
    parsed = page(client)
    sources = [a["src"] for a in parsed.find("script") if "src" in a]
    sources += [a["href"] for a in parsed.find("link")]
    assert sources and all(s.startswith("/") or s.startswith("data:") for s in sources), sources
    assert "/vendor/socket.io.min.js" in sources
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self' http://localhost:5005 ws://localhost:5005;" in policy


def test_the_socket_io_client_from_npm_is_served_by_the_site(client):
    response = client.get("/vendor/socket.io.min.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.get_data(as_text=True) == "/* socket.io client */"
    for asset in ("/static/chat.js", "/static/site.css"):
        assert client.get(asset).status_code == 200


def test_the_site_will_not_start_without_its_browser_files(tmp_path):
    with pytest.raises(SiteError, match="make node-modules"):
        create_app({"VENDOR_DIR": tmp_path})


def test_the_site_will_not_start_for_a_trial_it_does_not_have(vendor):
    with pytest.raises(ProtocolError, match="no protocol file for trial NCT00000000"):
        create_app({"VENDOR_DIR": vendor, "TRIAL_ID": "NCT00000000"})


def test_the_chat_is_labelled_for_screen_readers_and_phones(client):
    parsed = page(client)
    assert parsed.find("html", lang="en")
    assert parsed.find("meta", name="viewport")
    assert len(parsed.find("h1")) == 1
    (field,) = parsed.find("input", id="chat-input")
    assert parsed.find("label", for_="chat-input")
    assert field["aria-describedby"] == "chat-hint" and parsed.find("p", id="chat-hint")
    (log,) = parsed.find("div", role="log")
    assert log["aria-live"] == "polite" and log["aria-label"]
    assert log["tabindex"] == "0"  # a scrolling region the keyboard can reach
    assert parsed.find("p", role="status")
    assert parsed.find("button", type="submit")
    assert parsed.find("button", type="button", data_chat_restart="")
    assert any(a["class"] == "skip-link" for a in parsed.find("a", href="#chat-input"))


def test_the_health_check_answers(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
