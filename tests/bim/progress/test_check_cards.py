"""Alert cards over a sequence of monthly checks (docs/progress.md, "Alert cards")."""

from __future__ import annotations

from datetime import date

from bim.progress import compute, record_reports
from bim.progress.check_cards import check_cards, month_ends


def test_month_ends():
    assert month_ends(date(2025, 11, 15), date(2026, 2, 28)) == [
        date(2025, 11, 30), date(2025, 12, 31), date(2026, 1, 31), date(2026, 2, 28)]


def test_yellow_red_and_cleared(pconn, project):
    # The only milestone, M, is due 2026-03-26.  Not done: yellow at the March check, still
    # yellow in April, red at the third consecutive check (May); done 06-10 → cleared in June.
    first = check_cards(pconn, project["code"], date(2026, 4, 15))
    assert [(c["date"], c["card"]) for c in first] == [("2026-03-31", "yellow")]
    assert first[0]["overdue"] == ["M"]
    record_reports(pconn, project["code"], [
        {"client_id": "m", "task": "M", "status": "done", "reported_at": "2026-06-10"}])
    later = check_cards(pconn, project["code"], date(2026, 6, 30))
    assert [(c["date"], c["card"], c["streak"], c["changed"]) for c in later] == [
        ("2026-04-30", "yellow", 2, False), ("2026-05-31", "red", 3, True),
        ("2026-06-30", "none", 0, True)]
    assert check_cards(pconn, project["code"], date(2026, 6, 30)) == []      # already checked
    # Three changes × (the contractor + the district supervisor); the test project has no other
    # units.
    outbox = pconn.execute(
        "SELECT check_date, recipient_role, payload->>'card' FROM sitewatch.card_outbox"
        " WHERE project_id = %s ORDER BY check_date, recipient_role",
        (project["project_id"],)).fetchall()
    assert [(d.isoformat(), r, c) for d, r, c in outbox] == [
        ("2026-03-31", "contractor_unit", "yellow"), ("2026-03-31", "district_supervisor", "yellow"),
        ("2026-05-31", "contractor_unit", "red"), ("2026-05-31", "district_supervisor", "red"),
        ("2026-06-30", "contractor_unit", "none"), ("2026-06-30", "district_supervisor", "none")]
    # The deviation summary carries the card of the latest check at or before D.
    assert compute(pconn, project["code"], date(2026, 6, 15))["summary"]["card"] == "red"
    assert compute(pconn, project["code"], date(2026, 3, 15))["summary"]["card"] is None
