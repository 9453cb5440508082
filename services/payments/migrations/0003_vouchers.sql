-- Gift vouchers. The balance is the sum of the voucher's ledger entries; `balance` caches that sum,
-- is only ever changed together with a ledger row (store.append_entry), and can never go below zero.
CREATE TABLE vouchers (
    id               uuid PRIMARY KEY,
    clinic_id        uuid NOT NULL,
    -- How the clinic is named in the voucher's emails (copied from the booking service's catalogue).
    clinic_slug      text NOT NULL,
    clinic_name      text NOT NULL,
    clinic_timezone  text NOT NULL,
    validity_months  integer NOT NULL CHECK (validity_months > 0),   -- the clinic's setting when sold
    kind             text NOT NULL CHECK (kind IN ('amount', 'treatment', 'course')),
    -- UK VAT: a single-purpose voucher (one treatment, VAT known) is taxed when sold; a multi-purpose
    -- one (money) when redeemed.
    vat_class        text NOT NULL CHECK (vat_class IN ('single_purpose', 'multi_purpose')),
    unit             text NOT NULL CHECK (unit IN ('money', 'sessions')),
    treatment_id     uuid,
    course_id        uuid,
    title            text NOT NULL,
    face_value       integer NOT NULL CHECK (face_value > 0),   -- minor units, or sessions
    currency         char(3) NOT NULL,
    price_amount     integer NOT NULL CHECK (price_amount > 0), -- what the buyer pays
    buyer_name       text NOT NULL,
    buyer_email      text NOT NULL,
    recipient_name   text NOT NULL,
    recipient_email  text NOT NULL,
    message          text NOT NULL DEFAULT '',
    deliver_on       date NOT NULL,
    status           text NOT NULL CHECK (status IN ('awaiting_payment', 'active', 'expired', 'void')),
    balance          integer NOT NULL DEFAULT 0 CHECK (balance >= 0),
    -- The code itself is never stored: a keyed hash finds it, the last characters show it, and an
    -- encrypted copy (key outside the database) lets it be emailed on the delivery date.
    code_hash        bytea UNIQUE,
    code_last4       text,
    code_ciphertext  text,
    expires_at       timestamptz,
    expiry_notice_at timestamptz,
    purchase_key     text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    issued_at        timestamptz,
    CHECK (status = 'awaiting_payment' OR (code_hash IS NOT NULL AND expires_at IS NOT NULL))
);
CREATE UNIQUE INDEX vouchers_purchase_key ON vouchers (clinic_id, purchase_key) WHERE purchase_key IS NOT NULL;
CREATE INDEX vouchers_clinic ON vouchers (clinic_id, created_at);
CREATE INDEX vouchers_expiring ON vouchers (expires_at) WHERE status = 'active';

CREATE TABLE voucher_ledger (
    id          bigserial PRIMARY KEY,
    voucher_id  uuid NOT NULL REFERENCES vouchers (id),
    entry       text NOT NULL CHECK (entry IN ('issue', 'redeem', 'release', 'refund', 'expire', 'adjust')),
    units       integer NOT NULL CHECK (units <> 0),           -- signed: + adds to the balance
    reference_id uuid,                                          -- the booking (or series) it concerns
    actor       text NOT NULL,
    note        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX voucher_ledger_voucher ON voucher_ledger (voucher_id, id);

-- What a booking took from a voucher, so it can be released or refunded exactly once.
CREATE TABLE voucher_redemptions (
    id           uuid PRIMARY KEY,
    voucher_id   uuid NOT NULL REFERENCES vouchers (id),
    reference_id uuid NOT NULL,
    units        integer NOT NULL CHECK (units > 0),
    value_amount integer NOT NULL CHECK (value_amount >= 0),    -- what it paid of the booking, in money
    status       text NOT NULL CHECK (status IN ('redeemed', 'released', 'refunded')),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (reference_id)
);
