-- Emails carry their sender's display name (the clinic) and their attachments (the .ics invite), so the
-- task re-reading the row sends exactly what the event rendered.
ALTER TABLE emails ADD COLUMN from_name text;
ALTER TABLE emails ADD COLUMN attachments jsonb NOT NULL DEFAULT '[]'::jsonb;   -- [{filename, content_type, content}]

-- What notifications knows of each clinic, from the booking events (voucher events carry only its id).
CREATE TABLE clinics (
    id          text PRIMARY KEY,
    slug        text NOT NULL,
    name        text NOT NULL,
    timezone    text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A projection of each booking, kept from booking.confirmed / rescheduled / cancelled: what a reminder
-- needs when it is sent, and whether it is still wanted. `last_event_at` orders the events: an older
-- event handled late does not overwrite a newer one. `ics_sequence` is the SEQUENCE of the last invite
-- sent for the booking; the next one is higher even when two changes fall in the same second.
CREATE TABLE booking_projection (
    booking_id      uuid PRIMARY KEY,
    clinic_id       text NOT NULL,
    status          text NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    customer_name   text,
    customer_email  text,
    clinic_name     text NOT NULL,
    clinic_timezone text NOT NULL,
    treatment_name  text NOT NULL,
    therapist_name  text NOT NULL,
    manage_url      text,
    series_index    integer,
    last_event_at   timestamptz NOT NULL,
    ics_sequence    integer NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- One row per reminder to send. `planned_start` is the start it was planned for: the send task compares
-- it with the projection and sends nothing for a booking since moved or cancelled.
CREATE TABLE reminders (
    id             uuid PRIMARY KEY,
    booking_id     uuid NOT NULL REFERENCES booking_projection (booking_id),
    offset_minutes integer NOT NULL CHECK (offset_minutes > 0),
    planned_start  timestamptz NOT NULL,
    due_at         timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'planned'
                   CHECK (status IN ('planned', 'claimed', 'sent', 'cancelled', 'skipped', 'failed')),
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    claimed_at     timestamptz,
    sent_at        timestamptz
);
-- At most one live reminder per booking and offset, however events are replayed.
CREATE UNIQUE INDEX reminders_live ON reminders (booking_id, offset_minutes) WHERE status IN ('planned', 'claimed');
CREATE INDEX reminders_due ON reminders (due_at) WHERE status = 'planned';
CREATE INDEX reminders_claimed ON reminders (claimed_at) WHERE status = 'claimed';

-- Gift emails to voucher recipients, planned for the delivery date. The code is never stored here: the
-- send task fetches it from payments and renders the email at send time.
CREATE TABLE voucher_deliveries (
    id          uuid PRIMARY KEY,
    voucher_id  uuid NOT NULL UNIQUE,
    event_id    uuid NOT NULL,
    clinic_id   text,
    deliver_on  date NOT NULL,
    due_at      timestamptz NOT NULL,
    status      text NOT NULL DEFAULT 'planned'
                CHECK (status IN ('planned', 'claimed', 'sent', 'cancelled', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    claimed_at  timestamptz,
    sent_at     timestamptz
);
CREATE INDEX voucher_deliveries_due ON voucher_deliveries (due_at) WHERE status = 'planned';
CREATE INDEX voucher_deliveries_claimed ON voucher_deliveries (claimed_at) WHERE status = 'claimed';
