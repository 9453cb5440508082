-- Health screening answers are special-category data: from now on the answers, and the flags they raised
-- (which name the answers given), are kept encrypted with a key outside the database (answers_sealed;
-- shared/sealing.py). The outcome stays plain for the diary. Rows written before hold plain answers until
-- the booking service seals them at its next start; a row never holds both.
ALTER TABLE screenings ALTER COLUMN answers DROP NOT NULL;
ALTER TABLE screenings ADD COLUMN answers_sealed text;
ALTER TABLE screenings ADD CONSTRAINT screenings_answers_once
    CHECK ((answers IS NULL) <> (answers_sealed IS NULL));
ALTER TABLE screenings ADD CONSTRAINT screenings_flags_sealed
    CHECK (answers_sealed IS NULL OR flags = '{}');
