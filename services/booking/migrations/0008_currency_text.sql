-- Currencies as text with a rule, not char(3): a char(n) value comes back padded to its width, which every
-- reader had to strip. The rule is what char(3) never said: three capital letters (ISO 4217).
ALTER TABLE treatments ALTER COLUMN currency TYPE text,
    ADD CONSTRAINT treatments_currency_iso CHECK (currency ~ '^[A-Z]{3}$');
ALTER TABLE courses ALTER COLUMN currency TYPE text,
    ADD CONSTRAINT courses_currency_iso CHECK (currency ~ '^[A-Z]{3}$');
ALTER TABLE bookings ALTER COLUMN currency TYPE text,
    ADD CONSTRAINT bookings_currency_iso CHECK (currency ~ '^[A-Z]{3}$');
