CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public;

-- A clinic and its booking policy. Wall times of hours and breaks are in `timezone`; every instant
-- stored anywhere is timestamptz (UTC).
CREATE TABLE clinics (
    id                       uuid PRIMARY KEY,
    slug                     text NOT NULL UNIQUE,
    name                     text NOT NULL,
    timezone                 text NOT NULL,
    email                    text,
    phone                    text,
    address                  text,
    booking_horizon_days     integer NOT NULL DEFAULT 60 CHECK (booking_horizon_days BETWEEN 1 AND 730),
    min_notice_minutes       integer NOT NULL DEFAULT 120 CHECK (min_notice_minutes >= 0),
    slot_step_minutes        integer NOT NULL DEFAULT 15 CHECK (slot_step_minutes BETWEEN 5 AND 240),
    hold_minutes             integer NOT NULL DEFAULT 10 CHECK (hold_minutes BETWEEN 1 AND 60),
    change_window_hours      integer NOT NULL DEFAULT 24 CHECK (change_window_hours >= 0),
    reminder_offsets_minutes integer[] NOT NULL DEFAULT '{1440,120}',
    voucher_validity_months  integer NOT NULL DEFAULT 24 CHECK (voucher_validity_months BETWEEN 1 AND 120),
    policy_message           text NOT NULL DEFAULT
        'Appointments can be cancelled or moved online up to 24 hours before they start. After that, please call the clinic.',
    created_at               timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE treatments (
    id                    uuid PRIMARY KEY,
    clinic_id             uuid NOT NULL REFERENCES clinics (id),
    slug                  text NOT NULL,
    name                  text NOT NULL,
    description           text NOT NULL DEFAULT '',
    duration_minutes      integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    buffer_before_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_before_minutes BETWEEN 0 AND 120),
    buffer_after_minutes  integer NOT NULL DEFAULT 0 CHECK (buffer_after_minutes BETWEEN 0 AND 120),
    price_amount          integer NOT NULL CHECK (price_amount >= 0),
    currency              char(3) NOT NULL,
    requires_screening    boolean NOT NULL DEFAULT true,
    UNIQUE (clinic_id, slug)
);

-- A course: N sessions of one treatment, spaced as the clinic recommends (e.g. chronic: 2–3 a week).
CREATE TABLE courses (
    id           uuid PRIMARY KEY,
    clinic_id    uuid NOT NULL REFERENCES clinics (id),
    treatment_id uuid NOT NULL REFERENCES treatments (id),
    slug         text NOT NULL,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    sessions     integer NOT NULL CHECK (sessions BETWEEN 2 AND 12),
    min_gap_days integer NOT NULL CHECK (min_gap_days >= 1),
    max_gap_days integer NOT NULL,
    price_amount integer NOT NULL CHECK (price_amount >= 0),
    currency     char(3) NOT NULL,
    CHECK (max_gap_days >= min_gap_days),
    UNIQUE (clinic_id, slug)
);

CREATE TABLE therapists (
    id          uuid PRIMARY KEY,
    clinic_id   uuid NOT NULL REFERENCES clinics (id),
    slug        text NOT NULL,
    name        text NOT NULL,
    bio         text NOT NULL DEFAULT '',
    credentials text[] NOT NULL DEFAULT '{}',
    UNIQUE (clinic_id, slug)
);

CREATE TABLE therapist_treatments (
    therapist_id uuid NOT NULL REFERENCES therapists (id),
    treatment_id uuid NOT NULL REFERENCES treatments (id),
    PRIMARY KEY (therapist_id, treatment_id)
);

-- Weekly wall-clock hours (weekday 0 = Monday); several rows a day are allowed.
CREATE TABLE working_hours (
    id           bigserial PRIMARY KEY,
    therapist_id uuid NOT NULL REFERENCES therapists (id),
    weekday      smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    starts       time NOT NULL,
    ends         time NOT NULL,
    CHECK (ends > starts)
);
CREATE INDEX working_hours_therapist ON working_hours (therapist_id);

