-- Three housekeeping fixes of the reconciler and the clinic API.

-- 1. Gift-voucher purchases left unpaid (a PaymentIntent never paid nor cancelled: Stripe keeps it open for ever)
-- are cancelled by the reconciler after domain.UNPAID_VOUCHER_EXPIRES_AFTER. This finds them: payments
-- of vouchers not through yet, a declined one ('failed', not retried) included.
CREATE INDEX payments_unpaid_vouchers ON payments (created_at)
    WHERE purpose = 'voucher' AND status IN ('requires_payment', 'processing', 'failed');

-- 2. Attaching a saved card to its Customer, as the reconciler tries it: a card Stripe refuses waits longer each
-- time (next_attach_at) and is given up after a few tries (attach_gave_up_at), so it never holds up the others.
-- Every refusal counts (attach_attempts) and the last says why (last_attach_error). A fee still attaches the card
-- when it charges it, given up or not.
ALTER TABLE saved_cards
    ADD COLUMN attach_attempts    integer NOT NULL DEFAULT 0 CHECK (attach_attempts >= 0),
    ADD COLUMN last_attach_error  text,
    ADD COLUMN next_attach_at     timestamptz,
    ADD COLUMN attach_gave_up_at  timestamptz;
UPDATE saved_cards SET next_attach_at = created_at;
ALTER TABLE saved_cards
    ALTER COLUMN next_attach_at SET DEFAULT clock_timestamp(),
    ALTER COLUMN next_attach_at SET NOT NULL;
DROP INDEX saved_cards_unattached;
CREATE INDEX saved_cards_to_attach ON saved_cards (next_attach_at)
    WHERE attached_at IS NULL AND attach_gave_up_at IS NULL;

-- 3. The clinic's fees, newest first (GET /api/v1/clinic/fees: store.clinic_fees orders by created_at DESC, id),
-- read from the index in order instead of sorting all the clinic's fees.
CREATE INDEX booking_fees_clinic_newest ON booking_fees (clinic_id, created_at DESC, id);
