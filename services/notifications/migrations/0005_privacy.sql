-- Data protection (docs/privacy.md): a clinic exports or erases what we hold about one customer, and a daily
-- job prunes old bodies.
--
-- Each email now names the clinic whose event caused it (text, as the email wing's other clinic ids are), so a
-- clinic finds only its own emails to an address. Older rows are not attributed (NULL): no clinic's export
-- or erasure reaches them, and the retention job still empties their bodies.
ALTER TABLE emails ADD COLUMN clinic_id text;
-- Erased: address, subject and bodies redacted; the row stays, so a replayed event never sends it again
-- (UNIQUE (event_id, kind)).
ALTER TABLE emails ADD COLUMN erased_at timestamptz;
-- Bodies (text, HTML, attachments) emptied by the retention job (EMAIL_BODY_DAYS).
ALTER TABLE emails ADD COLUMN body_pruned_at timestamptz;
CREATE INDEX emails_clinic_address ON emails (clinic_id, lower(to_address));
-- What the retention job has still to look at: rows drop out of these once pruned.
CREATE INDEX emails_unpruned ON emails (created_at) WHERE body_pruned_at IS NULL;

-- The payload of a delivery no longer pending, emptied ('{}') by the retention job (WEBHOOK_LOG_BODY_DAYS), with
-- its attempts' response bodies: the log keeps when, what type and how each try went. Such a delivery cannot
-- be replayed.
ALTER TABLE webhook_deliveries ADD COLUMN payload_pruned_at timestamptz;
CREATE INDEX webhook_deliveries_unpruned ON webhook_deliveries (created_at) WHERE payload_pruned_at IS NULL;
