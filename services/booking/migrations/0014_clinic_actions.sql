-- The clinic acts on behalf of its customers (issue 18): it books by phone, cancels and moves bookings.
-- On the booking: who made it (`booked_by`), how it is paid (`payment_mode`: online by card, or at the clinic
-- with no charge and no payment row), and for a cancelled one who cancelled it and, when the clinic did, why.
-- Constant defaults: added without rewriting the table.
ALTER TABLE bookings
    ADD COLUMN booked_by     text NOT NULL DEFAULT 'customer' CHECK (booked_by IN ('customer', 'clinic')),
    ADD COLUMN payment_mode  text NOT NULL DEFAULT 'online' CHECK (payment_mode IN ('online', 'at_clinic')),
    ADD COLUMN cancelled_by  text CHECK (cancelled_by IN ('customer', 'clinic')),
    ADD COLUMN cancel_reason text CHECK (char_length(cancel_reason) BETWEEN 1 AND 500);

-- Every action the clinic took on a booking, and who took it: the role the gateway names, and the staff
-- account of a signed-in session (none for an API key, which acts as the owner). `detail`: the reason of a
-- cancel, the times of a move, the payment of a phone booking; never health data.
CREATE TABLE booking_actions (
    id         bigserial PRIMARY KEY,
    booking_id uuid NOT NULL REFERENCES bookings (id),
    clinic_id  uuid NOT NULL REFERENCES clinics (id),
    action     text NOT NULL CHECK (action IN ('book', 'cancel', 'reschedule')),
    role       text NOT NULL CHECK (role IN ('owner', 'staff')),
    staff_id   uuid REFERENCES clinic_staff (id),   -- accounts are disabled, never deleted
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX booking_actions_booking ON booking_actions (booking_id, id);
