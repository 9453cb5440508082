-- A therapist's schedule version: bumped by every change that can take working time away (new weekly hours
-- and breaks, new time off), in the transaction that makes it (services/booking/schedules_store.py). That
-- UPDATE is also the lock which serialises such a change with every write that makes or moves a reservation
-- of the therapist: those take the row FOR SHARE before judging the schedule, or (the one-statement hold)
-- judge it first and write only if the row still has the version they read (store.INSERT_HOLD_ANNOUNCED_SQL).
-- The exclusion constraint keeps reservations apart from each other; this keeps them inside the schedule.
ALTER TABLE therapists ADD COLUMN schedule_version bigint NOT NULL DEFAULT 0;
