"""The cluster's configuration, before anything starts: what it refuses, the endpoints file
Rasa reads (endpoints.yml plus the Redis lock store), and nginx's configuration, which the real
nginx checks (``nginx -t``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.deploy.cluster import (
    ClusterConfigError,
    ClusterSettings,
    nginx_config,
    write_endpoints,
)

GOOD = {
    "DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/test",
    "TRACKER_STORE_URL": "postgresql://postgres@127.0.0.1:5432/test",
    "REDIS_URL": "redis://:s3cret@127.0.0.1:6380/3",
    "REDIS_KEY_PREFIX": "site1",
}


def test_the_cluster_needs_postgresql_and_redis() -> None:
    with pytest.raises(ClusterConfigError, match="DATABASE_URL.*TRACKER_STORE_URL.*REDIS_URL"):
        ClusterSettings.from_env({"DATABASE_URL": "sqlite:///x.db"})
    with pytest.raises(ClusterConfigError, match="letters or digits"):
        ClusterSettings.from_env({**GOOD, "REDIS_KEY_PREFIX": "a:b"})
    with pytest.raises(ClusterConfigError, match="RASA_REPLICAS"):
        ClusterSettings.from_env({**GOOD, "RASA_REPLICAS": "0"})
    settings = ClusterSettings.from_env(GOOD)
    assert settings.replicas == 2 and settings.public_port == 5005
    assert (settings.redis.host, settings.redis.port, settings.redis.db) == ("127.0.0.1", 6380, 3)


def test_the_endpoints_add_the_redis_lock_store_and_keep_the_password_out(tmp_path) -> None:
    path = write_endpoints(tmp_path / "run" / "endpoints.yml", ClusterSettings.from_env(GOOD))
    endpoints = yaml.safe_load(path.read_text())
    assert endpoints["lock_store"] == {
        "type": "channels.lock_store.AtomicRedisLockStore", "url": "127.0.0.1",
        "port": 6380, "db": 3, "key_prefix": "site1",
        "password": "${LOCK_STORE_REDIS_PASSWORD}",
    }
    assert endpoints["tracker_store"]["type"] == "channels.tracker_store.EncryptedSQLTrackerStore"
    assert endpoints["action_endpoint"]["url"] == "${ACTION_ENDPOINT_URL}"
    assert "s3cret" not in path.read_text()
    assert path.stat().st_mode & 0o077 == 0


@pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                    reason="nginx is not installed (scripts/install-nginx)")
def test_nginx_accepts_the_generated_configuration(tmp_path) -> None:
    from bot.deploy.cluster import nginx_binary

    conf = tmp_path / "nginx.conf"
    text = nginx_config([7001, 7002], [7101, 7102], 7000, 7100, tmp_path, tmp_path)
    conf.write_text(text)
    assert text.count("server 127.0.0.1:7001") == 2  # round robin and sticky upstreams
    assert "ip_hash;" in text and "least_conn;" in text and "{{" not in text
    check = subprocess.run([nginx_binary(), "-t", "-e", str(tmp_path / "error.log"),
                            "-c", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
