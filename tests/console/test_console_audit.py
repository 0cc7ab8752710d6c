"""The audit trail a coordinator reads: sign-ins, transcript views, exports and changes."""

from __future__ import annotations

from tests.console.support import add_lead, add_screening, post_form


def test_a_coordinator_reads_who_did_what_and_when(coordinator, tracker):
    screening = add_screening("conv-1")
    lead = add_lead(screening)
    coordinator.get(f"/screenings/{screening}")
    coordinator.get("/queue.csv")
    post_form(coordinator, "/queue", f"/leads/{lead}/status", {"status": "contacted"})
    page = coordinator.get("/audit").get_data(as_text=True)
    for label in ("Signed in", "Viewed transcript", "Exported CSV", "Changed status"):
        assert label in page
    assert "Cora Coordinator" in page and "new → contacted" in page
    table = page[page.index('id="audit"'):]
    assert table.index("Changed status") < table.index("Signed in")  # newest first
    only_exports = coordinator.get("/audit?action=export_csv").get_data(as_text=True)
    assert "Exported CSV" in only_exports and "Viewed transcript</td>" not in only_exports


def test_the_audit_trail_never_holds_contact_details_or_notes(coordinator):
    lead = add_lead(add_screening("conv-1"))
    post_form(coordinator, "/queue", f"/leads/{lead}/notes", {"note": "prefers mornings"})
    coordinator.get("/queue.csv?q=maria.garcia")
    page = coordinator.get("/audit").get_data(as_text=True)
    assert "prefers mornings" not in page and "maria.garcia" not in page
    assert "filters: search" in page
