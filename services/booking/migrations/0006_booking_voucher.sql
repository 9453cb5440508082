-- What a gift voucher paid of a booking, as payments answered when it was booked: the code's last
-- characters, the value it paid, and what the voucher had left after. The confirmation says so.
ALTER TABLE bookings ADD COLUMN voucher jsonb;
