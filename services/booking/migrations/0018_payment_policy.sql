-- How bookings are paid for (issue 20; services/booking/payment_policy.py): in full when booked, or a deposit then
-- and the rest at the clinic. A clinic has one policy; a treatment may have its own (NULL: the clinic's); a course
-- is paid by its treatment's. The API checks a policy whole (payment_policy.parse); the database only its mode,
-- so that nothing the API accepts is refused here.
ALTER TABLE clinics ADD COLUMN payment_policy jsonb NOT NULL DEFAULT '{"mode": "full"}'::jsonb
    CONSTRAINT clinics_payment_policy_mode CHECK (payment_policy->>'mode' IN ('full', 'deposit'));
ALTER TABLE treatments ADD COLUMN payment_policy jsonb
    CONSTRAINT treatments_payment_policy_mode CHECK (
        payment_policy IS NULL OR payment_policy->>'mode' IN ('full', 'deposit'));

-- What payments answered when the booking was made (a course: of the whole course, on each of its sessions, as
-- `voucher` is): what is left to pay at the clinic, in minor units (0: nothing), and the policy it was booked
-- under, in words, for a deposit (NULL: paid in full, as before). The confirmation says both.
ALTER TABLE bookings
    ADD COLUMN due_at_clinic integer NOT NULL DEFAULT 0 CONSTRAINT bookings_due_at_clinic CHECK (due_at_clinic >= 0),
    ADD COLUMN payment_policy_words text;
