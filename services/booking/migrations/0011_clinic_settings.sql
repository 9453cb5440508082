-- The clinic's settings, all of them editable by its owner (PATCH /api/v1/clinic/settings). The API checks
-- each value (services/booking/clinic_settings.py); the database refuses the same or less, so that nothing
-- the API accepts is refused here, and nothing it refuses can be stored by another path.

-- What a gift voucher of money may be worth, least and most, in minor units of the clinic's currency. The
-- booking service keeps them with the clinic's other settings (one owner, one change, one transaction);
-- payments reads them from the clinic's public JSON when a voucher is bought, as it reads the validity.
ALTER TABLE clinics
    ADD COLUMN voucher_min_amount integer NOT NULL DEFAULT 2500,
    ADD COLUMN voucher_max_amount integer NOT NULL DEFAULT 50000;
ALTER TABLE clinics
    ADD CONSTRAINT clinics_voucher_amounts CHECK (
        voucher_min_amount BETWEEN 100 AND 500000 AND voucher_max_amount BETWEEN 100 AND 500000
        AND voucher_min_amount <= voucher_max_amount),
    ADD CONSTRAINT clinics_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    -- A zone PostgreSQL does not know raises an error (not a false): every local-time query needs it.
    ADD CONSTRAINT clinics_timezone_known CHECK ((timestamptz '2000-01-01 00:00+00' AT TIME ZONE timezone) IS NOT NULL),
    ADD CONSTRAINT clinics_min_notice_most CHECK (min_notice_minutes <= 365 * 24 * 60),
    ADD CONSTRAINT clinics_slot_step_grid CHECK (slot_step_minutes % 5 = 0),
    ADD CONSTRAINT clinics_change_window_most CHECK (change_window_hours <= 365 * 24),
    ADD CONSTRAINT clinics_reminder_offsets CHECK (
        array_ndims(reminder_offsets_minutes) = 1
        AND cardinality(reminder_offsets_minutes) BETWEEN 1 AND 5
        AND array_position(reminder_offsets_minutes, NULL) IS NULL
        AND 10 <= ALL (reminder_offsets_minutes) AND 20160 >= ALL (reminder_offsets_minutes)),
    ADD CONSTRAINT clinics_policy_message_length CHECK (char_length(policy_message) BETWEEN 1 AND 1000),
    ADD CONSTRAINT clinics_contact CHECK (
        (email IS NULL OR (char_length(email) <= 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'))
        AND (phone IS NULL OR (char_length(phone) <= 40 AND phone ~ '^\+?[0-9 ().-]+$'))
        AND (address IS NULL OR char_length(address) <= 500));
