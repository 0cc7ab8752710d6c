"""Column types that encrypt on write and decrypt on read (:mod:`bot.crypto` does the work).

* :class:`SealedText`: randomised (Fernet). The database cannot compare such values, so a
  comparison or a search on one raises at once instead of quietly matching nothing: read the
  rows and compare in Python (``bot.leads.search_matches`` does so for the console's search).
* :class:`SealedJSON`: any JSON value, serialised and sealed like :class:`SealedText`; the
  column stays JSON, holding the token as a JSON string, so no column type changes.
* :class:`SealedId`: deterministic (AES-SIV), for values looked up by equality. ``column == x``
  (and ``!=``, ``in_``) match ``x`` under every key in ``DATA_KEYS``, so a lookup still finds
  rows that ``python -m bot rotate-keys`` has not re-encrypted yet.

Used by the store's models and by the encrypted tracker store (``channels/tracker_store.py``).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, String, Text, bindparam, type_coerce
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from bot import crypto

# Operators that would compare a randomised ciphertext: they can never mean what they say.
_REFUSED = {
    operators.eq, operators.ne, operators.lt, operators.le, operators.gt, operators.ge,
    operators.like_op, operators.ilike_op, operators.notlike_op, operators.notilike_op,
    operators.contains_op, operators.startswith_op, operators.endswith_op,
    operators.in_op, operators.notin_op, operators.between_op, operators.match_op,
}


class EncryptedComparisonError(TypeError):
    """SQL cannot compare values it only holds encrypted."""


class _RandomisedComparator(TypeDecorator.Comparator):
    def operate(self, op, *other, **kwargs):  # noqa: ANN001, ANN201 - SQLAlchemy's signature
        if op in _REFUSED:
            raise EncryptedComparisonError(
                f"{self.expr} is encrypted at rest: the database cannot compare or search it; "
                "read the rows and compare in Python"
            )
        return super().operate(op, *other, **kwargs)

    def reverse_operate(self, op, other, **kwargs):  # noqa: ANN001, ANN201
        if op in _REFUSED:
            raise EncryptedComparisonError(f"{self.expr} is encrypted at rest")
        return super().reverse_operate(op, other, **kwargs)


class SealedText(TypeDecorator):
    """Text stored as a Fernet token."""

    impl = Text
    cache_ok = True
    comparator_factory = _RandomisedComparator

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else crypto.encrypt_text(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else crypto.decrypt_text(value)


class SealedJSON(TypeDecorator):
    """A JSON value stored as a JSON string: the Fernet token of the value's JSON text."""

    impl = JSON
    cache_ok = True
    comparator_factory = _RandomisedComparator

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return crypto.encrypt_text(json.dumps(value, ensure_ascii=False, sort_keys=True))

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise crypto.UnreadableValue("a JSON value stored in plain text")
        return json.loads(crypto.decrypt_text(value))


class _DeterministicComparator(TypeDecorator.Comparator):
    def operate(self, op, *other, **kwargs):  # noqa: ANN001, ANN201
        raw = type_coerce(self.expr, String)
        if op in (operators.eq, operators.ne) and len(other) == 1 and isinstance(other[0], str):
            forms = crypto.deterministic_forms(other[0])
            return raw.in_(forms) if op is operators.eq else raw.not_in(forms)
        if op in (operators.in_op, operators.notin_op) and len(other) == 1:
            values = list(other[0])
            if all(isinstance(v, str) for v in values):
                forms = [f for v in values for f in crypto.deterministic_forms(v)]
                return raw.in_(forms) if op is operators.in_op else raw.not_in(forms)
        if op in _REFUSED:
            raise EncryptedComparisonError(
                f"{self.expr} is encrypted at rest: only equality with a string can be looked up"
            )
        return super().operate(op, *other, **kwargs)


def sealed_id_in(column: Any, name: str) -> Any:
    """``column`` (a :class:`SealedId`) equal to the value bound as ``name``: the comparison
    ``column == value`` makes, for a statement built once and run with
    ``{name: sealed_id_forms(value)}``."""
    return type_coerce(column, String).in_(bindparam(name, expanding=True))


def sealed_id_forms(value: str) -> list[str]:
    """The values :func:`sealed_id_in` is bound to for ``value``: its form under every key."""
    return crypto.deterministic_forms(value)


class SealedId(TypeDecorator):
    """A string stored as its AES-SIV ciphertext: the same value, the same ciphertext.

    ``length`` is the stored column's length (ciphertext is longer than the value: 16 bytes of
    tag, base64, a 3-character prefix); None for unlimited text.
    """

    impl = Text
    cache_ok = True
    comparator_factory = _DeterministicComparator

    def __init__(self, length: int | None = None) -> None:
        super().__init__()
        self.length = length
        if length:
            self.impl = String(length)

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        sealed = crypto.encrypt_deterministic(str(value))
        if self.length and len(sealed) > self.length:
            # The same refusal on SQLite (which ignores lengths) as on PostgreSQL.
            raise ValueError(f"too long to store sealed in {self.length} characters")
        return sealed

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else crypto.decrypt_deterministic(value)
