-- Every service schema gets the same two tables of the event path (applied with search_path = the schema).

-- Outbox: events written in the same transaction as the change they describe; the relay publishes
-- rows with published_at IS NULL to Redis Streams and stamps them. Rows are kept for the republish
-- window so a Redis that lost its data can be refilled.
CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    topic        text NOT NULL,
    envelope     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_created_at ON outbox (created_at);

-- Wake the relay at commit time (NOTIFY is delivered on commit) instead of making it poll fast.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Inbox: one row per event a consumer group has handled, written in the handler's transaction,
-- so a redelivered event (reclaim, republish after Redis loss) has no second effect.
CREATE TABLE inbox (
    consumer    text NOT NULL,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, event_id)
);
