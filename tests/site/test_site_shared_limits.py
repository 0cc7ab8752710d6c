"""The study page's rate limits through Redis (the cluster's ``REDIS_URL``): two site replicas
count one address in one bucket for the contact form and the sign-up, for the notes' links and
for passcode tries; the buckets' keys name no address; the forms are let through when Redis is
down. And the client address behind a proxy: ``X-Forwarded-For`` is read only with
``TRUSTED_PROXIES`` set. On the Redis these machines run (127.0.0.1:6379, ``TEST_REDIS_URL`` for
another) and the test database, under a key prefix of the test's own, deleted afterwards."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import crypto, ratelimit
from bot.ratelimit import RedisRateLimiter, RedisSettings
from bot.site.app import create_app, trusted_proxies

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TRIAL = "NCT06675422"
ADDRESS = "203.0.113.41"


@pytest.fixture()
def vendor(tmp_path: Path) -> Path:
    (tmp_path / "socket.io.min.js").write_text("/* socket.io client */")
    return tmp_path


@pytest.fixture()
def site_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> None:
    monkeypatch.setenv("DEFAULT_TRIAL", TRIAL)
    monkeypatch.setenv("DEFAULT_PHONE_REGION", "CN")
    monkeypatch.setenv("DATA_KEYS", crypto.new_key())
    monkeypatch.setenv("DATA_KEY_FILE", str(tmp_path / "unused-key-file"))
    monkeypatch.delenv("NOTES_SHARE_HOURS", raising=False)
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    crypto.forget_keys()
    yield
    crypto.forget_keys()


@pytest.fixture()
def redis_prefix(site_env: None, redis_key_prefix: str,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("REDIS_KEY_PREFIX", redis_key_prefix)
    try:
        yield redis_key_prefix
    finally:
        ratelimit._sync_clients.clear()


def _replicas(vendor: Path, **config) -> list:
    """Two apps, as two site processes behind a load balancer would be."""
    return [create_app({"VENDOR_DIR": vendor, "SECRET_KEY": "k" * 32, **config}).test_client()
            for _ in range(2)]


def _csrf(client) -> str:
    html = client.get(f"/trials/{TRIAL}").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def _sign_up(client, address: str = ADDRESS, **headers: str) -> int:
    # An address the sign-up refuses (400) still spends from the bucket, as a flood would;
    # it keeps the test from storing opt-ins.
    data = {"csrf_token": _csrf(client), "lang": "en", "email": "not-an-email"}
    return client.post(f"/trials/{TRIAL}/sign-up", data=data, headers=headers,
                       environ_base={"REMOTE_ADDR": address}).status_code


def _keys(prefix: str) -> list[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return sorted(k.decode() for k in client.scan_iter(f"{prefix}:*"))
    finally:
        client.close()


def test_two_site_replicas_count_one_address_in_one_form_bucket(
    vendor: Path, redis_prefix: str
) -> None:
    first, second = _replicas(vendor, FORM_LIMIT=3)
    statuses = [_sign_up(first if n % 2 else second) for n in range(5)]
    assert statuses == [400, 400, 400, 429, 429]  # 3 posts between both replicas, not 3 each
    assert _sign_up(first, address="203.0.113.42") == 400  # another address has its own
    keys = _keys(redis_prefix)
    assert len(keys) == 2
    assert all(k.startswith(f"{redis_prefix}:rate:site_form:") for k in keys)
    assert not any(ADDRESS in k or "203.0.113" in k for k in keys)


def test_two_site_replicas_share_the_notes_link_and_passcode_limits(
    vendor: Path, redis_prefix: str
) -> None:
    first, second = _replicas(vendor)
    made = []
    for n in range(11):
        client = first if n % 2 else second
        token = client.get("/notes/form-token").get_json()["token"]
        body = {"trial": TRIAL, "language": "en", "passcode": "heron-and-pine-7",
                "notes": [{"quote": "", "note": f"ask about the dose {n}"}]}
        made.append(client.post("/notes", json=body, headers={"X-CSRFToken": token},
                                environ_base={"REMOTE_ADDR": ADDRESS}))
    assert [r.status_code for r in made] == [201] * 10 + [429]  # SHARES_PER_HOUR, together
    assert int(made[-1].headers["Retry-After"]) > 300  # 10 an hour: one back in 6 minutes
    path = made[0].get_json()["path"]
    tokens = []
    for client in (first, second):
        html = client.get(path).get_data(as_text=True)
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found
        tokens.append(found.group(1))
    # 30 passcodes per 10 minutes from one address, on any link, whichever replica takes them:
    # guesses at unknown links spend them, then the right passcode on a real link is refused.
    guesses = [(first, second)[n % 2].post(
        f"/notes/{'B' * 42}{n % 10}", data={"csrf_token": tokens[n % 2], "passcode": "guess"},
        environ_base={"REMOTE_ADDR": ADDRESS}).status_code for n in range(30)]
    assert guesses == [404] * 30
    refused = first.post(path, data={"csrf_token": tokens[0], "passcode": "heron-and-pine-7"},
                         environ_base={"REMOTE_ADDR": ADDRESS})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    shown = first.post(path, data={"csrf_token": tokens[0], "passcode": "heron-and-pine-7"},
                       environ_base={"REMOTE_ADDR": "203.0.113.42"})
    assert shown.status_code == 200  # another address is not held up
    names = {k.split(":")[2] for k in _keys(redis_prefix)}
    assert names == {"notes_share", "notes_passcode"}


def test_the_forms_are_let_through_when_redis_is_down(
    vendor: Path, site_env: None, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
    monkeypatch.setenv("REDIS_KEY_PREFIX", "down")
    try:
        client = _replicas(vendor, FORM_LIMIT=1)[0]
        assert [_sign_up(client) for _ in range(3)] == [400, 400, 400]
    finally:
        ratelimit._sync_clients.clear()
    assert "the shared rate limiter is unavailable" in caplog.text
    assert ADDRESS not in caplog.text


def test_the_blocking_and_the_async_take_share_one_bucket(redis_prefix: str) -> None:
    """The site (blocking) and a channel (asyncio) on one limiter name count together."""
    import asyncio

    limiter = RedisRateLimiter(2, 60, RedisSettings(REDIS_URL, redis_prefix), "address")
    assert limiter.check(("site", ADDRESS)).allowed
    ratelimit._clients.clear()
    assert asyncio.run(limiter.take(("site", ADDRESS))).allowed
    ratelimit._clients.clear()
    refused = limiter.check(("site", ADDRESS))
    assert not refused.allowed and refused.first_refusal and refused.retry_after == 30


def test_x_forwarded_for_is_read_only_from_a_trusted_proxy(
    vendor: Path, site_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    # Without TRUSTED_PROXIES a client sending its own header is still counted by its socket.
    direct = create_app({"VENDOR_DIR": vendor, "SECRET_KEY": "k" * 32,
                         "FORM_LIMIT": 2}).test_client()
    spoofed = [_sign_up(direct, "198.51.100.5", **{"X-Forwarded-For": f"192.0.2.{n}"})
               for n in range(3)]
    assert spoofed == [400, 400, 429]
    # Behind one proxy (nginx at 127.0.0.1) each patient has their own bucket, and the proxy's
    # address is not one bucket for everyone.
    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    proxied = create_app({"VENDOR_DIR": vendor, "SECRET_KEY": "k" * 32,
                          "FORM_LIMIT": 2}).test_client()
    patients = [_sign_up(proxied, "127.0.0.1", **{"X-Forwarded-For": f"192.0.2.{n}"})
                for n in range(3)]
    assert patients == [400, 400, 400]
    same = [_sign_up(proxied, "127.0.0.1", **{"X-Forwarded-For": "192.0.2.9"})
            for _ in range(3)]
    assert same == [400, 400, 429]
    # Only the proxy's hop is trusted: a forged first hop does not pick the bucket.
    forged = [_sign_up(proxied, "127.0.0.1",
                       **{"X-Forwarded-For": f"10.0.0.{n}, 192.0.2.9"}) for n in range(2)]
    assert forged == [429, 429]


def test_trusted_proxies_is_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    assert trusted_proxies() == 0 and trusted_proxies("") == 0 and trusted_proxies(2) == 2
    monkeypatch.setenv("TRUSTED_PROXIES", "3")
    assert trusted_proxies() == 3
    with pytest.raises(ValueError, match="whole number"):
        trusted_proxies("yes")
    with pytest.raises(ValueError, match="negative"):
        trusted_proxies("-1")
