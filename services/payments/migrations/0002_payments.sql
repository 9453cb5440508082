-- One row per payment we ask Stripe for. A booking (or series) has at most one: a retried request
-- finds it instead of creating a second PaymentIntent (the fake Stripe ignores idempotency keys).
CREATE TABLE payments (
    id                    uuid PRIMARY KEY,
    clinic_id             uuid NOT NULL,
    purpose               text NOT NULL CHECK (purpose IN ('booking', 'voucher')),
    reference_id          uuid NOT NULL,            -- the booking (hold or series) or voucher order it pays for
    amount                integer NOT NULL CHECK (amount > 0),
    currency              char(3) NOT NULL,
    customer_email        text,
    stripe_payment_intent text UNIQUE,
    client_secret         text,
    status                text NOT NULL CHECK (status IN ('requires_payment', 'processing', 'succeeded', 'failed',
                                                          'canceled')),
    amount_refunded       integer NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0 AND amount_refunded <= amount),
    created_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    succeeded_at          timestamptz,
    UNIQUE (purpose, reference_id)
);
CREATE INDEX payments_open ON payments (created_at) WHERE status IN ('requires_payment', 'processing');

CREATE TABLE refunds (
    id               uuid PRIMARY KEY,
    payment_id       uuid NOT NULL REFERENCES payments (id),
    stripe_refund_id text UNIQUE,
    amount           integer NOT NULL CHECK (amount > 0),
    reason           text NOT NULL,
    status           text NOT NULL,
    cause_event_id   uuid UNIQUE,                    -- the event that asked for it: one refund per cause
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
