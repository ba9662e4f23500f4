-- Several keys per organisation, each with a label, an optional expiry, the time it was
-- last used (kept to the minute, see service/auth.py) and the key that created it (NULL
-- when made by the `abri` command). Existing keys stay valid: no label, no expiry.
ALTER TABLE api_keys
    ADD COLUMN label        text,
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN created_by   uuid REFERENCES api_keys,
    ADD CONSTRAINT api_keys_expiry_after_creation CHECK (expires_at > created_at);
CREATE INDEX api_keys_organisation_idx ON api_keys (organisation_id, id);
