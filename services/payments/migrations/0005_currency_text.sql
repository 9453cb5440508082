-- Currencies as text with a rule, not char(3): a char(n) value comes back padded to its width, which every
-- reader had to strip. The rule is what char(3) never said: three capital letters (ISO 4217).
ALTER TABLE payments ALTER COLUMN currency TYPE text,
    ADD CONSTRAINT payments_currency_iso CHECK (currency ~ '^[A-Z]{3}$');
ALTER TABLE vouchers ALTER COLUMN currency TYPE text,
    ADD CONSTRAINT vouchers_currency_iso CHECK (currency ~ '^[A-Z]{3}$');
