-- Saved cards and fees (issue 20). A booking whose policy charges a fee (or takes nothing but the card) saves
-- the customer's card: a Stripe Customer per clinic and customer email (created once; Stripe gets no name or
-- email, only our ids), the card as the booking's saved card, and the fees charged to it off session.
CREATE TABLE stripe_customers (
    clinic_id       uuid NOT NULL,
    email_key       text NOT NULL,                  -- lower(email)
    stripe_customer text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (clinic_id, email_key)
);

-- The card a booking (or a course's series: reference_id as payments.reference_id) saved, once its payment
-- or SetupIntent succeeded. attached_at: when it was seen attached to the Customer (offline it is attached by
-- us; real Stripe attaches it itself), so an off-session charge may use it.
CREATE TABLE saved_cards (
    reference_id    uuid PRIMARY KEY,
    clinic_id       uuid NOT NULL,
    stripe_customer text NOT NULL,
    payment_method  text NOT NULL,
    attached_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX saved_cards_unattached ON saved_cards (created_at) WHERE attached_at IS NULL;

-- A booking payment may save the card: its Customer. A card-saving booking with nothing to pay by card is a
-- SetupIntent (kind 'setup', amount 0, no PaymentIntent). A fee paid from its pay link is a payment of purpose
-- 'fee' whose reference is the fee.
ALTER TABLE payments ADD COLUMN stripe_customer text;
ALTER TABLE payments ADD COLUMN kind text NOT NULL DEFAULT 'payment' CHECK (kind IN ('payment', 'setup'));
ALTER TABLE payments ADD COLUMN stripe_setup_intent text UNIQUE;
ALTER TABLE payments DROP CONSTRAINT payments_purpose_check;
ALTER TABLE payments ADD CONSTRAINT payments_purpose_check CHECK (purpose IN ('booking', 'voucher', 'fee'));
ALTER TABLE payments DROP CONSTRAINT payments_amount_check;
ALTER TABLE payments ADD CONSTRAINT payments_amount_check CHECK (
    (kind = 'payment' AND amount > 0 AND stripe_setup_intent IS NULL)
    OR (kind = 'setup' AND amount = 0 AND purpose = 'booking' AND stripe_payment_intent IS NULL
        AND stripe_setup_intent IS NOT NULL AND stripe_customer IS NOT NULL));

-- A fee a booking owes (no-show, late cancellation), one per booking and kind whatever the events repeat, at
-- the amount fixed when it was booked. charged: taken off session from the saved card; failed: not (failure
-- says why in words), the customer may pay it from the pay link; paid: paid from the pay link (its payment is
-- the payments row of purpose 'fee' and reference_id the fee's id). stripe_payment_intent: the off-session
-- charge that succeeded.
CREATE TABLE booking_fees (
    id                    uuid PRIMARY KEY,
    clinic_id             uuid NOT NULL,
    booking_id            uuid NOT NULL,             -- the booking marked (a course's session, not its series)
    paid_for              uuid NOT NULL,             -- whose payment saved the card (the series for a course)
    kind                  text NOT NULL CHECK (kind IN ('no_show', 'late_cancellation')),
    amount                integer NOT NULL CHECK (amount > 0),
    currency              char(3) NOT NULL,
    customer_email        text,
    status                text NOT NULL CHECK (status IN ('pending', 'charged', 'failed', 'paid')),
    failure               text,
    stripe_payment_intent text UNIQUE,
    created_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    settled_at            timestamptz,
    UNIQUE (booking_id, kind),
    CHECK (status <> 'charged' OR stripe_payment_intent IS NOT NULL),
    CHECK (status <> 'failed' OR failure IS NOT NULL)
);
