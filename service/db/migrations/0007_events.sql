-- Events for partners: an outbox written in the transaction of each change, read by the
-- webhook worker and by GET /v1/events. Only ids, codes and counts go in `data`.
CREATE SEQUENCE event_positions AS bigint;

CREATE TABLE events (
    id               uuid PRIMARY KEY DEFAULT uuidv7(),   -- the webhook-id: receivers dedupe on it
    position         bigint UNIQUE,                       -- commit order, set as the transaction commits
    at               timestamptz NOT NULL DEFAULT now(),
    type             text NOT NULL,
    subject_type     text NOT NULL,
    subject_id       uuid NOT NULL,
    organisation_ids uuid[] NOT NULL,                     -- the organisations entitled to see it
    data             jsonb NOT NULL
);

-- Positions follow commit order, so a reader that has seen position N can never later find
-- a committed event below N: each event-writing transaction numbers its events at commit,
-- under one lock held until it is visible. The lock is taken after all the transaction's
-- own work, so it waits for nothing else and cannot deadlock; it serialises only the
-- numbering, a few microseconds per commit.
CREATE FUNCTION number_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('abri.event_positions'));
    UPDATE events SET position = nextval('event_positions') WHERE id = NEW.id;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER events_numbered_at_commit
    AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION number_event();

CREATE TABLE webhook_subscriptions (
    id                  uuid PRIMARY KEY DEFAULT uuidv7(),
    organisation_id     uuid NOT NULL REFERENCES organisations,
    role                text NOT NULL,        -- the creating key's role: what the subscription may see
    url                 text NOT NULL,
    event_types         text[] NOT NULL,
    secret              text NOT NULL,        -- whsec_…: needed in clear to sign each delivery
    delivered_position  bigint NOT NULL,      -- every event up to here is delivered or dead-lettered
    attempts            integer NOT NULL DEFAULT 0,   -- failed attempts at the next event
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    leased_until        timestamptz,          -- a worker is delivering until then
    last_status         integer,              -- HTTP status of the last failed attempt; NULL: no answer
    last_delivered_at   timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_organisation_idx ON webhook_subscriptions (organisation_id);

CREATE TABLE webhook_dead_letters (
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions ON DELETE CASCADE,
    event_id        uuid NOT NULL REFERENCES events,
    attempts        integer NOT NULL,
    last_status     integer,
    dead_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, event_id)
);

-- Who sees an event: admins and placement officers all; managers the inventory events only
-- (never a person's); partners and referrers those of their own organisation. Inlined by
-- the planner (plain SQL, no STRICT): the feed and the webhook worker both filter with it.
CREATE FUNCTION event_visible(viewer_role text, viewer_organisation uuid, type text, organisation_ids uuid[])
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN viewer_role IN ('admin', 'placement_officer')
    OR (viewer_role = 'manager' AND type IN ('bed.status_changed', 'capacity.changed'))
    OR (viewer_role IN ('partner', 'referrer') AND viewer_organisation = ANY(organisation_ids));
