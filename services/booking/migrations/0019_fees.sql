-- Card saved only, and no-show and late-cancellation fees (issue 20; services/booking/payment_policy.py). The API
-- checks a policy whole (payment_policy.parse); the database only its mode, which may now be 'card' too.
ALTER TABLE clinics DROP CONSTRAINT clinics_payment_policy_mode,
    ADD CONSTRAINT clinics_payment_policy_mode CHECK (payment_policy->>'mode' IN ('full', 'deposit', 'card'));
ALTER TABLE treatments DROP CONSTRAINT treatments_payment_policy_mode,
    ADD CONSTRAINT treatments_payment_policy_mode CHECK (
        payment_policy IS NULL OR payment_policy->>'mode' IN ('full', 'deposit', 'card'));

-- Fixed when the booking is made, from its price (a course: on each session, from that session's share): the fee
-- charged to the saved card if the customer does not come, or cancels inside the change window, in minor units
-- (NULL: no such fee); and whether the booking saved the customer's card (payments holds the card itself).
ALTER TABLE bookings
    ADD COLUMN no_show_fee integer CONSTRAINT bookings_no_show_fee CHECK (no_show_fee > 0),
    ADD COLUMN late_cancellation_fee integer
        CONSTRAINT bookings_late_cancellation_fee CHECK (late_cancellation_fee > 0),
    ADD COLUMN save_card boolean NOT NULL DEFAULT false;
