-- The clinic runs its own catalogue (issue 18). Treatments and courses get the clinic's order (`position`,
-- then name), a switch to take one off the booking pages without losing it (`bookable`), and `archived_at`:
-- one that has been booked (or a course uses) is archived instead of deleted, so every booking keeps what it
-- refers to. A therapist with bookings is archived likewise. Archived and unbookable rows stay in the tables;
-- the public reads leave them out.
ALTER TABLE treatments
    ADD COLUMN position    integer NOT NULL DEFAULT 0,
    ADD COLUMN bookable    boolean NOT NULL DEFAULT true,
    ADD COLUMN archived_at timestamptz;

ALTER TABLE courses
    ADD COLUMN position    integer NOT NULL DEFAULT 0,
    ADD COLUMN bookable    boolean NOT NULL DEFAULT true,
    ADD COLUMN archived_at timestamptz;

ALTER TABLE therapists ADD COLUMN archived_at timestamptz;

-- A therapist's photo, in its own table so that listing therapists never reads the bytes. Only the three
-- image types the upload sniffs from the bytes themselves (never a client's Content-Type), at most 2 MiB;
-- `digest` (SHA-256, hex) is its ETag and the version in its URL.
CREATE TABLE therapist_photos (
    therapist_id uuid PRIMARY KEY REFERENCES therapists (id) ON DELETE CASCADE,
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    data         bytea NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 2097152),
    digest       text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- Compressed images do not compress again: kept out of line without TOAST trying.
ALTER TABLE therapist_photos ALTER COLUMN data SET STORAGE EXTERNAL;
