-- What a gift's buyer changed before it was sent: the recipient's email or the delivery day. No money
-- moves (the ledger is untouched); each change is kept here as the audit trail.
CREATE TABLE voucher_changes (
    id          bigserial PRIMARY KEY,
    voucher_id  uuid NOT NULL REFERENCES vouchers (id),
    changed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL,
    field       text NOT NULL CHECK (field IN ('recipient_email', 'deliver_on')),
    old_value   text NOT NULL,
    new_value   text NOT NULL
);
CREATE INDEX voucher_changes_voucher ON voucher_changes (voucher_id, changed_at);
