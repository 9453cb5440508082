-- A therapist's calendar feed (services/booking/calendar_feed.py): a secret .ics subscription URL. At most one
-- per therapist: a new one replaces the row, and so revokes the earlier URL; revoking deletes it. Only the
-- SHA-256 digest of the URL's token is kept, and the public feed looks a token up by it (unique index).
CREATE TABLE calendar_feeds (
    therapist_id   uuid PRIMARY KEY REFERENCES therapists (id) ON DELETE CASCADE,
    clinic_id      uuid NOT NULL REFERENCES clinics (id),
    token_digest   bytea NOT NULL UNIQUE CHECK (length(token_digest) = 32),
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_polled_at timestamptz
);

-- When a booking last changed in a way a calendar shows (its time, therapist, treatment, status or customer):
-- the feed's LAST-MODIFIED and DTSTAMP (its SEQUENCE is reschedule_count), so an app updates the entry it has.
-- Kept by the database itself, whichever code path makes the change. New rows get it from the default;
-- rows from before this migration have none, and the feed falls back to when they were confirmed or made
-- (no rewrite of the table: the default applies to new rows only).
ALTER TABLE bookings ADD COLUMN changed_at timestamptz;
ALTER TABLE bookings ALTER COLUMN changed_at SET DEFAULT clock_timestamp();

CREATE FUNCTION bookings_stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_at := clock_timestamp();
    RETURN NEW;
END
$$;

CREATE TRIGGER bookings_changed
    BEFORE UPDATE OF starts_at, ends_at, therapist_id, treatment_id, status, customer_name ON bookings
    FOR EACH ROW
    WHEN ((OLD.starts_at, OLD.ends_at, OLD.therapist_id, OLD.treatment_id, OLD.status, OLD.customer_name)
          IS DISTINCT FROM (NEW.starts_at, NEW.ends_at, NEW.therapist_id, NEW.treatment_id, NEW.status,
                            NEW.customer_name))
    EXECUTE FUNCTION bookings_stamp_change();
