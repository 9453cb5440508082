-- One row per email to send, written in the same transaction as the inbox row of the event that
-- caused it. The Celery task gets only the id and re-reads the row; a beat sweep re-enqueues rows
-- whose task never ran (worker lost, broker flushed), so no email is lost.
CREATE TABLE emails (
    id            uuid PRIMARY KEY,
    event_id      uuid NOT NULL,
    kind          text NOT NULL,
    to_address    text NOT NULL,
    subject       text NOT NULL,
    text_body     text NOT NULL,
    html_body     text,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    enqueued_at   timestamptz,
    sent_at       timestamptz,
    UNIQUE (event_id, kind)
);
CREATE INDEX emails_pending ON emails (created_at) WHERE status = 'pending';
