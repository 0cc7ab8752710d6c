"""The action server is reachable by Rasa alone: on loopback, and only with the shared secret.

An action call can stop a screening, overwrite a lead's contact details or queue an email, so a
call from anyone else must change nothing. These tests talk to the real action server that
``bot.deploy.services`` started for the e2e stack (and, for the network setting, one more).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from bot.deploy.action_server import SECRET_ENV, SECRET_HEADER, is_loopback
from bot.deploy.services import free_port, wait_for_http
from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.e2e


def snapshot(database_url: str) -> dict[str, list[tuple]]:
    """Every row of every table of the store."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                table: sorted(map(tuple, connection.execute(text(f'SELECT * FROM "{table}"'))),
                              key=repr)
                for table in inspect(connection).get_table_names()
            }
    finally:
        engine.dispose()


def action_call(action: str, sender: str, typed: str) -> dict[str, Any]:
    """The body Rasa POSTs to run ``action`` for ``sender`` after they typed ``typed``."""
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "latest_message": {"text": typed, "intent": {"name": "stop", "confidence": 1.0},
                               "entities": []},
            "latest_event_time": None,
            "followup_action": None,
            "paused": False,
            "events": [],
            "latest_input_channel": "rest",
            "active_loop": {},
            "latest_action_name": None,
        },
    }


def post(url: str, body: dict[str, Any], secret: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def get(url: str, secret: str | None = None) -> int:
    request = urllib.request.Request(url, headers={SECRET_HEADER: secret} if secret else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def network_addresses() -> list[str]:
    """This machine's addresses other than loopback."""
    found: set[str] = set()
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5)
        found.update(out.stdout.split())
    except (OSError, subprocess.SubprocessError):
        pass
    for info in socket.getaddrinfo(socket.gethostname(), None):
        found.add(str(info[4][0]))
    return sorted(a for a in found if not is_loopback(a.split("%")[0]))


def reachable(address: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        try:
            s.connect((address, port))
        except OSError:
            return False
        return True


@pytest.fixture
def webhook(stack) -> str:
    return f"http://127.0.0.1:{stack.services.action_port}/webhook"


def test_a_call_without_the_secret_or_with_a_wrong_one_is_refused_and_changes_nothing(
    stack, webhook
):
    sender = "access-victim-1"
    stack.talk(sender, "hi")
    stack.talk(sender, "yes")  # consents: a screening in progress
    before = snapshot(stack.database_url)
    secret = stack.services.env[SECRET_ENV]
    stop = action_call("action_stop_screening", sender, "stop")
    for given in (None, "", "wrong", secret[:-1], secret + "x", secret.upper()):
        status, body = post(webhook, stop, given)
        assert status == 401, given
        assert body == {"error": "unauthorized"}
    assert get(webhook.replace("/webhook", "/actions")) == 401  # nor may it list the actions
    assert snapshot(stack.database_url) == before

    # The same call with the secret is what Rasa does: it stops that patient's screening.
    status, body = post(webhook, stop, secret)
    assert status == 200
    assert any(e.get("event") == "active_loop" for e in body["events"])
    assert snapshot(stack.database_url) != before


def test_rasa_holds_the_secret_so_patients_are_served(stack):
    replies = stack.talk("access-patient-1", "hi")
    assert any("not a diagnosis" in (m.get("text") or "") for m in replies)


def test_health_stays_open_for_the_supervisor(stack):
    assert get(f"http://127.0.0.1:{stack.services.action_port}/health") == 200


def test_the_action_server_is_not_reachable_on_the_machines_network_address(stack):
    addresses = network_addresses()
    if not addresses:
        pytest.skip("this machine has no address but loopback")
    port = stack.services.action_port
    assert reachable("127.0.0.1", port)
    assert [a for a in addresses if reachable(a, port)] == []


def test_on_a_network_address_when_configured_it_still_requires_the_secret(stack, tmp_path):
    addresses = [a for a in network_addresses() if ":" not in a]
    if not addresses:
        pytest.skip("this machine has no IPv4 address but loopback")
    address, port = addresses[0], free_port()
    secret = "s" * 40
    env = {**stack.services.env, "ACTION_SERVER_HOST": address, SECRET_ENV: secret}
    log = open(tmp_path / "actions.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "actions.server", "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_for_http(f"http://{address}:{port}/health", 120, proc)
        assert not reachable("127.0.0.1", port)  # only where it was told to listen
        call = action_call("action_bot_challenge", "access-remote-1", "are you a bot?")
        assert post(f"http://{address}:{port}/webhook", call, None)[0] == 401
        assert post(f"http://{address}:{port}/webhook", call, "wrong")[0] == 401
        status, body = post(f"http://{address}:{port}/webhook", call, secret)
        assert status == 200 and body["responses"]
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(15)
        log.close()
