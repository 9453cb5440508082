-- Data protection (issue 19): a clinic may erase a customer at their request. A voucher SALE is an accounting
-- record and is kept (its amounts, VAT class, ledger and redemptions; a still-valid voucher stays redeemable by
-- its code), but it loses the erased person's name, email and the gift message. So the buyer's and the
-- recipient's names and emails may now be NULL, but only on a row that says when it was erased: a voucher
-- that was never erased still always has both people.
ALTER TABLE vouchers
    ADD COLUMN erased_at timestamptz,
    ALTER COLUMN buyer_name DROP NOT NULL,
    ALTER COLUMN buyer_email DROP NOT NULL,
    ALTER COLUMN recipient_name DROP NOT NULL,
    ALTER COLUMN recipient_email DROP NOT NULL,
    ADD CONSTRAINT vouchers_people_unless_erased CHECK (
        erased_at IS NOT NULL
        OR (buyer_name IS NOT NULL AND buyer_email IS NOT NULL
            AND recipient_name IS NOT NULL AND recipient_email IS NOT NULL)
    );

-- A customer is found by email, case-insensitively, within one clinic (export and erasure).
CREATE INDEX vouchers_buyer_email ON vouchers (clinic_id, lower(buyer_email)) WHERE buyer_email IS NOT NULL;
CREATE INDEX vouchers_recipient_email ON vouchers (clinic_id, lower(recipient_email)) WHERE recipient_email IS NOT NULL;
CREATE INDEX payments_customer_email ON payments (clinic_id, lower(customer_email)) WHERE customer_email IS NOT NULL;
