-- The daily retention job (services/booking/retention.py) selects in SQL what it has to look at, instead of reading
-- every unrestricted screening and every ended waitlist entry each day.

-- What an unrestricted screening's retain_until was last worked out from (privacy_rules.retention_anchor and
-- health_retain_until): the day it was answered and its customer's last visit and latest date of birth, as the
-- clinic's dates. The job reads only the screenings whose facts are no longer these (NULL: never dated), so the
-- date of every other one stands as it was. A change to the rule itself must set them back to NULL.
ALTER TABLE screenings
    ADD COLUMN dated_answered_on date,
    ADD COLUMN dated_last_visit  date,
    ADD COLUMN dated_birth_date  date;

-- Waitlist entries that ended (booked, left, removed; updated_at is when) are deleted a while after
-- (waitlist_rules.ENDED_ENTRY_KEPT): the job finds them by this index, a batch at a time.
CREATE INDEX waitlist_entries_ended ON waitlist_entries (updated_at)
    WHERE status IN ('booked', 'left', 'removed');
