-- An email row (text, HTML and the invite: 2-6 kB) is compressed when it is written, and PostgreSQL's
-- default, pglz, cost about half a millisecond of CPU per confirmation on the bench machine; lz4 costs a
-- fraction of that (PostgreSQL 14+, built with lz4 as Debian's and the official images are). A server
-- without lz4 keeps the default.
DO $$
BEGIN
    ALTER TABLE emails ALTER COLUMN text_body SET COMPRESSION lz4,
                       ALTER COLUMN html_body SET COMPRESSION lz4,
                       ALTER COLUMN attachments SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available here: email bodies keep the default compression';
END $$;
