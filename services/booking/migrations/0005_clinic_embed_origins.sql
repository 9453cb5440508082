-- The websites (origins) a clinic lets frame its booking pages, e.g. its own article with a BOOK NOW
-- button (services/web sends them as CSP frame-ancestors). None by default: nobody may frame them.
-- The API checks each origin (shared/origins.py); the database keeps the count bounded and refuses
-- anything that could not be one origin of a header (a space, a semicolon, a quote, a path).
ALTER TABLE clinics ADD COLUMN embed_origins text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(embed_origins) <= 10)
    CHECK (array_to_string(embed_origins, ' ') ~ '^(https?://[a-z0-9.-]+(:[0-9]{1,5})?( |$))*$');
