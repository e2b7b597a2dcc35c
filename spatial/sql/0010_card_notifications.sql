-- 0010: alert card changes (红黄牌) go out through the same webhooks and outbox as sensor alarms
-- (docs/progress.md, "Alert cards"): a webhook subscribes with the event 'card_changed', scoped
-- by project and/or district like alarm webhooks; the dispatcher delivers both kinds of row with
-- the same HMAC signature, retries and at-least-once guarantee.

ALTER TABLE sitewatch.webhook DROP CONSTRAINT webhook_events_check;
ALTER TABLE sitewatch.webhook ADD CONSTRAINT webhook_events_check
    CHECK (events <@ ARRAY['opened', 'escalated', 'acknowledged', 'closed', 'card_changed']);

-- An outbox row is about an alarm, or about a project's card at a monthly check.
ALTER TABLE sitewatch.outbox ALTER COLUMN alarm_id DROP NOT NULL;
ALTER TABLE sitewatch.outbox
    ADD COLUMN project_id bigint REFERENCES sitewatch.project (id) ON DELETE CASCADE,
    ADD COLUMN check_date date,
    ADD CONSTRAINT outbox_subject CHECK (
        (alarm_id IS NOT NULL AND project_id IS NULL AND check_date IS NULL)
        OR (alarm_id IS NULL AND project_id IS NOT NULL AND check_date IS NOT NULL));
CREATE UNIQUE INDEX outbox_card_idx ON sitewatch.outbox (webhook_id, project_id, check_date, event)
    WHERE alarm_id IS NULL;
