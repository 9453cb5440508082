-- The waitlist (issue 20): a customer for whom no time suits waits for a treatment at a clinic (optionally one
-- therapist, some weekdays, some times of day). When a matching time is free, the first person waiting is offered
-- it: the time is HELD for them (a row of bookings, status 'held', so the exclusion constraint makes each time
-- offered once) for the clinic's waitlist_offer_minutes, and emailed. Unused, the hold lapses, the offer with it,
-- and the entry waits again (never offered that time again). services/booking/waitlist.py.

-- How long a time offered from the waitlist is held for the person offered it (services/booking/clinic_settings.py
-- BOUNDS says the same).
ALTER TABLE clinics ADD COLUMN waitlist_offer_minutes integer NOT NULL DEFAULT 30
    CONSTRAINT clinics_waitlist_offer_minutes CHECK (waitlist_offer_minutes BETWEEN 5 AND 240);

CREATE TABLE waitlist_entries (
    id             uuid PRIMARY KEY,
    clinic_id      uuid NOT NULL REFERENCES clinics (id),
    treatment_id   uuid NOT NULL REFERENCES treatments (id),
    therapist_id   uuid REFERENCES therapists (id),          -- NULL: any therapist giving the treatment
    -- 0 = Monday .. 6 = Sunday; empty: any day. Times of day in the clinic's wall time; empty: any time.
    weekdays       smallint[] NOT NULL DEFAULT '{}'
        CHECK (array_ndims(weekdays) IS NULL OR (array_ndims(weekdays) = 1 AND 0 <= ALL (weekdays) AND 6 >= ALL (weekdays))),
    times_of_day   text[] NOT NULL DEFAULT '{}'
        CHECK (times_of_day <@ ARRAY['morning', 'afternoon', 'evening']::text[]),
    customer_name  text NOT NULL CHECK (char_length(customer_name) BETWEEN 1 AND 200),
    customer_email text NOT NULL CHECK (char_length(customer_email) BETWEEN 3 AND 254),
    status         text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'offered', 'booked', 'left', 'removed')),
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- The matcher's read: a clinic's and treatment's waiting entries, oldest first.
CREATE INDEX waitlist_entries_waiting ON waitlist_entries (clinic_id, treatment_id, created_at, id)
    WHERE status = 'waiting';
-- The clinic's list (oldest first), and a customer's entries (an identical join, the limit per email, privacy).
CREATE INDEX waitlist_entries_clinic ON waitlist_entries (clinic_id, created_at, id);
CREATE INDEX waitlist_entries_email ON waitlist_entries (clinic_id, lower(customer_email));

CREATE TABLE waitlist_offers (
    id           uuid PRIMARY KEY,
    entry_id     uuid NOT NULL REFERENCES waitlist_entries (id) ON DELETE CASCADE,
    booking_id   uuid NOT NULL REFERENCES bookings (id),     -- the hold made for the offer
    therapist_id uuid NOT NULL REFERENCES therapists (id),
    starts_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'taken', 'lapsed', 'withdrawn')),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- At most one open offer per entry.
CREATE UNIQUE INDEX waitlist_offers_one_open ON waitlist_offers (entry_id) WHERE status = 'open';
-- A hold made for an offer, found when it lapses or is booked.
CREATE UNIQUE INDEX waitlist_offers_booking ON waitlist_offers (booking_id);
-- The times an entry was offered already (never offered again).
CREATE INDEX waitlist_offers_entry ON waitlist_offers (entry_id, therapist_id, starts_at);
