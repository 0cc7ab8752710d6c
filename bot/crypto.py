"""Encryption at rest for patients' data, with keys from the environment (``DATA_KEYS``).

Two kinds of ciphertext, both from the ``cryptography`` library:

* **Randomised** (:func:`encrypt_text`): Fernet (AES-128-CBC with HMAC-SHA256, a fresh IV each
  time), through :class:`~cryptography.fernet.MultiFernet`, so the newest key encrypts and every
  listed key still decrypts. For values only ever read back: answers, contact details, notes.
* **Deterministic** (:func:`encrypt_deterministic`): AES-SIV (RFC 5297), the same plaintext giving
  the same ciphertext under one key, for values looked up by equality: the conversation id (the
  patient's phone number on Twilio) in the store and the tracker store's ``sender_id``. A lookup
  during a rotation matches every key's form (:func:`deterministic_forms`).

``DATA_KEYS`` is a comma-separated list of keys, newest first; each is 32 random bytes in
URL-safe base64 (``python -m bot new-data-key`` prints one). The Fernet and AES-SIV keys are
derived from each with HKDF-SHA256, so one secret serves both and neither is used raw twice.
Left empty, a key is generated once into ``var/data-key`` (mode 0600; ``DATA_KEY_FILE`` moves
it) and a warning says so, the way the console does for its secret key.

A value that none of the keys decrypts raises :class:`UnreadableValue` with a message that says
what to do and holds nothing of the value.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.files import FILE_MODE, private_dir, private_file
from bot.settings import PROJECT_ROOT, load_settings

log = logging.getLogger(__name__)

DEFAULT_KEY_FILE = PROJECT_ROOT / "var" / "data-key"

# Deterministic ciphertexts start with this, so they are told apart from a Fernet token
# ("gAAAAA...") and from a plaintext id at a glance; the rest is URL-safe base64 without padding.
DETERMINISTIC_PREFIX = "d1."
_SIV_ASSOCIATED_DATA = [b"prescreen deterministic v1"]


class UnreadableValue(RuntimeError):
    """A stored value that no key in DATA_KEYS decrypts."""

    def __init__(self, where: str = "") -> None:
        super().__init__(
            f"a stored value{f' ({where})' if where else ''} cannot be decrypted with any key "
            "in DATA_KEYS: the key it was "
            "encrypted with was removed before `python -m bot rotate-keys` re-encrypted it. Put "
            "the old key back at the end of DATA_KEYS (or, if this installation used the "
            "generated key, the content of var/data-key), run `python -m bot rotate-keys`, "
            "then remove the old key."
        )


class KeyConfigError(RuntimeError):
    """DATA_KEYS (or the key file) holds something that is not a key."""


def new_key() -> str:
    """A fresh key for DATA_KEYS."""
    return Fernet.generate_key().decode("ascii")


def _derive(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != 32:
        raise KeyConfigError(
            f"{where} holds an entry that is not a key (32 bytes in URL-safe base64): generate "
            "one with `python -m bot new-data-key`"
        )
    return raw


@dataclass(frozen=True)
class Keyring:
    """The keys in use, newest first."""

    fernet: MultiFernet
    fernets: tuple[Fernet, ...]
    sivs: tuple[AESSIV, ...]
    source: str  # "DATA_KEYS" or the key file's path, for messages

    @classmethod
    def from_secrets(cls, secrets: list[bytes], source: str) -> Keyring:
        fernets = tuple(
            Fernet(base64.urlsafe_b64encode(_derive(s, b"prescreen fernet v1", 32)))
            for s in secrets
        )
        sivs = tuple(AESSIV(_derive(s, b"prescreen aes-siv v1", 64)) for s in secrets)
        return cls(MultiFernet(list(fernets)), fernets, sivs, source)

    def __len__(self) -> int:
        return len(self.fernets)


_lock = threading.Lock()
_keyrings: dict[tuple[str, str], Keyring] = {}


def key_file() -> Path:
    load_settings()
    return Path(os.environ.get("DATA_KEY_FILE") or DEFAULT_KEY_FILE)


def _generated_key(path: Path) -> tuple[str, bool]:
    """The key in ``path``, generated (mode 0600) on first use.

    The new key is written to a temporary file and linked into place, so processes starting at
    the same moment all end up with the one key and none reads a half-written file.
    """
    private_dir(path.parent)
    generated = False
    if not path.exists():
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(new_key() + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        else:
            generated = True
            log.warning(
                "DATA_KEYS is not set: generated a data key in %s (mode 0600). Keep a copy "
                "somewhere safe: without it the stored data cannot be read.",
                path,
            )
        finally:
            temporary.unlink(missing_ok=True)
    private_file(path)
    return path.read_text(encoding="ascii").strip(), generated


def keyring() -> Keyring:
    """The keys from ``DATA_KEYS`` (or the generated key file), parsed once per value."""
    load_settings()
    spec = os.environ.get("DATA_KEYS", "").strip()
    path = "" if spec else str(key_file())
    cache_key = (spec, path)
    found = _keyrings.get(cache_key)
    if found is not None:
        return found
    with _lock:
        found = _keyrings.get(cache_key)
        if found is None:
            if spec:
                entries = [e for e in (p.strip() for p in spec.split(",")) if e]
                secrets = [_decode_key(e, "DATA_KEYS") for e in entries]
                if len(set(secrets)) != len(secrets):
                    raise KeyConfigError("DATA_KEYS lists the same key twice")
                found = Keyring.from_secrets(secrets, "DATA_KEYS")
            else:
                text, generated = _generated_key(Path(path))
                found = Keyring.from_secrets([_decode_key(text, path)], path)
                if not generated:
                    log.warning(
                        "DATA_KEYS is not set: encrypting with the key kept in %s. Set DATA_KEYS "
                        "in .env to share one key between hosts.",
                        path,
                    )
            _keyrings[cache_key] = found
        return found


def forget_keys() -> None:
    """Drop the parsed keys (tests that change DATA_KEYS)."""
    with _lock:
        _keyrings.clear()


# --- randomised -------------------------------------------------------------------------------


def encrypt_text(text: str) -> str:
    """Ciphertext for ``text`` under the newest key; different on every call."""
    return keyring().fernet.encrypt(text.encode("utf-8")).decode("ascii")


def decrypt_text(token: str) -> str:
    """The text :func:`encrypt_text` encrypted, under any listed key."""
    if not isinstance(token, str):
        raise UnreadableValue()
    try:
        return keyring().fernet.decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError):
        raise UnreadableValue() from None


def encrypt_bytes(data: bytes) -> bytes:
    return keyring().fernet.encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    try:
        return keyring().fernet.decrypt(token)
    except InvalidToken:
        raise UnreadableValue() from None


def is_encrypted_text(value: str) -> bool:
    """True if ``value`` is a token one of the listed keys decrypts."""
    if not isinstance(value, str):
        return False
    try:
        keyring().fernet.decrypt(value.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


def is_newest_text(token: str) -> bool:
    """True if the newest key decrypts ``token`` (rotation leaves such a value as it is)."""
    if not isinstance(token, str):
        return False
    try:
        keyring().fernets[0].decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


def reencrypt_text(token: str) -> str:
    """The same text under the newest key (raises :class:`UnreadableValue` if no key fits)."""
    if not isinstance(token, str):
        raise UnreadableValue()
    try:
        return keyring().fernet.rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError):
        raise UnreadableValue() from None


# --- deterministic ----------------------------------------------------------------------------


def _siv_encrypt(siv: AESSIV, text: str) -> str:
    sealed = siv.encrypt(text.encode("utf-8"), _SIV_ASSOCIATED_DATA)
    return DETERMINISTIC_PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")


def encrypt_deterministic(text: str) -> str:
    """The same ciphertext for the same ``text`` (under the newest key): lookups by equality."""
    return _siv_encrypt(keyring().sivs[0], text)


# Recent lookups' forms, per keyring: every action call looks its conversation up, and the
# forms of one id under one set of keys never change. Bounded; emptied when the keys change.
_FORMS_KEPT = 4096
_forms: dict[str, tuple[str, ...]] = {}
_forms_keyring: list[Keyring | None] = [None]


def deterministic_forms(text: str) -> list[str]:
    """``text``'s ciphertext under every listed key, newest first: what a lookup must match
    while rows encrypted under an older key are not yet rotated."""
    ring = keyring()
    if _forms_keyring[0] is not ring:
        with _lock:
            _forms.clear()
            _forms_keyring[0] = ring
    found = _forms.get(text)
    if found is None:
        found = tuple(_siv_encrypt(siv, text) for siv in ring.sivs)
        with _lock:
            if len(_forms) >= _FORMS_KEPT:
                _forms.pop(next(iter(_forms)))  # the oldest entry
            _forms[text] = found
    return list(found)


def _siv_open(value: str) -> tuple[int, str] | None:
    if not value.startswith(DETERMINISTIC_PREFIX):
        return None
    body = value[len(DETERMINISTIC_PREFIX):]
    try:
        sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None
    for index, siv in enumerate(keyring().sivs):
        try:
            return index, siv.decrypt(sealed, _SIV_ASSOCIATED_DATA).decode("utf-8")
        except (InvalidTag, ValueError):
            continue
    return None


def decrypt_deterministic(value: str) -> str:
    opened = _siv_open(value)
    if opened is None:
        raise UnreadableValue()
    return opened[1]


def is_encrypted_deterministic(value: str) -> bool:
    return _siv_open(value) is not None


def reencrypt_deterministic(value: str) -> str:
    """The same text's ciphertext under the newest key."""
    return encrypt_deterministic(decrypt_deterministic(value))


def is_newest_deterministic(value: str) -> bool:
    opened = _siv_open(value)
    return opened is not None and opened[0] == 0
