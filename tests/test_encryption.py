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


# --- the store: what the real store functions write is ciphertext in the raw files -------------

PHONE_CONVERSATION = "+15557654321"  # on Twilio the conversation id is the patient's number
OTHER_CONVERSATION = "whatsapp:+15550009999"
PLANTED = ("Zebulon", "Quixotic", "zebulon.quixotic@example.org", "13912345678", "Benlysta",
           "cellcept", "5557654321", "5550009999", "Klingon", "Called back about")


async def plant_patient_data() -> str:
    """A screening that may qualify (conversation id = a phone number), its lead with a note and
    an opt-in, and a second screening answered "I take Benlysta"; returns the lead's id."""
    from bot import leads
    from tests.test_actions import may_qualify, reply, start

    await may_qualify(PHONE_CONVERSATION)  # its medicines answer is "prednisone and cellcept"
    details = leads.ContactDetails(
        "Zebulon", "Quixotic", "zebulon.quixotic@example.org", "+8613912345678", "Klingon"
    )
    lead_id = leads.create_lead(PHONE_CONVERSATION, details, "consent wording")
    leads.add_note(lead_id, "Called back about the visit", "cora@site.example")
    leads.save_optin(PHONE_CONVERSATION, "NCT06675422", "zebulon.quixotic@example.org", "optin")
    await start(OTHER_CONVERSATION)
    await reply("I take Benlysta", OTHER_CONVERSATION)
    return lead_id


def raw_sqlite_bytes(database: Path) -> bytes:
    """The database file and its write-ahead log, as any local user would read them."""
    return b"".join(
        p.read_bytes() for p in (database, Path(f"{database}-wal"), Path(f"{database}-journal"))
        if p.exists()
    )


