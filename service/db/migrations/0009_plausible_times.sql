-- Moments written from requests fall between the years 1900 and 2200, as query parameters
-- already must (service/http.py). Outside, a moment is a typo, and one near year 1 cannot
-- even be read back into Python (a site "active from 0001-01-01" broke the site list).
-- Updates are partial, so the rule lives here rather than in the request types.
ALTER TABLE consumption_sites
    ADD CONSTRAINT consumption_sites_plausible_times CHECK (
        active_from >= '1900-01-01 00:00Z' AND active_from < '2200-01-01 00:00Z'
        AND (active_until IS NULL OR active_until < '2200-01-01 00:00Z'));
ALTER TABLE bed_unavailability
    ADD CONSTRAINT bed_unavailability_plausible_times CHECK (
        starts_at >= '1900-01-01 00:00Z' AND starts_at < '2200-01-01 00:00Z'
        AND (ends_at IS NULL OR ends_at < '2200-01-01 00:00Z'));
ALTER TABLE api_keys
    ADD CONSTRAINT api_keys_plausible_expiry CHECK (expires_at IS NULL OR expires_at < '2200-01-01 00:00Z');
