-- The payments service's daily retention job (services/payments/retention.py, docs/privacy.md).

-- One row per day the job ran, claimed in the run's transaction so that one replica runs it (shared.retention).
CREATE TABLE retention_runs (
    run_on      date PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    counts      jsonb
);

-- The job finds old rows by when they were written, across clinics: Stripe's events past their days, and the
-- money records whose tax year ended over six years ago (their later movements are checked on those few rows).
-- Whether a kept voucher points at a booking's payment is found by voucher_redemptions' unique reference_id.
CREATE INDEX stripe_events_received ON stripe_events (received_at);
CREATE INDEX payments_created ON payments (created_at);
CREATE INDEX vouchers_created ON vouchers (created_at);
CREATE INDEX booking_fees_created ON booking_fees (created_at);