def raw_store_columns(url: str) -> list[str]:
    """Every text value of the patient tables, read with plain SQL (no ORM types)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    values: list[str] = []
    try:
        with engine.connect() as connection:
            for table in ("screenings", "answers", "verdicts", "leads", "lead_events", "optins",
                          "outbox"):
                for row in connection.execute(text(f"SELECT * FROM {table}")):
                    values.extend(str(v) for v in row if v is not None)
    finally:
        engine.dispose()
    return values


def assert_nothing_planted_in(blob: str | bytes, where: str) -> None:
    for value in PLANTED:
        needle = value.encode() if isinstance(blob, bytes) else value
        haystack = blob.lower() if isinstance(blob, bytes) else blob.lower()
        assert needle.lower() not in haystack, f"{value!r} is readable in {where}"


async def test_contact_details_answers_and_ids_are_ciphertext_in_the_store(keys, database_url):
    from sqlalchemy import select

    from bot import leads, screenings
    from bot.db import session_scope
    from bot.models import AnswerRow, Lead, Screening

    lead_id = await plant_patient_data()

    # Plain SQL sees only ciphertext, on SQLite and PostgreSQL alike.
    values = raw_store_columns(database_url)
    assert_nothing_planted_in("\n".join(values), "the store's columns")
    assert any(v.startswith("d1.") for v in values)  # the conversation ids, deterministic
    if database_url.startswith("sqlite:///"):
        database = Path(database_url.removeprefix("sqlite:///"))
        assert_nothing_planted_in(raw_sqlite_bytes(database), "the SQLite file or its WAL")

    # The application reads everything back, and finds a screening by its conversation id.
    assert screenings.snapshot(PHONE_CONVERSATION).status == "may_qualify"
    with session_scope() as session:
        screening = session.execute(
            select(Screening).where(Screening.conversation_id == PHONE_CONVERSATION)
        ).scalar_one()
        raw = {r.question_id: r for r in screening.answers}
        assert raw["lupus_meds"].raw_text == "prednisone and cellcept"
        assert "prednisone" in raw["lupus_meds"].value
        other = session.execute(
            select(AnswerRow).join(Screening)
            .where(Screening.conversation_id == OTHER_CONVERSATION)
        ).scalars().all()
        assert [a.raw_text for a in other] == ["I take Benlysta"]
        lead = session.get(Lead, lead_id)
        assert (lead.first_name, lead.email, lead.phone, lead.other_language) == (
            "Zebulon", "zebulon.quixotic@example.org", "+8613912345678", "Klingon")
    queued = leads.queue_as_dicts()
    assert queued[0]["notes"][0]["note"] == "Called back about the visit"
    assert queued[0]["conversation_id"] == PHONE_CONVERSATION


def test_sql_refuses_to_compare_an_encrypted_column(keys, database_url) -> None:
    from sqlalchemy import select

    from bot.models import Lead
    from bot.sealed import EncryptedComparisonError

    with pytest.raises(EncryptedComparisonError, match="encrypted at rest"):
        select(Lead).where(Lead.email == "zebulon.quixotic@example.org")
    with pytest.raises(EncryptedComparisonError):
        select(Lead).where(Lead.first_name.contains("Zeb"))


async def test_the_console_search_finds_a_lead_by_name_and_by_email(keys, database_url) -> None:
    from bot.db import session_scope
    from bot.leads import QueueFilters, queue_leads

    lead_id = await plant_patient_data()
    with session_scope() as session:
        def found(search: str, emails: bool = False) -> list[str]:
            return [lead.id for lead in queue_leads(session, QueueFilters(search=search), emails)]

        assert found("zebulon") == [lead_id]
        assert found("QUIXOTIC zeb") == [lead_id]
        assert found("zebulon.quixotic@example") == []  # a monitor cannot search by email
        assert found("zebulon.quixotic@example", emails=True) == [lead_id]
        assert found("nobody") == []


def test_database_files_and_their_folder_are_the_service_users_alone(keys, tmp_path) -> None:
    from bot import db

    url = f"sqlite:///{tmp_path / 'store' / 'prescreen.db'}"
    try:
        engine = db.init_db(url)
        with engine.connect() as connection:  # open: its -wal and -shm files exist meanwhile
            connection.exec_driver_sql("SELECT count(*) FROM screenings").scalar_one()
            files = list((tmp_path / "store").iterdir())
            assert {p.name for p in files} >= {"prescreen.db", "prescreen.db-wal"}
            for path in files:
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        assert stat.S_IMODE((tmp_path / "store").stat().st_mode) == 0o700
    finally:
        db.dispose_all()


# --- the migration: a store written before encryption is converted in place -------------------


def test_the_migration_encrypts_a_store_written_in_plain_text(keys, request, tmp_path) -> None:
    from alembic import command
    from sqlalchemy import create_engine, select, text

    from bot import db, schema
    from bot.models import AnswerRow, Lead, LeadEvent, OptIn, OutboxMessage, Screening

    url = request.config.getoption("--database-url") or f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    if not url.startswith("sqlite"):
        from tests.conftest import _drop_everything

        _drop_everything(engine)
    at = "2026-11-20 10:00:00"
    with engine.begin() as connection:
        command.upgrade(schema._config(connection), "0004")  # the store before encryption
        rows = {
            "screenings": dict(id="s1", conversation_id="+15557654321", trial_id="NCT06675422",
                               channel="twilio", language="en", status="may_qualify",
                               started_at=at, updated_at=at, is_minor=False,
                               crisis_help_shown=False),
            "answers": dict(id=1, screening_id="s1", question_id="lupus_meds",
                            raw_text="I take Benlysta", value='["belimumab"]', unsure=False,
                            pending=False, understood="Benlysta (belimumab)", answered_at=at),
            "leads": dict(id="l1", screening_id="s1", trial_id="NCT06675422",
                          first_name="Zebulon", last_name="Quixotic",
                          email="zebulon.quixotic@example.org", phone="+8613912345678",
                          other_language="Klingon", is_minor=False, consent_text="wording",
                          consented_at=at, outcome="may_qualify", to_confirm="[]", status="new",
                          created_at=at, updated_at=at),
            "lead_events": dict(id=1, lead_id="l1", at=at, actor="cora@site.example",
                                kind="note", note="Called back about the visit"),
            "optins": dict(id=1, screening_id="s1", trial_id="NCT06675422",
                           email="zebulon.quixotic@example.org", consent_text="wording",
                           consented_at=at, created_at=at),
            "outbox": dict(id=1, created_at=at, to_addr="zebulon.quixotic@example.org",
                           subject="Your message", body="Hello Zebulon", attempts=0),
        }
        for table, row in rows.items():
            columns = ", ".join(row)
            connection.execute(
                text(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in row)})"),
                row,
            )
    engine.dispose()
    try:
        migrated = db.init_db(url)
        assert schema.current(migrated) == schema.head()
        values = raw_store_columns(url)
        assert_nothing_planted_in("\n".join(values), "the migrated store's columns")
        db.dispose_all()  # the last connection closed: the WAL is checkpointed into the file
        if url.startswith("sqlite:///"):
            database = Path(url.removeprefix("sqlite:///"))
            assert_nothing_planted_in(raw_sqlite_bytes(database), "the migrated SQLite file")
        with db.session_scope(url) as session:
            screening = session.execute(
                select(Screening).where(Screening.conversation_id == "+15557654321")
            ).scalar_one()
            answer = session.get(AnswerRow, 1)
            assert (answer.raw_text, answer.value, answer.understood) == (
                "I take Benlysta", ["belimumab"], "Benlysta (belimumab)")
            lead = session.get(Lead, "l1")
            assert (lead.first_name, lead.email, lead.screening_id) == (
                "Zebulon", "zebulon.quixotic@example.org", screening.id)
            assert session.get(LeadEvent, 1).note == "Called back about the visit"
            assert session.get(OptIn, 1).email == "zebulon.quixotic@example.org"
            assert session.get(OutboxMessage, 1).body == "Hello Zebulon"
        db.init_db(url)  # running it again changes nothing
        assert raw_store_columns(url) == values
    finally:
        db.dispose_all()


def test_a_conversation_id_too_long_to_store_sealed_is_refused_on_every_database(keys) -> None:
    from bot.sealed import SealedId

    column = SealedId(255)
    assert len(column.process_bind_param("x" * 173, None)) == 255
    with pytest.raises(ValueError, match="too long"):
        column.process_bind_param("x" * 174, None)