CREATE TABLE breaks (
    id           bigserial PRIMARY KEY,
    therapist_id uuid NOT NULL REFERENCES therapists (id),
    weekday      smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    starts       time NOT NULL,
    ends         time NOT NULL,
    CHECK (ends > starts)
);
CREATE INDEX breaks_therapist ON breaks (therapist_id);

CREATE TABLE time_off (
    id           bigserial PRIMARY KEY,
    therapist_id uuid NOT NULL REFERENCES therapists (id),
    period       tstzrange NOT NULL CHECK (NOT isempty(period)),
    reason       text NOT NULL DEFAULT ''
);
CREATE INDEX time_off_period ON time_off USING gist (therapist_id, period);

-- Holds and bookings are one table: a booking starts life as a hold and moves through
-- held → pending_payment → confirmed → cancelled | completed | no_show (or held → expired | released).
-- `blocked` is the therapist's time it takes: the treatment plus its buffers.
CREATE TABLE bookings (
    id               uuid PRIMARY KEY,
    clinic_id        uuid NOT NULL REFERENCES clinics (id),
    treatment_id     uuid NOT NULL REFERENCES treatments (id),
    therapist_id     uuid NOT NULL REFERENCES therapists (id),
    course_id        uuid REFERENCES courses (id),
    series_id        uuid,
    series_index     smallint,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    blocked          tstzrange NOT NULL,
    status           text NOT NULL CHECK (status IN ('held', 'pending_payment', 'confirmed', 'cancelled',
                                                     'completed', 'no_show', 'expired', 'released')),
    expires_at       timestamptz,
    customer_name    text,
    customer_email   text,
    customer_phone   text,
    price_amount     integer NOT NULL,
    currency         char(3) NOT NULL,
    payment_id       uuid,                     -- the payments service's payment, once one was asked for
    hold_key         text,
    confirm_key      text,
    reschedule_count integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    confirmed_at     timestamptz,
    cancelled_at     timestamptz,
    CHECK (ends_at > starts_at),
    CHECK (status NOT IN ('held', 'pending_payment') OR expires_at IS NOT NULL),
    CHECK (status NOT IN ('pending_payment', 'confirmed') OR customer_email IS NOT NULL),
    -- No double booking, by construction: two live reservations of one therapist never overlap.
    -- An expired hold (or unpaid booking) keeps its status until something marks it expired; whoever
    -- wants its time marks it in the same transaction (store.expire_overlapping_holds), so it stops
    -- blocking at once.
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (therapist_id WITH =, blocked WITH &&)
        WHERE (status IN ('held', 'pending_payment', 'confirmed'))
);
CREATE UNIQUE INDEX bookings_hold_key ON bookings (clinic_id, hold_key) WHERE hold_key IS NOT NULL;
CREATE INDEX bookings_clinic_start ON bookings (clinic_id, starts_at);
CREATE INDEX bookings_series ON bookings (series_id) WHERE series_id IS NOT NULL;
CREATE INDEX bookings_expiring_holds ON bookings (expires_at) WHERE status IN ('held', 'pending_payment');
CREATE INDEX bookings_customer ON bookings (clinic_id, lower(customer_email)) WHERE customer_email IS NOT NULL;

-- Health screening answers: health data. Kept beside the booking, read only through clinic-scoped
-- queries, never copied into events, webhooks or logs.
CREATE TABLE screenings (
    booking_id            uuid PRIMARY KEY REFERENCES bookings (id),
    clinic_id             uuid NOT NULL REFERENCES clinics (id),
    questionnaire_version integer NOT NULL,
    answers               jsonb NOT NULL,
    outcome               text NOT NULL CHECK (outcome IN ('clear', 'flag')),
    flags                 text[] NOT NULL DEFAULT '{}',
    created_at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
