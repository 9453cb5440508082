-- How each booking (or course series) asked about is paid, in parts (issue 20's deposits): the voucher part
-- first, then the card part (at most the deposit the booking service names), and the rest due at the clinic.
-- One row per booking, written with its first answer, so every later answer is the same. The card part is the
-- booking's payments row's amount (no row when it is 0); a cancellation first takes off what was still due at
-- the clinic (due_cancelled), then gives back the voucher part and refunds the card part.
CREATE TABLE booking_parts (
    reference_id  uuid PRIMARY KEY,              -- the booking (hold or series), as payments.reference_id
    clinic_id     uuid NOT NULL,
    currency      char(3) NOT NULL,
    price         integer NOT NULL CHECK (price >= 0),
    voucher_part  integer NOT NULL CHECK (voucher_part >= 0),
    card_part     integer NOT NULL CHECK (card_part >= 0),
    due_at_clinic integer NOT NULL CHECK (due_at_clinic >= 0),
    due_cancelled integer NOT NULL DEFAULT 0 CHECK (due_cancelled >= 0 AND due_cancelled <= due_at_clinic),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK (price = voucher_part + card_part + due_at_clinic)
);
