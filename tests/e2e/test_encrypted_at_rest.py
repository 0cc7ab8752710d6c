"""A real screening over REST, through the real Rasa server, tracker store and action server:
what reaches the database files is ciphertext, the staff console still reads it all, and the
files are the service user's alone."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from bot import transcripts
from tests.e2e.test_rest_screenings import FREE_TEXT, answers_of, said, screen, screening_row

pytestmark = pytest.mark.e2e

SENDER = "+15557654321"  # as on Twilio, where the conversation id is the patient's number
OTHER = "+15550009999"
PLANTED = ("Zebulon", "Quixotic", "zebulon.quixotic@example.org", "13912345678", "Benlysta",
           "CellCept", "5557654321", "5550009999")


def raw_files(database: Path) -> dict[Path, bytes]:
    """The database file and its -wal, -shm or -journal companions, as bytes on disk."""
    return {p: p.read_bytes() for p in database.parent.glob(f"{database.name}*")}


def test_a_real_screening_leaves_no_plaintext_in_the_store_or_the_tracker_store(stack):
    _, replies = screen(stack, SENDER, FREE_TEXT)  # "I take prednisone and CellCept"
    assert "may be able to take part" in said(replies)
    for text in ["yes", "Zebulon", "Quixotic", "zebulon.quixotic@example.org",
                 "+86 139 1234 5678", "no", "yes", "yes I agree"]:
        replies = stack.talk(SENDER, text)
    assert "We have submitted the contact information" in said(replies)
    for text in ["hi", "yes", FREE_TEXT["diagnosis"], "I take Benlysta"]:  # to lupus_meds
        stack.talk(OTHER, text)

    store = Path(stack.database_url.removeprefix("sqlite:///"))
    tracker = Path(stack.tracker_store_url.removeprefix("sqlite:///"))
    files = {**raw_files(store), **raw_files(tracker)}
    assert {store, tracker} <= set(files)
    for path, content in files.items():
        for value in PLANTED:
            assert value.lower().encode() not in content.lower(), f"{value!r} in {path.name}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name

    # The application and the console read it all back.
    screening = screening_row(stack, SENDER)
    assert screening.status == "may_qualify" and screening.conversation_id == SENDER
    assert answers_of(stack, SENDER)["lupus_meds"].raw_text == FREE_TEXT["lupus_meds"]
    assert answers_of(stack, OTHER)["lupus_meds"].raw_text == "I take Benlysta"
    transcript = transcripts.read(SENDER, stack.tracker_store_url)
    typed = [m.text for m in transcript.messages if m.sender == "patient"]
    assert typed[:2] == ["hi", "yes"] and "zebulon.quixotic@example.org" in typed
    other = transcripts.read(OTHER, stack.tracker_store_url).messages
    assert [m.text for m in other if m.sender == "patient"] == [
        "hi", "yes", FREE_TEXT["diagnosis"], "I take Benlysta"]


def test_logs_and_the_outbox_are_the_service_users_alone(stack):
    """Runs after the screening above, whose lead's email copy the outbox worker writes."""
    deadline = time.monotonic() + 30
    while not list(stack.outbox_dir.glob("*.eml")):
        assert time.monotonic() < deadline, "no email copy was written to the outbox"
        time.sleep(0.5)
    logs = list(stack.log_dir.glob("*.log"))
    assert {p.name for p in logs} >= {"actions.log", "rasa.log"}
    for path in [*logs, *stack.outbox_dir.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    for folder in (stack.log_dir, stack.outbox_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder.name
