-- How far each facility is from the nearest active consumption site, worked out when a
-- site or a facility changes instead of in every availability search. At France scale
-- (4,906 open facilities, 10 active sites) the search spent 36 of its 43 ms on these
-- distances (bench/solver_isolation.py); walking them in order costs a few ms.
--
-- The set of active sites changes only at a site's active_from or active_until: those
-- moments cut time into scene periods, in each of which the same sites are active, and
-- each facility has one distance per period (NULL when no site is active). Sites change
-- rarely, so a site change rebuilds everything: 115,000 rows at France scale
-- (23 periods × 5,000 facilities).

CREATE TABLE scene_periods (
    id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period  tstzrange NOT NULL,
    EXCLUDE USING gist (period WITH &&)
);

CREATE TABLE facility_scene_distances (
    period_id        integer NOT NULL REFERENCES scene_periods ON DELETE CASCADE,
    facility_id      uuid NOT NULL REFERENCES facilities ON DELETE CASCADE,
    kind             text NOT NULL,  -- the facility's, kept with it: most searches ask for one kind
    km               double precision,
    nearest_site_id  uuid REFERENCES consumption_sites ON DELETE CASCADE,
    distance_sort    double precision NOT NULL GENERATED ALWAYS AS (coalesce(km, 'Infinity')) STORED,
    PRIMARY KEY (period_id, facility_id)
);
-- The search walks a period's facilities farthest first and stops when its page is full.
CREATE INDEX facility_scene_distances_farthest_first
    ON facility_scene_distances (period_id, distance_sort DESC, facility_id DESC);
CREATE INDEX facility_scene_distances_farthest_first_by_kind
    ON facility_scene_distances (period_id, kind, distance_sort DESC, facility_id DESC);
CREATE INDEX ON facility_scene_distances (facility_id);
CREATE INDEX ON facility_scene_distances (nearest_site_id);

-- The facilities in `changed` get their distance for every period.
CREATE FUNCTION add_scene_distances(changed uuid[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO facility_scene_distances (period_id, facility_id, kind, km, nearest_site_id)
    SELECT p.id, f.id, f.kind, nearest.km, nearest.id
    FROM scene_periods p
    CROSS JOIN facilities f
    LEFT JOIN LATERAL (
        SELECT s.id, km_between(f.lat, f.lon, s.lat, s.lon) AS km
        FROM consumption_sites s
        WHERE s.active @> p.period
        ORDER BY km, s.id
        LIMIT 1
    ) nearest ON true
    WHERE changed IS NULL OR f.id = ANY(changed)
$$;

CREATE FUNCTION rebuild_scene_distances() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- One rebuild at a time; a concurrent one waits, then sees this one's periods.
    LOCK TABLE scene_periods IN EXCLUSIVE MODE;
    DELETE FROM scene_periods;  -- and, by cascade, every distance
    WITH bounds AS (
        SELECT active_from AS at FROM consumption_sites
        UNION
        SELECT active_until FROM consumption_sites WHERE active_until IS NOT NULL
    ), cuts AS (
        SELECT lag(at) OVER (ORDER BY at) AS lower, at AS upper FROM bounds
        UNION ALL
        SELECT max(at), NULL FROM bounds  -- with no site at all: one period, all of time
    )
    INSERT INTO scene_periods (period) SELECT tstzrange(lower, upper) FROM cuts;
    PERFORM add_scene_distances(NULL);
END
$$;

CREATE FUNCTION sites_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rebuild_scene_distances();
    RETURN NULL;
END
$$;

CREATE FUNCTION refresh_facility_scene_distances() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed uuid[] := ARRAY(SELECT id FROM changed_facilities);
BEGIN
    LOCK TABLE scene_periods IN SHARE MODE;  -- not during a rebuild
    DELETE FROM facility_scene_distances WHERE facility_id = ANY(changed);
    PERFORM add_scene_distances(changed);
    RETURN NULL;
END
$$;

CREATE TRIGGER consumption_sites_scene_distances
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON consumption_sites
    FOR EACH STATEMENT EXECUTE FUNCTION sites_changed();
CREATE TRIGGER facilities_added_scene_distances
    AFTER INSERT ON facilities REFERENCING NEW TABLE AS changed_facilities
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_facility_scene_distances();
CREATE TRIGGER facilities_moved_scene_distances
    AFTER UPDATE ON facilities REFERENCING NEW TABLE AS changed_facilities
    FOR EACH STATEMENT EXECUTE FUNCTION refresh_facility_scene_distances();

SELECT rebuild_scene_distances();  -- for the data already there
ANALYZE scene_periods, facility_scene_distances;
