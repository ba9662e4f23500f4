-- The audit trail: one append-only row per state change, written in the same
-- transaction as the change. Only ids, codes and non-personal fields go in `changes`.
CREATE TABLE audit_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    key_id          uuid,        -- the actor's API key; NULL for the system (e.g. the hold sweeper)
    role            text,
    organisation_id uuid,
    action          text NOT NULL,   -- e.g. 'created', 'updated'
    subject_type    text NOT NULL,   -- e.g. 'facility'
    subject_id      uuid NOT NULL,
    changes         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, id);
CREATE INDEX audit_events_key_idx ON audit_events (key_id, id);
CREATE INDEX audit_events_at_idx ON audit_events (at, id);

-- Append-only, whatever the application does: no UPDATE, no DELETE, no TRUNCATE.
CREATE FUNCTION refuse_audit_rewrite() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION refuse_audit_rewrite();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_rewrite();
