-- Clinic staff who sign in to the dashboard: one account per person, scoped to one clinic.
CREATE TABLE clinic_staff (
    id            uuid PRIMARY KEY,
    clinic_id     uuid NOT NULL REFERENCES clinics (id),
    email         text NOT NULL,
    name          text NOT NULL,
    password_hash text NOT NULL,              -- scrypt$N$r$p$salt$hash (services/booking/staff.py)
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz,
    last_sign_in_at timestamptz
);
CREATE UNIQUE INDEX clinic_staff_email ON clinic_staff (lower(email));
