"""Encryption at rest: what is written to the database files is ciphertext, and reads back."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot import crypto


@pytest.fixture()
def keys(monkeypatch, tmp_path: Path):
    """Two fresh keys, newest first, for one test."""
    new, old = crypto.new_key(), crypto.new_key()
    monkeypatch.setenv("DATA_KEYS", f"{new},{old}")
    monkeypatch.setenv("DATA_KEY_FILE", str(tmp_path / "keys" / "data-key"))
    crypto.forget_keys()
    yield new, old
    crypto.forget_keys()


def test_a_value_reads_back_and_is_different_each_time(keys) -> None:
    first, second = crypto.encrypt_text("I take Benlysta"), crypto.encrypt_text("I take Benlysta")
    assert first != second
    assert "Benlysta" not in first
    assert crypto.decrypt_text(first) == crypto.decrypt_text(second) == "I take Benlysta"


def test_a_conversation_id_has_one_ciphertext_per_key(keys, monkeypatch) -> None:
    phone = "+15551234567"
    sealed = crypto.encrypt_deterministic(phone)
    assert sealed == crypto.encrypt_deterministic(phone)
    assert "5551234567" not in sealed
    assert crypto.decrypt_deterministic(sealed) == phone
    forms = crypto.deterministic_forms(phone)
    assert forms[0] == sealed and len(set(forms)) == 2


def test_a_value_from_an_old_key_still_reads_and_reencrypts_under_the_newest(
    keys, monkeypatch
) -> None:
    new, old = keys
    monkeypatch.setenv("DATA_KEYS", old)
    crypto.forget_keys()
    token, sealed = crypto.encrypt_text("Ada"), crypto.encrypt_deterministic("conv-1")
    monkeypatch.setenv("DATA_KEYS", f"{new},{old}")
    assert crypto.decrypt_text(token) == "Ada"
    assert crypto.decrypt_deterministic(sealed) == "conv-1"
    assert not crypto.is_newest_deterministic(sealed)
    rotated, resealed = crypto.reencrypt_text(token), crypto.reencrypt_deterministic(sealed)
    monkeypatch.setenv("DATA_KEYS", new)
    assert crypto.decrypt_text(rotated) == "Ada"
    assert crypto.decrypt_deterministic(resealed) == "conv-1"
    with pytest.raises(crypto.UnreadableValue, match="rotate-keys"):
        crypto.decrypt_text(token)
    with pytest.raises(crypto.UnreadableValue, match="rotate-keys"):
        crypto.decrypt_deterministic(sealed)


def test_without_data_keys_a_private_key_file_is_generated_once(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv("DATA_KEYS", raising=False)
    path = tmp_path / "var" / "data-key"
    monkeypatch.setenv("DATA_KEY_FILE", str(path))
    crypto.forget_keys()
    token = crypto.encrypt_text("Ada")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sum("generated a data key" in r.getMessage() for r in caplog.records) == 1
    content = path.read_text()
    crypto.forget_keys()
    assert crypto.decrypt_text(token) == "Ada"  # the same key, read back from the file
    assert path.read_text() == content
    crypto.forget_keys()


def test_a_malformed_key_is_refused_clearly(monkeypatch) -> None:
    monkeypatch.setenv("DATA_KEYS", "not-a-key")
    crypto.forget_keys()
    with pytest.raises(crypto.KeyConfigError, match="new-data-key"):
        crypto.encrypt_text("x")
    crypto.forget_keys()
