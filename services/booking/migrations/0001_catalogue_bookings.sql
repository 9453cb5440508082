CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public;

CREATE TABLE clinics (
    id         uuid PRIMARY KEY,
    slug       text NOT NULL UNIQUE,
    name       text NOT NULL,
    timezone   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE treatments (
    id               uuid PRIMARY KEY,
    clinic_id        uuid NOT NULL REFERENCES clinics (id),
    slug             text NOT NULL,
    name             text NOT NULL,
    description      text NOT NULL DEFAULT '',
    duration_minutes integer NOT NULL CHECK (duration_minutes > 0),
    price_amount     integer NOT NULL CHECK (price_amount >= 0),
    currency         char(3) NOT NULL,
    UNIQUE (clinic_id, slug)
);

CREATE TABLE therapists (
    id        uuid PRIMARY KEY,
    clinic_id uuid NOT NULL REFERENCES clinics (id),
    slug      text NOT NULL,
    name      text NOT NULL,
    bio       text NOT NULL DEFAULT '',
    UNIQUE (clinic_id, slug)
);

CREATE TABLE bookings (
    id              uuid PRIMARY KEY,
    clinic_id       uuid NOT NULL REFERENCES clinics (id),
    treatment_id    uuid NOT NULL REFERENCES treatments (id),
    therapist_id    uuid NOT NULL REFERENCES therapists (id),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    customer_name   text NOT NULL,
    customer_email  text NOT NULL,
    customer_phone  text,
    price_amount    integer NOT NULL,
    currency        char(3) NOT NULL,
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (ends_at > starts_at),
    -- No double booking, by construction: two live reservations of one therapist never overlap.
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (
        therapist_id WITH =, tstzrange(starts_at, ends_at) WITH &&
    ) WHERE (status = 'confirmed')
);
CREATE UNIQUE INDEX bookings_idempotency ON bookings (clinic_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX bookings_clinic_start ON bookings (clinic_id, starts_at);
