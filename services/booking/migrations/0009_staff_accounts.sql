-- Staff accounts (issue 18): roles, invitations, and sign-in tokens for the clinic API.

-- Roles (shared/clinic_auth.py): an owner does everything; staff (reception) run the diary, bookings and
-- vouchers. Accounts made before roles existed could already do everything, so they are owners; so are those
-- the operators' command adds (services/booking/staff_accounts.py). Invitations always name the role.
ALTER TABLE clinic_staff ADD COLUMN role text NOT NULL DEFAULT 'owner' CHECK (role IN ('owner', 'staff'));
-- An invited account has no password until its person sets one through the emailed link.
ALTER TABLE clinic_staff ALTER COLUMN password_hash DROP NOT NULL;
CREATE INDEX clinic_staff_clinic ON clinic_staff (clinic_id, created_at);

-- A signed-in staff member's bearer token (`cst_…`) for the clinic API: only its SHA-256 digest is kept (the
-- token is random, so a fast hash suffices). It ends at expires_at, at sign-out (revoked_at), or when the
-- account is removed (disabled_at, checked at every verification).
CREATE TABLE staff_sessions (
    id          uuid PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    staff_id    uuid NOT NULL REFERENCES clinic_staff (id),
    clinic_id   uuid NOT NULL REFERENCES clinics (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id) WHERE revoked_at IS NULL;

-- One-time links to set a password (an invitation, a new clinic's owner): digest only, single use, expiring.
CREATE TABLE staff_password_links (
    id          uuid PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    staff_id    uuid NOT NULL REFERENCES clinic_staff (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX staff_password_links_staff ON staff_password_links (staff_id) WHERE used_at IS NULL;

-- Sign-in attempts per account (the email typed, known or not, as a SHA-256 digest: no email kept), a token
-- bucket as shared/ratelimit.py's (GCRA: the subject's "theoretical arrival time"). UNLOGGED: a crash that
-- empties it only forgets recent attempts; a row whose tat has passed means nothing and is pruned.
CREATE UNLOGGED TABLE staff_sign_in_limits (
    subject     bytea PRIMARY KEY,
    tat         timestamptz NOT NULL
);
CREATE INDEX staff_sign_in_limits_tat ON staff_sign_in_limits (tat);
