"""Card changes reach the webhooks subscribed to them, signed, through the alarms' dispatcher."""

from __future__ import annotations

import json
from datetime import date

import pytest

from bim.progress import check_cards
from sensors import subscriptions
from sensors.notify import deliver_one, verify
from sensors.settings import SensorSettings
from tests.sensors.test_notify import Receiver

SECRET = "card-secret-0123456789"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_card_changes_are_delivered_to_subscribed_webhooks(pconn, project, receiver):
    url = receiver.url
    pconn.execute("DELETE FROM sitewatch.outbox")
    hooks = {
        "district": subscriptions.create_webhook(pconn, {
            "name": "西湖区监督站", "url": url, "secret": SECRET, "role": "supervisor",
            "district_code": "330106", "events": ["card_changed"]}),
        "other_district": subscriptions.create_webhook(pconn, {
            "name": "elsewhere", "url": url, "secret": SECRET, "role": "supervisor",
            "district_code": "330102", "events": ["card_changed"]}),
        "alarms_only": subscriptions.create_webhook(pconn, {
            "name": "alarms", "url": url, "secret": SECRET, "role": "contractor",
            "project_code": project["code"]}),
    }
    pconn.commit()
    # M (due 03-26) never done: 03-31 yellow (a change), 04-30 yellow, 05-31 red (a change).
    checks = check_cards(pconn, project["code"], date(2026, 5, 31))
    assert [(c["card"], c["changed"]) for c in checks] == [
        ("yellow", True), ("yellow", False), ("red", True)]
    rows = pconn.execute(
        "SELECT webhook_id, check_date, event FROM sitewatch.outbox WHERE project_id = %s"
        " ORDER BY check_date", (project["project_id"],)).fetchall()
    assert rows == [(hooks["district"]["id"], date(2026, 3, 31), "card_changed"),
                    (hooks["district"]["id"], date(2026, 5, 31), "card_changed")]
    pconn.commit()

    settings = SensorSettings()
    while deliver_one(pconn, settings) is not None:
        pass
    assert len(receiver.requests) == 2
    cards = []
    for request in receiver.requests:
        headers, body = request["headers"], request["body"]
        assert headers["X-SiteWatch-Event"] == "card_changed"
        assert verify(SECRET, headers["X-SiteWatch-Timestamp"], body,
                      headers["X-SiteWatch-Signature"])
        payload = json.loads(body)
        assert payload["project"] == project["code"] and payload["overdue"] == ["M"]
        assert {"role": "district_supervisor", "id": "330106"} in payload["recipients"]
        cards.append((payload["date"], payload["previous"], payload["card"]))
    assert sorted(cards) == [("2026-03-31", "none", "yellow"), ("2026-05-31", "yellow", "red")]
    assert pconn.execute("SELECT count(*) FROM sitewatch.outbox WHERE project_id = %s"
                         " AND status = 'delivered'", (project["project_id"],)).fetchone()[0] == 2
    # The checks are not run twice: nothing new is queued.
    assert check_cards(pconn, project["code"], date(2026, 5, 31)) == []
    assert pconn.execute("SELECT count(*) FROM sitewatch.outbox WHERE project_id = %s",
                         (project["project_id"],)).fetchone()[0] == 2
