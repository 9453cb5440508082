-- Data protection (issue 19, docs/privacy.md): a clinic exports or erases what it holds about one customer, and
-- a daily job deletes health answers once the law no longer asks the clinic to keep them.

-- An erased booking keeps what the clinic's accounts and a restricted health record need (treatment, therapist,
-- time, price, status) and loses the person: name, email, phone and date of birth are NULL from erased_at on.
-- The date of birth (optional, given when booking) is only there to keep a child's health answers as long as the
-- Records Management Code asks (services/booking/privacy_rules.py); it never leaves this service in an event.
ALTER TABLE bookings
    ADD COLUMN erased_at           timestamptz,
    ADD COLUMN customer_birth_date date;
-- A booking awaiting payment or confirmed always had its customer's email (0001's unnamed CHECK): so it still
-- has, unless the customer was erased (a past confirmed booking never marked completed has no email after).
ALTER TABLE bookings DROP CONSTRAINT bookings_check2;
ALTER TABLE bookings ADD CONSTRAINT bookings_customer_unless_erased
    CHECK (status NOT IN ('pending_payment', 'confirmed') OR customer_email IS NOT NULL OR erased_at IS NOT NULL);

-- Health answers outlive an erasure until their retention date, RESTRICTED: never shown in the clinic's views
-- again, only in an export. The booking then names nobody, so a restricted screening carries the keyed hash of
-- its customer (privacy_rules.subject_key: clinic and email, HMAC'd with a key outside the database) by which an
-- export still finds it, and its retention date frozen when it was restricted (no email left to find the
-- customer's later visits by). Unrestricted ones get theirs recomputed by the daily job (retention.py), as the
-- customer's last visit moves on; NULL until the job first sees them, and never deleted while NULL.
ALTER TABLE screenings
    ADD COLUMN restricted_at timestamptz,
    ADD COLUMN retain_until  date,
    ADD COLUMN subject_key   bytea CHECK (length(subject_key) = 32),
    ADD CONSTRAINT screenings_restricted_findable
        CHECK (restricted_at IS NULL OR (subject_key IS NOT NULL AND retain_until IS NOT NULL));
CREATE INDEX screenings_subject ON screenings (clinic_id, subject_key) WHERE subject_key IS NOT NULL;
CREATE INDEX screenings_retain_until ON screenings (retain_until);

-- The clinic's evidence that it answered a request (Articles 15 and 17): who (the role the gateway named and the
-- staff account of a signed-in session; none for an API key), when, which kind, and the counts. The customer only
-- as a masked email for people to recognise and the keyed hash to find a subject's earlier requests: the log of
-- an erasure must not keep the very address it erased.
CREATE TABLE privacy_requests (
    id           uuid PRIMARY KEY,
    clinic_id    uuid NOT NULL REFERENCES clinics (id),
    kind         text NOT NULL CHECK (kind IN ('export', 'erase')),
    subject_key  bytea NOT NULL CHECK (length(subject_key) = 32),
    email_masked text NOT NULL,
    role         text NOT NULL CHECK (role IN ('owner', 'staff')),
    staff_id     uuid REFERENCES clinic_staff (id),   -- accounts are disabled, never deleted
    counts       jsonb NOT NULL DEFAULT '{}'::jsonb,
    at           timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX privacy_requests_clinic ON privacy_requests (clinic_id, at DESC);
CREATE INDEX privacy_requests_subject ON privacy_requests (clinic_id, subject_key);

-- The daily retention job's runs: the day's row is inserted in the run's own transaction, so of several replicas
-- one runs it and the others find the day taken (or, if that run failed, take it themselves); what it did stays.
CREATE TABLE retention_runs (
    run_on      date PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    counts      jsonb
);
