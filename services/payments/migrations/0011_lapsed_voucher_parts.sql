-- A booking that ran out unpaid while its card payment was still processing keeps its voucher part until that
-- payment ends: the lapse leaves this mark, and the part goes back (once) if the payment then fails or is
-- cancelled (service.release_lapsed_voucher_parts, run by the reconciler).
ALTER TABLE voucher_redemptions ADD COLUMN booking_lapsed_at timestamptz;
CREATE INDEX voucher_redemptions_lapsed ON voucher_redemptions (booking_lapsed_at)
    WHERE status = 'redeemed' AND booking_lapsed_at IS NOT NULL;
